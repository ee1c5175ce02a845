//! The macro's arguments: `[$crate] "dir"` and options such as `table = "name"`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{bracketed, Ident, LitStr, Token};

/// The parsed arguments of one `embed_migrations!` call.
pub struct Args {
    /// The path of the facade crate, as `$crate` passed by `migrate::embed_migrations!`.
    pub krate: TokenStream,
    /// The migration directory, relative to the caller's `CARGO_MANIFEST_DIR`.
    pub dir: LitStr,
    /// `table = "..."`: the history table.
    pub table: Option<LitStr>,
}

const USAGE: &str = "e.g. `embed_migrations!(\"migrations\")` or \
                     `embed_migrations!(\"migrations\", table = \"schema_history\")`";

/// Splits the facade's `[$crate]` off the user's arguments and parses them.
///
/// The crate path comes back even when the arguments are wrong, so the
/// expansion can put a harmless registry next to the error.
pub fn parse(input: TokenStream) -> (TokenStream, syn::Result<Args>) {
    let split = |input: ParseStream| -> syn::Result<(TokenStream, TokenStream)> {
        let inner;
        bracketed!(inner in input);
        Ok((inner.parse()?, input.parse()?))
    };
    let (krate, rest) = match Parser::parse2(split, input) {
        Ok(parts) => parts,
        Err(e) => {
            let e = syn::Error::new(
                e.span(),
                "call `embed_migrations!` through the `migrate` crate: `migrate::embed_migrations!(\"migrations\")`",
            );
            return (quote!(::migrate), Err(e));
        }
    };
    let args = Parser::parse2(|input: ParseStream| parse_args(input, krate.clone()), rest);
    (krate, args)
}

fn parse_args(input: ParseStream, krate: TokenStream) -> syn::Result<Args> {
    {
        if input.is_empty() {
            return Err(input.error(format!(
                "expected the migration directory as a string literal; {USAGE}"
            )));
        }
        let dir: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected the migration directory as a string literal; {USAGE}"),
            )
        })?;

        let mut table: Option<LitStr> = None;
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key = input.call(Ident::parse_any).map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected an option like `table = \"...\"`; {USAGE}"),
                )
            })?;
            if key != "table" {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown option `{key}`; the only option is `table = \"...\"`, \
                         naming the history table"
                    ),
                ));
            }
            input.parse::<Token![=]>()?;
            let value: LitStr = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected the table name as a string literal, e.g. `table = \"schema_history\"`",
                )
            })?;
            if table.is_some() {
                return Err(syn::Error::new(
                    key.span(),
                    "`table` is given twice; keep one",
                ));
            }
            table = Some(value);
        }
        Ok(Args { krate, dir, table })
    }
}
