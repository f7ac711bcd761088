//! The module tree keeps the shape ARCHITECTURE.md describes: the top-level modules form
//! layers (each uses only modules below it, so there is no cycle), and every source file is
//! named in ARCHITECTURE.md's tree. A change that breaks either fails here, so the document and
//! the code move together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, bottom first (ARCHITECTURE.md, "botanu-core, by concern").
const LAYERS: [&str; 10] = [
    "semconv",
    "error",
    "pii",
    "config",
    "run",
    "propagation",
    "otel",
    "lifecycle",
    "track",
    "adapter",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments and without its `#[cfg(test)] mod tests` block.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Which top-level module each item lib.rs re-exports at the root comes from.
fn root_items(lib: &str) -> BTreeMap<String, String> {
    let mut items = BTreeMap::new();
    for statement in code(lib).split(';') {
        let Some(rest) = statement.trim().rsplit("pub use ").next() else {
            continue;
        };
        if !statement.contains("pub use ") {
            continue;
        }
        let module = rest.split("::").next().unwrap().trim().to_owned();
        let names = rest.rsplit("::").next().unwrap();
        for name in names
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|n| !n.is_empty())
        {
            items.insert(name.to_owned(), module.clone());
        }
    }
    items
}

/// `crate::name` paths in `code`: the first segment after `crate::`, and every name of a
/// `crate::{…}` group.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for part in code.split("crate::").skip(1) {
        if let Some(group) = part.strip_prefix('{') {
            let group = group.split('}').next().unwrap();
            for name in group.split(',') {
                let first = name.trim().split("::").next().unwrap().trim();
                if !first.is_empty() {
                    out.insert(first.to_owned());
                }
            }
        } else {
            let name: String = part
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let roots = root_items(&lib);
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut upward = Vec::new();
    for file in &files {
        let module = top_module(file);
        if module == "lib" || file.to_string_lossy().ends_with("tests.rs") {
            continue;
        }
        let own = rank(&module).unwrap_or_else(|| {
            panic!("{module} is not in LAYERS: add it here and to ARCHITECTURE.md")
        });
        let text = std::fs::read_to_string(file).unwrap();
        for name in crate_refs(&code(&text)) {
            let target = roots.get(&name).cloned().unwrap_or(name.clone());
            if let Some(other) = rank(&target) {
                if other > own {
                    upward.push(format!("{} uses crate::{name} ({target})", file.display()));
                }
            }
        }
    }
    assert!(upward.is_empty(), "upward dependencies: {upward:#?}");
}

#[test]
fn architecture_md_names_every_source_file() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md"))
            .unwrap();
    let tree = doc
        .split("botanu-core/src/")
        .nth(1)
        .expect("ARCHITECTURE.md has the botanu-core/src/ tree")
        .split("```")
        .next()
        .unwrap();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut missing = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(src()).unwrap();
        let name = rel.file_name().unwrap().to_string_lossy();
        let folder = rel
            .parent()
            .and_then(|p| p.file_name())
            .map(|f| format!("{}/", f.to_string_lossy()));
        if !tree.contains(name.as_ref()) || folder.is_some_and(|f| !tree.contains(&f)) {
            missing.push(rel.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "files ARCHITECTURE.md does not name: {missing:?}"
    );
    for layer in LAYERS {
        assert!(tree.contains(layer), "{layer} is missing from the tree");
    }
}
