static APP: migrate::Migrations = migrate::embed_migrations!("migrations");
static BILLING: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/flyway", table = "billing_schema_history");
static QUALIFIED: migrate::Migrations =
    migrate::embed_migrations!("tests/fixtures/flyway", table = "billing.schema_history",);

fn main() {
    assert_eq!(APP.table(), migrate::DEFAULT_TABLE);
    assert_eq!(BILLING.table(), "billing_schema_history");
    assert_eq!(QUALIFIED.table(), "billing.schema_history");
}
