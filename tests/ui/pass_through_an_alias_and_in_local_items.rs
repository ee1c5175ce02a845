//! The macro works in a `const`, a `let` and a function-local `static`,
//! and through a re-export under another name.
use migrate as db_migrations;

const IN_CONST: migrate::Migrations = db_migrations::embed_migrations!("migrations");

fn main() {
    static LOCAL: migrate::Migrations = migrate::embed_migrations!("migrations");
    let in_let = migrate::embed_migrations!("tests/fixtures/flyway");
    assert_eq!(IN_CONST.len(), LOCAL.len());
    assert_eq!(in_let.len(), 2);
}
