//! The README's Rust blocks are compiled: each must be shown, line for
//! line, by a doc test in `src/readme.rs` (whose hidden `# ` lines supply
//! what a reader does not need). A block edited in one place and not the
//! other fails here.

use std::path::Path;

/// The ```` ```rust ```` blocks of a Markdown text.
fn readme_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_start().starts_with("```rust") => current = Some(Vec::new()),
            Some(lines) if line.trim_start().starts_with("```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            Some(lines) => lines.push(line),
            None => {}
        }
    }
    blocks
}

/// The visible lines of the doc-test blocks in `///` comments.
fn doc_blocks(source: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in source.lines() {
        let Some(doc) = line.trim_start().strip_prefix("///") else {
            continue;
        };
        let doc = doc.strip_prefix(' ').unwrap_or(doc);
        match &mut current {
            None if doc.starts_with("```") => current = Some(Vec::new()),
            Some(lines) if doc.starts_with("```") => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            Some(lines) => {
                let hidden = doc == "#" || doc.starts_with("# ");
                if !hidden {
                    lines.push(doc);
                }
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn every_rust_block_of_the_readme_is_compiled_as_a_doc_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let tested = doc_blocks(&std::fs::read_to_string(root.join("src/readme.rs")).unwrap());
    let blocks = readme_blocks(&readme);
    assert!(blocks.len() >= 7, "found only {} Rust blocks", blocks.len());
    for block in &blocks {
        assert!(
            tested.contains(block),
            "this README block is not shown by any doc test in src/readme.rs; copy it there \
             (hide what a reader does not need with `# ` lines):\n{block}"
        );
    }
    // And nothing there that the README no longer shows.
    for block in &tested {
        assert!(
            blocks.contains(block),
            "src/readme.rs tests a block the README no longer has:\n{block}"
        );
    }
}
