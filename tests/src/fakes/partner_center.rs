//! Fake Partner Center Referrals API (microsoft-apis.md B and D.2): `GET /v1.0/engagements/referrals`
//! (and the documented quirky `/v1.0/referrals` a next link may point at) and `GET …/{id}`. Strict:
//! a Bearer token issued by the identity fake for `https://api.partner.microsoft.com`, delegated only;
//! `Accept` JSON or none (406); `$filter` over the documented fields only (400 otherwise), `$orderby`
//! on the two documented keys, pages of at most 100 capped by `$top`, opaque stable `$skiptoken`s
//! (garbage: 400); `Request-ID` echoed. Faults (429 + Retry-After, 5xx, slow answers) are injected
//! per request; errors come in either documented shape.

use super::identity::TokenRegistry;
use super::{Fault, Recorded};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

pub const AUDIENCE: &str = "https://api.partner.microsoft.com";

/// Which documented error body shape the fake answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"code","description","data","source"}` (older Partner Center REST).
    PartnerCenter,
    /// `{"error":{"code","message"}}` (OData).
    OData,
}

struct State {
    tokens: TokenRegistry,
    referrals: Vec<Value>,
    faults: VecDeque<Fault>,
    /// Faults for the n-th list request (1-based) only.
    faults_at: Vec<(usize, Fault)>,
    /// The normal answer to the n-th list request, sent late.
    delays_at: Vec<(usize, std::time::Duration)>,
    list_requests: usize,
    quirky_next_link: bool,
    error_shape: ErrorShape,
    requests: Vec<Recorded>,
    base: String,
}

pub struct PartnerCenterFake {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

impl PartnerCenterFake {
    pub async fn start(tokens: TokenRegistry) -> PartnerCenterFake {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            tokens,
            referrals: Vec::new(),
            faults: VecDeque::new(),
            faults_at: Vec::new(),
            delays_at: Vec::new(),
            list_requests: 0,
            quirky_next_link: false,
            error_shape: ErrorShape::PartnerCenter,
            requests: Vec::new(),
            base: server.uri(),
        }));
        Mock::given(any()).respond_with(Handler(state.clone())).mount(&server).await;
        PartnerCenterFake { server, state }
    }

    /// What goes into `partner_center.api_base_url`.
    pub fn base_url(&self) -> String {
        self.server.uri()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Adds or replaces a referral (by `id`), giving it a new `eTag`.
    pub fn put(&self, mut referral: Value) {
        referral["eTag"] = Value::String(format!("\"{}\"", uuid::Uuid::new_v4()));
        let mut s = self.state.lock().unwrap();
        let id = referral["id"].clone();
        match s.referrals.iter_mut().find(|r| r["id"] == id && !id.is_null()) {
            Some(existing) => *existing = referral,
            None => s.referrals.push(referral),
        }
    }

    /// Adds a record as is (malformed ones included).
    pub fn put_raw(&self, record: Value) {
        self.state.lock().unwrap().referrals.push(record);
    }

    /// Changes one referral like a write would: new eTag and `updatedDateTime`.
    pub fn touch(&self, id: &str, at: DateTime<Utc>, change: impl FnOnce(&mut Value)) {
        let mut s = self.state.lock().unwrap();
        if let Some(r) = s.referrals.iter_mut().find(|r| r["id"] == id) {
            change(r);
            r["updatedDateTime"] = Value::String(odata_time(at));
            r["eTag"] = Value::String(format!("\"{}\"", uuid::Uuid::new_v4()));
        }
    }

    pub fn push_fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push_back(fault);
    }

    /// The `n`-th list request from now on (1 = the next one) gets `fault`.
    pub fn fault_at_list_request(&self, n: usize, fault: Fault) {
        let mut s = self.state.lock().unwrap();
        let at = s.list_requests + n;
        s.faults_at.push((at, fault));
    }

    /// The `n`-th list request from now on gets its normal answer after `delay`.
    pub fn delay_list_request(&self, n: usize, delay: std::time::Duration) {
        let mut s = self.state.lock().unwrap();
        let at = s.list_requests + n;
        s.delays_at.push((at, delay));
    }

    pub fn set_quirky_next_link(&self, on: bool) {
        self.state.lock().unwrap().quirky_next_link = on;
    }

    pub fn set_error_shape(&self, shape: ErrorShape) {
        self.state.lock().unwrap().error_shape = shape;
    }

    /// List requests answered so far (pages, retries included).
    pub fn list_requests(&self) -> usize {
        self.state.lock().unwrap().list_requests
    }
}

/// Times the way the API writes them: seven fractional digits and `Z`.
pub fn odata_time(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    format!("{}.{:07}Z", t.format("%Y-%m-%dT%H:%M:%S"), t.nanosecond() % 1_000_000_000 / 100)
}

/// A referral in the full B.8 shape with realistic nulls. `kind`: `co-sell`, `co-sell-partner`,
/// `solution-provider`, `marketing-qualified`, `own-deal`, `marketplace`.
pub fn referral(
    id: &str,
    kind: &str,
    customer: &str,
    emails: &[&str],
    website: Option<&str>,
    updated: DateTime<Utc>,
) -> Value {
    let (typ, qualification, direction, invited_by) = match kind {
        "co-sell" => ("Shared", "SalesQualified", "Incoming", Some(("msft", "Microsoft"))),
        "co-sell-partner" => (
            "Shared",
            "SalesQualified",
            "Incoming",
            Some(("7c1f0f4e-1d1b-4b52-9d1c-0e6a2c1f9a11", "Fabrikam Partners")),
        ),
        "solution-provider" => ("Independent", "Direct", "Incoming", None),
        "marketing-qualified" => ("Independent", "MarketingQualified", "Incoming", None),
        "own-deal" => ("Independent", "None", "Outgoing", None),
        "marketplace" => ("Independent", "None", "Incoming", None),
        other => panic!("unknown referral kind {other}"),
    };
    let team: Vec<Value> = emails
        .iter()
        .map(|e| {
            json!({"firstName": "Pat", "lastName": "Doe", "email": e, "phoneNumber": "+1 555 0100",
                        "title": null, "contactPreference": {"locale": "en-US", "disableNotifications": false}})
        })
        .collect();
    let created = updated - chrono::Duration::days(3);
    let mut r = json!({
        "id": id,
        "engagementId": uuid::Uuid::new_v4().to_string(),
        "name": format!("{customer} opportunity"),
        "organizationId": "0b3e5b9c-4a7c-4d40-9c1d-3f7e1a2b4c5d",
        "organizationName": "Our Partner Org",
        "mpnId": "1234567",
        "externalReferenceId": null,
        "createdDateTime": odata_time(created),
        "updatedDateTime": odata_time(updated),
        "expirationDateTime": odata_time(created + chrono::Duration::days(14)),
        "acceptedDateTime": null,
        "closedDateTime": null,
        "status": "New",
        "substatus": "Pending",
        "statusReason": null,
        "type": typ,
        "qualification": qualification,
        "direction": direction,
        "referralSource": null,
        "callToAction": null,
        "referralProgram": null,
        "campaignId": null,
        "salesStage": null,
        "quality": "Unknown",
        "isSpam": false,
        "favorite": false,
        "dealSensitivity": "None",
        "tags": [],
        "createdVia": null,
        "lastModifiedVia": null,
        "lastRunId": null,
        "registrationStatus": "None",
        "registrations": [],
        "target": [],
        "customerProfile": {
            "name": customer,
            "size": null,
            "isMatchingComplete": true,
            "address": {"addressLine1": "1 Main St", "addressLine2": null, "city": "Redmond", "state": null,
                        "postalCode": "98052", "country": "US", "region": "WA"},
            "team": team,
            "ids": [{"profileType": "Duns", "id": "123456789"}]
        },
        "consent": {"consentToToShareInfoWithOthers": false, "consentToContact": true,
                    "consentToShareReferralWithMicrosoftSellers": true},
        "details": {"notes": "Wants a migration plan", "dealValue": 25000.0, "currency": "USD",
                    "closingDateTime": null, "customerRequestedContact": true, "customerAction": null,
                    "incentiveLevel": null,
                    "requirements": {"industries": [], "products": [{"id": "Microsoft365"}], "services": [],
                                     "solutions": [], "offers": [], "salesPlays": []}},
        "team": [{"firstName": "Sam", "lastName": "Seller", "email": "sam@ourpartner.example", "phoneNumber": null}],
        "inviteContext": null,
        "links": {"relatedReferrals": {"uri": format!("https://api.partner.microsoft.com/v1.0/engagments/referrals?$filter=engagementId eq {id}"), "method": "GET"},
                  "self": {"uri": format!("https://api.partner.microsoft.com/v1.0/engagments/referrals/{id}"), "method": "GET"}},
        "trackingInfo": {"microsoftMsxId": null},
        "customerMarketplaceIntent": null,
        "x_unmodelled": {"future": "field"}
    });
    if let Some((org, name)) = invited_by {
        r["inviteContext"] = json!({"notes": "Please help", "invitedBy": {"organizationId": org, "organizationName": name},
                                     "invitedMpnId": null, "assistanceRequestCode": "GeneralOrOther"});
    }
    if kind == "marketplace" {
        r["referralSource"] = json!("AppSource");
        r["callToAction"] = json!("ContactMe");
    }
    if let Some(w) = website {
        r["customerProfile"]["website"] = json!(w);
    }
    r
}

struct Handler(Arc<Mutex<State>>);

const FILTER_FIELDS: [&str; 7] =
    ["status", "substatus", "type", "direction", "qualification", "engagementId", "customerProfile/address/country"];

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        s.requests.push(Recorded::of(req));
        let request_id = req
            .headers
            .get("ms-requestid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let answer = s.answer(req);
        answer.insert_header("Request-ID", request_id.as_str())
    }
}

impl State {
    fn error(&self, status: u16, code: &str, message: &str) -> ResponseTemplate {
        let body = match self.error_shape {
            ErrorShape::PartnerCenter => {
                json!({"code": code, "description": message, "data": [], "source": "PartnerReferrals"})
            }
            ErrorShape::OData => json!({"error": {"code": code, "message": message}}),
        };
        ResponseTemplate::new(status).set_body_json(body)
    }

    fn answer(&mut self, req: &Request) -> ResponseTemplate {
        let path = req.url.path().trim_end_matches('/').to_string();
        let list = path == "/v1.0/engagements/referrals" || path == "/v1.0/referrals";
        let one = path.strip_prefix("/v1.0/engagements/referrals/").map(str::to_string);
        if !list && one.is_none() {
            return self.error(404, "NotFound", "No such resource");
        }
        if list {
            self.list_requests += 1;
            let n = self.list_requests;
            if let Some(i) = self.faults_at.iter().position(|(at, _)| *at == n) {
                return self.faults_at.remove(i).1.respond();
            }
        }
        if let Some(fault) = self.faults.pop_front() {
            return fault.respond();
        }
        let authorization = req.headers.get("authorization").and_then(|v| v.to_str().ok());
        match self.tokens.check(authorization, AUDIENCE) {
            Err(why) => return self.error(401, "Unauthorized", why),
            Ok(grant) if grant.app_only => {
                return self.error(
                    403,
                    "Forbidden",
                    "App-only tokens are not supported: the Referrals API needs App+User",
                );
            }
            Ok(_) => {}
        }
        let accept = req.headers.get("accept").and_then(|v| v.to_str().ok());
        if accept.is_some_and(|a| !(a.contains("application/json") || a.contains("*/*"))) {
            return self.error(406, "NotAcceptable", "Accept must be application/json");
        }
        if req.method.as_str() != "GET" {
            return self.error(405, "MethodNotAllowed", "only GET in this fake");
        }
        if let Some(id) = one {
            return match self.referrals.iter().find(|r| r["id"] == id.as_str()) {
                Some(r) => {
                    let mut r = r.clone();
                    r["@odata.context"] = json!(format!("{}/v1.0/$metadata#Referrals/$entity", self.base));
                    ResponseTemplate::new(200).set_body_json(r)
                }
                None => self.error(404, "NotFound", "Referral not found"),
            };
        }
        let n = self.list_requests;
        let answer = self.list(req);
        match self.delays_at.iter().find(|(at, _)| *at == n) {
            Some((_, delay)) => answer.set_delay(*delay),
            None => answer,
        }
    }

    fn list(&mut self, req: &Request) -> ResponseTemplate {
        let q: Vec<(String, String)> = req.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let (offset, filter, orderby, top) = match get("$skiptoken") {
            Some(token) => match decode_skiptoken(&token) {
                Some(t) => t,
                None => return self.error(400, "InvalidSkipToken", "The skip token is not valid"),
            },
            None => (
                0,
                get("$filter").unwrap_or_default(),
                get("$orderby").unwrap_or_default(),
                get("$top").unwrap_or_default(),
            ),
        };
        let predicate = match parse_filter(&filter) {
            Ok(p) => p,
            Err(why) => return self.error(400, "InvalidFilter", &why),
        };
        let (sort_key, descending) = match orderby.trim() {
            "" => (None, false),
            o => {
                let mut parts = o.split_whitespace();
                let key = parts.next().unwrap_or("");
                if !matches!(key, "createdDateTime" | "updatedDateTime") {
                    return self.error(400, "InvalidOrderBy", &format!("cannot order by {key}"));
                }
                let desc = match parts.next() {
                    None | Some("asc") => false,
                    Some("desc") => true,
                    Some(other) => return self.error(400, "InvalidOrderBy", &format!("unknown direction {other}")),
                };
                (Some(key.to_string()), desc)
            }
        };
        let page_size = match top.trim() {
            "" => 100,
            t => match t.parse::<usize>() {
                Ok(n) if n > 0 => n.min(100),
                _ => return self.error(400, "InvalidTop", "$top must be a positive number"),
            },
        };
        let mut rows: Vec<&Value> = self.referrals.iter().filter(|r| predicate.matches(r)).collect();
        if let Some(key) = &sort_key {
            rows.sort_by(|a, b| {
                let (x, y) = (a[key].as_str().unwrap_or(""), b[key].as_str().unwrap_or(""));
                if descending { y.cmp(x) } else { x.cmp(y) }
            });
        }
        let total = rows.len();
        let page: Vec<Value> = rows.iter().skip(offset).take(page_size).map(|r| (*r).clone()).collect();
        let mut body = json!({
            "@odata.context": format!("{}/v1.0/$metadata#Referrals", self.base),
            "@odata.count": total,
            "value": page,
        });
        if offset + page_size < total {
            let token = encode_skiptoken(offset + page_size, &filter, &orderby, &top);
            let link = if self.quirky_next_link {
                // The documented sample: http, and no `/engagements`.
                format!("{}/v1.0/referrals?$skiptoken={token}", self.base.replacen("https://", "http://", 1))
            } else {
                format!("{}/v1.0/engagements/referrals?$skiptoken={token}", self.base)
            };
            body["@odata.nextLink"] = Value::String(link);
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// Opaque to clients: hex of the position and the query it continues, with a check value.
fn encode_skiptoken(offset: usize, filter: &str, orderby: &str, top: &str) -> String {
    let plain = json!([offset, filter, orderby, top]).to_string();
    let check = plain.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    format!("{}{check:08x}", plain.bytes().map(|b| format!("{b:02x}")).collect::<String>())
}

fn decode_skiptoken(token: &str) -> Option<(usize, String, String, String)> {
    if token.len() < 8 || !token.is_ascii() || !token.len().is_multiple_of(2) {
        return None;
    }
    let (hex, check) = token.split_at(token.len() - 8);
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect();
    let plain = String::from_utf8(bytes?).ok()?;
    let expected = plain.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    if format!("{expected:08x}") != check {
        return None;
    }
    let v: Value = serde_json::from_str(&plain).ok()?;
    Some((v[0].as_u64()? as usize, v[1].as_str()?.into(), v[2].as_str()?.into(), v[3].as_str()?.into()))
}

/// `$filter`: comparisons `field eq|ne 'value'` of the documented fields, `and`/`or`, parentheses.
enum Predicate {
    True,
    Cmp { field: String, negate: bool, value: String },
    And(Box<Predicate>, Box<Predicate>),
    Or(Box<Predicate>, Box<Predicate>),
}

impl Predicate {
    fn matches(&self, r: &Value) -> bool {
        match self {
            Predicate::True => true,
            Predicate::Cmp { field, negate, value } => {
                let at = field.split('/').fold(r, |v, k| &v[k]);
                (at.as_str() == Some(value.as_str())) != *negate
            }
            Predicate::And(a, b) => a.matches(r) && b.matches(r),
            Predicate::Or(a, b) => a.matches(r) || b.matches(r),
        }
    }
}

fn parse_filter(filter: &str) -> Result<Predicate, String> {
    let tokens = tokenize(filter)?;
    if tokens.is_empty() {
        return Ok(Predicate::True);
    }
    let mut pos = 0;
    let p = parse_or(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!("unexpected `{}` in $filter", tokens[pos]));
    }
    Ok(p)
}

fn tokenize(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            out.push(c.to_string());
            i += 1;
        } else if c == '\'' {
            let mut lit = String::from("'");
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string literal in $filter".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        lit.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(lit);
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '(' && chars[i] != ')' {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    Ok(out)
}

fn parse_or(t: &[String], pos: &mut usize) -> Result<Predicate, String> {
    let mut left = parse_and(t, pos)?;
    while t.get(*pos).map(String::as_str) == Some("or") {
        *pos += 1;
        left = Predicate::Or(Box::new(left), Box::new(parse_and(t, pos)?));
    }
    Ok(left)
}

fn parse_and(t: &[String], pos: &mut usize) -> Result<Predicate, String> {
    let mut left = parse_atom(t, pos)?;
    while t.get(*pos).map(String::as_str) == Some("and") {
        *pos += 1;
        left = Predicate::And(Box::new(left), Box::new(parse_atom(t, pos)?));
    }
    Ok(left)
}

fn parse_atom(t: &[String], pos: &mut usize) -> Result<Predicate, String> {
    if t.get(*pos).map(String::as_str) == Some("(") {
        *pos += 1;
        let inner = parse_or(t, pos)?;
        if t.get(*pos).map(String::as_str) != Some(")") {
            return Err("missing `)` in $filter".into());
        }
        *pos += 1;
        return Ok(inner);
    }
    let field = t.get(*pos).ok_or("incomplete $filter")?.clone();
    if !FILTER_FIELDS.contains(&field.as_str()) {
        return Err(format!("Could not find a property named '{field}' on type 'Referral'"));
    }
    let op = t.get(*pos + 1).ok_or("incomplete $filter")?.clone();
    let negate = match op.as_str() {
        "eq" => false,
        "ne" => true,
        other => return Err(format!("operator `{other}` is not supported")),
    };
    let value = t.get(*pos + 2).ok_or("incomplete $filter")?;
    let value = value.strip_prefix('\'').ok_or_else(|| format!("enum literal {value} must be quoted"))?.to_string();
    *pos += 3;
    Ok(Predicate::Cmp { field, negate, value })
}
