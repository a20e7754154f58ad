//! The `dynamics.*` keys checked at start-up (`hunterd check-config`): each problem names its key.

use crate::config::{DynamicsConfig, FeatureFlags};

/// Dataverse trips its concurrency limit at 52 requests per user (C.14); stay well under it.
pub const MAX_CONCURRENCY: u32 = 32;

pub fn problems(features: &FeatureFlags, d: &DynamicsConfig) -> Vec<String> {
    let mut problems = Vec::new();
    if d.max_concurrency == 0 || d.max_concurrency > MAX_CONCURRENCY {
        problems.push(format!(
            "dynamics.max_concurrency: must be between 1 and {MAX_CONCURRENCY} (Dataverse refuses more than 52 concurrent requests per user)"
        ));
    }
    if !valid_prefix(&d.custom_prefix) {
        problems.push(format!(
            "dynamics.custom_prefix: `{}` is not a publisher prefix (2–8 lowercase letters or digits, starting with a letter, then `_`, e.g. `hnt_`)",
            d.custom_prefix
        ));
    }
    if let Some(key) = &d.lead_key
        && !valid_column(key)
    {
        problems
            .push(format!("dynamics.lead_key: `{key}` is not a column logical name (lowercase letters, digits, `_`)"));
    }
    if !(1..=10).contains(&d.lead_source) {
        problems.push(format!(
            "dynamics.lead_source: {} is not a leadsourcecode (1 Advertisement … 8 Web, 9 Word of Mouth, 10 Other)",
            d.lead_source
        ));
    }
    if d.max_attempts == 0 {
        problems.push("dynamics.max_attempts: must be at least 1".into());
    }
    if let Some(tenant) = &d.tenant_id
        && ["common", "organizations", "consumers"].contains(&tenant.to_ascii_lowercase().as_str())
    {
        problems.push(format!(
            "dynamics.tenant_id: `{tenant}` cannot be used with client credentials; give the tenant's GUID or domain"
        ));
    }
    if features.dynamics_push {
        for (key, missing) in [
            ("dynamics.org_url", d.org_url.is_none()),
            ("dynamics.tenant_id", d.tenant_id.is_none()),
            ("dynamics.client_id", d.client_id.is_none()),
            ("dynamics.client_secret_file", d.client_secret_file.is_none()),
        ] {
            if missing {
                problems.push(format!("{key}: required when features.dynamics_push is on"));
            }
        }
    }
    problems
}

fn valid_prefix(prefix: &str) -> bool {
    let Some(stem) = prefix.strip_suffix('_') else { return false };
    (2..=8).contains(&stem.len())
        && stem.starts_with(|c: char| c.is_ascii_lowercase())
        && stem.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn valid_column(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 50
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> FeatureFlags {
        FeatureFlags { dynamics_push: true, ..FeatureFlags::default() }
    }

    #[test]
    fn the_defaults_are_valid_while_the_feature_is_off() {
        assert!(problems(&FeatureFlags::default(), &DynamicsConfig::default()).is_empty());
    }

    #[test]
    fn turning_the_feature_on_names_every_missing_key() {
        let p = problems(&on(), &DynamicsConfig::default());
        for key in ["dynamics.org_url", "dynamics.tenant_id", "dynamics.client_id", "dynamics.client_secret_file"] {
            assert!(p.iter().any(|m| m.starts_with(key)), "{key} in {p:?}");
        }
    }

    #[test]
    fn bad_prefix_key_and_source_are_named() {
        let d = DynamicsConfig {
            custom_prefix: "Hnt".into(),
            lead_key: Some("hnt domain".into()),
            lead_source: 11,
            max_concurrency: 60,
            tenant_id: Some("common".into()),
            ..DynamicsConfig::default()
        };
        let p = problems(&FeatureFlags::default(), &d);
        for key in [
            "dynamics.custom_prefix",
            "dynamics.lead_key",
            "dynamics.lead_source",
            "dynamics.max_concurrency",
            "dynamics.tenant_id",
        ] {
            assert!(p.iter().any(|m| m.starts_with(key)), "{key} in {p:?}");
        }
    }

    #[test]
    fn publisher_prefixes_like_the_references_are_accepted() {
        for ok in ["hnt_", "new_", "cr123_"] {
            assert!(valid_prefix(ok), "{ok}");
        }
        for bad in ["hnt", "_", "1ab_", "h_", "toolongprefix_"] {
            assert!(!valid_prefix(bad), "{bad}");
        }
    }
}
