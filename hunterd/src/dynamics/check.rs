//! `hunterd check` lines for Dynamics: sign-in works, the org answers, and the lead table has every
//! column the mapping writes (naming the missing ones, so an admin knows what to create).

use super::Dynamics;
use super::client::{Call, CallError};
use crate::config::Config;
use reqwest::Method;
use serde_json::Value;

/// `(passed, detail)` per line; empty when the feature is off.
pub async fn lines(config: &Config) -> Vec<(bool, String)> {
    let Some(d) = Dynamics::from_config(config, None) else { return Vec::new() };
    let whoami = Call {
        operation: "whoami",
        entity: "systemuser",
        method: Method::GET,
        path: "WhoAmI".into(),
        body: None,
        headers: Vec::new(),
        company_id: None,
        multipart: None,
    };
    match d.dataverse.send(&whoami).await {
        Ok(_) => {}
        Err(CallError::Auth(m)) => return vec![(false, m)],
        Err(e) => return vec![(false, format!("{}: {e}", d.org_url))],
    }
    let mut lines = vec![(true, format!("{}: token obtained, org answers (WhoAmI)", d.org_url))];
    let attributes = Call {
        operation: "metadata",
        entity: "lead",
        method: Method::GET,
        path: "EntityDefinitions(LogicalName='lead')/Attributes?$select=LogicalName".into(),
        body: None,
        headers: Vec::new(),
        company_id: None,
        multipart: None,
    };
    lines.push(match d.dataverse.send(&attributes).await {
        Ok(answer) => {
            let present: Vec<String> = answer
                .body
                .get("value")
                .and_then(Value::as_array)
                .map(|rows| rows.iter().filter_map(|r| r.get("LogicalName")?.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let mut wanted = d.settings.mapping.custom_columns();
            if let Some(key) = &d.settings.lead_key
                && !wanted.contains(key)
            {
                wanted.push(key.clone());
            }
            let missing: Vec<String> = wanted.into_iter().filter(|c| !present.contains(c)).collect();
            if missing.is_empty() {
                (true, format!("lead has Hunter's columns ({}*)", d.settings.mapping.prefix))
            } else {
                (
                    false,
                    format!(
                        "lead lacks the column(s) {}: create them in D365 (or set dynamics.custom_prefix to your publisher's prefix)",
                        missing.join(", ")
                    ),
                )
            }
        }
        Err(e) => (false, format!("cannot read the lead table's columns: {e}")),
    });
    lines
}
