//! The shape of the host crate: its top-level modules form the layers of
//! the table in `docs/architecture.md`, and a module uses only modules of
//! lower layers. Every `crate::` path in `host/src` is read (test modules
//! aside); one that reaches up or across a layer fails this test, naming
//! the file and line. So is a `super::` path that climbs to the crate's
//! root and down into another module.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::repo;

/// The layer of each top-level module, as the table under `## Layers` in
/// `docs/architecture.md` gives it: `| 3 | `egress` | ... |`.
fn layer_table(architecture: &str) -> BTreeMap<String, usize> {
    let section = architecture
        .split("\n## ")
        .find(|s| s.starts_with("Layers"))
        .expect("docs/architecture.md has a section '## Layers'");
    let mut layers = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Ok(layer) = cells[1].parse::<usize>() else {
            continue;
        };
        for module in cells[2].split(',') {
            let module = module.trim().trim_matches('`');
            assert!(
                layers.insert(module.to_owned(), layer).is_none(),
                "{module} is in the layer table twice"
            );
        }
    }
    layers
}

/// `text` without comments and without the items marked `#[cfg(test)]`.
fn code(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            skip_item(&mut lines);
            kept.push('\n');
            continue;
        }
        let code = match trimmed.find("//") {
            Some(_) if trimmed.starts_with("//") => "",
            // A `//` inside a string (a URL) is not a comment: keep the line.
            _ => line,
        };
        kept.push_str(code);
        kept.push('\n');
    }
    kept
}

/// Skip the item after `#[cfg(test)]`: one line ending in `;`, or a
/// braced block.
fn skip_item<'a>(lines: &mut impl Iterator<Item = &'a str>) {
    let mut depth = 0i32;
    for line in lines {
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        if depth <= 0 && (line.contains('}') || line.trim_end().ends_with(';')) {
            return;
        }
    }
}

/// The top-level modules that the paths in `code` name, with their lines:
/// every `crate::` path, and every `super::` path that climbs out of
/// `module` (the file's module path, e.g. `["caps", "http"]`) to the
/// crate's root.
fn uses(code: &str, module: &[String]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut at = 0;
    while let Some(start) = next_path(code, at) {
        let mut rest = &code[start..];
        let mut supers = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            supers += 1;
            rest = after;
        }
        let from_root = match rest.strip_prefix("crate::") {
            Some(after) => Some(after),
            // Climbing as many modules as the file is deep reaches the root.
            None if supers >= module.len() => Some(rest),
            None => None,
        };
        at = code.len() - from_root.unwrap_or(rest).len();
        let Some(rest) = from_root else {
            continue;
        };
        let names: Vec<&str> = match rest.strip_prefix('{') {
            // `crate::{a, b::c}`, over as many lines as rustfmt makes it.
            Some(group) => group
                .split('}')
                .next()
                .unwrap_or_default()
                .split(',')
                .map(|path| path.trim().split("::").next().unwrap_or_default())
                .collect(),
            None => vec![
                rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or_default(),
            ],
        };
        let line = line_of(start);
        found.extend(
            names
                .into_iter()
                .filter(|n| !n.is_empty())
                .map(|n| (line, n.to_owned())),
        );
    }
    found
}

/// Where the next `crate::` or `super::` path starts, at or after `from`
/// (not the end of a longer name, such as `my_crate::`).
fn next_path(code: &str, mut from: usize) -> Option<usize> {
    loop {
        let crate_at = code[from..].find("crate::");
        let super_at = code[from..].find("super::");
        let at = from
            + match (crate_at, super_at) {
                (Some(c), Some(s)) => c.min(s),
                (one, other) => one.or(other)?,
            };
        let before = code[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return Some(at);
        }
        from = at + 1;
    }
}

/// The module path of a file under `src`: `caps/http.rs` is
/// `["caps", "http"]`, `caps/mod.rs` and `metrics.rs` name their module.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Every import in `src` that does not go down a layer.
fn violations(src: &Path, layers: &BTreeMap<String, usize>) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&mine) = layers.get(&module) else {
            wrong.push(format!("{module} is not in the layer table"));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, used) in uses(&code(&text), &module_path(relative)) {
            let at = format!("host/src/{}:{line}", relative.display());
            match layers.get(&used) {
                _ if used == module || used == "self" => {}
                Some(&theirs) if theirs < mine => {}
                Some(&theirs) => wrong.push(format!(
                    "{at}: {module} (layer {mine}) uses {used} (layer {theirs})"
                )),
                None if used.starts_with(char::is_uppercase) => wrong.push(format!(
                    "{at}: crate::{used}: name the module it comes from"
                )),
                None => wrong.push(format!("{at}: {used} is not in the layer table")),
            }
        }
    }
    wrong
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let root = repo();
    let architecture = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let layers = layer_table(&architecture);
    assert!(
        layers.len() > 10,
        "the layer table lists the modules: {layers:?}"
    );
    let wrong = violations(&root.join("host/src"), &layers);
    assert!(
        wrong.is_empty(),
        "imports that do not go down a layer (docs/architecture.md, ## Layers):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn an_upward_import_is_caught() {
    let layers = BTreeMap::from([
        ("vocab".to_owned(), 0),
        ("config".to_owned(), 1),
        ("db".to_owned(), 1),
    ]);
    let src = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = src.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("vocab/mod.rs", "use crate::vocab::x;\n");
    write(
        "config/mod.rs",
        "//! Uses crate::db in a comment only.\nuse crate::vocab::Limits;\n\
         #[cfg(test)]\nmod tests {\n    use crate::db::Db;\n}\n",
    );
    assert!(violations(src.path(), &layers).is_empty());

    write(
        "config/agent.rs",
        "use crate::{\n    db::Db,\n    vocab::AgentId,\n};\n",
    );
    write("vocab/names.rs", "fn f() { crate::config::load(); }\n");
    write(
        "db/mod.rs",
        "use crate::Runtime;\nuse super::vocab::Limits;\n",
    );
    write("db/kv.rs", "use super::Db;\nuse super::super::config::X;\n");
    let wrong = violations(src.path(), &layers);
    assert_eq!(
        wrong,
        [
            "host/src/config/agent.rs:1: config (layer 1) uses db (layer 1)",
            "host/src/db/kv.rs:2: db (layer 1) uses config (layer 1)",
            "host/src/db/mod.rs:1: crate::Runtime: name the module it comes from",
            "host/src/vocab/names.rs:1: vocab (layer 0) uses config (layer 1)",
        ]
    );
}
