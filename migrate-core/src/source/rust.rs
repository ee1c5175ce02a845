//! Rust migration files: finding `pub fn up` and `pub fn down` in a `.rs`
//! migration (with syn), so mistakes are reported by file name before the
//! type checker sees them, and the registry knows whether `down` exists.

use quote::ToTokens;
use syn::{FnArg, Item, ReturnType, Type, Visibility};

use super::problem::Problem;
use super::MigrationSource;
use crate::registry::MigrationKind;

/// Inspects every Rust migration of a scanned set, as the macro and `migrate
/// check` both do: for each migration, in order, whether it has a down step
/// (for SQL, a down file), and every problem found.
pub fn inspect_rust_migrations(source: &MigrationSource) -> (Vec<bool>, Vec<Problem>) {
    let mut problems = Vec::new();
    let has_down = source
        .migrations
        .iter()
        .map(|m| match m.kind {
            MigrationKind::Sql => m.down.is_some(),
            MigrationKind::Rust => match inspect_rust_migration(&m.up.file_name, &m.up.text) {
                Ok(functions) => functions.has_down,
                Err(found) => {
                    problems.extend(found);
                    false
                }
            },
        })
        .collect();
    (has_down, problems)
}

/// What a Rust migration file defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RustFunctions {
    /// Whether the file defines `pub fn down`.
    pub has_down: bool,
}

/// Looks for `up` and `down` in a Rust migration's source.
///
/// Only the shape is checked here (public, not `async`, no generics, one
/// parameter, a return type); the type checker checks the types, with the
/// file's real spans, when the macro includes the file.
///
/// # Example
///
/// ```
/// use migrate_core::source::inspect_rust_migration;
///
/// let src = "pub fn up(tx: &mut dyn migrate::Tx) -> migrate::Result<()> { Ok(()) }";
/// assert!(!inspect_rust_migration("0002_seed.rs", src).unwrap().has_down);
/// assert!(inspect_rust_migration("0002_seed.rs", "fn helper() {}").is_err());
/// ```
///
/// # Errors
///
/// [`Problem::RustMissingUp`], [`Problem::RustBadSignature`] or
/// [`Problem::RustSyntax`], naming the file.
pub fn inspect_rust_migration(file: &str, source: &str) -> Result<RustFunctions, Vec<Problem>> {
    let parsed = syn::parse_file(source).map_err(|e| {
        vec![Problem::RustSyntax {
            file: file.to_owned(),
            line: e.span().start().line,
            message: e.to_string(),
        }]
    })?;
    let mut problems = Vec::new();
    // The template's guard: an unwritten migration must not compile (as an
    // unwritten SQL file does not), whatever its functions say.
    if parsed
        .items
        .iter()
        .any(|item| matches!(item, Item::Macro(m) if m.mac.path.is_ident("compile_error")))
    {
        return Err(vec![Problem::RustUnwritten {
            file: file.to_owned(),
        }]);
    }
    let mut found = (false, false);
    for item in &parsed.items {
        let Item::Fn(function) = item else { continue };
        let name = function.sig.ident.to_string();
        let slot = match name.as_str() {
            "up" => &mut found.0,
            "down" => &mut found.1,
            _ => continue,
        };
        *slot = true;
        if let Some(reason) = signature_problem(function) {
            problems.push(Problem::RustBadSignature {
                file: file.to_owned(),
                function: name,
                reason,
            });
        }
    }
    if !found.0 {
        problems.push(Problem::RustMissingUp {
            file: file.to_owned(),
        });
    }
    if problems.is_empty() {
        Ok(RustFunctions { has_down: found.1 })
    } else {
        Err(problems)
    }
}

fn signature_problem(function: &syn::ItemFn) -> Option<String> {
    let sig = &function.sig;
    if matches!(function.vis, Visibility::Inherited) {
        return Some("is private: make it `pub`".to_owned());
    }
    if sig.asyncness.is_some() {
        return Some(
            "is `async`, but migrations run synchronously inside a transaction".to_owned(),
        );
    }
    if !sig.generics.params.is_empty() {
        return Some("is generic".to_owned());
    }
    let params = sig.inputs.len();
    if params != 1 || matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) {
        return Some(format!("takes {params} parameter(s) instead of one `tx`"));
    }
    if let Some(FnArg::Typed(param)) = sig.inputs.first() {
        let is_mut_dyn = matches!(
            &*param.ty,
            Type::Reference(r) if r.mutability.is_some() && matches!(&*r.elem, Type::TraitObject(_))
        );
        if !is_mut_dyn {
            return Some(format!(
                "takes `{}` instead of `&mut dyn migrate::Tx`",
                param.ty.to_token_stream().to_string().replace("& ", "&")
            ));
        }
    }
    match &sig.output {
        ReturnType::Default => Some("returns nothing".to_owned()),
        ReturnType::Type(_, ty) => {
            let returns_result = matches!(
                &**ty,
                Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Result")
            );
            (!returns_result).then(|| {
                format!(
                    "returns `{}` instead of `migrate::Result<()>`",
                    ty.to_token_stream()
                        .to_string()
                        .replace(" < ", "<")
                        .replace(" >", ">")
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str) -> Result<RustFunctions, String> {
        inspect_rust_migration("0002_x.rs", src).map_err(|problems| {
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    const UP: &str = "pub fn up(tx: &mut dyn migrate::Tx) -> migrate::Result<()> { Ok(()) }";

    #[test]
    fn finds_up_and_down() {
        assert_eq!(check(UP), Ok(RustFunctions { has_down: false }));
        let both = format!(
            "{UP}\npub fn down(tx: &mut dyn migrate::Tx) -> migrate::Result<()> {{ Ok(()) }}"
        );
        assert_eq!(check(&both), Ok(RustFunctions { has_down: true }));
    }

    #[test]
    fn reports_what_is_wrong() {
        assert!(check("pub fn upp() {}")
            .unwrap_err()
            .contains("has no `pub fn up`"));
        assert!(
            check("fn up(tx: &mut dyn migrate::Tx) -> migrate::Result<()> { Ok(()) }")
                .unwrap_err()
                .contains("`up` is private: make it `pub`")
        );
        assert!(check("pub fn up() -> migrate::Result<()> { Ok(()) }")
            .unwrap_err()
            .contains("takes 0 parameter(s)"));
        assert!(check("pub fn up(tx: &mut dyn migrate::Tx) {}")
            .unwrap_err()
            .contains("returns nothing"));
        assert!(check(
            "pub async fn up(tx: &mut dyn migrate::Tx) -> migrate::Result<()> { Ok(()) }"
        )
        .unwrap_err()
        .contains("`async`"));
        let bad_down =
            format!("{UP}\nfn down(tx: &mut dyn migrate::Tx) -> migrate::Result<()> {{ Ok(()) }}");
        assert!(check(&bad_down).unwrap_err().contains("`down` is private"));
        assert!(
            check("pub fn up(conn: &mut Connection) -> migrate::Result<()> { Ok(()) }")
                .unwrap_err()
                .contains("takes `&mut Connection` instead of `&mut dyn migrate::Tx`")
        );
        assert!(
            check("pub fn up(tx: &mut dyn migrate::Tx) -> Option<()> { None }")
                .unwrap_err()
                .contains("returns `Option<()>` instead of `migrate::Result<()>`")
        );
        // Aliases of the real types are the type checker's business.
        assert!(
            check("pub fn up(t: &mut dyn Transaction) -> Result<(), Error> { Ok(()) }").is_ok()
        );
        assert!(check("pub fn up(tx: &mut dyn migrate::Tx -> {")
            .unwrap_err()
            .contains("line 1 does not parse as Rust"));
    }
}
