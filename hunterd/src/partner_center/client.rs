//! The Referrals API client (microsoft-apis.md B): lists referrals newest-updated first, follows
//! `@odata.nextLink` exactly as given (only to the configured host; an `http` link is upgraded to the
//! configured scheme, nothing else is rebuilt), retries network errors, 5xx and 429 a bounded number of
//! times with exponential backoff and jitter (429 waits `Retry-After`), reusing one `MS-RequestId`
//! per page across retries, and reads both known error body shapes, keeping the raw body for the log.

use super::auth::{AuthError, TokenSource};
use crate::config::PartnerCenterConfig;
use reqwest::{StatusCode, Url, header};
use serde_json::Value;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The collection path under `partner_center.api_base_url`.
pub const REFERRALS_PATH: &str = "/v1.0/engagements/referrals";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("Partner Center answered {status}{}: {message}", .code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status { status: u16, code: Option<String>, message: String },
    #[error("Partner Center could not be reached after {attempts} attempt(s): {last}")]
    GaveUp { attempts: u32, last: String },
    #[error("Partner Center asks to wait {0:?} (Retry-After), longer than a sync waits; the next run retries")]
    ThrottledTooLong(Duration),
    #[error("refusing to follow a next-page link outside {allowed}: {link}")]
    ForeignLink { link: String, allowed: String },
    #[error("Partner Center sent a page that is not a referral collection: {0}")]
    BadPage(String),
    #[error("partner_center.api_base_url `{0}` is not a usable URL")]
    BadBaseUrl(String),
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub base_url: Url,
    /// `$filter`; empty sends none.
    pub filter: String,
    pub page_size: u32,
    /// Attempts per page, the first included.
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A Retry-After longer than this fails the run (the next scheduled run tries again).
    pub max_retry_after: Duration,
    pub timeout: Duration,
}

impl ApiSettings {
    pub fn from_config(config: &PartnerCenterConfig) -> Result<ApiSettings, ApiError> {
        let base_url = Url::parse(config.api_base_url.trim_end_matches('/'))
            .ok()
            .filter(|u| u.host_str().is_some() && matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ApiError::BadBaseUrl(config.api_base_url.clone()))?;
        Ok(ApiSettings {
            base_url,
            filter: config.filter.clone(),
            page_size: config.page_size.clamp(1, 100),
            attempts: config.max_retries.saturating_add(1),
            base_delay: config.retry_base_delay.0,
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
            timeout: config.request_timeout.0,
        })
    }
}

/// One page: its records (raw) and where the next one is.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Value>,
    pub next: Option<Url>,
}

pub struct ReferralsApi {
    settings: ApiSettings,
    http: reqwest::Client,
}

enum Attempt {
    Done(Page),
    Retry { after: Duration, why: String },
}

impl ReferralsApi {
    pub fn new(settings: ApiSettings) -> Result<ReferralsApi, ApiError> {
        let http = crate::http::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .build()
            .map_err(|e| ApiError::GaveUp { attempts: 0, last: format!("cannot build an HTTP client: {e}") })?;
        Ok(ReferralsApi { settings, http })
    }

    /// The first page: the configured filter, newest updates first.
    pub fn first_page(&self) -> Url {
        let mut url = self.settings.base_url.clone();
        let path = format!("{}{REFERRALS_PATH}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        {
            let mut q = url.query_pairs_mut();
            if !self.settings.filter.trim().is_empty() {
                q.append_pair("$filter", self.settings.filter.trim());
            }
            q.append_pair("$orderby", "updatedDateTime desc");
            q.append_pair("$top", &self.settings.page_size.to_string());
        }
        url
    }

    /// Checks a next-page link: same host and port as the configured base, any path and query
    /// kept byte for byte; `http` becomes the configured scheme so the token never travels in clear.
    pub fn next_link(&self, link: &str) -> Result<Url, ApiError> {
        let base = &self.settings.base_url;
        let foreign = || ApiError::ForeignLink {
            link: link.chars().take(300).collect(),
            allowed: base.origin().ascii_serialization(),
        };
        let mut url = Url::parse(link).map_err(|_| foreign())?;
        let same_host = url.host_str().zip(base.host_str()).is_some_and(|(a, b)| a.eq_ignore_ascii_case(b));
        if !same_host || !matches!(url.scheme(), "http" | "https") {
            return Err(foreign());
        }
        if url.port().is_some_and(|p| Some(p) != base.port_or_known_default()) {
            return Err(foreign());
        }
        if url.scheme() != base.scheme() {
            url.set_scheme(base.scheme()).map_err(|_| foreign())?;
        }
        url.set_port(base.port()).map_err(|_| foreign())?;
        Ok(url)
    }

    /// Fetches one page, retrying what is worth retrying.
    pub async fn page(&self, url: &Url, tokens: &TokenSource) -> Result<Page, ApiError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = tokens.access_token().await?;
            let result = self.try_once(url, token.expose(), &request_id).await;
            let (after, why) = match result {
                Ok(Attempt::Done(page)) => return Ok(page),
                Ok(Attempt::Retry { after, why }) => (after, why),
                Err(ApiError::Status { status: 401, .. }) if !renewed => {
                    // The token may have been revoked early: one forced refresh, then give up.
                    renewed = true;
                    tokens.renew().await?;
                    attempt -= 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if attempt >= self.settings.attempts {
                return Err(ApiError::GaveUp { attempts: attempt, last: why });
            }
            if after > self.settings.max_retry_after {
                return Err(ApiError::ThrottledTooLong(after));
            }
            let wait = if after.is_zero() { self.backoff(attempt) } else { after };
            tracing::info!(request_id, attempt, "Partner Center: {why}; retrying in {wait:?}");
            tokio::time::sleep(wait).await;
        }
    }

    /// Exponential from `base_delay`, capped, plus up to one `base_delay` of jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.settings.base_delay.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let jitter = self.settings.base_delay.mul_f64(random_fraction());
        exp.min(self.settings.max_delay) + jitter
    }

    async fn try_once(&self, url: &Url, token: &str, request_id: &str) -> Result<Attempt, ApiError> {
        let sent = self
            .http
            .get(url.clone())
            .bearer_auth(token)
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/json")
            .header("MS-RequestId", request_id)
            .header("MS-CorrelationId", uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Ok(Attempt::Retry { after: Duration::ZERO, why: format!("network error: {}", without_url(e)) });
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Ok(Attempt::Retry {
                    after: Duration::ZERO,
                    why: format!("connection lost reading the answer: {}", without_url(e)),
                });
            }
        };
        if status.is_success() {
            return parse_page(&body).and_then(|(records, next)| {
                let next = next.map(|l| self.next_link(&l)).transpose()?;
                Ok(Attempt::Done(Page { records, next }))
            });
        }
        let error = read_error(status, &body);
        tracing::debug!(request_id, status = status.as_u16(), body = %String::from_utf8_lossy(&body[..body.len().min(2000)]), "Partner Center error body");
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Ok(Attempt::Retry { after: retry_after.unwrap_or(Duration::ZERO), why: error.to_string() });
        }
        if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
            return Ok(Attempt::Retry { after: retry_after.unwrap_or(Duration::ZERO), why: error.to_string() });
        }
        Err(error)
    }
}

/// reqwest's messages name the URL, whose query may carry a skip token: keep the cause only.
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `Retry-After` in seconds (the form Partner Center uses); an HTTP date is read too.
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
}

/// A collection: `{ value: [...], @odata.nextLink }`, or a bare array (one page).
fn parse_page(body: &[u8]) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::BadPage(format!("not JSON ({e})")))?;
    match v {
        Value::Array(records) => Ok((records, None)),
        Value::Object(mut map) => {
            let records = match map.remove("value").or_else(|| map.remove("items")) {
                Some(Value::Array(r)) => r,
                Some(Value::Null) | None => Vec::new(),
                Some(_) => return Err(ApiError::BadPage("`value` is not an array".into())),
            };
            let next = match map.remove("@odata.nextLink") {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
                _ => None,
            };
            Ok((records, next))
        }
        _ => Err(ApiError::BadPage("neither an object nor an array".into())),
    }
}

/// Both known error shapes (`{code, description, data, source}` and `{error: {code, message}}`),
/// the throttling one (`{statusCode, message}`), or the raw text.
fn read_error(status: StatusCode, body: &[u8]) -> ApiError {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (code, message) = match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let inner = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
            let code = text(inner.get("code")).or_else(|| text(v.get("error")));
            let message = text(inner.get("message"))
                .or_else(|| text(inner.get("description")))
                .or_else(|| text(v.get("message")));
            (code, message)
        }
        Err(_) => (None, None),
    };
    let message = message.unwrap_or_else(|| {
        let raw = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string();
        if raw.is_empty() { status.canonical_reason().unwrap_or("no body").to_string() } else { raw }
    });
    ApiError::Status { status: status.as_u16(), code, message }
}

fn random_fraction() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(base: &str) -> ReferralsApi {
        let mut config = PartnerCenterConfig { api_base_url: base.into(), ..PartnerCenterConfig::default() };
        config.page_size = 50;
        ReferralsApi::new(ApiSettings::from_config(&config).unwrap()).unwrap()
    }

    #[test]
    fn the_first_page_filters_incoming_and_orders_by_update_newest_first() {
        let url = api("https://api.partner.microsoft.com").first_page();
        assert_eq!(
            url.as_str(),
            "https://api.partner.microsoft.com/v1.0/engagements/referrals?%24filter=direction+eq+%27Incoming%27&%24orderby=updatedDateTime+desc&%24top=50"
        );
    }

    #[test]
    fn the_documented_quirky_next_link_is_followed_as_given_over_https() {
        let next = api("https://api.partner.microsoft.com")
            .next_link("http://api.partner.microsoft.com/v1.0/referrals?$skiptoken=eyJ%2Fabc")
            .unwrap();
        assert_eq!(next.as_str(), "https://api.partner.microsoft.com/v1.0/referrals?$skiptoken=eyJ%2Fabc");
    }

    #[test]
    fn a_next_link_to_another_host_is_refused() {
        let err =
            api("https://api.partner.microsoft.com").next_link("https://evil.example/v1.0/referrals?$skiptoken=x");
        assert!(matches!(err, Err(ApiError::ForeignLink { .. })), "{err:?}");
        let err = api("http://127.0.0.1:8080").next_link("http://127.0.0.1:9090/v1.0/referrals");
        assert!(matches!(err, Err(ApiError::ForeignLink { .. })), "{err:?}");
    }

    #[test]
    fn both_error_shapes_are_read() {
        let a = read_error(
            StatusCode::BAD_REQUEST,
            br#"{"code":"600023","description":"Bad filter","data":[],"source":"PartnerApi"}"#,
        );
        assert_eq!(a.to_string(), "Partner Center answered 400 (600023): Bad filter");
        let b = read_error(StatusCode::FORBIDDEN, br#"{"error":{"code":"Forbidden","message":"No Referrals role"}}"#);
        assert_eq!(b.to_string(), "Partner Center answered 403 (Forbidden): No Referrals role");
        let c = read_error(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"statusCode":429,"message":"Rate limit is exceeded. Try again in 3 seconds."}"#,
        );
        assert_eq!(c.to_string(), "Partner Center answered 429: Rate limit is exceeded. Try again in 3 seconds.");
        let d = read_error(StatusCode::BAD_GATEWAY, b"<html>upstream</html>");
        assert_eq!(d.to_string(), "Partner Center answered 502: <html>upstream</html>");
    }

    #[test]
    fn a_page_without_a_next_link_is_the_last() {
        let (records, next) = parse_page(br#"{"@odata.count": 1, "value": [{"id": "a"}]}"#).unwrap();
        assert_eq!((records.len(), next), (1, None));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let api = api("https://api.partner.microsoft.com");
        let d1 = api.backoff(1);
        let d6 = api.backoff(6);
        assert!(d1 >= Duration::from_secs(1) && d1 < Duration::from_secs(2), "{d1:?}");
        assert!(d6 >= Duration::from_secs(32) && d6 < Duration::from_secs(33), "{d6:?}");
        assert!(api.backoff(30) <= Duration::from_secs(61));
    }
}
