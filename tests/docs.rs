//! The docs name tests as evidence; every named test must exist where the docs say.

use ferrolake_shared::testing::workspace_root;

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

#[test]
fn every_test_named_in_bad_inputs_exists() {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/bad-inputs.md")).expect("docs/bad-inputs.md");
    let named = named_tests(&doc);
    assert!(named.len() >= 50, "only {} rows name a test", named.len());
    let missing: Vec<String> = named
        .iter()
        .filter(|(path, test)| {
            let source = std::fs::read_to_string(root.join(path)).unwrap_or_default();
            !source.contains(&format!("fn {test}("))
        })
        .map(|(path, test)| format!("{path} · {test}"))
        .collect();
    assert!(
        missing.is_empty(),
        "named in docs/bad-inputs.md but not found: {missing:?}"
    );
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
