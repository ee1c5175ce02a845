//! Expansion: a validated set becomes a `const`-constructible
//! `migrate::Migrations` built from hidden `const fn`s, so the registry lives
//! in a `static` with no runtime initialisation.
//!
//! Each SQL file is also named in an `include_bytes!`, and each Rust file is
//! included as a module with `#[path]`, so editing any migration rebuilds the
//! crate that embeds it.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use migrate_core::source::{SourceFile, SourceMigration, StepSource};
use migrate_core::{MigrationKind, SqlMode};

use crate::args::Args;
use crate::validate::ValidSet;

/// The registry for a valid set.
pub fn registry(args: &Args, set: &ValidSet) -> TokenStream {
    let krate = &args.krate;
    let private = quote!(#krate::__private);

    let mut items = Vec::new();
    let mut entries = Vec::new();
    for (migration, &has_down) in set.source.migrations.iter().zip(&set.has_down) {
        let (item, entry) = migration_tokens(&private, migration, has_down);
        items.push(item);
        entries.push(entry);
    }

    let table = &set.table;
    let dir = set.source.dir.to_string_lossy();
    quote! {
        {
            #(#items)*
            const __MIGRATE_LIST: &[#private::Migration] = &[#(#entries),*];
            #[cfg(debug_assertions)]
            const __MIGRATE_SOURCE_DIR: ::core::option::Option<&str> =
                ::core::option::Option::Some(#dir);
            #[cfg(not(debug_assertions))]
            const __MIGRATE_SOURCE_DIR: ::core::option::Option<&str> = ::core::option::Option::None;
            #private::Migrations::__new(__MIGRATE_LIST, #table, __MIGRATE_SOURCE_DIR)
                .__application(
                    ::core::option_env!("CARGO_PKG_NAME"),
                    ::core::option_env!("CARGO_PKG_VERSION"),
                )
        }
    }
}

/// The items one migration needs (rebuild tracking, the Rust module) and its
/// registry entry.
fn migration_tokens(
    private: &TokenStream,
    migration: &SourceMigration,
    has_down: bool,
) -> (TokenStream, TokenStream) {
    let version = migration.version;
    let name = &migration.name;
    let file_name = &migration.up.file_name;
    let checksums = {
        let (exact, loose, chained) = (
            &migration.checksum,
            &migration.loose_checksum,
            &migration.chained_checksum,
        );
        quote!(#private::Checksums { exact: #exact, loose: #loose, chained: #chained })
    };

    let module = rust_module_name(version);
    let mut items = TokenStream::new();
    let mut step = |source: StepSource<'_>, function: &str| match source {
        StepSource::Sql { text, mode } => {
            let mode = mode_tokens(private, mode);
            quote!(#private::Migration::__sql(#text, #mode))
        }
        StepSource::Rust => {
            // Typed constants: a wrong signature is reported as a plain
            // mismatch against `migrate::MigrationFn`, not as a bad argument
            // to a hidden constructor inside this crate.
            let name = format_ident!("__MIGRATE_{}_{}", function.to_uppercase(), version);
            let function = format_ident!("{}", function);
            items.extend(quote! {
                const #name: #private::MigrationFn = #module::#function;
            });
            quote!(#private::Migration::__rust(#name))
        }
    };
    let up = step(migration.up_step(), "up");
    let down = migration.down_step(has_down).map(|down| {
        let file = match down.file_name {
            Some(file) => quote!(::core::option::Option::Some(#file)),
            None => quote!(::core::option::Option::None),
        };
        (file, step(down.step, "down"))
    });
    match migration.kind {
        MigrationKind::Sql => {
            items.extend(track(&migration.up));
            if let Some(down) = &migration.down {
                items.extend(track(down));
            }
        }
        MigrationKind::Rust => {
            let path = migration.up.path.to_string_lossy();
            // The team's lints apply to its migrations as to any code,
            // save two that this inclusion itself would trip: `pub fn up`
            // in a module private to the registry is unreachable from the
            // crate root by construction, and one directory may be embedded
            // by several sets (each with its own history table).
            items.extend(quote! {
                #[path = #path]
                #[allow(unreachable_pub, clippy::duplicate_mod)]
                mod #module;
            });
        }
    }
    let mut entry = quote! {
        #private::Migration::__new(#version, #name, #file_name, #up, #checksums)
    };
    if let Some((file, down)) = down {
        entry = quote!(#entry.__with_down(#file, #down));
    }
    (items, entry)
}

fn mode_tokens(private: &TokenStream, mode: SqlMode) -> TokenStream {
    match mode {
        SqlMode::Transaction => quote!(#private::SqlMode::Transaction),
        SqlMode::NoTransaction => quote!(#private::SqlMode::NoTransaction),
        SqlMode::ForeignKeysOff => quote!(#private::SqlMode::ForeignKeysOff),
    }
}

fn rust_module_name(version: u64) -> Ident {
    format_ident!("__migrate_rust_migration_{}", version)
}

/// Makes the crate depend on the file, so editing it rebuilds the crate.
fn track(file: &SourceFile) -> TokenStream {
    let path = file.path.to_string_lossy();
    quote! {
        const _: &[u8] = ::core::include_bytes!(#path);
    }
}

/// The compile errors, next to an empty registry of the right type, so the
/// user sees these errors and no cascade of type errors after them.
pub fn invalid(krate: &TokenStream, errors: syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    quote! {
        {
            #errors
            #krate::__private::Migrations::__invalid()
        }
    }
}
