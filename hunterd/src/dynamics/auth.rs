//! App-only tokens for Dataverse: the client-credentials grant (microsoft-apis.md A.2) through the
//! `oauth2` crate, scope `{org_url}/.default`, cached in memory and renewed before it expires.
//!
//! The secret is read from `dynamics.client_secret_file` at each token request, so a rotated secret
//! (or a systemd credential) is picked up without a restart; it is never logged.

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Renew this long before expiry (engine.md §10 used 5 minutes) — or a quarter of a short lifetime.
const EARLY_RENEWAL: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// A configuration problem the administrator has to fix; the text names the likely cause.
    #[error("{0}")]
    Config(String),
    /// The identity platform could not be reached or answered oddly: worth retrying later.
    #[error("identity platform unreachable: {0}")]
    Unreachable(String),
}

/// Where and as whom to ask for tokens.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub authority_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub secret_file: PathBuf,
    /// The Dataverse org URL: the scope is `{org_url}/.default`.
    pub org_url: String,
}

impl Credentials {
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.authority_url.trim_end_matches('/'), self.tenant_id)
    }
    pub fn scope(&self) -> String {
        format!("{}/.default", self.org_url.trim_end_matches('/'))
    }
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// Hands out a valid access token, asking the identity platform only when the cached one is due.
pub struct TokenSource {
    credentials: Credentials,
    http: reqwest::Client,
    cached: Mutex<Option<Cached>>,
}

impl TokenSource {
    pub fn new(credentials: Credentials, http: reqwest::Client) -> TokenSource {
        TokenSource { credentials, http, cached: Mutex::new(None) }
    }

    /// A token valid for a while yet (one request to the identity platform at most, callers queue).
    pub async fn token(&self) -> Result<String, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.request().await?;
        let margin = EARLY_RENEWAL.min(lifetime / 4);
        *cached = Some(Cached { token: token.clone(), renew_at: Instant::now() + lifetime.saturating_sub(margin) });
        Ok(token)
    }

    /// Drops the cached token (Dataverse answered 401 to it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn request(&self) -> Result<(String, Duration), AuthError> {
        let c = &self.credentials;
        let secret = read_secret(&c.secret_file)?;
        let token_url = TokenUrl::new(c.token_url())
            .map_err(|e| AuthError::Config(format!("dynamics.authority_url: bad token URL: {e}")))?;
        let client = BasicClient::new(ClientId::new(c.client_id.clone()))
            .set_client_secret(ClientSecret::new(secret))
            .set_token_uri(token_url);
        let answer = client
            .exchange_client_credentials()
            .add_scope(Scope::new(c.scope()))
            .request_async(&crate::http::OAuthHttp(&self.http))
            .await;
        match answer {
            Ok(token) => {
                let lifetime = token.expires_in().unwrap_or(Duration::from_secs(3600));
                Ok((token.access_token().secret().clone(), lifetime))
            }
            Err(RequestTokenError::ServerResponse(e)) => {
                let code = aadsts(e.error_description().map(String::as_str).unwrap_or(""));
                Err(AuthError::Config(explain_token_error(e.error(), code.as_deref())))
            }
            Err(RequestTokenError::Request(e)) => Err(AuthError::Unreachable(e.to_string())),
            Err(RequestTokenError::Parse(e, _)) => {
                Err(AuthError::Unreachable(format!("the token endpoint answered something that is not a token: {e}")))
            }
            Err(RequestTokenError::Other(e)) => Err(AuthError::Unreachable(e)),
        }
    }
}

/// The secret file's first line: the secret *value* (not its id).
pub fn read_secret(path: &std::path::Path) -> Result<String, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        AuthError::Config(format!("dynamics.client_secret_file {}: cannot read it: {e}", path.display()))
    })?;
    let secret = text.lines().next().unwrap_or("").trim().to_string();
    if secret.is_empty() {
        return Err(AuthError::Config(format!("dynamics.client_secret_file {} is empty", path.display())));
    }
    Ok(secret)
}

/// `AADSTS7000215` from the start of an error description (shown to the admin, never branched on).
fn aadsts(description: &str) -> Option<String> {
    let rest = description.strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

/// One line naming the likely cause of a token refusal (A.7).
pub fn explain_token_error(error: &BasicErrorResponseType, code: Option<&str>) -> String {
    let code = code.map(|c| format!(", {c}")).unwrap_or_default();
    match error {
        BasicErrorResponseType::InvalidClient => format!(
            "Dynamics sign-in refused (invalid_client{code}): the client secret is wrong or expired — put the secret's value (not its ID) in dynamics.client_secret_file"
        ),
        BasicErrorResponseType::UnauthorizedClient => format!(
            "Dynamics sign-in refused (unauthorized_client{code}): the app dynamics.client_id is not registered in tenant dynamics.tenant_id"
        ),
        BasicErrorResponseType::InvalidScope => format!(
            "Dynamics sign-in refused (invalid_scope{code}): check dynamics.org_url, the scope is `<org_url>/.default`"
        ),
        BasicErrorResponseType::InvalidRequest => format!(
            "Dynamics sign-in refused (invalid_request{code}): check dynamics.tenant_id (a tenant GUID or domain) and dynamics.client_id"
        ),
        other => format!("Dynamics sign-in refused ({}{code})", other.as_ref()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_is_the_org_url_dot_default() {
        let c = Credentials {
            authority_url: "https://login.microsoftonline.com/".into(),
            tenant_id: "contoso.onmicrosoft.com".into(),
            client_id: "id".into(),
            secret_file: "/nonexistent".into(),
            org_url: "https://contoso.crm4.dynamics.com/".into(),
        };
        assert_eq!(c.scope(), "https://contoso.crm4.dynamics.com/.default");
        assert_eq!(c.token_url(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    }

    #[test]
    fn a_bad_secret_names_the_secret_file() {
        let line =
            explain_token_error(&BasicErrorResponseType::InvalidClient, aadsts("AADSTS7000215: Invalid").as_deref());
        assert!(line.contains("AADSTS7000215") && line.contains("dynamics.client_secret_file"), "{line}");
    }

    #[test]
    fn an_empty_secret_file_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(read_secret(&path), Err(AuthError::Config(m)) if m.contains("empty")));
    }
}
