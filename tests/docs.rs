//! The docs name tests as evidence; every named test must exist where the docs say. And the
//! README and docs/ link to each other: every relative link must reach a file (and heading).

use ferrolake_local_aws::workspace_root;
use std::path::{Path, PathBuf};

/// `` `path` · `test` `` pairs in a markdown document.
fn named_tests(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in markdown.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("` · `") {
            let path = rest[..i].rsplit('`').next().unwrap_or_default().to_string();
            let after = &rest[i + "` · `".len()..];
            let Some(end) = after.find('`') else { break };
            out.push((path, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// The pairs whose file does not define the test, as `path · test`.
fn missing_tests(root: &Path, named: &[(String, String)]) -> Vec<String> {
    named
        .iter()
        .filter(|(path, test)| {
            let source = std::fs::read_to_string(root.join(path)).unwrap_or_default();
            !source.contains(&format!("fn {test}("))
        })
        .map(|(path, test)| format!("{path} · {test}"))
        .collect()
}

/// README.md, infra/athena/README.md and every markdown file under docs/, relative to the root.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![
        PathBuf::from("README.md"),
        PathBuf::from("infra/athena/README.md"),
    ];
    let mut folders = vec![PathBuf::from("docs")];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(root.join(&folder)).expect("docs/ is readable");
        for entry in entries {
            let name = entry.expect("a docs/ entry").file_name();
            let path = folder.join(name);
            if root.join(&path).is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The text outside fenced code blocks.
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Relative link targets (`](target)`) outside code blocks; web addresses are left out.
fn relative_links(markdown: &str) -> Vec<String> {
    let text = prose(markdown);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        let target = &after[..end];
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            out.push(target.to_string());
        }
        rest = &after[end..];
    }
    out
}

/// The anchors of a document's headings, as GitHub makes them: lowercase, spaces to `-`,
/// punctuation other than `-` and `_` dropped.
fn anchors(markdown: &str) -> Vec<String> {
    prose(markdown)
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    '-' | '_' => Some(c),
                    c if c.is_alphanumeric() => Some(c),
                    _ => None,
                })
                .collect::<String>()
        })
        .collect()
}

/// Every relative link of `document` that reaches no file, or no heading of the file.
fn broken_links(root: &Path, document: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(document)).expect("a document");
    let folder = document.parent().unwrap_or(Path::new(""));
    let mut broken = Vec::new();
    for link in relative_links(&text) {
        let (path, fragment) = link.split_once('#').unwrap_or((link.as_str(), ""));
        let target = if path.is_empty() {
            root.join(document)
        } else {
            root.join(folder).join(path)
        };
        if !target.exists() {
            broken.push(format!("{}: {link} (no such file)", document.display()));
        } else if !fragment.is_empty() && target.extension().is_some_and(|e| e == "md") {
            let linked = std::fs::read_to_string(&target).unwrap_or_default();
            if !anchors(&linked).iter().any(|a| a == fragment) {
                broken.push(format!("{}: {link} (no such heading)", document.display()));
            }
        }
    }
    broken
}

#[test]
fn every_test_named_in_bad_inputs_exists() {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/bad-inputs.md")).expect("docs/bad-inputs.md");
    let named = named_tests(&doc);
    assert!(named.len() >= 50, "only {} rows name a test", named.len());
    let missing = missing_tests(&root, &named);
    assert!(
        missing.is_empty(),
        "named in docs/bad-inputs.md but not found: {missing:?}"
    );
}

#[test]
fn every_test_named_in_the_docs_exists() {
    let root = workspace_root();
    let mut missing = Vec::new();
    for document in documents(&root) {
        let text = std::fs::read_to_string(root.join(&document)).expect("a document");
        for test in missing_tests(&root, &named_tests(&text)) {
            missing.push(format!("{}: {test}", document.display()));
        }
    }
    assert!(
        missing.is_empty(),
        "named in the docs but not found: {missing:?}"
    );
}

#[test]
fn the_architecture_table_names_the_tests_to_extend() {
    let root = workspace_root();
    let doc =
        std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let table = doc
        .split_once("## Where to change what")
        .map(|(_, table)| table)
        .expect("docs/architecture.md has a \"Where to change what\" section");
    let named = named_tests(table);
    assert!(named.len() >= 6, "only {} tests named", named.len());
}

#[test]
fn every_relative_link_resolves() {
    let root = workspace_root();
    let docs = documents(&root);
    assert!(docs.len() >= 10, "found only {docs:?}");
    let broken: Vec<String> = docs
        .iter()
        .flat_map(|document| broken_links(&root, document))
        .collect();
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

#[test]
fn the_parser_finds_pairs() {
    let pairs = named_tests("| x | y | `a/b.rs` · `t_one` |\n| `c.rs` · `t_two` |");
    assert_eq!(
        pairs,
        [
            ("a/b.rs".to_string(), "t_one".to_string()),
            ("c.rs".to_string(), "t_two".to_string())
        ]
    );
}

#[test]
fn links_and_anchors_are_read_as_github_does() {
    let doc = "# The shared crate (`ferrolake-shared`)\n[a](b.md#c) [web](https://x.y)\n```\n[not](a-link.md)\n```\n## `make demo`: on a laptop\n";
    assert_eq!(relative_links(doc), ["b.md#c"]);
    assert_eq!(
        anchors(doc),
        ["the-shared-crate-ferrolake-shared", "make-demo-on-a-laptop"]
    );
}
