static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/misplaced-directive");

fn main() {
    let _ = MIGRATIONS.len();
}
