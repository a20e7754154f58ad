//! Fake Microsoft identity platform (microsoft-apis.md A and D.1): `/{tenant}/oauth2/v2.0/devicecode`
//! and `/{tenant}/oauth2/v2.0/token` with the device-code, refresh-token and client-credentials
//! grants. Strict: POST with a form body only, required parameters checked (AADSTS900144), errors in
//! the full A.7 shape, refresh tokens only with `offline_access`, a new refresh token on every use.
//! Issued access tokens go into a [`TokenRegistry`] the API fakes check audience and expiry against.

use super::{Fault, Recorded, form};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

/// An access token the fake issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub audience: String,
    pub client_id: String,
    pub app_only: bool,
    pub expires_at: Instant,
}

/// Every access token issued, shared with the API fakes.
#[derive(Debug, Clone, Default)]
pub struct TokenRegistry(Arc<Mutex<HashMap<String, Issued>>>);

impl TokenRegistry {
    /// The grant behind a `Bearer` token, if it is known, unexpired and for `audience`.
    pub fn check(&self, authorization: Option<&str>, audience: &str) -> Result<Issued, &'static str> {
        let token = authorization.and_then(|a| a.strip_prefix("Bearer ")).ok_or("missing bearer token")?;
        let issued = self.0.lock().unwrap().get(token.trim()).cloned().ok_or("unknown token")?;
        if issued.expires_at <= Instant::now() {
            return Err("expired token");
        }
        if issued.audience.trim_end_matches('/') != audience.trim_end_matches('/') {
            return Err("wrong audience");
        }
        Ok(issued)
    }

    fn issue(&self, issued: Issued) -> String {
        let token = format!("at-{}", uuid::Uuid::new_v4().simple());
        self.0.lock().unwrap().insert(token.clone(), issued);
        token
    }

    /// Makes every issued token expire now (as if its lifetime ran out).
    pub fn expire_all(&self) {
        for t in self.0.lock().unwrap().values_mut() {
            t.expires_at = Instant::now();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Pending,
    Approved,
    Declined,
}

#[derive(Debug)]
struct DeviceCode {
    user_code: String,
    client_id: String,
    scope: String,
    issued: Instant,
    last_poll: Option<Instant>,
    decision: Decision,
}

#[derive(Debug)]
struct RefreshGrant {
    client_id: String,
    scope: String,
    valid: bool,
}

#[derive(Debug)]
struct State {
    tokens: TokenRegistry,
    device_codes: HashMap<String, DeviceCode>,
    refresh_tokens: HashMap<String, RefreshGrant>,
    secrets: HashMap<String, String>,
    access_lifetime: u64,
    device_interval: u64,
    device_expires_in: u64,
    /// Answer `slow_down` to polls sooner than `interval` after the previous one.
    enforce_interval: bool,
    /// Approve pending codes once they have been polled this many times.
    auto_approve_after: Option<u32>,
    polls: u32,
    rotation_invalidates_old: bool,
    /// `invalid_grant` with this AADSTS code on every refresh (700082, 50173, 50076).
    refresh_failure: Option<u32>,
    faults: VecDeque<Fault>,
    requests: Vec<Recorded>,
}

pub struct IdentityFake {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

impl IdentityFake {
    pub async fn start() -> IdentityFake {
        let state = Arc::new(Mutex::new(State {
            tokens: TokenRegistry::default(),
            device_codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            secrets: HashMap::new(),
            access_lifetime: 3599,
            device_interval: 5,
            device_expires_in: 900,
            enforce_interval: true,
            auto_approve_after: None,
            polls: 0,
            rotation_invalidates_old: true,
            refresh_failure: None,
            faults: VecDeque::new(),
            requests: Vec::new(),
        }));
        let server = MockServer::start().await;
        Mock::given(any()).respond_with(Handler(state.clone())).mount(&server).await;
        IdentityFake { server, state }
    }

    /// What goes into `authority_url` settings.
    pub fn authority_url(&self) -> String {
        self.server.uri()
    }

    pub fn tokens(&self) -> TokenRegistry {
        self.state.lock().unwrap().tokens.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Token grants seen, in order (`refresh_token`, `urn:…:device_code`, …).
    pub fn grants(&self) -> Vec<String> {
        self.requests().iter().filter_map(|r| form_field(&r.body, "grant_type")).collect()
    }

    pub fn set_access_token_lifetime(&self, secs: u64) {
        self.state.lock().unwrap().access_lifetime = secs;
    }

    pub fn set_device_timing(&self, interval: u64, expires_in: u64) {
        let mut s = self.state.lock().unwrap();
        s.device_interval = interval;
        s.device_expires_in = expires_in;
    }

    pub fn set_auto_approve_after(&self, polls: u32) {
        self.state.lock().unwrap().auto_approve_after = Some(polls);
    }

    pub fn decline_all(&self) {
        for c in self.state.lock().unwrap().device_codes.values_mut() {
            c.decision = Decision::Declined;
        }
    }

    pub fn approve_all(&self) {
        for c in self.state.lock().unwrap().device_codes.values_mut() {
            c.decision = Decision::Approved;
        }
    }

    pub fn set_rotation_invalidates_old(&self, on: bool) {
        self.state.lock().unwrap().rotation_invalidates_old = on;
    }

    /// Every refresh from now on fails with `invalid_grant` and this AADSTS code (None: works again).
    pub fn set_refresh_failure(&self, code: Option<u32>) {
        self.state.lock().unwrap().refresh_failure = code;
    }

    pub fn set_client_secret(&self, client_id: &str, secret: &str) {
        self.state.lock().unwrap().secrets.insert(client_id.into(), secret.into());
    }

    /// The next token-endpoint answers are these instead.
    pub fn push_fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    /// A refresh token as if `client_id` had signed in with `scope` (for tests that start signed in).
    pub fn issue_refresh_token(&self, client_id: &str, scope: &str) -> String {
        let token = format!("rt-{}", uuid::Uuid::new_v4().simple());
        let grant = RefreshGrant { client_id: client_id.into(), scope: scope.into(), valid: true };
        self.state.lock().unwrap().refresh_tokens.insert(token.clone(), grant);
        token
    }

    /// Whether Microsoft would still take this refresh token.
    pub fn refresh_token_valid(&self, token: &str) -> bool {
        self.state.lock().unwrap().refresh_tokens.get(token).is_some_and(|g| g.valid)
    }
}

fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.replace("%3A", ":").replace("%3a", ":"))
    })
}

/// An error in the full A.7 shape.
pub fn aad_error(status: u16, error: &str, code: u32, text: &str) -> ResponseTemplate {
    let trace = uuid::Uuid::new_v4();
    let correlation = uuid::Uuid::new_v4();
    let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ");
    let body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"),
        "error_codes": [code],
        "timestamp": timestamp.to_string(),
        "trace_id": trace.to_string(),
        "correlation_id": correlation.to_string(),
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    ResponseTemplate::new(status).set_body_json(body)
}

fn audience_of(scope: &str) -> Option<String> {
    scope
        .split_whitespace()
        .filter(|s| !matches!(*s, "offline_access" | "openid" | "profile" | "email"))
        .find_map(|s| s.rsplit_once('/').map(|(resource, _)| resource.to_string()))
}

struct Handler(Arc<Mutex<State>>);

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        s.requests.push(Recorded::of(req));
        if let Some(fault) = s.faults.pop_front() {
            return fault.respond();
        }
        let segments: Vec<&str> = req.url.path().trim_start_matches('/').split('/').collect();
        let (tenant, endpoint) = match segments.as_slice() {
            [tenant, "oauth2", "v2.0", endpoint] => (tenant.to_string(), endpoint.to_string()),
            _ => return ResponseTemplate::new(404),
        };
        if req.method.as_str() != "POST" {
            return aad_error(400, "invalid_request", 900561, "The endpoint only accepts POST requests.");
        }
        let content_type = req.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            return aad_error(400, "invalid_request", 900144, "The request body must contain form-encoded parameters.");
        }
        let f = form(req);
        let need = |name: &str| -> Result<String, Box<ResponseTemplate>> {
            f.get(name).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
                aad_err(
                    400,
                    "invalid_request",
                    900144,
                    &format!("The request body must contain the following parameter: '{name}'."),
                )
            })
        };
        let result = match endpoint.as_str() {
            "devicecode" => s.device_code(&need),
            "token" => match need("grant_type") {
                Err(e) => Err(e),
                Ok(grant) => match grant.as_str() {
                    "urn:ietf:params:oauth:grant-type:device_code" => s.poll(&need),
                    "refresh_token" => s.refresh(&need),
                    "client_credentials" => s.client_credentials(&tenant, &need, req),
                    other => Err(aad_err(
                        400,
                        "unsupported_grant_type",
                        70003,
                        &format!("The app requested an unsupported grant type '{other}'."),
                    )),
                },
            },
            _ => return ResponseTemplate::new(404),
        };
        result.unwrap_or_else(|e| *e)
    }
}

type Answer = Result<ResponseTemplate, Box<ResponseTemplate>>;

fn aad_err(status: u16, error: &str, code: u32, text: &str) -> Box<ResponseTemplate> {
    Box::new(aad_error(status, error, code, text))
}

impl State {
    fn device_code(&mut self, need: &dyn Fn(&str) -> Result<String, Box<ResponseTemplate>>) -> Answer {
        let client_id = need("client_id")?;
        let scope = need("scope")?;
        let device_code = format!("dc-{}", uuid::Uuid::new_v4().simple());
        let user_code = uuid::Uuid::new_v4().simple().to_string()[..9].to_uppercase();
        self.device_codes.insert(
            device_code.clone(),
            DeviceCode {
                user_code: user_code.clone(),
                client_id,
                scope,
                issued: Instant::now(),
                last_poll: None,
                decision: Decision::Pending,
            },
        );
        Ok(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": self.device_expires_in,
            "interval": self.device_interval,
            "message": format!("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code {user_code} to authenticate."),
        })))
    }

    fn poll(&mut self, need: &dyn Fn(&str) -> Result<String, Box<ResponseTemplate>>) -> Answer {
        let client_id = need("client_id")?;
        let code = need("device_code")?;
        self.polls += 1;
        let (interval, expires_in, enforce, auto) =
            (self.device_interval, self.device_expires_in, self.enforce_interval, self.auto_approve_after);
        let polls = self.polls;
        let Some(dc) = self.device_codes.get_mut(&code) else {
            return Err(aad_err(400, "bad_verification_code", 70019, "Verification code is not recognised."));
        };
        if dc.client_id != client_id {
            return Err(aad_err(400, "invalid_grant", 70000, "The device code was issued to another client."));
        }
        if dc.issued.elapsed() > Duration::from_secs(expires_in) {
            return Err(aad_err(400, "expired_token", 70019, "Verification code expired."));
        }
        let too_soon = dc.last_poll.is_some_and(|t| t.elapsed() < Duration::from_secs(interval));
        dc.last_poll = Some(Instant::now());
        if enforce && too_soon {
            return Err(aad_err(400, "slow_down", 70016, "Polling faster than the interval."));
        }
        if auto.is_some_and(|n| polls >= n) && dc.decision == Decision::Pending {
            dc.decision = Decision::Approved;
        }
        match dc.decision {
            Decision::Pending => Err(aad_err(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )),
            Decision::Declined => {
                Err(aad_err(400, "authorization_declined", 70020, "The user declined the authorization."))
            }
            Decision::Approved => {
                let (client_id, scope, _) = (dc.client_id.clone(), dc.scope.clone(), dc.user_code.clone());
                self.device_codes.remove(&code);
                Ok(self.token_response(&client_id, &scope, false))
            }
        }
    }

    fn refresh(&mut self, need: &dyn Fn(&str) -> Result<String, Box<ResponseTemplate>>) -> Answer {
        let client_id = need("client_id")?;
        let token = need("refresh_token")?;
        if let Some(code) = self.refresh_failure {
            let (error, text) = match code {
                50076 => (
                    "invalid_grant",
                    "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication.",
                ),
                50173 => ("invalid_grant", "The provided grant has expired due to it being revoked."),
                _ => ("invalid_grant", "The refresh token has expired due to inactivity."),
            };
            return Err(aad_err(400, error, code, text));
        }
        let grant = match self.refresh_tokens.get_mut(&token) {
            Some(g) if g.valid && g.client_id == client_id => g,
            _ => {
                return Err(aad_err(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity.",
                ));
            }
        };
        let requested = self_scope(&grant.scope, need("scope").ok());
        if self.rotation_invalidates_old {
            grant.valid = false;
        }
        Ok(self.token_response(&client_id, &requested, false))
    }

    fn client_credentials(
        &mut self,
        tenant: &str,
        need: &dyn Fn(&str) -> Result<String, Box<ResponseTemplate>>,
        req: &Request,
    ) -> Answer {
        if matches!(tenant, "common" | "consumers" | "organizations") {
            return Err(aad_err(
                400,
                "invalid_request",
                9001023,
                "The grant type isn't supported over the /common or /consumers endpoints.",
            ));
        }
        let basic = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(decode_basic);
        let (client_id, secret) = match basic {
            Some((id, secret)) => (id, secret),
            None => (need("client_id")?, need("client_secret")?),
        };
        let scope = need("scope")?;
        let scopes: Vec<&str> = scope.split_whitespace().collect();
        if scopes.len() != 1 || !scopes[0].ends_with("/.default") {
            return Err(aad_err(
                400,
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
            ));
        }
        if self.secrets.get(&client_id) != Some(&secret) {
            return Err(aad_err(401, "invalid_client", 7000215, "Invalid client secret provided."));
        }
        Ok(self.token_response(&client_id, &scope, true))
    }

    fn token_response(&mut self, client_id: &str, scope: &str, app_only: bool) -> ResponseTemplate {
        let audience = audience_of(scope).unwrap_or_else(|| "https://graph.microsoft.com".into());
        let access = self.tokens.issue(Issued {
            audience,
            client_id: client_id.into(),
            app_only,
            expires_at: Instant::now() + Duration::from_secs(self.access_lifetime),
        });
        let mut body = serde_json::json!({
            "token_type": "Bearer",
            "scope": scope.split_whitespace().filter(|s| *s != "offline_access").collect::<Vec<_>>().join(" "),
            "expires_in": self.access_lifetime,
            "ext_expires_in": self.access_lifetime,
            "access_token": access,
            "x_fake_unknown_field": {"nested": true},
        });
        if !app_only && scope.split_whitespace().any(|s| s == "offline_access") {
            let refresh = format!("rt-{}", uuid::Uuid::new_v4().simple());
            self.refresh_tokens.insert(
                refresh.clone(),
                RefreshGrant { client_id: client_id.into(), scope: scope.into(), valid: true },
            );
            body["refresh_token"] = serde_json::Value::String(refresh);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// The scope of a refresh: the one asked for (must be covered by the grant's), else the grant's.
fn self_scope(granted: &str, asked: Option<String>) -> String {
    asked.unwrap_or_else(|| granted.to_string())
}

fn decode_basic(b64: &str) -> Option<(String, String)> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in b64.trim().bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        let mut url = url_for_decoding();
        url.set_query(Some(&format!("v={s}")));
        url.query_pairs().next().map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

fn url_for_decoding() -> wiremock::http::Url {
    wiremock::http::Url::parse("http://localhost/").expect("a fixed URL parses")
}
