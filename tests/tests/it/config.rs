//! `hunterd check-config` as an administrator uses it.

use hunter_tests::hunterd_command;

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn check_config_names_an_unknown_key_and_its_file() {
    let file = write_config("[features]\nip_enrichment = true\ndynamics_psuh = true\n");
    let path = file.path().to_str().unwrap();
    let out = hunterd_command(&["check-config", "--config", path], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(path), "{stderr}");
    assert!(stderr.contains("unknown field `dynamics_psuh`"), "{stderr}");
}

#[test]
fn check_config_names_an_unknown_environment_key() {
    let out = hunterd_command(&["check-config", "--config", "/dev/null"], &[("HUNTER_SCAN__TIMEOUT", "5")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HUNTER_SCAN__TIMEOUT") && stderr.contains("unknown field `timeout`"), "{stderr}");
}

#[test]
fn check_config_fails_on_a_missing_config_file() {
    let out = hunterd_command(&["check-config", "--config", "/nonexistent/hunterd.toml"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/hunterd.toml does not exist"));
}

#[test]
fn check_config_prints_the_effective_config_without_secrets() {
    let file = write_config("[database]\nurl = \"postgres://hunter:hunter2@db.internal/hunter\"\n");
    let out = hunterd_command(
        &["check-config", "--config", file.path().to_str().unwrap()],
        &[("HUNTER_FEATURES__PARTNER_CENTER_SYNC", "true")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(stdout.contains("postgres://hunter:[redacted]@db.internal/hunter"), "{stdout}");
    assert!(stdout.contains("partner_center_sync = true"), "{stdout}");
}
