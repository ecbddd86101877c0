//! Binary-level tests of `stoopd`'s refusals (RELIABILITY.md row 19). Having
//! an integration test here also makes `cargo test` build the `stoopd`
//! binary that the multi-node tests in `tests/` run.

use std::process::Command;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn stoopd(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new(env!("CARGO_BIN_EXE_stoopd")).args(args).env_remove("STOOP_DATA_DIR").env("NO_COLOR", "1").output()
}

fn init(dir: &str) -> TestResult {
    let out = stoopd(&[
        "init",
        "--data-dir",
        dir,
        "--hood-name",
        "Elm",
        "--area",
        "dr5ru",
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--api",
        "127.0.0.1:0",
    ])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("hood "), "{stdout}");
    Ok(())
}

fn run_fails_with(dir: &str, needle: &str) -> TestResult {
    let out = stoopd(&["run", "--data-dir", dir])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "run should refuse to start");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(stderr.trim().lines().count() <= 2, "one clear message, got: {stderr}");
    Ok(())
}

#[test]
fn refuses_an_uninitialized_dir_bad_config_and_loose_keys() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("node");
    let d = dir.to_string_lossy().into_owned();
    run_fails_with(&d, "holds no node")?;
    init(&d)?;
    // init twice refuses to overwrite.
    let out = stoopd(&["init", "--data-dir", &d, "--hood-name", "Elm", "--area", "dr5ru"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds a node"));

    let config = dir.join("stoop.toml");
    let good = std::fs::read_to_string(&config)?;
    std::fs::write(&config, "listen = [\"/ip4/127.0.0.1/tcp/")?;
    run_fails_with(&d, "invalid configuration")?;
    std::fs::write(&config, "colour = true\n")?;
    run_fails_with(&d, "colour")?;
    std::fs::write(&config, good)?;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("author.key"), std::fs::Permissions::from_mode(0o644))?;
        run_fails_with(&d, "chmod 600")?;
    }
    Ok(())
}

#[test]
fn refuses_a_bad_area_and_a_damaged_ticket() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let d = tmp.path().join("n").to_string_lossy().into_owned();
    let out = stoopd(&["init", "--data-dir", &d, "--hood-name", "Elm", "--area", "nowhere!"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a geohash cell"));
    let out = stoopd(&["join", "--data-dir", &d, "stoop2:garbage"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Stoop ticket"));
    let out = stoopd(&["join", "--data-dir", &d, "stoop1:garbage"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("old stoop1: ticket"));
    Ok(())
}

#[test]
fn refuses_a_data_dir_another_stoopd_is_using() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("node");
    let d = dir.to_string_lossy().into_owned();
    init(&d)?;
    std::fs::write(
        dir.join("stoop.toml"),
        "listen = [\"/ip4/127.0.0.1/tcp/0\"]\napi = \"127.0.0.1:0\"\nmdns = false\nupnp = false\n",
    )?;
    let mut first = Command::new(env!("CARGO_BIN_EXE_stoopd"))
        .args(["run", "--data-dir", &d])
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let start = std::time::Instant::now();
    while !dir.join("api.addr").exists() {
        if start.elapsed() > std::time::Duration::from_secs(30) {
            let _ = first.kill();
            return Err("the first stoopd did not start".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let result = run_fails_with(&d, "locked by another process");
    first.kill()?;
    first.wait()?;
    result
}

#[cfg(unix)]
#[test]
fn refuses_a_data_dir_owned_by_another_user() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("node");
    let d = dir.to_string_lossy().into_owned();
    init(&d)?;
    // Only root can give the directory away; anyone else skips this test.
    if std::os::unix::fs::chown(&dir, Some(65534), None).is_err() {
        println!("skipped: cannot chown as this user");
        return Ok(());
    }
    run_fails_with(&d, "belongs to uid 65534")
}
