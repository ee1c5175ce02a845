static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/not-utf8");

fn main() {
    let _ = MIGRATIONS.len();
}
