use migrate::SqlMode;

static MIGRATIONS: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/transaction-words-in-bodies");

fn main() {
    let modes: Vec<SqlMode> = MIGRATIONS.iter().map(|m| m.up().mode()).collect();
    assert_eq!(
        modes,
        [
            SqlMode::Transaction,
            SqlMode::Transaction,
            SqlMode::NoTransaction,
            SqlMode::ForeignKeysOff,
        ]
    );
}
