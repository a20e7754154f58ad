//! Pushing one lead, idempotently (issue 11 item 3): upsert by the alternate key when
//! `dynamics.lead_key` is set; otherwise update the stored D365 id, else look the lead up by the
//! domain key column / website / e-mail domain, and only then create. So a retry after a crash, or a
//! second push, never creates a second record. Re-pushes send only the columns that changed.

use super::client::{Answer, BatchOp, Call, CallError, Dataverse, PartAnswer, encode, entity_id, literal};
use super::mapping::{self, LeadFacts, MappingSettings};
use reqwest::Method;
use serde_json::{Map, Value};
use uuid::Uuid;

/// How pushes are made, from the config.
#[derive(Debug, Clone)]
pub struct PushSettings {
    pub mapping: MappingSettings,
    /// Alternate-key column holding the Hunter domain (upsert), or `None` (look up, then create).
    pub lead_key: Option<String>,
    pub duplicate_detection: bool,
}

/// What D365 holds for this lead from earlier pushes.
#[derive(Debug, Clone, Default)]
pub struct Prior {
    pub lead_id: Option<Uuid>,
    pub sent_payload: Option<Map<String, Value>>,
    pub payload_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The lead is in D365 with these columns.
    Synced { lead_id: Uuid, created: bool, sent: Map<String, Value> },
    /// Nothing changed since the last acknowledged push: no request was sent.
    Unchanged { lead_id: Uuid },
    /// D365's duplicate detection refused the create; `existing` is the record it matched, when found.
    Duplicate { existing: Option<Uuid>, sent: Map<String, Value> },
}

/// What would happen, for the confirmation the TUI shows before a push.
pub fn planned(prior: &Prior, payload: &Map<String, Value>) -> (bool, Map<String, Value>) {
    match (&prior.lead_id, &prior.sent_payload) {
        (Some(_), Some(previous)) => (false, mapping::changed_fields(previous, payload)),
        (Some(_), None) => (false, payload.clone()),
        (None, _) => (true, payload.clone()),
    }
}

pub async fn push_lead(
    dv: &Dataverse,
    settings: &PushSettings,
    company_id: i64,
    facts: &LeadFacts,
    prior: &Prior,
) -> Result<Outcome, CallError> {
    let payload = mapping::lead_payload(facts, &settings.mapping);
    let hash = mapping::payload_hash(&payload);
    if let Some(lead_id) = prior.lead_id
        && prior.payload_hash.as_deref() == Some(hash.as_str())
    {
        return Ok(Outcome::Unchanged { lead_id });
    }
    let (_, changed) = planned(prior, &payload);
    if let Some(key) = &settings.lead_key {
        return upsert_by_key(dv, key, company_id, facts, &payload, &changed).await;
    }
    if let Some(lead_id) = prior.lead_id {
        match update(dv, company_id, lead_id, &changed).await {
            Ok(()) => return Ok(Outcome::Synced { lead_id, created: false, sent: payload }),
            // Deleted in D365 since: find it again or create it anew.
            Err(CallError::Api { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(existing) = find_existing(dv, &settings.mapping, company_id, facts, &payload).await? {
        update(dv, company_id, existing, &payload).await?;
        return Ok(Outcome::Synced { lead_id: existing, created: false, sent: payload });
    }
    match create(dv, settings, company_id, &payload).await {
        Ok(lead_id) => Ok(Outcome::Synced { lead_id, created: true, sent: payload }),
        Err(e) if e.is_duplicate() => {
            let existing = find_duplicate(dv, company_id, &payload).await.unwrap_or(None);
            Ok(Outcome::Duplicate { existing, sent: payload })
        }
        Err(e) => Err(e),
    }
}

/// `PATCH leads({key}='{domain}')` without `If-Match`: creates or updates (C.6). Representation tells
/// which happened and carries the id.
async fn upsert_by_key(
    dv: &Dataverse,
    key: &str,
    company_id: i64,
    facts: &LeadFacts,
    payload: &Map<String, Value>,
    changed: &Map<String, Value>,
) -> Result<Outcome, CallError> {
    // Key columns are never repeated in the body (C.6).
    let mut body = changed.clone();
    body.remove(key);
    let call = Call {
        operation: "upsert",
        entity: "lead",
        method: Method::PATCH,
        path: format!("leads({key}={})?$select=leadid", encode(&literal(&facts.domain))),
        body: Some(body),
        headers: vec![("Prefer", "return=representation".into())],
        company_id: Some(company_id),
        multipart: None,
    };
    let answer = dv.send(&call).await?;
    let created = answer.status.as_u16() == 201;
    let lead_id = id_of(&answer, "leadid").ok_or_else(|| missing_id(&answer))?;
    Ok(Outcome::Synced { lead_id, created, sent: payload.clone() })
}

/// What one lead of a bulk push (with an alternate key) needs: nothing (unchanged since the last
/// acknowledged push), or one upsert operation for the `$batch`.
pub enum Planned {
    Unchanged { lead_id: Uuid },
    Upsert { op: BatchOp, sent: Map<String, Value> },
}

pub fn plan_upsert(settings: &PushSettings, key: &str, facts: &LeadFacts, prior: &Prior) -> Planned {
    let payload = mapping::lead_payload(facts, &settings.mapping);
    if let Some(lead_id) = prior.lead_id
        && prior.payload_hash.as_deref() == Some(mapping::payload_hash(&payload).as_str())
    {
        return Planned::Unchanged { lead_id };
    }
    let (_, mut body) = planned(prior, &payload);
    body.remove(key);
    let op = BatchOp {
        method: Method::PATCH,
        path: format!("leads({key}={})?$select=leadid", encode(&literal(&facts.domain))),
        body,
        headers: vec![("Prefer", "return=representation".into())],
    };
    Planned::Upsert { op, sent: payload }
}

/// One `$batch` answer as the outcome of that lead's upsert.
pub fn upsert_outcome(part: &PartAnswer, sent: Map<String, Value>) -> Result<Outcome, CallError> {
    if (200..300).contains(&part.status) {
        let id = part
            .body
            .get("leadid")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .or_else(|| part.header("OData-EntityId").and_then(id_in_entity_url));
        return match id {
            Some(lead_id) => Ok(Outcome::Synced { lead_id, created: part.status == 201, sent }),
            None => Err(CallError::Api {
                status: part.status,
                code: String::new(),
                message: "the answer named no lead id".into(),
            }),
        };
    }
    let (code, message) = part.error();
    Err(match part.status {
        429 => CallError::Throttled { retry_after: part_retry_after(part), code },
        502..=504 => CallError::Unreachable(format!("HTTP {}: {message}", part.status)),
        401 | 403 => CallError::Auth(super::client::explain_refusal(part.status, &code, &message)),
        status => CallError::Api { status, code, message },
    })
}

/// A throttled part's own `Retry-After` (seconds, C.14); 5 s when it carries none.
fn part_retry_after(part: &PartAnswer) -> std::time::Duration {
    part.header("Retry-After")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(std::time::Duration::from_secs(5), std::time::Duration::from_secs_f64)
}

fn id_in_entity_url(url: &str) -> Option<Uuid> {
    let inner = url.rsplit_once('(')?.1.strip_suffix(')')?;
    Uuid::parse_str(inner).ok()
}

/// `PATCH leads(<id>)` with `If-Match: *`: update only, a deleted row gives 404 (C.5).
async fn update(dv: &Dataverse, company_id: i64, lead_id: Uuid, body: &Map<String, Value>) -> Result<(), CallError> {
    if body.is_empty() {
        return Ok(());
    }
    let call = Call {
        operation: "update",
        entity: "lead",
        method: Method::PATCH,
        path: format!("leads({lead_id})"),
        body: Some(body.clone()),
        headers: vec![("If-Match", "*".into())],
        company_id: Some(company_id),
        multipart: None,
    };
    dv.send(&call).await.map(|_| ())
}

async fn create(
    dv: &Dataverse,
    settings: &PushSettings,
    company_id: i64,
    payload: &Map<String, Value>,
) -> Result<Uuid, CallError> {
    let mut headers = vec![("Prefer", "return=representation".to_string())];
    if settings.duplicate_detection {
        headers.push(("MSCRM.SuppressDuplicateDetection", "false".into()));
    }
    let call = Call {
        operation: "create",
        entity: "lead",
        method: Method::POST,
        path: "leads?$select=leadid".into(),
        body: Some(payload.clone()),
        headers,
        company_id: Some(company_id),
        multipart: None,
    };
    let answer = dv.send(&call).await?;
    id_of(&answer, "leadid").ok_or_else(|| missing_id(&answer))
}

/// An existing lead for this domain: our domain column, then the website, then the e-mail domain.
async fn find_existing(
    dv: &Dataverse,
    mapping: &MappingSettings,
    company_id: i64,
    facts: &LeadFacts,
    _payload: &Map<String, Value>,
) -> Result<Option<Uuid>, CallError> {
    let key = mapping.domain_key();
    let domain = &facts.domain;
    let filter = format!(
        "{key} eq {} or contains(websiteurl,{}) or endswith(emailaddress1,{})",
        literal(domain),
        literal(domain),
        literal(&format!("@{domain}"))
    );
    let call = Call {
        operation: "lookup",
        entity: "lead",
        method: Method::GET,
        path: format!(
            "leads?$select={}&$filter={}",
            encode(&format!("leadid,websiteurl,emailaddress1,{key}")),
            encode(&filter)
        ),
        body: None,
        headers: vec![("Prefer", "odata.maxpagesize=50".into())],
        company_id: Some(company_id),
        multipart: None,
    };
    let answer = dv.send(&call).await?;
    let rows = answer.body.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
    let text = |row: &Value, col: &str| row.get(col).and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    let id = |row: &Value| row.get("leadid").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
    // Strongest evidence first: our own key, then the website, then an e-mail address at the domain.
    let by_key = rows.iter().find(|r| text(r, &key) == *domain);
    let by_site = rows.iter().find(|r| mapping::website_matches(&text(r, "websiteurl"), domain));
    let by_mail = rows.iter().find(|r| text(r, "emailaddress1").ends_with(&format!("@{domain}")));
    Ok(by_key.or(by_site).or(by_mail).and_then(id))
}

/// The record duplicate detection matched. The org's rules are not ours to read; the shipped lead rule
/// is "same e-mail address" (C.8), and a company-name match is the next likeliest.
async fn find_duplicate(
    dv: &Dataverse,
    company_id: i64,
    payload: &Map<String, Value>,
) -> Result<Option<Uuid>, CallError> {
    let column = ["emailaddress1", "companyname"].into_iter().find(|c| payload.get(*c).is_some_and(Value::is_string));
    let Some(column) = column else { return Ok(None) };
    let value = payload.get(column).and_then(Value::as_str).unwrap_or_default();
    let call = Call {
        operation: "lookup",
        entity: "lead",
        method: Method::GET,
        path: format!(
            "leads?$select=leadid&$filter={}",
            encode(&format!("{column} eq {} and statecode eq 0", literal(value)))
        ),
        body: None,
        headers: vec![("Prefer", "odata.maxpagesize=5".into())],
        company_id: Some(company_id),
        multipart: None,
    };
    let answer = dv.send(&call).await?;
    Ok(answer
        .body
        .get("value")
        .and_then(Value::as_array)
        .and_then(|rows| rows.first())
        .and_then(|r| r.get("leadid"))
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok()))
}

/// The id from a representation body, or from `OData-EntityId` when D365 answered 204.
fn id_of(answer: &Answer, primary_key: &str) -> Option<Uuid> {
    answer
        .body
        .get(primary_key)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .or_else(|| entity_id(&answer.headers))
}

fn missing_id(answer: &Answer) -> CallError {
    CallError::Api {
        status: answer.status.as_u16(),
        code: String::new(),
        message: "the answer named no lead id (neither a leadid in the body nor an OData-EntityId header)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn throttled_part(headers: Vec<(String, String)>) -> PartAnswer {
        let body =
            serde_json::json!({"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}});
        PartAnswer { status: 429, headers, body }
    }

    #[test]
    fn a_throttled_batch_part_waits_its_own_retry_after() {
        let part = throttled_part(vec![("retry-after".into(), "42".into())]);
        let outcome = upsert_outcome(&part, Map::new());
        assert_eq!(
            outcome,
            Err(CallError::Throttled { retry_after: Duration::from_secs(42), code: "0x80072322".into() })
        );
    }

    #[test]
    fn a_throttled_batch_part_without_retry_after_waits_five_seconds() {
        let part = throttled_part(Vec::new());
        match upsert_outcome(&part, Map::new()) {
            Err(CallError::Throttled { retry_after, .. }) => assert_eq!(retry_after, Duration::from_secs(5)),
            other => panic!("expected throttling, got {other:?}"),
        }
    }
}
