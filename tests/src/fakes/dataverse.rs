//! A strict local Dataverse Web API v9.2 (microsoft-apis.md D.3) with its own minimal identity
//! platform token endpoint for the client-credentials grant (D.1), both on loopback ports.
//!
//! What it enforces: the OData headers, Bearer tokens it issued for its own org URL and not expired
//! (401 with `WWW-Authenticate` otherwise), known columns only (400 naming the property), choice
//! values and text lengths, 204 + `OData-EntityId` vs 201 with representation, upsert by alternate
//! key with `If-Match`/`If-None-Match`, 412 on a key violation (`0x80060892`), duplicate detection
//! (`0x80040333`, HTTP 500) when asked for, `$filter` with `eq/ne/contains/startswith/endswith/null`
//! and `and/or/not`, `$skip` refused, service-protection limits (requests per window, concurrency)
//! with `Retry-After` and the three codes, and injected faults. Every request is recorded.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use uuid::Uuid;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const TENANT: &str = "11111111-2222-3333-4444-555555555555";
pub const CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
pub const SECRET: &str = "s3cret~value+/=";

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query as received (still encoded).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A canned answer for the next matching call(s).
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Fault {
    pub fn throttle(code: &str, retry_after_secs: u64) -> Fault {
        Fault {
            status: 429,
            headers: vec![("Retry-After".into(), retry_after_secs.to_string())],
            body: json!({"error": {"code": code, "message": "Number of requests exceeded the limit."}}),
        }
    }
}

/// Service-protection limits (C.14), low for tests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests per sliding window per token (`0x80072322`).
    pub requests: Option<(usize, Duration)>,
    /// Concurrent requests (`0x80072326`), counted as arrivals within one response delay.
    pub concurrency: Option<usize>,
    pub retry_after_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { requests: None, concurrency: None, retry_after_secs: 1 }
    }
}

#[derive(Debug, Clone)]
struct Row {
    cols: Map<String, Value>,
    version: u64,
}

struct State {
    org_url: String,
    prefix: String,
    tokens: HashMap<String, (String, Instant)>,
    token_lifetime: u64,
    tokens_issued: u64,
    leads: BTreeMap<Uuid, Row>,
    version: u64,
    alternate_keys: Vec<String>,
    requests: Vec<Recorded>,
    faults: VecDeque<Fault>,
    fault_every: Option<(u64, Fault)>,
    limits: Limits,
    window: VecDeque<Instant>,
    arrivals: VecDeque<Instant>,
    max_concurrent: usize,
    delay: Duration,
    call_count: u64,
    /// Custom columns the org's customization lacks (to test `hunterd check`).
    missing_columns: Vec<String>,
    /// The duplicate-detection rule: open leads with the same value in this column (default e-mail).
    duplicate_rule: String,
    /// Company names a (simulated) plug-in refuses with a 400.
    refused_companies: Vec<String>,
}

/// The running fake: `org_url()` for `dynamics.org_url`, `authority_url()` for `dynamics.authority_url`.
pub struct FakeDataverse {
    pub dataverse: MockServer,
    pub identity: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeDataverse {
    /// A fake org whose custom columns use `hnt_`.
    pub async fn start() -> FakeDataverse {
        FakeDataverse::with_prefix("hnt_").await
    }

    pub async fn with_prefix(prefix: &str) -> FakeDataverse {
        let dataverse = MockServer::start().await;
        let identity = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            org_url: dataverse.uri(),
            prefix: prefix.to_string(),
            tokens: HashMap::new(),
            token_lifetime: 3599,
            tokens_issued: 0,
            leads: BTreeMap::new(),
            version: 1000,
            alternate_keys: vec![format!("{prefix}domain"), format!("{prefix}referralid")],
            requests: Vec::new(),
            faults: VecDeque::new(),
            fault_every: None,
            limits: Limits::default(),
            window: VecDeque::new(),
            arrivals: VecDeque::new(),
            max_concurrent: 0,
            delay: Duration::ZERO,
            call_count: 0,
            missing_columns: Vec::new(),
            duplicate_rule: "emailaddress1".into(),
            refused_companies: Vec::new(),
        }));
        Mock::given(any()).respond_with(Api(state.clone())).mount(&dataverse).await;
        Mock::given(any()).respond_with(Identity(state.clone())).mount(&identity).await;
        FakeDataverse { dataverse, identity, state }
    }

    pub fn org_url(&self) -> String {
        self.dataverse.uri()
    }
    pub fn authority_url(&self) -> String {
        self.identity.uri()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues answers for the next Dataverse calls (after auth passes).
    pub fn inject(&self, fault: Fault, times: usize) {
        let mut s = self.lock();
        for _ in 0..times {
            s.faults.push_back(fault.clone());
        }
    }
    /// Drops the faults still queued and the every-`n`th one: D365 is well again.
    pub fn clear_faults(&self) {
        let mut s = self.lock();
        s.faults.clear();
        s.fault_every = None;
    }
    /// Answers every `n`th Dataverse call with `fault`.
    pub fn inject_every(&self, n: u64, fault: Fault) {
        self.lock().fault_every = Some((n.max(1), fault));
    }
    pub fn set_limits(&self, limits: Limits) {
        self.lock().limits = limits;
    }
    /// Delay every Dataverse answer (makes concurrency measurable).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }
    pub fn set_token_lifetime(&self, secs: u64) {
        self.lock().token_lifetime = secs;
    }
    /// Expires every token issued so far (the next call with one gets 401).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for (_, exp) in self.lock().tokens.values_mut() {
            *exp = now;
        }
    }
    pub fn tokens_issued(&self) -> u64 {
        self.lock().tokens_issued
    }
    /// Leaves these custom columns out of the org's schema.
    pub fn drop_columns(&self, columns: &[&str]) {
        self.lock().missing_columns = columns.iter().map(|c| c.to_string()).collect();
    }
    /// Duplicate detection matches open leads with the same value in `column` (case-insensitive).
    pub fn set_duplicate_rule(&self, column: &str) {
        self.lock().duplicate_rule = column.to_string();
    }
    /// A plug-in on lead refuses records with this `companyname` (400 `0x80040265`).
    pub fn refuse_company(&self, name: &str) {
        self.lock().refused_companies.push(name.to_string());
    }
    /// Removes the alternate keys (upserts by key then give 400).
    pub fn set_alternate_keys(&self, keys: &[&str]) {
        self.lock().alternate_keys = keys.iter().map(|c| c.to_string()).collect();
    }
    /// Inserts a lead directly (as if typed into D365).
    pub fn insert_lead(&self, cols: Value) -> Uuid {
        let mut s = self.lock();
        let id = Uuid::new_v4();
        s.version += 1;
        let version = s.version;
        let Value::Object(cols) = cols else { panic!("a lead is an object") };
        s.leads.insert(id, Row { cols: with_defaults(cols), version });
        id
    }
    pub fn delete_lead(&self, id: Uuid) {
        self.lock().leads.remove(&id);
    }
    /// Every lead, as `(id, columns)`.
    pub fn leads(&self) -> Vec<(Uuid, Map<String, Value>)> {
        self.lock().leads.iter().map(|(id, r)| (*id, r.cols.clone())).collect()
    }
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }
    /// The most concurrent Dataverse requests seen.
    pub fn max_concurrent(&self) -> usize {
        self.lock().max_concurrent
    }
}

// ---------------------------------------------------------------------------------------------
// Identity platform: POST /{tenant}/oauth2/v2.0/token, client credentials only.

struct Identity(Arc<Mutex<State>>);

impl Respond for Identity {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let segments: Vec<&str> = req.url.path().trim_matches('/').split('/').collect();
        if req.method.as_str() != "POST" || segments.len() != 4 || segments[1..] != ["oauth2", "v2.0", "token"] {
            return aad_error(404, "invalid_request", 900561, "The endpoint only accepts POST requests.");
        }
        let form_type = header(req, "content-type").unwrap_or_default();
        if !form_type.starts_with("application/x-www-form-urlencoded") {
            return aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            );
        }
        let tenant = segments[0];
        let form: HashMap<String, String> = parse_form(&String::from_utf8_lossy(&req.body));
        let Some(grant) = form.get("grant_type") else {
            return aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            );
        };
        if grant != "client_credentials" {
            return aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.");
        }
        if ["common", "organizations", "consumers"].contains(&tenant) {
            return aad_error(
                400,
                "invalid_request",
                9001023,
                "The grant type isn't supported over the /common or /consumers endpoints.",
            );
        }
        if tenant != TENANT {
            return aad_error(400, "invalid_request", 90002, "Tenant not found.");
        }
        let (client_id, secret) = match basic_credentials(req) {
            Some(pair) => pair,
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        if client_id.is_empty() {
            return aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            );
        }
        if client_id != CLIENT_ID {
            return aad_error(400, "unauthorized_client", 700016, "Application was not found in the directory.");
        }
        if secret.is_empty() {
            return aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain 'client_assertion' or 'client_secret'.",
            );
        }
        if secret != SECRET {
            return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.");
        }
        let scope = form.get("scope").cloned().unwrap_or_default();
        let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        let [only] = scopes.as_slice() else {
            return aad_error(
                400,
                "invalid_scope",
                70011,
                "The provided value for the input parameter 'scope' is not valid.",
            );
        };
        let Some(audience) = only.strip_suffix("/.default") else {
            return aad_error(400, "invalid_scope", 70011, "The scope must end with /.default for client credentials.");
        };
        let token = format!("fake.{}", Uuid::new_v4().simple());
        let lifetime = s.token_lifetime;
        s.tokens.insert(token.clone(), (audience.to_string(), Instant::now() + Duration::from_secs(lifetime)));
        s.tokens_issued += 1;
        ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
            "x_unknown_field": "clients ignore this",
        }))
    }
}

fn aad_error(status: u16, error: &str, code: u32, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: {} Correlation ID: {} Timestamp: 2026-12-07 00:00:00Z", Uuid::new_v4(), Uuid::new_v4()),
        "error_codes": [code],
        "timestamp": "2026-12-07 00:00:00Z",
        "trace_id": Uuid::new_v4().to_string(),
        "correlation_id": Uuid::new_v4().to_string(),
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    }))
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = header(req, "authorization")?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_unescape(id), form_unescape(secret)))
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// Dataverse Web API.

struct Api(Arc<Mutex<State>>);

impl Respond for Api {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let delay = s.delay;
        let (status, answer) = s.handle(req);
        let mut path = req.url.path().to_string();
        if let Some(q) = req.url.query() {
            path = format!("{path}?{q}");
        }
        s.requests.push(Recorded {
            method: req.method.to_string(),
            path,
            headers: req.headers.iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string())).collect(),
            body: serde_json::from_slice(&req.body).ok(),
            status,
        });
        answer.insert_header("OData-Version", "4.0").into_template().set_delay(delay)
    }
}

/// A response being built (kept as data so `$batch` can embed it in a multipart answer).
#[derive(Debug, Clone)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    mime: Option<String>,
}

impl Resp {
    fn new(status: u16) -> Resp {
        Resp { status, headers: Vec::new(), body: Vec::new(), mime: None }
    }
    fn insert_header(mut self, name: &str, value: &str) -> Resp {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    fn set_body_json(self, body: impl serde::Serialize) -> Resp {
        self.set_body_raw(serde_json::to_vec(&body).unwrap_or_default(), "application/json; odata.metadata=minimal")
    }
    fn set_body_raw(mut self, body: Vec<u8>, mime: &str) -> Resp {
        self.body = body;
        self.mime = Some(mime.to_string());
        self
    }
    fn into_template(self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        for (n, v) in &self.headers {
            t = t.insert_header(n.as_str(), v.as_str());
        }
        match self.mime {
            Some(mime) => t.set_body_raw(self.body, &mime),
            None => t,
        }
    }
    /// `HTTP/1.1 201 Created` + headers + body, as a `$batch` response part.
    fn as_http(&self) -> String {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        if let Some(mime) = &self.mime {
            out.push_str(&format!("Content-Type: {mime}\r\n"));
        }
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&String::from_utf8_lossy(&self.body));
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

type Answer = (u16, Resp);

fn error(status: u16, code: &str, message: &str) -> Answer {
    (status, Resp::new(status).set_body_json(json!({"error": {"code": code, "message": message}})))
}

impl State {
    fn handle(&mut self, req: &Request) -> Answer {
        let Some(rest) = req.url.path().strip_prefix("/api/data/v9.2/") else {
            return error(404, "", "Resource not found for the segment.");
        };
        let rest = percent_decode(rest);
        if let Some(answer) = self.check_headers(req, rest == "$batch") {
            return answer;
        }
        if let Some(answer) = self.check_auth(req) {
            return answer;
        }
        let now = Instant::now();
        self.call_count += 1;
        if let Some(answer) = self.protect(now) {
            return answer;
        }
        if let Some(f) = self.faults.pop_front().or_else(|| match &self.fault_every {
            Some((n, f)) if self.call_count.is_multiple_of(*n) => Some(f.clone()),
            _ => None,
        }) {
            let mut t = Resp::new(f.status).set_body_json(f.body.clone());
            for (n, v) in &f.headers {
                t = t.insert_header(n.as_str(), v.as_str());
            }
            return (f.status, t);
        }
        if rest == "$batch" && req.method.as_str() == "POST" {
            return self.batch(req);
        }
        self.route(req, &rest)
    }

    /// One operation, after the headers, the token and the limits were checked.
    fn route(&mut self, req: &Request, rest: &str) -> Answer {
        let query: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
        let method = req.method.as_str();
        match (method, rest) {
            ("GET", "WhoAmI") => (
                200,
                Resp::new(200).set_body_json(json!({
                    "@odata.context": format!("{}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", self.org_url),
                    "BusinessUnitId": Uuid::nil().to_string(), "UserId": Uuid::nil().to_string(), "OrganizationId": Uuid::nil().to_string()
                })),
            ),
            ("GET", "EntityDefinitions(LogicalName='lead')/Attributes") => {
                let names: Vec<Value> = self.lead_columns().into_iter().map(|c| json!({"LogicalName": c})).collect();
                (200, Resp::new(200).set_body_json(json!({"value": names})))
            }
            ("POST", "leads") => self.create(req, &query),
            ("GET", "leads") => self.query(req, &query),
            (_, r) if r.starts_with("leads(") && r.ends_with(')') => {
                let key = &r["leads(".len()..r.len() - 1];
                match method {
                    "GET" => self.get_one(key, &query),
                    "PATCH" => self.patch(req, key, &query),
                    "DELETE" => match self.find_by_key(key) {
                        Ok(Some(id)) => {
                            self.leads.remove(&id);
                            (204, Resp::new(204))
                        }
                        Ok(None) => error(404, "0x80040217", "lead Does Not Exist"),
                        Err(e) => *e,
                    },
                    _ => error(405, "", "The HTTP method is not allowed for this resource."),
                }
            }
            ("PATCH", "leads") => error(405, "", "PATCH is not allowed on a collection."),
            _ => error(404, "0x80060888", &format!("Resource not found for the segment '{rest}'.")),
        }
    }

    fn check_headers(&self, req: &Request, batch: bool) -> Option<Answer> {
        for name in ["odata-maxversion", "odata-version"] {
            if header(req, name).as_deref() != Some("4.0") {
                return Some(error(400, "0x80048d19", &format!("The {name} header must be 4.0 (strict fake).")));
            }
        }
        match header(req, "accept") {
            Some(a) if a.contains("application/json") || a.contains("*/*") => {}
            _ => return Some(error(406, "", "Accept must be application/json (strict fake).")),
        }
        let content_type = header(req, "content-type").unwrap_or_default();
        if batch && !content_type.starts_with("multipart/mixed") {
            return Some(error(400, "0x80048d19", "A $batch request must be multipart/mixed with a boundary."));
        }
        if !batch && !req.body.is_empty() && !content_type.starts_with("application/json") {
            return Some(error(415, "", "Content-Type must be application/json."));
        }
        None
    }

    fn check_auth(&mut self, req: &Request) -> Option<Answer> {
        let challenge = format!(
            "Bearer authorization_uri=https://login.microsoftonline.com/{TENANT}/oauth2/authorize, resource_id={}",
            self.org_url
        );
        let refuse = |code: &str, message: &str| {
            let (status, t) = error(401, code, message);
            Some((status, t.insert_header("WWW-Authenticate", challenge.as_str())))
        };
        let Some(token) = header(req, "authorization").and_then(|h| h.strip_prefix("Bearer ").map(str::to_string))
        else {
            return refuse("0x80072243", "RequestIsNotAuthenticated");
        };
        match self.tokens.get(&token) {
            None => refuse("0x80072243", "InvalidAuthTicket"),
            Some((_, exp)) if *exp <= Instant::now() => refuse("0x80072243", "ExpiredAuthTicket"),
            Some((aud, _)) if aud.trim_end_matches('/') != self.org_url.trim_end_matches('/') => {
                refuse("0x80072243", "BadAuthTicket: wrong audience")
            }
            Some(_) => None,
        }
    }

    /// Service protection: the concurrency limit trips at once, the request window after it is full.
    fn protect(&mut self, now: Instant) -> Option<Answer> {
        let delay = self.delay;
        while self.arrivals.front().is_some_and(|t| now.duration_since(*t) >= delay) {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(now);
        self.max_concurrent = self.max_concurrent.max(self.arrivals.len());
        let retry = self.limits.retry_after_secs;
        if let Some(max) = self.limits.concurrency
            && self.arrivals.len() > max
        {
            return Some(throttled(
                crate_code::CONCURRENCY,
                retry,
                &format!("Number of concurrent requests exceeded the limit of {max}."),
            ));
        }
        if let Some((max, window)) = self.limits.requests {
            while self.window.front().is_some_and(|t| now.duration_since(*t) >= window) {
                self.window.pop_front();
            }
            if self.window.len() >= max {
                return Some(throttled(
                    crate_code::REQUESTS,
                    retry,
                    &format!(
                        "Number of requests exceeded the limit of {max} over time window of {} seconds.",
                        window.as_secs()
                    ),
                ));
            }
            self.window.push_back(now);
        }
        None
    }

    fn lead_columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = STANDARD.iter().map(|(c, _)| c.to_string()).collect();
        for c in CUSTOM {
            let name = format!("{}{c}", self.prefix);
            if !self.missing_columns.contains(&name) {
                cols.push(name);
            }
        }
        cols
    }

    /// Column names, choice values and lengths (D.3 schema rules).
    fn validate(&self, body: &Map<String, Value>) -> Result<(), Box<Answer>> {
        let known = self.lead_columns();
        for (k, v) in body {
            if let Some(nav) = k.strip_suffix("@odata.bind") {
                if !["parentaccountid", "parentcontactid", "customerid_account", "customerid_contact", "campaignid"]
                    .contains(&nav)
                {
                    return Err(Box::new(error(
                        400,
                        "0x80060888",
                        &format!(
                            "An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values."
                        ),
                    )));
                }
                return Err(Box::new(error(
                    404,
                    "0x80040217",
                    &format!("Entity referenced by {nav} ({v}) Does Not Exist"),
                )));
            }
            if k.starts_with('_') && k.ends_with("_value") {
                return Err(Box::new(error(
                    400,
                    "0x80060888",
                    &format!("The property '{k}' is read-only (use @odata.bind)."),
                )));
            }
            if !known.contains(k) {
                return Err(Box::new(error(
                    400,
                    "0x80060888",
                    &format!(
                        "The property '{k}' does not exist on type 'Microsoft.Dynamics.CRM.lead'. Make sure to only use property names that are defined by the type."
                    ),
                )));
            }
            let max = STANDARD.iter().find(|(c, _)| c == k).map(|(_, m)| *m).unwrap_or(4000);
            if let Some(text) = v.as_str()
                && text.chars().count() > max
            {
                return Err(Box::new(error(
                    400,
                    "0x80044331",
                    &format!(
                        "A validation error occurred. The length of the '{k}' attribute exceeded the maximum allowed length of '{max}'."
                    ),
                )));
            }
        }
        let choice = |col: &str, range: std::ops::RangeInclusive<i64>| match body.get(col) {
            Some(Value::Null) | None => Ok(()),
            Some(v) if v.as_i64().is_some_and(|n| range.contains(&n)) => Ok(()),
            Some(v) => Err(Box::new(error(
                400,
                "0x8004431a",
                &format!("{col}: {v} is not a valid value for this option set."),
            ))),
        };
        if let Some(name) = body.get("companyname").and_then(Value::as_str)
            && self.refused_companies.iter().any(|r| r == name)
        {
            return Err(Box::new(error(400, "0x80040265", &format!("A plug-in refused the lead for '{name}'."))));
        }
        choice("leadqualitycode", 1..=3)?;
        choice("leadsourcecode", 1..=10)?;
        choice(&format!("{}huntertenantsize", self.prefix), 816_940_000..=816_940_002)?;
        Ok(())
    }

    fn alternate_key_conflict(&self, cols: &Map<String, Value>, except: Option<Uuid>) -> Option<Answer> {
        for key in &self.alternate_keys {
            let Some(v) = cols.get(key).filter(|v| !v.is_null()) else { continue };
            let clash = self.leads.iter().any(|(id, r)| Some(*id) != except && same(r.cols.get(key), v));
            if clash {
                return Some(error(
                    412,
                    "0x80060892",
                    &format!(
                        "Entity Key {key} violated. A record with the same value for {key} already exists. A duplicate record cannot be created."
                    ),
                ));
            }
        }
        None
    }

    fn duplicate_of(&self, cols: &Map<String, Value>, except: Option<Uuid>) -> bool {
        let rule = &self.duplicate_rule;
        let Some(value) = cols.get(rule).and_then(Value::as_str) else { return false };
        self.leads.iter().any(|(id, r)| {
            Some(*id) != except
                && r.cols.get("statecode").and_then(Value::as_i64).unwrap_or(0) == 0
                && r.cols.get(rule).and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case(value))
        })
    }

    fn create(&mut self, req: &Request, query: &HashMap<String, String>) -> Answer {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "0x80048d19", "The request body is not a JSON object.");
        };
        if let Err(e) = self.validate(&body) {
            return *e;
        }
        if let Some(e) = self.alternate_key_conflict(&body, None) {
            return e;
        }
        if header(req, "mscrm.suppressduplicatedetection").as_deref() == Some("false") && self.duplicate_of(&body, None)
        {
            return duplicate();
        }
        let id = Uuid::new_v4();
        self.version += 1;
        self.leads.insert(id, Row { cols: with_defaults(body), version: self.version });
        self.written(req, id, query, 201)
    }

    /// 204 + `OData-EntityId`, or with `Prefer: return=representation` the row (201/200), no EntityId.
    fn written(&self, req: &Request, id: Uuid, query: &HashMap<String, String>, rep_status: u16) -> Answer {
        if header(req, "prefer").is_some_and(|p| p.contains("return=representation")) {
            let row = self.representation(id, query.get("$select"));
            return (
                rep_status,
                Resp::new(rep_status)
                    .insert_header("Preference-Applied", "return=representation")
                    .insert_header("ETag", row["@odata.etag"].as_str().unwrap_or(""))
                    .set_body_raw(
                        serde_json::to_vec(&row).unwrap_or_default(),
                        "application/json; odata.metadata=minimal",
                    ),
            );
        }
        (
            204,
            Resp::new(204)
                .insert_header("OData-EntityId", format!("{}/api/data/v9.2/leads({id})", self.org_url).as_str()),
        )
    }

    fn representation(&self, id: Uuid, select: Option<&String>) -> Value {
        let row = &self.leads[&id];
        let mut out = Map::new();
        out.insert("@odata.context".into(), json!(format!("{}/api/data/v9.2/$metadata#leads/$entity", self.org_url)));
        out.insert("@odata.etag".into(), json!(format!("W/\"{}\"", row.version)));
        out.insert("leadid".into(), json!(id.to_string()));
        let columns: Vec<String> = match select {
            Some(s) => s.split(',').map(str::to_string).collect(),
            None => row.cols.keys().cloned().collect(),
        };
        for c in columns {
            if c != "leadid" {
                out.insert(c.clone(), row.cols.get(&c).cloned().unwrap_or(Value::Null));
            }
        }
        Value::Object(out)
    }

    /// `<guid>` or `col='value'`: Ok(Some(id)) found, Ok(None) missing, Err for an invalid key.
    fn find_by_key(&self, key: &str) -> Result<Option<Uuid>, Box<Answer>> {
        if let Ok(id) = Uuid::parse_str(key.trim_start_matches("leadid=")) {
            return Ok(self.leads.contains_key(&id).then_some(id));
        }
        let Some((col, value)) = key.split_once('=') else {
            return Err(Box::new(error(400, "0x80060888", "Bad key syntax.")));
        };
        if !self.alternate_keys.iter().any(|k| k == col) {
            return Err(Box::new(error(
                400,
                "0x80060888",
                "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.lead'. Ensure that the names and number of key properties match the declared or alternate key properties for the resource 'Microsoft.Dynamics.CRM.lead'.",
            )));
        }
        let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) else {
            return Err(Box::new(error(400, "0x80060888", "Key values must be quoted strings.")));
        };
        let value = inner.replace("''", "'");
        if value.contains(['/', '<', '>', '*', '%', '&', ':', '\\', '?', '+']) {
            return Err(Box::new(error(
                400,
                "0x80060888",
                "Key value contains a character that cannot be used in a key.",
            )));
        }
        Ok(self
            .leads
            .iter()
            .find(|(_, r)| r.cols.get(col).and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case(&value)))
            .map(|(id, _)| *id))
    }

    fn get_one(&self, key: &str, query: &HashMap<String, String>) -> Answer {
        match self.find_by_key(key) {
            Ok(Some(id)) => (200, Resp::new(200).set_body_json(self.representation(id, query.get("$select")))),
            Ok(None) => error(404, "0x80040217", &format!("lead With Id = {key} Does Not Exist")),
            Err(e) => *e,
        }
    }

    fn patch(&mut self, req: &Request, key: &str, query: &HashMap<String, String>) -> Answer {
        let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "0x80048d19", "The request body is not a JSON object.");
        };
        if let Err(e) = self.validate(&body) {
            return *e;
        }
        let found = match self.find_by_key(key) {
            Ok(found) => found,
            Err(e) => return *e,
        };
        let if_match = header(req, "if-match");
        let if_none_match = header(req, "if-none-match");
        match found {
            Some(id) => {
                if if_none_match.as_deref() == Some("*") {
                    return error(412, "0x80060892", "A record with matching key values already exists.");
                }
                if let Some(tag) = if_match.as_deref().filter(|t| *t != "*")
                    && tag != format!("W/\"{}\"", self.leads[&id].version)
                {
                    return error(
                        412,
                        "0x80060882",
                        "The version of the existing record doesn't match the RowVersion property provided.",
                    );
                }
                // Key columns in the body are dropped on update (C.6).
                if let Some((col, _)) = key.split_once('=') {
                    body.remove(col);
                }
                if let Some(e) = self.alternate_key_conflict(&body, Some(id)) {
                    return e;
                }
                self.version += 1;
                let version = self.version;
                let row = self.leads.get_mut(&id).expect("found above");
                row.cols.extend(body);
                row.version = version;
                self.written(req, id, query, 200)
            }
            None => {
                if if_match.is_some() {
                    return error(404, "0x80040217", &format!("lead With Id = {key} Does Not Exist"));
                }
                // Upsert create: the key's value goes into the row unless the body says otherwise.
                if let Some((col, value)) = key.split_once('=') {
                    let value = value.trim_matches('\'').replace("''", "'");
                    body.entry(col.to_string()).or_insert(Value::String(value));
                }
                if let Some(e) = self.alternate_key_conflict(&body, None) {
                    return e;
                }
                let id = Uuid::parse_str(key).unwrap_or_else(|_| Uuid::new_v4());
                self.version += 1;
                self.leads.insert(id, Row { cols: with_defaults(body), version: self.version });
                if header(req, "prefer").is_some_and(|p| p.contains("return=representation")) {
                    self.written(req, id, query, 201)
                } else {
                    (
                        204,
                        Resp::new(204).insert_header(
                            "OData-EntityId",
                            format!("{}/api/data/v9.2/leads({key})", self.org_url).as_str(),
                        ),
                    )
                }
            }
        }
    }

    fn query(&self, req: &Request, query: &HashMap<String, String>) -> Answer {
        if query.contains_key("$skip") {
            return error(400, "0x80060888", "The query parameter $skip is not supported.");
        }
        let filter = match query.get("$filter").map(|f| filter::parse(f)) {
            Some(Ok(f)) => Some(f),
            Some(Err(e)) => return error(400, "0x80060888", &format!("Syntax error in $filter: {e}")),
            None => None,
        };
        let known = self.lead_columns();
        if let Some(f) = &filter {
            for col in f.columns() {
                if col != "leadid" && !known.contains(&col) {
                    return error(
                        400,
                        "0x80060888",
                        &format!("Could not find a property named '{col}' on type 'Microsoft.Dynamics.CRM.lead'."),
                    );
                }
            }
        }
        if let Some(select) = query.get("$select") {
            for col in select.split(',') {
                if col != "leadid" && !known.contains(&col.to_string()) {
                    return error(
                        400,
                        "0x80060888",
                        &format!("Could not find a property named '{col}' on type 'Microsoft.Dynamics.CRM.lead'."),
                    );
                }
            }
        }
        let mut rows: Vec<Value> = self
            .leads
            .iter()
            .filter(|(id, r)| filter.as_ref().is_none_or(|f| f.matches(&r.cols, id)))
            .map(|(id, _)| self.representation(*id, query.get("$select")))
            .collect();
        let top = query.get("$top").and_then(|t| t.parse::<usize>().ok());
        let page = header(req, "prefer")
            .and_then(|p| {
                p.split("odata.maxpagesize=").nth(1).and_then(|n| n.split(',').next()?.trim().parse::<usize>().ok())
            })
            .map(|n| n.min(5000));
        if let Some(t) = top.filter(|_| page.is_none()) {
            rows.truncate(t);
        }
        let size = page.unwrap_or(5000);
        let more = rows.len() > size;
        rows.truncate(size);
        let mut body =
            json!({"@odata.context": format!("{}/api/data/v9.2/$metadata#leads", self.org_url), "value": rows});
        if more {
            body["@odata.nextLink"] = json!(format!("{}/api/data/v9.2/leads?$skiptoken=opaque", self.org_url));
        }
        let mut t = Resp::new(200).set_body_json(body);
        if let Some(n) = page {
            t = t.insert_header("Preference-Applied", format!("odata.maxpagesize={n}").as_str());
        }
        (200, t)
    }
}

/// `$batch` (C.13): parts and change sets, `Content-ID` references, change sets all or nothing,
/// stop at the first failure unless `Prefer: odata.continue-on-error`, at most 1000 operations.
impl State {
    fn batch(&mut self, req: &Request) -> Answer {
        let content_type = header(req, "content-type").unwrap_or_default();
        let Some(boundary) = boundary_of(&content_type) else {
            return error(400, "0x80048d19", "The batch Content-Type has no boundary.");
        };
        let body = String::from_utf8_lossy(&req.body).replace("\r\n", "\n");
        let parts = match split_multipart(&body, &boundary) {
            Ok(parts) => parts,
            Err(e) => return error(400, "0x80048d19", &e),
        };
        let continue_on_error = header(req, "prefer").is_some_and(|p| p.contains("odata.continue-on-error"));
        let mut items = Vec::new();
        for part in parts {
            let (headers, content) = split_head(&part);
            let ct = head_value(&headers, "content-type").unwrap_or_default();
            if ct.starts_with("multipart/mixed") {
                let Some(cs_boundary) = boundary_of(&ct) else {
                    return error(400, "0x80048d19", "A change set has no boundary.");
                };
                let ops = match split_multipart(content, &cs_boundary) {
                    Ok(ops) => ops,
                    Err(e) => return error(400, "0x80048d19", &e),
                };
                if ops.iter().any(|op| split_head(op).1.contains("multipart/mixed")) {
                    return error(400, "0x80048d19", "Nested batches are not supported.");
                }
                items.push(BatchItem::ChangeSet(ops));
            } else if ct.starts_with("application/http") {
                items.push(BatchItem::Single(part.clone()));
            } else {
                return error(400, "0x80048d19", &format!("Unexpected batch part Content-Type '{ct}'."));
            }
        }
        let count: usize = items
            .iter()
            .map(|i| match i {
                BatchItem::Single(_) => 1,
                BatchItem::ChangeSet(ops) => ops.len(),
            })
            .sum();
        if count > 1000 {
            return error(400, "0x8004d100", "The number of requests in a batch exceeded the limit of 1000.");
        }
        let out_boundary = format!("batchresponse_{}", Uuid::new_v4());
        let mut out = String::new();
        for item in items {
            let (text, failed) = match item {
                BatchItem::Single(part) => {
                    let (status, resp) = self.batch_operation(req, &part, &HashMap::new());
                    let text = format!(
                        "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{}\r\n",
                        resp.as_http()
                    );
                    (text, status >= 400)
                }
                BatchItem::ChangeSet(ops) => self.changeset(req, &ops),
            };
            out.push_str(&format!("--{out_boundary}\r\n{text}"));
            if failed && !continue_on_error {
                break;
            }
        }
        out.push_str(&format!("--{out_boundary}--\r\n"));
        (200, Resp::new(200).set_body_raw(out.into_bytes(), &format!("multipart/mixed; boundary={out_boundary}")))
    }

    /// All or nothing: on the first failure the rows are put back and that failure is the answer.
    fn changeset(&mut self, req: &Request, ops: &[String]) -> (String, bool) {
        let (saved, saved_version) = (self.leads.clone(), self.version);
        let cs = format!("changesetresponse_{}", Uuid::new_v4());
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut text = String::new();
        for op in ops {
            let (headers, _) = split_head(op);
            let content_id = head_value(&headers, "content-id");
            let (status, resp) = self.batch_operation(req, op, &ids);
            if status >= 400 {
                self.leads = saved;
                self.version = saved_version;
                let part = format!(
                    "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{}\r\n",
                    resp.as_http()
                );
                return (part, true);
            }
            if let Some(cid) = content_id
                && let Some((_, entity)) = resp.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("OData-EntityId"))
            {
                ids.insert(format!("${cid}"), entity.clone());
            }
            let cid_header =
                head_value(&headers, "content-id").map(|c| format!("Content-ID: {c}\r\n")).unwrap_or_default();
            text.push_str(&format!(
                "--{cs}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n{cid_header}\r\n{}\r\n",
                resp.as_http()
            ));
        }
        text.push_str(&format!("--{cs}--\r\n"));
        (format!("Content-Type: multipart/mixed; boundary={cs}\r\n\r\n{text}"), false)
    }

    /// One `application/http` part: request line, headers, body; `$n` references resolved.
    fn batch_operation(&mut self, outer: &Request, part: &str, ids: &HashMap<String, String>) -> Answer {
        let (_, http) = split_head(part);
        let (head, body) = http.split_once("\n\n").unwrap_or((http, ""));
        let mut lines = head.lines();
        let request_line = lines.next().unwrap_or_default();
        let mut words = request_line.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return error(400, "0x80048d19", &format!("Bad request line '{request_line}' in the batch."));
        };
        let mut target = target.to_string();
        let mut body = body.trim_end().to_string();
        for r in referenced(&target).into_iter().chain(referenced(&body)) {
            let Some(entity) = ids.get(&r) else {
                return error(
                    400,
                    "0x80060888",
                    &format!("Content-ID Reference: '{r}' does not exist in the batch context."),
                );
            };
            target = target.replace(&r, entity);
            body = body.replace(&format!("\"{r}\""), &format!("\"{entity}\""));
        }
        let Ok(url) = outer.url.join(&target) else {
            return error(400, "0x80048d19", &format!("Bad URL '{target}' in the batch."));
        };
        let Ok(method) = method.parse::<wiremock::http::Method>() else {
            return error(400, "0x80048d19", "Bad method in the batch.");
        };
        let mut headers = wiremock::http::HeaderMap::new();
        for line in lines {
            if let Some((n, v)) = line.split_once(':')
                && let (Ok(n), Ok(v)) = (
                    wiremock::http::HeaderName::from_bytes(n.trim().as_bytes()),
                    wiremock::http::HeaderValue::from_str(v.trim()),
                )
            {
                headers.insert(n, v);
            }
        }
        let inner = Request { url, method, headers, body: body.into_bytes() };
        let Some(rest) = inner.url.path().strip_prefix("/api/data/v9.2/") else {
            return error(404, "", "Resource not found for the segment.");
        };
        let rest = percent_decode(rest);
        if rest == "$batch" {
            return error(400, "0x80048d19", "Nested batches are not supported.");
        }
        if !inner.body.is_empty() && !header(&inner, "content-type").is_some_and(|c| c.starts_with("application/json"))
        {
            return error(415, "", "Content-Type must be application/json.");
        }
        self.route(&inner, &rest)
    }
}

enum BatchItem {
    Single(String),
    ChangeSet(Vec<String>),
}

fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary=")).map(|b| b.trim_matches('"').to_string())
}

/// The parts between `--boundary` lines, up to `--boundary--`.
fn split_multipart(body: &str, boundary: &str) -> Result<Vec<String>, String> {
    let open = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<String> = None;
    for line in body.lines() {
        if line.trim_end() == close {
            if let Some(p) = current.take() {
                parts.push(p);
            }
            return Ok(parts);
        }
        if line.trim_end() == open {
            if let Some(p) = current.take() {
                parts.push(p);
            }
            current = Some(String::new());
            continue;
        }
        if let Some(p) = current.as_mut() {
            p.push_str(line);
            p.push('\n');
        }
    }
    Err(format!("the multipart body does not end with {close}"))
}

/// A part's MIME headers and what follows the blank line.
fn split_head(part: &str) -> (Vec<(String, String)>, &str) {
    let (head, rest) = part.split_once("\n\n").unwrap_or((part, ""));
    let headers = head
        .lines()
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    (headers, rest)
}

fn head_value(headers: &[(String, String)], name: &str) -> Option<String> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// `$1`, `$2`… references in a URL or body.
fn referenced(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'$' {
            let digits: String = text[i + 1..].chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
                out.push(format!("${digits}"));
            }
        }
    }
    out
}

/// A new lead is open (statecode 0) and new (statuscode 1) unless the body says otherwise.
fn with_defaults(mut cols: Map<String, Value>) -> Map<String, Value> {
    cols.entry("statecode").or_insert(json!(0));
    cols.entry("statuscode").or_insert(json!(1));
    cols
}

fn duplicate() -> Answer {
    error(
        500,
        "0x80040333",
        "A record was not created or updated because a duplicate of the current record already exists.",
    )
}

fn throttled(code: &str, retry_after: u64, message: &str) -> Answer {
    (
        429,
        Resp::new(429)
            .insert_header("Retry-After", retry_after.to_string().as_str())
            .set_body_json(json!({"error": {"code": code, "message": message}})),
    )
}

/// Service-protection codes (C.14).
pub mod crate_code {
    pub const REQUESTS: &str = "0x80072322";
    pub const EXECUTION_TIME: &str = "0x80072321";
    pub const CONCURRENCY: &str = "0x80072326";
}

fn same(a: Option<&Value>, b: &Value) -> bool {
    match (a.and_then(Value::as_str), b.as_str()) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => a == Some(b),
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `application/x-www-form-urlencoded`: `+` is a space, then percent-decoding.
fn form_unescape(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_unescape(k), form_unescape(v))
        })
        .collect()
}

/// Standard lead columns (C.10) with their text limits.
const STANDARD: &[(&str, usize)] = &[
    ("subject", 300),
    ("firstname", 50),
    ("lastname", 50),
    ("companyname", 100),
    ("jobtitle", 100),
    ("emailaddress1", 100),
    ("telephone1", 50),
    ("telephone2", 50),
    ("telephone3", 50),
    ("mobilephone", 20),
    ("websiteurl", 200),
    ("description", 2000),
    ("numberofemployees", 0),
    ("revenue", 0),
    ("leadsourcecode", 0),
    ("leadqualitycode", 0),
    ("statecode", 0),
    ("statuscode", 0),
    ("address1_city", 80),
    ("address1_country", 80),
];

/// The custom columns of Hunter's D365 customization (without prefix).
const CUSTOM: &[&str] = &[
    "domain",
    "finalscore",
    "priorityscore",
    "segment",
    "priority",
    "provider",
    "commercialsegment",
    "huntertenantsize",
    "infrasummary",
    "referralid",
    "tenantid",
    "source",
];

/// `$filter`: comparisons, string functions, null, `and`/`or`/`not`, parentheses (case-insensitive).
mod filter {
    use serde_json::{Map, Value};
    use uuid::Uuid;

    #[derive(Debug)]
    pub enum Expr {
        And(Box<Expr>, Box<Expr>),
        Or(Box<Expr>, Box<Expr>),
        Not(Box<Expr>),
        Cmp(String, String, Lit),
        Func(String, String, String),
    }

    #[derive(Debug, Clone)]
    pub enum Lit {
        Str(String),
        Num(f64),
        Null,
    }

    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Word(String),
        Str(String),
        Open,
        Close,
        Comma,
    }

    fn lex(s: &str) -> Result<Vec<Tok>, String> {
        let mut out = Vec::new();
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                ' ' => i += 1,
                '(' => {
                    out.push(Tok::Open);
                    i += 1
                }
                ')' => {
                    out.push(Tok::Close);
                    i += 1
                }
                ',' => {
                    out.push(Tok::Comma);
                    i += 1
                }
                '\'' => {
                    let mut lit = String::new();
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err("unterminated string literal".into()),
                            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                                lit.push('\'');
                                i += 2
                            }
                            Some('\'') => {
                                i += 1;
                                break;
                            }
                            Some(ch) => {
                                lit.push(*ch);
                                i += 1
                            }
                        }
                    }
                    out.push(Tok::Str(lit));
                }
                _ => {
                    let start = i;
                    while i < chars.len() && !matches!(chars[i], ' ' | '(' | ')' | ',' | '\'') {
                        i += 1;
                    }
                    out.push(Tok::Word(chars[start..i].iter().collect()));
                }
            }
        }
        Ok(out)
    }

    pub fn parse(s: &str) -> Result<Expr, String> {
        let toks = lex(s)?;
        let mut p = Parser { toks, pos: 0 };
        let e = p.or()?;
        if p.pos != p.toks.len() {
            return Err(format!("unexpected {:?}", p.toks[p.pos]));
        }
        Ok(e)
    }

    struct Parser {
        toks: Vec<Tok>,
        pos: usize,
    }

    impl Parser {
        fn peek_word(&self, w: &str) -> bool {
            matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x == w)
        }
        fn next(&mut self) -> Option<Tok> {
            let t = self.toks.get(self.pos).cloned();
            self.pos += 1;
            t
        }
        fn expect(&mut self, t: Tok) -> Result<(), String> {
            match self.next() {
                Some(x) if x == t => Ok(()),
                other => Err(format!("expected {t:?}, found {other:?}")),
            }
        }
        fn or(&mut self) -> Result<Expr, String> {
            let mut left = self.and()?;
            while self.peek_word("or") {
                self.pos += 1;
                left = Expr::Or(Box::new(left), Box::new(self.and()?));
            }
            Ok(left)
        }
        fn and(&mut self) -> Result<Expr, String> {
            let mut left = self.unary()?;
            while self.peek_word("and") {
                self.pos += 1;
                left = Expr::And(Box::new(left), Box::new(self.unary()?));
            }
            Ok(left)
        }
        fn unary(&mut self) -> Result<Expr, String> {
            if self.peek_word("not") {
                self.pos += 1;
                return Ok(Expr::Not(Box::new(self.unary()?)));
            }
            if self.toks.get(self.pos) == Some(&Tok::Open) {
                self.pos += 1;
                let e = self.or()?;
                self.expect(Tok::Close)?;
                return Ok(e);
            }
            let Some(Tok::Word(word)) = self.next() else { return Err("expected a column or function".into()) };
            if ["contains", "startswith", "endswith"].contains(&word.as_str()) {
                self.expect(Tok::Open)?;
                let Some(Tok::Word(col)) = self.next() else { return Err("expected a column".into()) };
                self.expect(Tok::Comma)?;
                let Some(Tok::Str(lit)) = self.next() else { return Err("expected a string literal".into()) };
                self.expect(Tok::Close)?;
                return Ok(Expr::Func(word, col, lit));
            }
            let Some(Tok::Word(op)) = self.next() else { return Err("expected an operator".into()) };
            if !["eq", "ne", "gt", "ge", "lt", "le"].contains(&op.as_str()) {
                return Err(format!("unknown operator {op}"));
            }
            let lit = match self.next() {
                Some(Tok::Str(s)) => Lit::Str(s),
                Some(Tok::Word(w)) if w == "null" => Lit::Null,
                Some(Tok::Word(w)) => Lit::Num(w.parse().map_err(|_| format!("bad literal {w}"))?),
                other => return Err(format!("expected a literal, found {other:?}")),
            };
            Ok(Expr::Cmp(word, op, lit))
        }
    }

    impl Expr {
        pub fn columns(&self) -> Vec<String> {
            match self {
                Expr::And(a, b) | Expr::Or(a, b) => [a.columns(), b.columns()].concat(),
                Expr::Not(a) => a.columns(),
                Expr::Cmp(c, _, _) | Expr::Func(_, c, _) => vec![c.clone()],
            }
        }

        pub fn matches(&self, row: &Map<String, Value>, id: &Uuid) -> bool {
            let get = |col: &str| -> Option<Value> {
                if col == "leadid" {
                    Some(Value::String(id.to_string()))
                } else {
                    row.get(col).cloned().filter(|v| !v.is_null())
                }
            };
            match self {
                Expr::And(a, b) => a.matches(row, id) && b.matches(row, id),
                Expr::Or(a, b) => a.matches(row, id) || b.matches(row, id),
                Expr::Not(a) => !a.matches(row, id),
                Expr::Func(f, col, lit) => {
                    let Some(Value::String(v)) = get(col) else { return false };
                    let (v, lit) = (v.to_lowercase(), lit.to_lowercase());
                    match f.as_str() {
                        "contains" => v.contains(&lit),
                        "startswith" => v.starts_with(&lit),
                        _ => v.ends_with(&lit),
                    }
                }
                Expr::Cmp(col, op, lit) => {
                    let v = get(col);
                    let ord = match (&v, lit) {
                        (None, Lit::Null) => Some(std::cmp::Ordering::Equal),
                        (None, _) | (Some(_), Lit::Null) => None,
                        (Some(Value::String(s)), Lit::Str(l)) => Some(s.to_lowercase().cmp(&l.to_lowercase())),
                        (Some(Value::Number(n)), Lit::Num(l)) => n.as_f64().and_then(|n| n.partial_cmp(l)),
                        _ => None,
                    };
                    match op.as_str() {
                        "eq" => ord == Some(std::cmp::Ordering::Equal),
                        "ne" => ord != Some(std::cmp::Ordering::Equal),
                        "gt" => ord == Some(std::cmp::Ordering::Greater),
                        "ge" => matches!(ord, Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)),
                        "lt" => ord == Some(std::cmp::Ordering::Less),
                        _ => matches!(ord, Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)),
                    }
                }
            }
        }
    }
}
