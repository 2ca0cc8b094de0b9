//! ARCHITECTURE.md stays true of the tree: every module file under `src/`
//! (each `*.rs` but the sibling `tests.rs` files and the `tests/` directories
//! they split into) and every module directory
//! (one holding a `*.rs` other than `tests.rs`) is named there by its full
//! path, and every `src/` path it names exists. No token, no build of the
//! binary: it reads the tree and one file.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// The `src/…` paths a document names, without a trailing `/` or sentence
/// punctuation. A path is taken only where `src/` starts a word, so
/// `fuzz/src/x.rs` is not one.
fn named_paths(doc: &str) -> BTreeSet<String> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-');
    let mut named = BTreeSet::new();
    for (at, _) in doc.match_indices("src/") {
        if doc[..at].chars().next_back().is_some_and(path_char) {
            continue;
        }
        let rest = &doc[at..];
        let end = rest.find(|c: char| !path_char(c)).unwrap_or(rest.len());
        let path = rest[..end].trim_end_matches(['.', '/']);
        named.insert(path.to_string());
    }
    named
}

/// Every module file and module directory under `root/src`, as
/// `src/…` paths (directories without a trailing `/`), sorted.
fn modules(root: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let mut holds_module = false;
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() && path.file_name().is_some_and(|n| n == "tests") {
                // A module's tests split into parts (`foo/tests/*.rs`) are
                // tests, as `foo/tests.rs` is.
                continue;
            } else if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                holds_module = true;
                out.insert(relative(root, &path));
            }
        }
        if holds_module && dir != root.join("src") {
            out.insert(relative(root, dir));
        }
    }
    let mut out = BTreeSet::new();
    walk(root, &root.join("src"), &mut out);
    out
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).expect("under the root");
    rel.to_str().expect("UTF-8 path").replace('\\', "/")
}

/// What is wrong between the tree under `root` and `doc`, one line each.
fn problems(root: &Path, doc: &str) -> Vec<String> {
    let named = named_paths(doc);
    let mut problems = Vec::new();
    for module in modules(root) {
        if !named.contains(&module) {
            problems.push(format!(
                "{module} exists but ARCHITECTURE.md does not name it"
            ));
        }
    }
    for path in &named {
        if !root.join(path).exists() {
            problems.push(format!(
                "ARCHITECTURE.md names {path}, which does not exist"
            ));
        }
    }
    problems
}

#[test]
fn architecture_names_every_module_and_nothing_else() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("read ARCHITECTURE.md");
    let problems = problems(root, &doc);
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md is out of date with src/ (add or remove these paths):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_check_sees_a_module_missing_from_the_document_and_a_path_gone_from_the_tree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for file in [
        "src/lib.rs",
        "src/a.rs",
        "src/a/b.rs",
        "src/a/tests.rs",
        "src/c/mod.rs",
        "src/d/tests.rs",
    ] {
        let path = root.join(file);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, "//! x\n").expect("write");
    }
    // Names src/lib.rs, src/a.rs and src/a/ (with sentence punctuation),
    // a path under fuzz/ that is not ours, and one file that is gone; it
    // leaves out src/a/b.rs and src/c/ with its mod.rs.
    let doc = "`src/lib.rs` and src/a.rs. The directory src/a/, and fuzz/src/zz.rs;\n\
               src/gone.rs was removed. src/d/tests.rs is a test.\n";
    assert_eq!(
        problems(root, doc),
        vec![
            "src/a/b.rs exists but ARCHITECTURE.md does not name it",
            "src/c exists but ARCHITECTURE.md does not name it",
            "src/c/mod.rs exists but ARCHITECTURE.md does not name it",
            "ARCHITECTURE.md names src/gone.rs, which does not exist",
        ]
    );
    // A directory holding only tests.rs is not a module directory.
    assert!(!modules(root).contains("src/d"));
}
