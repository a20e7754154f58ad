//! The configuration file the Debian package installs as /etc/hunter/hunterd.toml
//! (packaging/deb/hunterd.toml) documents every key hunterd reads, each with its real default, and
//! takes secrets only as files.

use super::Config;
use std::collections::BTreeSet;

const PACKAGED: &str = include_str!("../../../packaging/deb/hunterd.toml");

/// The file's text with its commented-out settings (`#key = value`) made active: all of them, or
/// only the defaults (not the lines marked `# example`).
fn uncommented(with_examples: bool) -> String {
    let mut text = String::new();
    for line in PACKAGED.lines() {
        match line.strip_prefix('#').filter(|rest| setting_key(rest).is_some()) {
            Some(setting) if with_examples || !setting.contains("# example") => text.push_str(setting),
            _ => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// `key` of a `key = value` line.
fn setting_key(line: &str) -> Option<&str> {
    let (key, _) = line.split_once(" = ")?;
    (!key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')).then_some(key)
}

/// `section.key` of every commented-out setting in the file.
fn documented_keys() -> BTreeSet<String> {
    let mut section = String::new();
    let mut keys = BTreeSet::new();
    for line in PACKAGED.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some(key) = line.strip_prefix('#').and_then(setting_key) {
            keys.insert(format!("{section}.{key}"));
        }
    }
    keys
}

/// The fields serde accepts in `section` (`""`: the top level), from the message with which it
/// refuses an unknown one ("unknown field `x`, expected one of `a`, `b`").
fn accepted_fields(section: &str) -> Vec<String> {
    let probe = if section.is_empty() { "zz_probe = 1".to_string() } else { format!("[{section}]\nzz_probe = 1") };
    let message = toml::from_str::<Config>(&probe).expect_err("an unknown key is refused").to_string();
    let expected = message.split_once("expected").map(|(_, list)| list).unwrap_or_default();
    expected.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn uncommenting_every_default_gives_the_built_in_defaults() {
    let config: Config = toml::from_str(&uncommented(false)).expect("the defaults parse");
    assert_eq!(config.to_redacted_toml(), Config::default().to_redacted_toml());
}

#[test]
fn every_example_value_is_a_valid_setting() {
    let config: Config = toml::from_str(&uncommented(true)).expect("the examples parse");
    assert!(config.validate().is_empty(), "{:?}", config.validate());
}

#[test]
fn every_key_hunterd_reads_is_documented_and_secrets_only_as_files() {
    let documented = documented_keys();
    let sections = accepted_fields("");
    assert!(sections.contains(&"database".to_string()), "{sections:?}");
    for section in sections {
        for field in accepted_fields(&section) {
            let key = format!("{section}.{field}");
            // The URL holds the password: the file offers database.url_file instead.
            if key == "database.url" {
                assert!(!documented.contains(&key), "the packaged config offers the secret {key}");
                continue;
            }
            assert!(documented.contains(&key), "{key} is not in packaging/deb/hunterd.toml");
        }
    }
    for key in &documented {
        assert!(!key.contains("secret") || key.ends_with("_file"), "{key}: secrets only as files");
        assert!(!key.contains("license_key") || key.ends_with("_file"), "{key}: secrets only as files");
    }
}
