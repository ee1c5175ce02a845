//! The `embed_migrations!` proc macro of the `migrate` crate.
//!
//! Use it through the facade, `migrate::embed_migrations!`, which passes
//! `$crate` along so generated paths survive a renamed dependency. The macro
//! parses its arguments ([`args`]), resolves the directory ([`resolve`]),
//! validates it with the scanner shared with the CLI ([`validate`]) and
//! expands to a `const`-constructible registry ([`expand`]).

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod args;
mod expand;
mod resolve;
mod validate;

use proc_macro::TokenStream;

/// Embeds a migration directory; see `migrate::embed_migrations!`.
#[proc_macro]
pub fn embed_migrations(input: TokenStream) -> TokenStream {
    let (krate, args) = args::parse(input.into());
    let result = args.and_then(|args| Ok((validate::validate(&args)?, args)));
    match result {
        Ok((set, args)) => expand::registry(&args, &set),
        Err(errors) => expand::invalid(&krate, errors),
    }
    .into()
}
