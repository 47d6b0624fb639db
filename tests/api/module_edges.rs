//! The hub's modules depend on each other one way only. Every `crate::` path (and
//! every `super::` path that leaves its top-level module) in `src/` is an edge from
//! the module whose file holds it to the module it names; an edge that is not in
//! [`ALLOWED`] fails the test, and so does a cycle between two sibling submodules of
//! one module (e.g. `graphql::customer` ↔ `graphql::party`). Comments and unit-test
//! modules are not edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use. The layers, top down:
/// the binary's commands and the app wiring (`lib.rs`) use anything; `http` →
/// `graphql` → `upstream` → `connectors` and `cache` → `domain` (`feed`, the other
/// way in, beside `http`, which uses it); `auth`, `store`,
/// `config`, `telemetry`, `metrics` and `errors` have no upward edges.
const ALLOWED: &[(&str, &[&str])] = &[
    ("errors", &[]),
    ("metrics", &["errors"]),
    ("domain", &["errors"]),
    ("config", &["domain", "errors"]),
    ("telemetry", &["config"]),
    ("redis_client", &[]),
    ("store", &["config", "domain", "errors", "metrics"]),
    ("auth", &["config", "domain", "errors", "metrics", "store"]),
    ("insights", &["domain", "errors"]),
    (
        "connectors",
        &["config", "domain", "errors", "metrics", "telemetry"],
    ),
    (
        "cache",
        &[
            "config",
            "domain",
            "errors",
            "metrics",
            "redis_client",
            "telemetry",
        ],
    ),
    ("bus", &["config", "redis_client"]),
    ("export", &["auth", "domain", "errors", "insights", "store"]),
    (
        "snapshot",
        &[
            "cache",
            "config",
            "connectors",
            "domain",
            "errors",
            "insights",
            "store",
            "upstream",
        ],
    ),
    (
        "upstream",
        &[
            "cache",
            "config",
            "connectors",
            "domain",
            "errors",
            "metrics",
            "telemetry",
        ],
    ),
    (
        "graphql",
        &[
            "auth",
            "bus",
            "cache",
            "config",
            "connectors",
            "domain",
            "errors",
            "insights",
            "metrics",
            "store",
            "upstream",
        ],
    ),
    // Change events: a transport into the hub, like `http`, that invalidates the
    // tiers (`cache`, through `upstream`), tells other hubs and screens (`bus`, the
    // channel names in `graphql`) and records what it applied (`store`).
    (
        "feed",
        &[
            "auth", "bus", "cache", "config", "domain", "graphql", "metrics", "store", "upstream",
        ],
    ),
    (
        "http",
        &[
            "auth",
            "bus",
            "cache",
            "config",
            "domain",
            "errors",
            "export",
            "feed",
            "graphql",
            "metrics",
            "store",
            "telemetry",
            "upstream",
        ],
    ),
];

/// Modules at the top, with the app wiring: they may use every module below them.
const TOP: &[&str] = &["commands", "demo", "allocator"];

/// The module path of a source file: `src/graphql/customer.rs` is
/// `["graphql", "customer"]`, `src/graphql/mod.rs` is `["graphql"]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("a file under src");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file's code without comments and without its `#[cfg(test)] mod tests`.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

/// The module paths (first two segments at most) that `code`, in module `here`,
/// names through `crate::` and `super::`.
fn named_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let item = item.trim();
                if let Some(first) = identifier(item) {
                    let mut path = vec![first.to_owned()];
                    if let Some(second) =
                        item[first.len()..].strip_prefix("::").and_then(identifier)
                    {
                        path.push(second.to_owned());
                    }
                    found.push(path);
                }
            }
        } else if let Some(first) = identifier(rest) {
            let mut path = vec![first.to_owned()];
            if let Some(second) = rest[first.len()..].strip_prefix("::").and_then(identifier) {
                path.push(second.to_owned());
            }
            found.push(path);
        }
    }
    let mut rest = code;
    while let Some(at) = rest.find("super::") {
        let before = rest[..at].chars().last();
        let mut after = &rest[at..];
        let mut ups = 0;
        while let Some(next) = after.strip_prefix("super::") {
            ups += 1;
            after = next;
        }
        rest = after;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if ups > here.len() {
            continue;
        }
        let mut path: Vec<String> = here[..here.len() - ups].to_vec();
        if let Some(name) = identifier(after) {
            path.push(name.to_owned());
        }
        found.push(path);
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Edges between top-level modules, and between sibling submodules per module, each
/// with one file that makes it.
type Edges = BTreeMap<(String, String), String>;

fn edges() -> (Edges, BTreeMap<String, Edges>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut top = Edges::new();
    let mut siblings: BTreeMap<String, Edges> = BTreeMap::new();
    for file in files {
        let here = module_path(&src, &file);
        if here.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        let shown = file.strip_prefix(&src).unwrap().display().to_string();
        for path in named_paths(&code_of(&text), &here) {
            if path.is_empty() {
                continue;
            }
            if path[0] != here[0] {
                top.entry((here[0].clone(), path[0].clone()))
                    .or_insert_with(|| shown.clone());
            } else if here.len() >= 2 && path.len() >= 2 && path[1] != here[1] {
                siblings
                    .entry(here[0].clone())
                    .or_default()
                    .entry((here[1].clone(), path[1].clone()))
                    .or_insert_with(|| shown.clone());
            }
        }
    }
    (top, siblings)
}

/// Names in `src/lib.rs` itself (the app: `App`, `check`, `shutdown_signal`, …), which
/// only the top modules use.
fn is_root_item(name: &str) -> bool {
    let modules: BTreeSet<&str> = ALLOWED
        .iter()
        .map(|(m, _)| *m)
        .chain(TOP.iter().copied())
        .collect();
    !modules.contains(name)
}

#[test]
fn every_module_edge_is_in_the_allowed_table() {
    let (top, _) = edges();
    let allowed: BTreeMap<&str, BTreeSet<&str>> = ALLOWED
        .iter()
        .map(|(module, uses)| (*module, uses.iter().copied().collect()))
        .collect();
    let mut refused = Vec::new();
    for ((from, to), file) in &top {
        if TOP.contains(&from.as_str()) {
            continue;
        }
        let ok = match allowed.get(from.as_str()) {
            Some(uses) => uses.contains(to.as_str()),
            None => false,
        };
        if !ok {
            let what = if is_root_item(to) {
                format!("the app (crate::{to})")
            } else {
                to.clone()
            };
            refused.push(format!("{from} -> {what} (in src/{file})"));
        }
    }
    assert!(
        refused.is_empty(),
        "module edges outside the allowed table (tests/module_edges.rs):\n  {}",
        refused.join("\n  ")
    );
}

#[test]
fn sibling_submodules_do_not_depend_on_each_other_both_ways() {
    let (_, siblings) = edges();
    let mut cycles = Vec::new();
    for (module, edges) in &siblings {
        for ((a, b), file) in edges {
            if a < b {
                if let Some(back) = edges.get(&(b.clone(), a.clone())) {
                    cycles.push(format!(
                        "{module}::{a} <-> {module}::{b} (src/{file}, src/{back})"
                    ));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles:\n  {}",
        cycles.join("\n  ")
    );
}

#[test]
fn the_scanner_sees_grouped_and_relative_paths() {
    let here = vec!["graphql".to_owned(), "customer".to_owned()];
    let found = named_paths(
        "use crate::{auth::Viewer, cache};\nuse super::party::Party;\nlet x = super::super::store::Store::new();\n// crate::http in a comment",
        &here,
    );
    let found: BTreeSet<Vec<String>> = found.into_iter().collect();
    let expect = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(found.contains(&expect(&["auth"])));
    assert!(found.contains(&expect(&["cache"])));
    assert!(found.contains(&expect(&["graphql", "party"])));
    assert!(found.contains(&expect(&["store"])));
}
