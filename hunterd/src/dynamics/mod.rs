//! Dynamics 365 Sales push (issue 11): a lead chosen in Hunter becomes (or updates) a lead in
//! Dataverse, idempotently and within the service-protection limits; a broken integration only
//! leaves pushes pending, never stops the daemon.
//!
//! `auth` gets app-only tokens, `client` speaks the Web API, `mapping` turns a lead into columns,
//! `push` decides create vs update for one lead, `queue` is the PostgreSQL push queue and `worker`
//! drains it. `settings` validates the `dynamics.*` keys.

pub mod auth;
pub mod check;
pub mod client;
pub mod mapping;
pub mod push;
pub mod queue;
pub mod settings;
pub mod worker;

use crate::config::Config;
use std::sync::Arc;
use std::time::Duration;

/// What to say when the push is asked for while `features.dynamics_push` is off.
pub const PUSH_OFF: &str = "Dynamics 365 push is off: set features.dynamics_push = true and dynamics.org_url, \
     dynamics.tenant_id, dynamics.client_id, dynamics.client_secret_file (see README, Dynamics 365), then restart hunterd";

/// Everything the daemon needs to push, built from the config when the feature is on.
pub struct Dynamics {
    pub dataverse: Arc<client::Dataverse>,
    pub settings: push::PushSettings,
    pub org_url: String,
}

impl Dynamics {
    /// `None` when `features.dynamics_push` is off (validation made sure the keys are set when on).
    pub fn from_config(config: &Config, audit: Option<sqlx::PgPool>) -> Option<Dynamics> {
        let d = &config.dynamics;
        if !config.features.dynamics_push {
            return None;
        }
        let credentials = auth::Credentials {
            authority_url: d.authority_url.clone(),
            tenant_id: d.tenant_id.clone()?,
            client_id: d.client_id.clone()?,
            secret_file: d.client_secret_file.clone()?,
            org_url: d.org_url.clone()?,
        };
        let http = http_client();
        let tokens = auth::TokenSource::new(credentials.clone(), http.clone());
        let dataverse = client::Dataverse::new(&credentials.org_url, tokens, http, d.max_concurrency as usize, audit);
        Some(Dynamics {
            dataverse: Arc::new(dataverse),
            settings: push::PushSettings {
                mapping: mapping::MappingSettings { prefix: d.custom_prefix.clone(), lead_source: d.lead_source },
                lead_key: d.lead_key.clone(),
                duplicate_detection: d.duplicate_detection,
            },
            org_url: credentials.org_url.trim_end_matches('/').to_string(),
        })
    }
}

/// One HTTP client for tokens and Dataverse: no redirects (the oauth2 crate asks for that, A.11).
pub fn http_client() -> reqwest::Client {
    crate::http::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}
