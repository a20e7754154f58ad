//! Reading the config file and layering the environment over it.

use super::{Config, DatabaseUrl};
use std::path::{Path, PathBuf};

/// Prefix of per-key overrides: `HUNTER_SCAN__NAMESERVERS` sets `scan.nameservers`.
const ENV_PREFIX: &str = "HUNTER_";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// No file was found at the default location: defaults plus environment.
    Defaults {
        looked_at: PathBuf,
    },
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults { looked_at } => write!(f, "built-in defaults (no file at {})", looked_at.display()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path} does not exist (given with --config or HUNTER_CONFIG)")]
    Missing { path: PathBuf },
    #[error("cannot read config file {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("cannot read {key} file {path}: {source}")]
    SecretFile { key: &'static str, path: PathBuf, source: std::io::Error },
    #[error("invalid configuration ({source_desc}):\n  {}", problems.join("\n  "))]
    Invalid { source_desc: String, problems: Vec<String> },
}

/// Loads the config: `explicit` (from `--config`/`HUNTER_CONFIG`) must exist; the default path may not.
pub fn load(explicit: Option<&Path>, default_path: &Path) -> Result<(Config, ConfigSource), ConfigError> {
    load_from(explicit, default_path, std::env::vars())
}

/// As [`load`], with the environment given (tests pass their own).
pub fn load_from(
    explicit: Option<&Path>,
    default_path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Config, ConfigSource), ConfigError> {
    let (text, source) = match explicit {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => (text, ConfigSource::File(path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing { path: path.to_path_buf() });
            }
            Err(source) => return Err(ConfigError::Unreadable { path: path.to_path_buf(), source }),
        },
        None => match std::fs::read_to_string(default_path) {
            Ok(text) => (text, ConfigSource::File(default_path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                (String::new(), ConfigSource::Defaults { looked_at: default_path.to_path_buf() })
            }
            Err(source) => return Err(ConfigError::Unreadable { path: default_path.to_path_buf(), source }),
        },
    };

    // Parse errors quote the offending line, which may hold a database URL with its password.
    let file_error = |message: String| {
        let message = super::secret::redact_urls_in(&message);
        match &source {
            ConfigSource::File(path) => ConfigError::File { path: path.clone(), message },
            ConfigSource::Defaults { looked_at } => ConfigError::File { path: looked_at.clone(), message },
        }
    };
    // Deserialising the text (not a table) keeps line numbers and the offending key in errors.
    toml::from_str::<Config>(&text).map_err(|e| file_error(e.to_string().trim_end().to_string()))?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| file_error(e.to_string()))?;

    apply_env(&mut table, env)?;

    let mut config: Config = table.try_into().map_err(|e: toml::de::Error| ConfigError::Invalid {
        source_desc: source.to_string(),
        problems: vec![e.to_string()],
    })?;
    resolve_secret_files(&mut config)?;
    let problems = config.validate();
    if !problems.is_empty() {
        return Err(ConfigError::Invalid { source_desc: source.to_string(), problems });
    }
    Ok((config, source))
}

/// Overlays `HUNTER_<SECTION>__<KEY>` variables, typed by the key's default value.
fn apply_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Result<(), ConfigError> {
    let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
    let mut vars: Vec<(String, String)> =
        env.into_iter().filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__")).collect();
    vars.sort();
    for (var, raw) in vars {
        let Some((section, key)) = var[ENV_PREFIX.len()..].split_once("__") else { continue };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let env_err =
            |message: String| ConfigError::Env { var: var.clone(), message: super::secret::redact_urls_in(&message) };
        let Some(toml::Value::Table(section_defaults)) = defaults.get(&section) else {
            return Err(env_err(format!("unknown config section `{section}`")));
        };
        let value = env_value(section_defaults.get(&key), &raw).map_err(env_err)?;
        // Check the key exists (and the value has the right type) before merging it in.
        let mut probe = toml::Table::new();
        probe.insert(section.clone(), toml::Value::Table(toml::Table::from_iter([(key.clone(), value.clone())])));
        toml::Value::Table(probe).try_into::<Config>().map_err(|e| env_err(e.to_string().trim_end().to_string()))?;
        let entry = table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = entry {
            t.insert(key, value);
        }
    }
    Ok(())
}

/// Converts an environment string to the TOML type of the key's default.
fn env_value(default: Option<&toml::Value>, raw: &str) -> Result<toml::Value, String> {
    Ok(match default {
        Some(toml::Value::Boolean(_)) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" => toml::Value::Boolean(true),
            "false" => toml::Value::Boolean(false),
            _ => return Err(format!("expected `true` or `false`, got `{raw}`")),
        },
        Some(toml::Value::Integer(_)) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| format!("expected a whole number, got `{raw}`"))?)
        }
        Some(toml::Value::Array(_)) => toml::Value::Array(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| toml::Value::String(s.into())).collect(),
        ),
        _ => toml::Value::String(raw.to_string()),
    })
}

/// `*_file` keys hold paths to secrets (systemd `LoadCredential=`): read them now so a missing file
/// is a configuration error, not a failure later.
fn resolve_secret_files(config: &mut Config) -> Result<(), ConfigError> {
    if config.database.url.is_none()
        && let Some(path) = &config.database.url_file
    {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
            key: "database.url_file",
            path: path.clone(),
            source,
        })?;
        config.database.url = Some(DatabaseUrl::new(text.trim()));
        config.database.url_file = None;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    fn nowhere() -> PathBuf {
        PathBuf::from("/nonexistent/hunterd.toml")
    }

    #[test]
    fn no_file_at_the_default_path_means_defaults() {
        let (config, source) = load_from(None, &nowhere(), no_env()).unwrap();
        assert_eq!(config, Config::default());
        assert!(matches!(source, ConfigSource::Defaults { .. }));
    }

    #[test]
    fn an_explicit_file_that_does_not_exist_is_an_error() {
        let err = load_from(Some(&nowhere()), &nowhere(), no_env()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/hunterd.toml does not exist"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_file_and_line() {
        let f = write("[scan]\ntimeout_ms = 100\nnameserver = [\"1.1.1.1:53\"]\n");
        let err = load_from(Some(f.path()), &nowhere(), no_env()).unwrap_err().to_string();
        assert!(err.contains(&f.path().display().to_string()), "{err}");
        assert!(err.contains("unknown field `nameserver`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn an_unknown_section_is_an_error() {
        let f = write("[scanner]\ntimeout_ms = 100\n");
        let err = load_from(Some(f.path()), &nowhere(), no_env()).unwrap_err().to_string();
        assert!(err.contains("unknown field `scanner`"), "{err}");
    }

    #[test]
    fn env_overrides_the_file() {
        let f = write("[features]\nip_enrichment = false\n[scan]\nnameservers = [\"9.9.9.9:53\"]\n");
        let env = vec![
            ("HUNTER_FEATURES__IP_ENRICHMENT".to_string(), "true".to_string()),
            ("HUNTER_SCAN__NAMESERVERS".to_string(), "127.0.0.1:5353, [::1]:53".to_string()),
            ("HUNTER_SCAN__RESCAN_INTERVAL".to_string(), "3d".to_string()),
            ("HUNTER_SCAN__TIMEOUT_MS".to_string(), "250".to_string()),
        ];
        let (config, _) = load_from(Some(f.path()), &nowhere(), env).unwrap();
        assert!(config.features.ip_enrichment);
        assert_eq!(config.scan.nameservers, vec!["127.0.0.1:5353", "[::1]:53"]);
        assert_eq!(config.scan.rescan_interval.0, std::time::Duration::from_secs(3 * 86400));
        assert_eq!(config.scan.timeout_ms, 250);
    }

    #[test]
    fn an_unknown_env_key_names_the_variable() {
        let env = vec![("HUNTER_SCAN__NAMESERVER".to_string(), "1.1.1.1:53".to_string())];
        let err = load_from(None, &nowhere(), env).unwrap_err().to_string();
        assert!(err.starts_with("environment variable HUNTER_SCAN__NAMESERVER"), "{err}");
        assert!(err.contains("nameserver"), "{err}");
    }

    #[test]
    fn a_bad_boolean_in_env_says_what_is_expected() {
        let env = vec![("HUNTER_FEATURES__DYNAMICS_PUSH".to_string(), "yes".to_string())];
        let err = load_from(None, &nowhere(), env).unwrap_err().to_string();
        assert!(err.contains("HUNTER_FEATURES__DYNAMICS_PUSH") && err.contains("`true` or `false`"), "{err}");
    }

    #[test]
    fn plain_hunter_variables_are_not_config_keys() {
        let env = vec![("HUNTER_SOCKET".to_string(), "/tmp/x.sock".to_string())];
        assert!(load_from(None, &nowhere(), env).is_ok());
    }

    #[test]
    fn a_bad_nameserver_is_named_by_key() {
        let env = vec![("HUNTER_SCAN__NAMESERVERS".to_string(), "localhost".to_string())];
        let err = load_from(None, &nowhere(), env).unwrap_err().to_string();
        assert!(err.contains("scan.nameservers[0]"), "{err}");
    }

    #[test]
    fn a_per_user_client_cap_above_the_global_one_is_refused() {
        let f = write("[server]\nmax_clients = 10\nmax_clients_per_user = 20\n");
        let err = load_from(Some(f.path()), &nowhere(), no_env()).unwrap_err().to_string();
        assert!(err.contains("server.max_clients_per_user: must be between 1 and server.max_clients (10)"), "{err}");
    }

    #[test]
    fn a_bad_duration_is_explained() {
        let f = write("[scan]\nrescan_interval = \"weekly\"\n");
        let err = load_from(Some(f.path()), &nowhere(), no_env()).unwrap_err().to_string();
        assert!(err.contains("`weekly` is not a duration"), "{err}");
    }

    #[test]
    fn the_database_url_can_come_from_a_file() {
        let secret = write("postgres://u:pw@db/hunter\n");
        let f = write(&format!("[database]\nurl_file = \"{}\"\n", secret.path().display()));
        let (config, _) = load_from(Some(f.path()), &nowhere(), no_env()).unwrap();
        assert_eq!(config.database.url.unwrap().expose(), "postgres://u:pw@db/hunter");
    }

    #[test]
    fn redacted_output_hides_the_database_password() {
        let env = vec![("HUNTER_DATABASE__URL".to_string(), "postgres://u:hunter2@db/hunter".to_string())];
        let (config, _) = load_from(None, &nowhere(), env).unwrap();
        let shown = config.to_redacted_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://u:[redacted]@db/hunter"), "{shown}");
    }
}
