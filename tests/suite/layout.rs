//! Every crate's integration tests are one test binary, `tests/suite/` (each test binary links the
//! whole dependency tree, and some 60 of them filled the CI machine's disk): no test file beside
//! it, and every file in it named by a `mod` line of its `main.rs` (cargo compiles nothing else, so
//! the tests of a file without one would silently not run).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The `tests/` folders of the workspace: the root crate's and each of `crates/*`.
fn test_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("tests")];
    for entry in std::fs::read_dir(root.join("crates")).expect("read crates/") {
        let tests = entry.expect("entry of crates/").path().join("tests");
        if tests.is_dir() {
            dirs.push(tests);
        }
    }
    dirs.sort();
    dirs
}

/// The entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("folder entry").path())
        .collect();
    paths.sort();
    paths
}

/// What is wrong with one crate's `tests/` folder, each with what to do about it.
fn problems_of(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    // cargo makes a test binary of every tests/*.rs and every tests/*/main.rs.
    for path in entries(dir) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.extension().is_some_and(|e| e == "rs") {
            let module = name.trim_end_matches(".rs");
            problems.push(format!(
                "{}: a test binary of its own; `git mv` it into {}/suite/ and add `mod {module};` \
                 to suite/main.rs",
                path.display(),
                dir.display()
            ));
        } else if path.join("main.rs").is_file() && name != "suite" {
            problems.push(format!(
                "{}: a second test binary; move its files into {}/suite/",
                path.display(),
                dir.display()
            ));
        }
    }
    let suite = dir.join("suite");
    let main = suite.join("main.rs");
    let Ok(text) = std::fs::read_to_string(&main) else {
        problems.push(format!(
            "{}: missing; the crate's tests go there",
            main.display()
        ));
        return problems;
    };
    let declared: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("mod ")?.strip_suffix(';'))
        .collect();
    for path in entries(&suite) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let module = if path.is_dir() && path.join("mod.rs").is_file() {
            name
        } else if let Some(stem) = name.strip_suffix(".rs") {
            stem
        } else {
            continue;
        };
        if module != "main" && !declared.contains(module) {
            problems.push(format!(
                "{}: never compiled, so its tests do not run; add `mod {module};` to {}",
                path.display(),
                main.display()
            ));
        }
    }
    problems
}

#[test]
fn every_test_file_is_in_its_crates_suite() {
    let dirs = test_dirs();
    assert!(
        dirs.len() >= 6,
        "the root crate and its 5 tested crates: {dirs:?}"
    );
    let problems: Vec<String> = dirs.iter().flat_map(|dir| problems_of(dir)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
