//! Compile-time behaviour of `embed_migrations!`: every compile error is
//! pinned by a `.stderr` file, and the pass cases run their assertions.
//!
//! Regenerate the `.stderr` files after a deliberate wording change with
//! `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    // trybuild compiles the cases in a crate under `target/`; point the
    // macro at this crate so `tests/fixtures/...` paths resolve.
    std::env::set_var(
        "MIGRATE_PRIVATE_UI_TEST_MANIFEST_DIR",
        env!("CARGO_MANIFEST_DIR"),
    );
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass_*.rs");
    t.compile_fail("tests/ui/fail_*.rs");
}
