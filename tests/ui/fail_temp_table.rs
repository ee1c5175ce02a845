static MIGRATIONS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/rt-v1", table = "temp.migrate_history");

fn main() {
    let _ = MIGRATIONS.len();
}
