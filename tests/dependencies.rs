//! Production crates hold production code: no function binary links the local AWS
//! stand-ins (`ferrolake-local-aws`) or a test feature, as `cargo tree` shows them.

use ferrolake_local_aws::workspace_root;
use std::process::Command;

const FUNCTIONS: [&str; 5] = [
    "catalog-fetch",
    "firehose-flatten",
    "athena-udf",
    "crawler-trigger",
    "redshift-config",
];

/// `cargo tree` over the workspace, offline (Cargo.lock already resolves everything).
fn cargo_tree(args: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .arg("tree")
        .args([
            "--offline",
            "--locked",
            "--prefix",
            "none",
            "--manifest-path",
        ])
        .arg(workspace_root().join("Cargo.toml"))
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn no_function_binary_links_test_code() {
    for function in FUNCTIONS {
        let tree = cargo_tree(&["-p", function, "-e", "normal,build,features"]);
        assert!(
            tree.contains(&format!("{function} v")),
            "cargo tree -p {function} lists the crate itself:\n{tree}"
        );
        for line in tree.lines() {
            assert!(
                !line.contains("ferrolake-local-aws"),
                "{function} links the local AWS stand-ins: {line}"
            );
            assert!(
                !line.contains("\"test-support\"")
                    && !line.contains("\"fixtures\"")
                    && !line.contains("\"sample\""),
                "{function} builds with a test feature: {line}"
            );
        }
    }
}

#[test]
fn the_shared_crate_has_no_test_feature() {
    let tree = cargo_tree(&["-p", "ferrolake-shared", "-e", "features"]);
    assert!(tree.contains("ferrolake-shared v"), "{tree}");
    assert!(!tree.contains("test-support"), "{tree}");
    assert!(!tree.contains("ferrolake-local-aws"), "{tree}");
}

/// The other side: the stand-ins are a dev-dependency of every function crate (their
/// moto tests and benchmarks use them), so the check above is not vacuous.
#[test]
fn function_crates_take_the_stand_ins_as_a_dev_dependency() {
    for function in FUNCTIONS {
        let tree = cargo_tree(&["-p", function, "-e", "dev", "--depth", "1"]);
        assert!(
            tree.lines().any(|l| l.starts_with("ferrolake-local-aws v")),
            "{function} has no dev-dependency on ferrolake-local-aws:\n{tree}"
        );
    }
}
