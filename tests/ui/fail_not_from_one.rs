static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/not-from-one");

fn main() {
    let _ = MIGRATIONS.len();
}
