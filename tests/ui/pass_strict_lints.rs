//! A crate that denies `unreachable_pub` and warnings embeds Rust
//! migrations as written by `migrate new --rust` (`pub fn up`), and the
//! same directory twice: the inclusion trips none of its lints, and none of
//! them is switched off for the migrations' own code beyond those two.
#![deny(unreachable_pub, warnings)]

static APP: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/rt-v1");
static AGAIN: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-v1", table = "again_schema_history");

fn main() {
    assert_eq!(APP.len(), AGAIN.len());
    assert!(APP.iter().any(|m| m.kind() == migrate::MigrationKind::Rust));
}
