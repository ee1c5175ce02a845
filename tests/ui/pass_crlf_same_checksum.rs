//! A CRLF checkout (with a byte-order mark) embeds the same text and
//! checksums as the LF original, so it does not look like an edit.
static LF: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/lf");
static CRLF: migrate::Migrations = migrate::embed_migrations!("tests/fixtures/crlf");

fn main() {
    let (lf, crlf) = (LF.get(1).unwrap(), CRLF.get(1).unwrap());
    assert_eq!(lf.checksum(), crlf.checksum());
    assert_eq!(lf.chained_checksum(), crlf.chained_checksum());
    assert_eq!(lf.up_sql(), crlf.up_sql());
    assert!(!crlf.up_sql().unwrap().contains('\r'));
    assert_eq!(lf.checksum().len(), 64);
}
