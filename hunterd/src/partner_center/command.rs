//! `hunterd auth partner-center` (device-code sign-in) and `hunterd auth status`.

use super::auth::{AuthSettings, DeviceCodePrompt, device_sign_in};
use super::token::{SavedSignIn, TokenFile};
use crate::config::Config;
use crate::paths::Paths;
use chrono::{DateTime, Utc};

/// Microsoft drops a refresh token unused for this long (microsoft-apis.md A.8).
const REFRESH_TOKEN_INACTIVITY_DAYS: i64 = 90;

/// Signs in with a device code and saves the refresh token; an error says why it did not finish.
pub async fn sign_in(config: &Config, paths: &Paths) -> anyhow::Result<()> {
    let settings = AuthSettings::from_config(&config.partner_center)?;
    crate::paths::ensure_state_dir(paths)?;
    let file = TokenFile::in_state_dir(&paths.state_dir);
    let show = |p: &DeviceCodePrompt| {
        match &p.message {
            Some(message) => println!("{message}"),
            None => println!("To sign in, open {} and enter the code {}", p.verification_uri, p.user_code),
        }
        println!("Waiting for the sign-in (the code is valid for {} minutes)…", p.expires_in.as_secs().div_ceil(60));
    };
    let saved = device_sign_in(&settings, &file, show, tokio::time::sleep).await?;
    println!(
        "Signed in to Partner Center (tenant {}); the refresh token is saved in {} (owner-only).",
        saved.tenant_id,
        file.path().display()
    );
    if !config.features.partner_center_sync {
        println!("Note: features.partner_center_sync is off, so hunterd will not sync until it is turned on.");
    }
    Ok(())
}

/// Which credentials are present, their expiry and last successful use; always exits 0.
pub fn status(config: &Config, paths: &Paths) -> String {
    let file = TokenFile::in_state_dir(&paths.state_dir);
    let mut out = String::new();
    let flag = if config.features.partner_center_sync { "on" } else { "off" };
    let line = match file.load() {
        Err(e) => format!("unreadable: {e}"),
        Ok(None) => "not signed in: run `hunterd auth partner-center`".into(),
        Ok(Some(saved)) => describe(&saved, config, Utc::now()),
    };
    out.push_str(&format!("partner center (sync {flag}): {line}\n  file: {}\n", file.path().display()));
    let dynamics = match &config.dynamics.client_secret_file {
        None => "no client secret file configured (dynamics.client_secret_file)".to_string(),
        Some(path) if path.exists() => format!("client secret file {} present", path.display()),
        Some(path) => format!("client secret file {} is missing", path.display()),
    };
    out.push_str(&format!("dynamics 365: {dynamics}\n"));
    out
}

/// For `status`: whether the saved sign-in is usable, and the line `hunterd auth status` prints.
pub fn sign_in_state(config: &Config, state_dir: &std::path::Path) -> (bool, String) {
    match TokenFile::in_state_dir(state_dir).load() {
        Err(e) => (false, format!("sign-in unreadable: {e}")),
        Ok(None) => (false, "not signed in: run `hunterd auth partner-center`".into()),
        Ok(Some(saved)) => (saved.refresh_token.is_some(), describe(&saved, config, Utc::now())),
    }
}

fn describe(saved: &SavedSignIn, config: &Config, now: DateTime<Utc>) -> String {
    if saved.refresh_token.is_none() {
        let why = saved.sign_in_needed.as_deref().unwrap_or("no refresh token saved");
        return format!("sign-in needed: run `hunterd auth partner-center` ({why})");
    }
    let mut line = format!("signed in (tenant {}, client {})", saved.tenant_id, saved.client_id);
    if config.partner_center.tenant_id.as_deref() != Some(saved.tenant_id.as_str())
        || config.partner_center.client_id.as_deref() != Some(saved.client_id.as_str())
    {
        line.push_str("; the configuration now names another tenant or client: run `hunterd auth partner-center`");
    }
    if let Some(at) = saved.signed_in_at {
        line.push_str(&format!("; signed in {}", at.format("%Y-%m-%d %H:%M UTC")));
    }
    if let Some(at) = saved.last_refreshed_at {
        let expires = at + chrono::Duration::days(REFRESH_TOKEN_INACTIVITY_DAYS);
        line.push_str(&format!(
            "; last used {}; expires if unused until {}{}",
            at.format("%Y-%m-%d %H:%M UTC"),
            expires.format("%Y-%m-%d"),
            if expires < now { " (probably expired)" } else { "" }
        ));
    }
    line
}

/// `hunterd check`'s Partner Center lines: the saved sign-in buys an access token, and the Referrals
/// API answers one small page with it. Each is `Ok(detail)` or `Err(what to fix)`.
pub async fn health(config: &Config, paths: &Paths) -> Vec<(&'static str, Result<String, String>)> {
    use super::auth::TokenSource;
    use super::client::{ApiSettings, ReferralsApi};
    let settings = match AuthSettings::from_config(&config.partner_center) {
        Ok(s) => s,
        Err(e) => return vec![("partner-auth", Err(e.to_string()))],
    };
    let tokens = TokenSource::new(settings, TokenFile::in_state_dir(&paths.state_dir));
    let auth = match tokens.access_token().await {
        Ok(_) => Ok("signed in; the refresh token bought an access token".to_string()),
        Err(e) => Err(e.to_string()),
    };
    let api = match &auth {
        Err(_) => Err("not tried: no access token".to_string()),
        Ok(_) => {
            let mut pc = config.partner_center.clone();
            pc.page_size = 1;
            pc.max_retries = 0;
            match ApiSettings::from_config(&pc).and_then(ReferralsApi::new) {
                Err(e) => Err(e.to_string()),
                Ok(api) => match api.page(&api.first_page(), &tokens).await {
                    Ok(_) => Ok(format!("Referrals API at {} answered", pc.api_base_url)),
                    Err(e) => Err(e.to_string()),
                },
            }
        }
    };
    vec![("partner-auth", auth), ("partner-api", api)]
}

/// `hunterd backup FILE --include-credentials`: copies the saved sign-in next to the backup, owner-only.
pub fn copy_sign_in(paths: &Paths, backup: &std::path::Path) -> anyhow::Result<String> {
    let source = TokenFile::in_state_dir(&paths.state_dir);
    let Some(saved) = source.load()? else {
        return Ok("no Partner Center sign-in to include".into());
    };
    let mut name = backup.as_os_str().to_owned();
    name.push(".partner-center-token.json");
    let target = std::path::PathBuf::from(name);
    TokenFile::at(target.clone()).save(&saved)?;
    Ok(format!(
        "Partner Center sign-in copied to {} (owner-only; put it back as {} in the state directory)",
        target.display(),
        super::token::FILE_NAME
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config() -> Config {
        let mut c = Config::default();
        c.partner_center.tenant_id = Some("contoso.onmicrosoft.com".into());
        c.partner_center.client_id = Some("app".into());
        c
    }

    #[test]
    fn a_refused_sign_in_tells_the_person_what_to_run() {
        let saved = SavedSignIn {
            refresh_token: None,
            sign_in_needed: Some("invalid_grant: AADSTS700082: expired".into()),
            ..SavedSignIn::default()
        };
        let line = describe(&saved, &config(), Utc::now());
        assert_eq!(line, "sign-in needed: run `hunterd auth partner-center` (invalid_grant: AADSTS700082: expired)");
    }

    #[test]
    fn a_live_sign_in_shows_its_last_use_and_inactivity_expiry() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap().with_timezone(&Utc);
        let saved = SavedSignIn {
            refresh_token: Some(Secret::new("rt")),
            tenant_id: "contoso.onmicrosoft.com".into(),
            client_id: "app".into(),
            signed_in_at: Some(at),
            last_refreshed_at: Some(at),
            sign_in_needed: None,
        };
        let line = describe(&saved, &config(), at);
        assert!(line.starts_with("signed in (tenant contoso.onmicrosoft.com, client app)"), "{line}");
        assert!(line.contains("expires if unused until 2027-03-01"), "{line}");
        assert!(!line.contains("rt)"), "the token itself is never shown");
    }
}
