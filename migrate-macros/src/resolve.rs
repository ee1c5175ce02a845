//! Where the migration directory is: relative to the calling crate's
//! `CARGO_MANIFEST_DIR`.

use std::path::PathBuf;

/// Read instead of `CARGO_MANIFEST_DIR` when set. trybuild compiles UI tests
/// in a crate under `target/`, so the project's UI tests point this at the
/// project root to keep fixture paths working. Not for users.
const MANIFEST_DIR_OVERRIDE: &str = "MIGRATE_PRIVATE_UI_TEST_MANIFEST_DIR";

/// The directory relative paths are resolved against.
pub fn manifest_dir() -> Result<PathBuf, String> {
    std::env::var_os(MANIFEST_DIR_OVERRIDE)
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR"))
        .map(PathBuf::from)
        .ok_or_else(|| {
            "CARGO_MANIFEST_DIR is not set, so the migration directory cannot be found; \
             build with cargo"
                .to_owned()
        })
}

/// `dir` made absolute: relative paths start at the manifest directory.
pub fn resolve(dir: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(dir);
    if dir.is_absolute() {
        return Ok(dir);
    }
    Ok(manifest_dir()?.join(dir))
}
