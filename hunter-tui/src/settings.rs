//! The user's own files: key remapping in `$XDG_CONFIG_HOME/hunter/tui.toml` and the remembered
//! filter and sort in `$XDG_STATE_HOME/hunter/tui-state.toml` (`~/.config`, `~/.local/state`
//! without XDG variables). Neither is required; a broken one is reported and ignored.
//!
//! ```toml
//! # tui.toml
//! [keys]
//! rescan = "R"
//! filter = ["/", "ctrl-f"]
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::keymap::Keymap;

/// What the TUI remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiState {
    /// The filter expression, as typed.
    #[serde(default)]
    pub filter: String,
    /// A sort name (`score`, `domain`, …); empty = the default.
    #[serde(default)]
    pub sort: String,
    #[serde(default)]
    pub descending: bool,
}

/// The user config file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserConfig {
    #[serde(default)]
    keys: BTreeMap<String, OneOrMany>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
}

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from).filter(|p| p.is_absolute())
}

fn home() -> Option<PathBuf> {
    env_dir("HOME")
}

/// `$XDG_CONFIG_HOME/hunter/tui.toml`, else `~/.config/hunter/tui.toml`.
pub fn config_file() -> Option<PathBuf> {
    env_dir("XDG_CONFIG_HOME").or_else(|| home().map(|h| h.join(".config"))).map(|d| d.join("hunter/tui.toml"))
}

/// `$XDG_STATE_HOME/hunter/tui-state.toml`, else `~/.local/state/hunter/tui-state.toml`.
pub fn state_file() -> Option<PathBuf> {
    env_dir("XDG_STATE_HOME")
        .or_else(|| home().map(|h| h.join(".local/state")))
        .map(|d| d.join("hunter/tui-state.toml"))
}

/// Reads a file that may legitimately be missing.
fn read_optional(path: &Path) -> Result<Option<String>, SettingsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SettingsError::Read { path: path.into(), source }),
    }
}

/// The keymap from the user config (defaults when there is none), with every problem found.
pub fn load_keymap(path: Option<&Path>) -> (Keymap, Vec<String>) {
    let Some(path) = path else { return (Keymap::default(), vec![]) };
    let text = match read_optional(path) {
        Ok(Some(text)) => text,
        Ok(None) => return (Keymap::default(), vec![]),
        Err(e) => return (Keymap::default(), vec![e.to_string()]),
    };
    match parse_keys(&text) {
        Ok(overrides) => {
            let (keymap, problems) = Keymap::with_overrides(&overrides);
            (keymap, problems.into_iter().map(|p| format!("{}: {p}", path.display())).collect())
        }
        Err(message) => (Keymap::default(), vec![SettingsError::Invalid { path: path.into(), message }.to_string()]),
    }
}

/// The `[keys]` section as action name → key texts.
pub fn parse_keys(text: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let config: UserConfig = toml::from_str(text).map_err(|e| crate::humanize::one_line(&e.to_string()))?;
    Ok(config
        .keys
        .into_iter()
        .map(|(action, keys)| {
            let keys = match keys {
                OneOrMany::One(k) => vec![k],
                OneOrMany::Many(ks) => ks,
            };
            (action, keys)
        })
        .collect())
}

pub fn load_state(path: &Path) -> Result<Option<UiState>, SettingsError> {
    let Some(text) = read_optional(path)? else { return Ok(None) };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| SettingsError::Invalid { path: path.into(), message: crate::humanize::one_line(&e.to_string()) })
}

/// Writes the state atomically (a crash never leaves half a file), creating the directory.
pub fn save_state(path: &Path, state: &UiState) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = toml::to_string(state).map_err(io::Error::other)?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::Action;

    #[test]
    fn keys_may_be_one_string_or_a_list() {
        let keys = parse_keys("[keys]\nrescan = \"R\"\nfilter = [\"/\", \"ctrl-f\"]\n").unwrap();
        assert_eq!(keys["rescan"], vec!["R"]);
        assert_eq!(keys["filter"], vec!["/", "ctrl-f"]);
    }

    #[test]
    fn an_unknown_section_is_an_error_that_names_it() {
        let err = parse_keys("[keymap]\nq = \"x\"\n").unwrap_err();
        assert!(err.contains("keymap"), "{err}");
    }

    #[test]
    fn a_missing_config_file_means_the_default_keymap() {
        let dir = tempfile::tempdir().unwrap();
        let (keymap, problems) = load_keymap(Some(&dir.path().join("tui.toml")));
        assert_eq!((keymap, problems), (Keymap::default(), vec![]));
    }

    #[test]
    fn a_config_file_remaps_keys_and_reports_problems_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tui.toml");
        std::fs::write(&path, "[keys]\nrescan = \"R\"\nnope = \"z\"\n").unwrap();
        let (keymap, problems) = load_keymap(Some(&path));
        assert_eq!(keymap.keys_for(Action::Rescan), "R");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with(&path.display().to_string()), "{}", problems[0]);
    }

    #[test]
    fn state_survives_a_round_trip_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hunter/tui-state.toml");
        assert_eq!(load_state(&path).unwrap(), None);
        let state = UiState { filter: "segment=Migration score>=60".into(), sort: "score".into(), descending: true };
        save_state(&path, &state).unwrap();
        assert_eq!(load_state(&path).unwrap(), Some(state));
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tui-state.toml");
        std::fs::write(&path, "filter = [").unwrap();
        let err = load_state(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()), "{err}");
    }
}
