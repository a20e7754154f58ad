//! The Dataverse Web API v9.2 over HTTP (microsoft-apis.md C): required OData headers, Bearer tokens
//! with one forced refresh on 401, a global pause on 429 honouring `Retry-After`, at most
//! `dynamics.max_concurrency` requests in flight, and an audit row for every call.

use super::auth::{AuthError, TokenSource};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Map, Value};
use sqlx::PgPool;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Per-request cap (engine.md §10 used 30 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// 429s absorbed inside one call before the lead goes back to the queue.
const THROTTLE_RETRIES: u32 = 6;
/// When a 429 carries no `Retry-After`.
const THROTTLE_FALLBACK: Duration = Duration::from_secs(5);
/// Longest `Retry-After` we wait for inside a call; longer ones reschedule the lead instead.
const LONGEST_INLINE_WAIT: Duration = Duration::from_secs(300);

/// The service-protection error codes (C.14).
pub const LIMIT_REQUESTS: &str = "0x80072322";
pub const LIMIT_EXECUTION_TIME: &str = "0x80072321";
pub const LIMIT_CONCURRENCY: &str = "0x80072326";
/// Duplicate detection fired (C.8): HTTP 500 with this code.
pub const DUPLICATE_DETECTED: &str = "0x80040333";

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Sign-in or permission problem: the message names the likely cause; every lead waits for a fix.
    #[error("{0}")]
    Auth(String),
    /// Still throttled after the retries this call allows.
    #[error("throttled by Dataverse ({code}); retry after {}s", retry_after.as_secs())]
    Throttled { retry_after: Duration, code: String },
    /// No answer, a timeout, or 502/503/504: D365 or the network is down.
    #[error("Dynamics 365 unreachable: {0}")]
    Unreachable(String),
    /// Dataverse answered with an error.
    #[error("Dataverse {status}{}: {message}", if code.is_empty() { String::new() } else { format!(" {code}") })]
    Api { status: u16, code: String, message: String },
}

impl CallError {
    pub fn is_duplicate(&self) -> bool {
        matches!(self, CallError::Api { code, .. } if code == DUPLICATE_DETECTED)
    }
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One Dataverse request.
pub struct Call {
    /// What it is for, in the audit log: `create`, `update`, `upsert`, `lookup`, `whoami`, `metadata`.
    pub operation: &'static str,
    pub entity: &'static str,
    pub method: Method,
    /// Path and query below `/api/data/v9.2/`, already encoded.
    pub path: String,
    pub body: Option<Map<String, Value>>,
    pub headers: Vec<(&'static str, String)>,
    pub company_id: Option<i64>,
    /// A `$batch` body: `(content type with boundary, text)`, sent instead of `body`.
    pub multipart: Option<(String, String)>,
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The JSON body (`Null` when there was none or it is not JSON).
    pub body: Value,
    pub raw: Vec<u8>,
}

/// Throttling as the status screen shows it.
#[derive(Debug, Clone, Default)]
pub struct ThrottleState {
    pub throttled_calls: u64,
    pub paused_until: Option<Instant>,
    pub last_code: Option<String>,
}

pub struct Dataverse {
    http: reqwest::Client,
    api: String,
    tokens: TokenSource,
    permits: Semaphore,
    throttle: Mutex<ThrottleState>,
    audit: Option<PgPool>,
}

impl Dataverse {
    pub fn new(
        org_url: &str,
        tokens: TokenSource,
        http: reqwest::Client,
        max_concurrency: usize,
        audit: Option<PgPool>,
    ) -> Self {
        Dataverse {
            http,
            api: format!("{}/api/data/v9.2/", org_url.trim_end_matches('/')),
            tokens,
            permits: Semaphore::new(max_concurrency.max(1)),
            throttle: Mutex::new(ThrottleState::default()),
            audit,
        }
    }

    pub fn api_base(&self) -> &str {
        &self.api
    }

    pub fn throttle_state(&self) -> ThrottleState {
        self.throttle.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Sends one call, absorbing a token refresh and short throttling pauses.
    pub async fn send(&self, call: &Call) -> Result<Answer, CallError> {
        let mut refreshed = false;
        let mut throttled = 0;
        loop {
            self.wait_out_pause().await;
            let result = {
                let _permit =
                    self.permits.acquire().await.map_err(|_| CallError::Unreachable("shutting down".into()))?;
                self.send_once(call).await
            };
            match result {
                Err(CallError::Api { status: 401, .. }) if !refreshed => {
                    refreshed = true;
                    self.tokens.invalidate().await;
                }
                Err(CallError::Api { status: 401, code, message }) => {
                    return Err(CallError::Auth(explain_refusal(401, &code, &message)));
                }
                Err(CallError::Api { status: 403, code, message }) => {
                    return Err(CallError::Auth(explain_refusal(403, &code, &message)));
                }
                Err(CallError::Throttled { retry_after, code }) => {
                    throttled += 1;
                    self.pause_for(retry_after, &code);
                    if throttled > THROTTLE_RETRIES || retry_after > LONGEST_INLINE_WAIT {
                        return Err(CallError::Throttled { retry_after, code });
                    }
                }
                other => return other,
            }
        }
    }

    async fn wait_out_pause(&self) {
        loop {
            let until = self.throttle.lock().ok().and_then(|t| t.paused_until);
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until.into()).await,
                _ => return,
            }
        }
    }

    /// Every caller waits until `retry_after` has passed: the limit is per user, not per request.
    pub fn pause_for(&self, retry_after: Duration, code: &str) {
        if let Ok(mut t) = self.throttle.lock() {
            let until = Instant::now() + retry_after;
            t.paused_until = Some(t.paused_until.map_or(until, |u| u.max(until)));
            t.throttled_calls += 1;
            t.last_code = Some(code.to_string());
        }
    }

    async fn send_once(&self, call: &Call) -> Result<Answer, CallError> {
        let started = Instant::now();
        let token = match self.tokens.token().await {
            Ok(t) => t,
            Err(e) => {
                let (status, message) = match &e {
                    AuthError::Config(m) => (None, m.clone()),
                    AuthError::Unreachable(m) => (None, m.clone()),
                };
                self.record(call, status, None, Some(&message), started).await;
                return Err(match e {
                    AuthError::Config(m) => CallError::Auth(m),
                    AuthError::Unreachable(m) => CallError::Unreachable(m),
                });
            }
        };
        let mut request = self
            .http
            .request(call.method.clone(), format!("{}{}", self.api, call.path))
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(token)
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0");
        if call.method == Method::GET {
            request = request.header("If-None-Match", "null");
        }
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if let Some((content_type, text)) = &call.multipart {
            request = request.header("Content-Type", content_type).body(text.clone());
        } else if let Some(body) = &call.body {
            request = request.header("Content-Type", "application/json; charset=utf-8").json(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let message = without_url(&e);
                self.record(call, None, None, Some(&message), started).await;
                return Err(CallError::Unreachable(message));
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let message = without_url(&e);
                self.record(call, Some(status.as_u16()), None, Some(&message), started).await;
                return Err(CallError::Unreachable(message));
            }
        };
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            self.record(call, Some(status.as_u16()), None, None, started).await;
            return Ok(Answer { status, headers, body, raw: bytes.to_vec() });
        }
        let (code, message) = error_of(&body, status);
        self.record(call, Some(status.as_u16()), Some(&code), Some(&message), started).await;
        Err(match status.as_u16() {
            429 => CallError::Throttled { retry_after: retry_after(&headers).unwrap_or(THROTTLE_FALLBACK), code },
            502..=504 => CallError::Unreachable(format!("HTTP {status}: {message}")),
            s => CallError::Api { status: s, code, message },
        })
    }

    async fn record(
        &self,
        call: &Call,
        status: Option<u16>,
        code: Option<&str>,
        message: Option<&str>,
        started: Instant,
    ) {
        let Some(pool) = &self.audit else { return };
        let duration = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        let message = message.map(|m| m.chars().take(1000).collect::<String>());
        let result = sqlx::query(
            "INSERT INTO d365_audit (company_id, operation, entity, http_status, error_code, message, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(call.company_id)
        .bind(call.operation)
        .bind(call.entity)
        .bind(status.map(i32::from))
        .bind(code.filter(|c| !c.is_empty()))
        .bind(message)
        .bind(duration)
        .execute(pool)
        .await;
        if let Err(e) = result {
            tracing::debug!("could not write the Dynamics audit row: {e}");
        }
    }
}

/// One operation of a `$batch` (C.13), outside any change set: each succeeds or fails on its own.
#[derive(Debug, Clone)]
pub struct BatchOp {
    pub method: Method,
    /// Below `/api/data/v9.2/`, already encoded.
    pub path: String,
    pub body: Map<String, Value>,
    pub headers: Vec<(&'static str, String)>,
}

/// One operation's answer inside a `$batch` response.
#[derive(Debug, Clone, PartialEq)]
pub struct PartAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl PartAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn error(&self) -> (String, String) {
        error_of(&self.body, StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
    }
}

impl Dataverse {
    /// Sends operations as one `$batch` (one request against the service-protection limits) with
    /// `Prefer: odata.continue-on-error`; answers in order. Fewer answers than operations means
    /// D365 stopped early: the rest were not run.
    pub async fn send_batch(&self, ops: &[BatchOp], company_ids: &[i64]) -> Result<Vec<PartAnswer>, CallError> {
        let boundary = format!("batch_{}", uuid::Uuid::new_v4().simple());
        let text = batch_body(&self.api, &boundary, ops);
        let call = Call {
            operation: "batch",
            entity: "lead",
            method: Method::POST,
            path: "$batch".into(),
            body: None,
            headers: vec![("Prefer", "odata.continue-on-error".into())],
            company_id: None,
            multipart: Some((format!("multipart/mixed;boundary={boundary}"), text)),
        };
        let answer = self.send(&call).await?;
        let content_type = answer.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        let parts = parse_batch_response(content_type, &String::from_utf8_lossy(&answer.raw)).ok_or_else(|| {
            CallError::Api {
                status: answer.status.as_u16(),
                code: String::new(),
                message: "the $batch answer is not a multipart response".into(),
            }
        })?;
        for (i, part) in parts.iter().enumerate() {
            let (code, message) = if part.status >= 400 { part.error() } else { (String::new(), String::new()) };
            let audit = Call {
                operation: "upsert",
                entity: "lead",
                method: Method::PATCH,
                path: String::new(),
                body: None,
                headers: Vec::new(),
                company_id: company_ids.get(i).copied(),
                multipart: None,
            };
            let message = (!message.is_empty()).then_some(message.as_str());
            self.record(&audit, Some(part.status), Some(&code), message, Instant::now()).await;
        }
        Ok(parts)
    }
}

/// The multipart request body: one `application/http` part per operation, absolute URLs.
pub fn batch_body(api: &str, boundary: &str, ops: &[BatchOp]) -> String {
    let mut out = String::new();
    for op in ops {
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        ));
        out.push_str(&format!("{} {api}{} HTTP/1.1\r\n", op.method, op.path));
        out.push_str("Content-Type: application/json; charset=utf-8\r\n");
        for (name, value) in &op.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&serde_json::to_string(&op.body).unwrap_or_default());
        out.push_str("\r\n");
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

/// Each operation's status line, headers and JSON body, in order (change-set answers flattened).
pub fn parse_batch_response(content_type: &str, body: &str) -> Option<Vec<PartAnswer>> {
    let boundary = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary="))?.trim_matches('"');
    let body = body.replace("\r\n", "\n");
    let mut answers = Vec::new();
    for part in multipart_parts(&body, boundary)? {
        let (head, rest) = part.split_once("\n\n").unwrap_or((part.as_str(), ""));
        let inner_type = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.trim().eq_ignore_ascii_case("content-type")))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        if inner_type.starts_with("multipart/mixed") {
            answers.extend(parse_batch_response(&inner_type, rest)?);
            continue;
        }
        let (http_head, http_body) = rest.split_once("\n\n").unwrap_or((rest, ""));
        let mut lines = http_head.lines();
        let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let headers = lines
            .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_string(), v.trim().to_string())))
            .collect();
        let body = serde_json::from_str(http_body.trim()).unwrap_or(Value::Null);
        answers.push(PartAnswer { status, headers, body });
    }
    Some(answers)
}

fn multipart_parts(body: &str, boundary: &str) -> Option<Vec<String>> {
    let (open, close) = (format!("--{boundary}"), format!("--{boundary}--"));
    let mut parts = Vec::new();
    let mut current: Option<String> = None;
    for line in body.lines() {
        let trimmed = line.trim_end();
        if trimmed == close || trimmed == open {
            if let Some(p) = current.take() {
                parts.push(p);
            }
            if trimmed == close {
                return Some(parts);
            }
            current = Some(String::new());
        } else if let Some(p) = current.as_mut() {
            p.push_str(line);
            p.push('\n');
        }
    }
    None
}

/// `{"error":{"code","message"}}` (C.15); the status text when the body is something else.
fn error_of(body: &Value, status: StatusCode) -> (String, String) {
    let error = body.get("error");
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or("").to_string();
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    (code, message)
}

/// `Retry-After` in seconds (Dataverse sends seconds, C.14).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    value.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

/// reqwest errors name the URL; keep the message short and free of query strings.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_string(),
    }
}

/// One line naming the likely cause of a 401/403 from Dataverse (C.2, C.15, C.17).
pub fn explain_refusal(status: u16, code: &str, message: &str) -> String {
    let detail = if code.is_empty() { message.to_string() } else { format!("{code} {message}") };
    match status {
        401 => format!(
            "Dataverse refused Hunter's token (401: {detail}): the app has no application user in this environment (Power Platform admin center → Application users), or dynamics.org_url is not the environment the app was added to"
        ),
        _ => format!(
            "Dataverse refused the request (403: {detail}): the application user's security role lacks read/write on lead (and account, contact, opportunity)"
        ),
    }
}

/// The GUID inside `…/leads(<guid>)` of an `OData-EntityId` header.
pub fn entity_id(headers: &HeaderMap) -> Option<uuid::Uuid> {
    let value = headers.get("odata-entityid")?.to_str().ok()?;
    let inner = value.rsplit_once('(')?.1.strip_suffix(')')?;
    uuid::Uuid::parse_str(inner.trim_matches(|c| c == '{' || c == '}')).ok()
}

/// Encodes an OData query value (`$filter`, `$select`) for the URL.
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, QUERY).to_string()
}

const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'-')
    .remove(b'.')
    .remove(b'~')
    .remove(b',')
    .remove(b'(')
    .remove(b')');

/// A string literal in OData: single quotes, `'` doubled.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_response_is_read_part_by_part_in_order() {
        let body = "--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
HTTP/1.1 201 Created\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n{\"leadid\":\"00000000-0000-0000-0000-000000000001\"}\r\n\
--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n\
--changesetresponse_2\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 400 Bad Request\r\n\r\n{\"error\":{\"code\":\"0x1\",\"message\":\"bad\"}}\r\n\
--changesetresponse_2--\r\n--batchresponse_1--\r\n";
        let parts = parse_batch_response("multipart/mixed; boundary=batchresponse_1", body).unwrap();
        assert_eq!(parts.iter().map(|p| p.status).collect::<Vec<_>>(), vec![201, 400]);
        assert_eq!(parts[0].body["leadid"], "00000000-0000-0000-0000-000000000001");
        assert_eq!(parts[1].error(), ("0x1".to_string(), "bad".to_string()));
    }

    #[test]
    fn a_batch_request_has_one_http_part_per_operation() {
        let op = BatchOp {
            method: Method::PATCH,
            path: "leads(hnt_domain='a.example')".into(),
            body: serde_json::json!({"subject": "s"}).as_object().unwrap().clone(),
            headers: vec![("Prefer", "return=representation".into())],
        };
        let text = batch_body("https://o.example/api/data/v9.2/", "batch_x", &[op.clone(), op]);
        assert_eq!(text.matches("--batch_x\r\nContent-Type: application/http").count(), 2);
        assert!(text.contains("PATCH https://o.example/api/data/v9.2/leads(hnt_domain='a.example') HTTP/1.1\r\n"));
        assert!(text.ends_with("--batch_x--\r\n"));
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut h = HeaderMap::new();
        h.insert("Retry-After", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("Retry-After", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn the_new_id_comes_from_odata_entityid() {
        let mut h = HeaderMap::new();
        let id = uuid::Uuid::new_v4();
        h.insert("OData-EntityId", format!("https://o.example/api/data/v9.2/leads({id})").parse().unwrap());
        assert_eq!(entity_id(&h), Some(id));
        h.insert("OData-EntityId", "https://o.example/api/data/v9.2/leads(hnt_domain='a.example')".parse().unwrap());
        assert_eq!(entity_id(&h), None);
    }

    #[test]
    fn filters_are_percent_encoded_and_quotes_doubled() {
        assert_eq!(literal("o'neil.example"), "'o''neil.example'");
        assert_eq!(encode("a eq 'x+y'"), "a%20eq%20%27x%2By%27");
    }

    #[test]
    fn refusals_name_the_application_user_or_the_role() {
        assert!(explain_refusal(401, "", "x").contains("application user"));
        assert!(explain_refusal(403, "0x80040220", "PrivilegeDenied").contains("security role"));
    }
}
