//! RDAP domain lookups (RFC 9083 JSON) and the rules for reading them (engine.md §4.2).

use super::{Registration, RegistrationSource, WhoisError};
use chrono::NaiveDate;
use serde_json::Value;
use std::time::Duration;

/// Registries redirect to a registrar's server or a mirror; more than this is a loop.
pub(super) const MAX_REDIRECTS: usize = 5;

pub(super) enum Outcome {
    Found(Registration),
    /// HTTP 404: the registry has no such domain.
    NotFound,
    /// HTTP 200 with none of the fields we read.
    Empty,
}

pub(super) async fn lookup(
    http: &reqwest::Client,
    base: &str,
    domain: &str,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Outcome, WhoisError> {
    let url = format!("{base}domain/{domain}");
    let transport = |e: reqwest::Error| {
        if e.is_timeout() {
            WhoisError::Timeout { service: url.clone(), timeout }
        } else {
            WhoisError::Transport { service: url.clone(), message: error_chain(&e) }
        }
    };
    let mut response = http
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/rdap+json, application/json")
        .send()
        .await
        .map_err(transport)?;
    let final_url = response.url().to_string();
    match response.status().as_u16() {
        200 => {}
        404 => return Ok(Outcome::NotFound),
        429 => return Err(WhoisError::RateLimited { service: final_url }),
        status => return Err(WhoisError::Http { service: final_url, status }),
    }
    let too_large = || WhoisError::TooLarge { service: final_url.clone(), limit: max_bytes };
    if response.content_length().is_some_and(|len| len > max_bytes as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let json: Value = serde_json::from_slice(&body)
        .map_err(|e| WhoisError::Malformed { service: final_url.clone(), message: e.to_string() })?;
    let registration = parse(&json, RegistrationSource::Rdap { url: final_url });
    let empty = registration.registrar.is_none()
        && registration.created.is_none()
        && registration.expires.is_none()
        && registration.nameservers.is_empty();
    Ok(if empty { Outcome::Empty } else { Outcome::Found(registration) })
}

/// Reads an RDAP domain object; anything missing or oddly shaped is simply absent.
pub(super) fn parse(json: &Value, source: RegistrationSource) -> Registration {
    Registration {
        registrar: registrar(json),
        created: event_date(json, "registration"),
        expires: event_date(json, "expiration"),
        nameservers: nameservers(json),
        source,
    }
}

/// Among entities with the `registrar` role, the vCard's first `fn` or `org`; as in the reference,
/// when several registrar entities name one, the last wins.
fn registrar(json: &Value) -> Option<String> {
    let mut found = None;
    for entity in json.get("entities").and_then(Value::as_array).into_iter().flatten() {
        let is_registrar = entity
            .get("roles")
            .and_then(Value::as_array)
            .is_some_and(|roles| roles.iter().any(|r| r.as_str().is_some_and(|r| r.eq_ignore_ascii_case("registrar"))));
        if !is_registrar {
            continue;
        }
        if let Some(name) = vcard_name(entity) {
            found = Some(name);
        }
    }
    found
}

/// jCard (RFC 7095): `["vcard", [[name, params, type, value], …]]`; `org` values may be arrays.
fn vcard_name(entity: &Value) -> Option<String> {
    let properties = entity.get("vcardArray")?.as_array()?.get(1)?.as_array()?;
    properties.iter().filter_map(Value::as_array).find_map(|property| {
        let name = property.first()?.as_str()?;
        if !(name.eq_ignore_ascii_case("fn") || name.eq_ignore_ascii_case("org")) {
            return None;
        }
        let value = match property.get(3)? {
            Value::String(s) => s.trim().to_string(),
            Value::Array(parts) => {
                parts.iter().filter_map(Value::as_str).find(|s| !s.trim().is_empty())?.trim().to_string()
            }
            _ => return None,
        };
        (!value.is_empty()).then_some(value)
    })
}

/// The date part of the first event with this action (`2025-08-13T04:00:00Z` → 2025-08-13).
fn event_date(json: &Value, action: &str) -> Option<NaiveDate> {
    let event = json
        .get("events")?
        .as_array()?
        .iter()
        .find(|e| e.get("eventAction").and_then(Value::as_str).is_some_and(|a| a.eq_ignore_ascii_case(action)))?;
    let date = event.get("eventDate")?.as_str()?.trim();
    NaiveDate::parse_from_str(date.get(..10)?, "%Y-%m-%d").ok()
}

fn nameservers(json: &Value) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for ns in json.get("nameservers").and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = ns.get("ldhName").and_then(Value::as_str) else { continue };
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// reqwest's top-level message ("error sending request") hides the cause; the chain names it.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn src() -> RegistrationSource {
        RegistrationSource::Rdap { url: "https://rdap.example/domain/x".into() }
    }

    fn registrar_entity(vcard: Value) -> Value {
        json!({"objectClassName": "entity", "roles": ["registrar"], "vcardArray": ["vcard", vcard]})
    }

    #[test]
    fn the_registrar_is_the_fn_of_the_entity_with_the_registrar_role() {
        let doc = json!({"entities": [
            {"roles": ["registrant"], "vcardArray": ["vcard", [["fn", {}, "text", "Some Registrant"]]]},
            registrar_entity(json!([["version", {}, "text", "4.0"], ["fn", {}, "text", "MarkMonitor Inc."]])),
        ]});
        assert_eq!(parse(&doc, src()).registrar.as_deref(), Some("MarkMonitor Inc."));
    }

    #[test]
    fn an_org_property_names_the_registrar_when_fn_is_absent() {
        let doc = json!({"entities": [registrar_entity(json!([["org", {}, "text", ["Example Registrar AG", "IT"]]]))]});
        assert_eq!(parse(&doc, src()).registrar.as_deref(), Some("Example Registrar AG"));
    }

    #[test]
    fn with_several_registrar_entities_the_last_one_wins() {
        let doc = json!({"entities": [
            registrar_entity(json!([["fn", {}, "text", "First"]])),
            registrar_entity(json!([["fn", {}, "text", "Second"]])),
        ]});
        assert_eq!(parse(&doc, src()).registrar.as_deref(), Some("Second"));
    }

    #[test]
    fn registration_and_expiration_events_give_the_dates() {
        let doc = json!({"events": [
            {"eventAction": "last changed", "eventDate": "2024-08-14T07:01:34Z"},
            {"eventAction": "registration", "eventDate": "1997-09-15T04:00:00Z"},
            {"eventAction": "expiration", "eventDate": "2028-09-14T04:00:00+02:00"},
        ]});
        let parsed = parse(&doc, src());
        assert_eq!(parsed.created, NaiveDate::from_ymd_opt(1997, 9, 15));
        assert_eq!(parsed.expires, NaiveDate::from_ymd_opt(2028, 9, 14));
    }

    #[test]
    fn nameservers_are_lower_case_without_the_trailing_dot_and_deduplicated() {
        let doc = json!({"nameservers": [
            {"ldhName": "NS1.GOOGLE.COM."}, {"ldhName": "ns2.google.com"}, {"ldhName": "ns1.google.com"}, {"unicodeName": "x"},
        ]});
        assert_eq!(parse(&doc, src()).nameservers, ["ns1.google.com", "ns2.google.com"]);
    }

    #[test]
    fn a_document_without_the_fields_gives_an_empty_registration() {
        let parsed = parse(&json!({"objectClassName": "domain", "entities": "odd"}), src());
        assert_eq!((parsed.registrar, parsed.created, parsed.expires), (None, None, None));
        assert!(parsed.nameservers.is_empty());
    }
}
