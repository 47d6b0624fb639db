//! A production build (`cargo build --no-default-features`) links neither the simulated
//! bank nor the load generator: no fault-injection endpoint and no generator of
//! synthetic personal data reaches a bank's servers. Cargo's own resolution of the
//! hub's dependencies is the proof, so the test asks cargo rather than a list of ours.

use std::process::Command;

/// The hub's normal (non-dev, non-build) dependencies as cargo resolves them for
/// `features`, one package a line.
fn resolved_dependencies(features: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "-p", "c360", "-e", "normal", "--prefix", "none"])
        .args(["--locked", "--offline"])
        .args(features)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("cargo prints UTF-8")
}

#[test]
fn a_build_without_the_demo_feature_has_no_sandbox_or_load_generator() {
    let production = resolved_dependencies(&["--no-default-features"]);
    for left_out in ["c360-sandbox", "c360-bench"] {
        assert!(
            !production.lines().any(|line| line.starts_with(left_out)),
            "{left_out} is linked into a production build:\n{production}"
        );
    }
}

#[test]
fn the_default_build_has_the_demo_commands() {
    let default = resolved_dependencies(&[]);
    for included in ["c360-sandbox", "c360-bench"] {
        assert!(
            default.lines().any(|line| line.starts_with(included)),
            "{included} is missing from the default build, so `c360 demo` cannot run"
        );
    }
}
