//! Signing in to Partner Center, which is delegated only (App+User): a person signs in once with the
//! device-code flow (`hunterd auth partner-center`), and the daemon then trades the saved refresh
//! token for access tokens, saving every rotated refresh token and renewing access tokens before
//! they expire (their lifetime is whatever `expires_in` says, never an assumed hour). When Microsoft
//! refuses the refresh token (revoked, expired, MFA or sign-in frequency), the sync stops with
//! "sign-in needed" instead of retrying forever. The OAuth exchanges are the `oauth2` crate's.

use super::token::{SavedSignIn, TokenFile, TokenFileError};
use crate::config::{PartnerCenterConfig, Secret};
use crate::http::OAuthHttp;
use chrono::Utc;
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType};
use oauth2::{
    ClientId, DeviceAuthorizationUrl, DeviceCodeErrorResponse, DeviceCodeErrorResponseType, EndpointNotSet,
    EndpointSet, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::{Duration, Instant};

type MsClient = BasicClient<EndpointNotSet, EndpointSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Renew an access token this long before it expires: a quarter of its life, at most five minutes.
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(Duration::from_secs(300))
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Partner Center is not configured: {0}")]
    NotConfigured(String),
    #[error("sign-in needed: run `hunterd auth partner-center` ({0})")]
    SignInNeeded(String),
    #[error(
        "the identity platform refused Hunter's app registration (check partner_center.tenant_id and client_id): {0}"
    )]
    Configuration(String),
    #[error("the identity platform could not be reached or answered badly: {0}")]
    Unavailable(String),
    #[error("sign-in did not finish: {0}")]
    DeviceFlow(String),
    #[error(transparent)]
    File(#[from] TokenFileError),
}

impl AuthError {
    /// Only a person can fix these; retrying is pointless.
    pub fn needs_a_person(&self) -> bool {
        !matches!(self, AuthError::Unavailable(_))
    }
}

/// Where and as whom to sign in.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub authority_url: String,
    pub tenant_id: String,
    pub client_id: String,
    /// The delegated scope; `offline_access` is always added so a refresh token is issued.
    pub scope: String,
    pub timeout: Duration,
}

impl AuthSettings {
    pub fn from_config(config: &PartnerCenterConfig) -> Result<AuthSettings, AuthError> {
        let missing = |key: &str| AuthError::NotConfigured(format!("partner_center.{key} is not set"));
        let tenant_id =
            config.tenant_id.clone().filter(|t| !t.trim().is_empty()).ok_or_else(|| missing("tenant_id"))?;
        let client_id =
            config.client_id.clone().filter(|t| !t.trim().is_empty()).ok_or_else(|| missing("client_id"))?;
        Ok(AuthSettings {
            authority_url: config.authority_url.trim_end_matches('/').to_string(),
            tenant_id: tenant_id.trim().to_string(),
            client_id: client_id.trim().to_string(),
            scope: config.scope.clone(),
            timeout: config.request_timeout.0,
        })
    }

    fn endpoint(&self, name: &str) -> String {
        format!("{}/{}/oauth2/v2.0/{name}", self.authority_url, self.tenant_id)
    }

    fn scopes(&self) -> Vec<Scope> {
        let mut scopes: Vec<Scope> = self.scope.split_whitespace().map(|s| Scope::new(s.to_string())).collect();
        if !scopes.iter().any(|s| s.as_str() == "offline_access") {
            scopes.push(Scope::new("offline_access".into()));
        }
        scopes
    }

    fn client(&self) -> Result<MsClient, AuthError> {
        let bad = |e: oauth2::url::ParseError| AuthError::NotConfigured(format!("partner_center.authority_url: {e}"));
        Ok(BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(TokenUrl::new(self.endpoint("token")).map_err(bad)?)
            .set_device_authorization_url(DeviceAuthorizationUrl::new(self.endpoint("devicecode")).map_err(bad)?))
    }

    fn http(&self) -> Result<reqwest::Client, AuthError> {
        crate::http::client_builder()
            // Following redirects would let a token endpoint send our form elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .build()
            .map_err(|e| AuthError::Unavailable(format!("cannot build an HTTP client: {e}")))
    }
}

/// What to show the person signing in (Microsoft's `message` says all of it, localised).
#[derive(Debug, Clone)]
pub struct DeviceCodePrompt {
    pub message: Option<String>,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: Duration,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct MicrosoftDeviceFields {
    #[serde(default)]
    message: Option<String>,
}

impl oauth2::ExtraDeviceAuthorizationFields for MicrosoftDeviceFields {}

/// The device-code sign-in: asks for a code, shows it, polls at the server's `interval` (longer
/// after `slow_down`) until the person finishes, declines or the code expires, then saves the
/// refresh token. `sleep` is how polling waits (tokio's in the binary).
pub async fn device_sign_in<S, SF>(
    settings: &AuthSettings,
    file: &TokenFile,
    show: impl FnOnce(&DeviceCodePrompt),
    sleep: S,
) -> Result<SavedSignIn, AuthError>
where
    S: Fn(Duration) -> SF,
    SF: Future<Output = ()>,
{
    let client = settings.client()?;
    let http = settings.http()?;
    let details: oauth2::DeviceAuthorizationResponse<MicrosoftDeviceFields> = client
        .exchange_device_code()
        .add_scopes(settings.scopes())
        .request_async(&OAuthHttp(&http))
        .await
        .map_err(|e| token_error("asking for a device code", e, false))?;
    show(&DeviceCodePrompt {
        message: details.extra_fields().message.clone(),
        user_code: details.user_code().secret().clone(),
        verification_uri: details.verification_uri().to_string(),
        expires_in: details.expires_in(),
    });
    let token = client
        .exchange_device_access_token(&details)
        .request_async(&OAuthHttp(&http), sleep, None)
        .await
        .map_err(device_error)?;
    let refresh = token.refresh_token().ok_or_else(|| {
        AuthError::Configuration("Microsoft issued no refresh token: the `offline_access` scope was not granted".into())
    })?;
    let now = Utc::now();
    let saved = SavedSignIn {
        refresh_token: Some(Secret::new(refresh.secret().clone())),
        tenant_id: settings.tenant_id.clone(),
        client_id: settings.client_id.clone(),
        signed_in_at: Some(now),
        last_refreshed_at: Some(now),
        sign_in_needed: None,
    };
    file.save(&saved)?;
    Ok(saved)
}

fn device_error<RE: std::error::Error + 'static>(e: RequestTokenError<RE, DeviceCodeErrorResponse>) -> AuthError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let why = match r.error() {
                DeviceCodeErrorResponseType::ExpiredToken => {
                    "the code expired before the sign-in was finished; run the command again".to_string()
                }
                DeviceCodeErrorResponseType::AccessDenied => "the sign-in was declined".to_string(),
                DeviceCodeErrorResponseType::Basic(BasicErrorResponseType::Extension(ext))
                    if ext == "authorization_declined" =>
                {
                    "the sign-in was declined".to_string()
                }
                DeviceCodeErrorResponseType::Basic(BasicErrorResponseType::Extension(ext))
                    if ext == "bad_verification_code" =>
                {
                    "Microsoft did not recognise the device code; run the command again".to_string()
                }
                other => format!("{other}: {}", first_line(r.error_description())),
            };
            AuthError::DeviceFlow(why)
        }
        other => token_error("waiting for the sign-in", other, false),
    }
}

/// Maps a token endpoint failure; `refreshing` says a refused grant means "sign in again".
fn token_error<RE, T>(
    doing: &str,
    e: RequestTokenError<RE, oauth2::StandardErrorResponse<T>>,
    refreshing: bool,
) -> AuthError
where
    RE: std::error::Error + 'static,
    T: oauth2::ErrorResponseType + AsRef<str> + std::fmt::Display + 'static,
{
    match e {
        RequestTokenError::ServerResponse(r) => {
            let code = r.error().as_ref().to_string();
            let detail = format!("{code}: {}", first_line(r.error_description()));
            match code.as_str() {
                "invalid_grant" | "interaction_required" | "consent_required" if refreshing => {
                    AuthError::SignInNeeded(detail)
                }
                "temporarily_unavailable" => AuthError::Unavailable(detail),
                _ => AuthError::Configuration(detail),
            }
        }
        RequestTokenError::Request(e) => AuthError::Unavailable(format!("{doing}: {}", chain(&e))),
        RequestTokenError::Parse(e, body) => AuthError::Unavailable(format!(
            "{doing}: unreadable answer ({e}): {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
        RequestTokenError::Other(e) => AuthError::Unavailable(format!("{doing}: {e}")),
    }
}

/// Microsoft's descriptions carry trace and correlation ids on later lines: keep the first.
fn first_line(description: Option<&String>) -> String {
    let line = description.and_then(|d| d.lines().next()).unwrap_or("no description").trim();
    line.chars().take(300).collect()
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

struct Cached {
    token: Secret,
    renew_at: Instant,
}

/// Access tokens for the daemon, bought with the saved refresh token and cached until shortly
/// before they expire.
pub struct TokenSource {
    settings: AuthSettings,
    file: TokenFile,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl TokenSource {
    pub fn new(settings: AuthSettings, file: TokenFile) -> TokenSource {
        TokenSource { settings, file, cached: tokio::sync::Mutex::new(None) }
    }

    /// A valid access token: the cached one, or a fresh one when it is near its end.
    pub async fn access_token(&self) -> Result<Secret, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.refresh().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops the cached token (the API said 401) and buys a new one.
    pub async fn renew(&self) -> Result<Secret, AuthError> {
        self.cached.lock().await.take();
        self.access_token().await
    }

    async fn refresh(&self) -> Result<Cached, AuthError> {
        let Some(mut saved) = self.file.load()? else {
            return Err(AuthError::SignInNeeded("nobody has signed in yet".into()));
        };
        if saved.tenant_id != self.settings.tenant_id || saved.client_id != self.settings.client_id {
            return Err(AuthError::SignInNeeded(
                "the saved sign-in is for another tenant or client id than the configuration's".into(),
            ));
        }
        let Some(refresh) = saved.refresh_token.clone() else {
            let why = saved.sign_in_needed.clone().unwrap_or_else(|| "the saved sign-in has no refresh token".into());
            return Err(AuthError::SignInNeeded(why));
        };
        let client = self.settings.client()?;
        let http = self.settings.http()?;
        let asked = Instant::now();
        let answer = client
            .exchange_refresh_token(&RefreshToken::new(refresh.expose().to_string()))
            .add_scopes(self.settings.scopes())
            .request_async(&OAuthHttp(&http))
            .await
            .map_err(|e: RequestTokenError<_, BasicErrorResponse>| token_error("refreshing the sign-in", e, true));
        let token = match answer {
            Ok(t) => t,
            Err(AuthError::SignInNeeded(why)) => {
                // Microsoft will not take this refresh token again: forget it, say why.
                saved.refresh_token = None;
                saved.sign_in_needed = Some(why.clone());
                self.file.save(&saved)?;
                return Err(AuthError::SignInNeeded(why));
            }
            Err(e) => return Err(e),
        };
        if let Some(rotated) = token.refresh_token() {
            saved.refresh_token = Some(Secret::new(rotated.secret().clone()));
        }
        saved.last_refreshed_at = Some(Utc::now());
        saved.sign_in_needed = None;
        self.file.save(&saved)?;
        // Without `expires_in` nothing says how long it lasts: use it for this run only.
        let lifetime = token.expires_in().unwrap_or(Duration::from_secs(60));
        Ok(Cached {
            token: Secret::new(token.access_token().secret().clone()),
            renew_at: asked + lifetime.saturating_sub(renewal_margin(lifetime)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_long_token_is_renewed_five_minutes_early() {
        assert_eq!(renewal_margin(Duration::from_secs(3599)), Duration::from_secs(300));
    }

    #[test]
    fn a_short_lived_token_is_renewed_after_three_quarters_of_its_life() {
        assert_eq!(renewal_margin(Duration::from_secs(8)), Duration::from_secs(2));
    }

    #[test]
    fn offline_access_is_always_asked_for() {
        let settings = AuthSettings {
            authority_url: "https://login.microsoftonline.com".into(),
            tenant_id: "contoso.onmicrosoft.com".into(),
            client_id: "c".into(),
            scope: "https://api.partner.microsoft.com/user_impersonation".into(),
            timeout: Duration::from_secs(30),
        };
        let scopes: Vec<String> = settings.scopes().iter().map(|s| s.to_string()).collect();
        assert_eq!(scopes, ["https://api.partner.microsoft.com/user_impersonation", "offline_access"]);
        assert_eq!(
            settings.endpoint("devicecode"),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode"
        );
    }

    #[test]
    fn missing_ids_name_the_key_to_set() {
        let err = AuthSettings::from_config(&PartnerCenterConfig::default()).unwrap_err();
        assert!(err.to_string().contains("partner_center.tenant_id"), "{err}");
    }
}
