//! Exit codes of `stoop` that need no running node. (This test also makes
//! `cargo test` build the `stoop` binary the end-to-end tests in `tests/` run.)

use std::process::Command;

fn stoop(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new(env!("CARGO_BIN_EXE_stoop")).args(args).env_remove("STOOP_DATA_DIR").output()
}

#[test]
fn bad_flags_are_usage_errors() -> Result<(), Box<dyn std::error::Error>> {
    let out = stoop(&["post", "--headline", "x"])?;
    assert_eq!(out.status.code(), Some(2));
    let out = stoop(&["feed", "--since", "soon"])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
    Ok(())
}

#[test]
fn no_node_is_unreachable_with_one_line() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let d = tmp.path().to_string_lossy().into_owned();
    let out = stoop(&["--data-dir", &d, "status"])?;
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("is stoopd running?"), "{err}");
    // A URL nobody listens on (port 9 on loopback: discard, closed here).
    let token = tmp.path().join("token");
    std::fs::write(&token, "x")?;
    let out = stoop(&["--node", "http://127.0.0.1:9", "--token-file", &token.to_string_lossy(), "status"])?;
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

#[test]
fn completions_print_without_a_node() -> Result<(), Box<dyn std::error::Error>> {
    let out = stoop(&["completions", "bash"])?;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stoop"));
    Ok(())
}
