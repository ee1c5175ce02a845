static MIGRATIONS: migrate::Migrations = migrate::embed_migrations!(MIGRATIONS_DIR);

fn main() {
    let _ = MIGRATIONS.len();
}
