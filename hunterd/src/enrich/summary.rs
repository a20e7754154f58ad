//! The `infrastructure_summary` sentence: one line a salesperson can read aloud, built only from the
//! enrichment (so the same lookups always give the same words).

use super::IpEnrichment;

/// How many distinct hosting places a sentence names before it says "and N more".
const MAX_PLACES: usize = 3;

/// e.g. "Mail servers hosted by Microsoft (AS8075) in Ireland; no proxy/VPN signals", with a website
/// clause when the domain or `www` addresses were enriched too ("…; website hosted by Cloudflare
/// (AS13335) in United States; …", or "Mail servers and website hosted by …" when they are the same
/// places). `None` when nothing is known about any address.
pub fn infrastructure_summary(ips: &[IpEnrichment]) -> Option<String> {
    let known: Vec<&IpEnrichment> = ips.iter().filter(|e| !e.is_empty()).collect();
    if known.is_empty() {
        return None;
    }
    let mail: Vec<&IpEnrichment> = known.iter().copied().filter(|e| e.serves_mail()).collect();
    let web: Vec<&IpEnrichment> = known.iter().copied().filter(|e| e.serves_web()).collect();
    let (mail_places, web_places) = (places(&mail), places(&web));
    let mut clauses: Vec<String> = Vec::new();
    if !mail.is_empty() && mail_places == web_places {
        clauses.push(format!("Mail servers and website {}", describe(&mail_places, &known)));
    } else {
        if !mail.is_empty() {
            clauses.push(format!("Mail servers {}", describe(&mail_places, &mail)));
        }
        if !web.is_empty() {
            let subject = if clauses.is_empty() { "Website" } else { "website" };
            clauses.push(format!("{subject} {}", describe(&web_places, &web)));
        }
    }
    clauses.push(proxy_clause(&known));
    Some(clauses.join("; "))
}

/// Distinct hosting places, in order of first appearance.
fn places(ips: &[&IpEnrichment]) -> Vec<String> {
    let mut places: Vec<String> = Vec::new();
    for e in ips {
        let place = place(e);
        if !places.contains(&place) {
            places.push(place);
        }
    }
    places
}

/// "hosted by A and B and 2 more (data centre)".
fn describe(places: &[String], ips: &[&IpEnrichment]) -> String {
    let extra = places.len().saturating_sub(MAX_PLACES);
    let mut text = join(&places[..places.len().min(MAX_PLACES)]);
    if extra > 0 {
        text.push_str(&format!(" and {extra} more"));
    }
    if ips.iter().any(|e| e.is_data_center == Some(true)) {
        text.push_str(" (data centre)");
    }
    text
}

/// "hosted by Microsoft (AS8075) in Ireland", with whichever parts are known.
fn place(e: &IpEnrichment) -> String {
    let mut s = String::new();
    match (e.organisation(), e.asn) {
        (Some(org), Some(asn)) => s.push_str(&format!("hosted by {org} (AS{asn})")),
        (Some(org), None) => s.push_str(&format!("hosted by {org}")),
        (None, Some(asn)) => s.push_str(&format!("hosted in AS{asn}")),
        (None, None) => s.push_str("located"),
    }
    if let Some(country) = e.country_name.as_deref().or(e.country.as_deref()) {
        s.push_str(&format!(" in {country}"));
    } else if s == "located" {
        s = "of unknown location".into();
    }
    s
}

fn join(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn proxy_clause(known: &[&IpEnrichment]) -> String {
    let mut kinds: Vec<String> = Vec::new();
    let mut flagged = false;
    for e in known {
        // A data-centre range is said once as "(data centre)", not as a proxy signal.
        if e.is_proxy == Some(true) && !matches!(e.proxy_type.as_deref(), Some("DCH" | "SES")) {
            flagged = true;
            let kind = if e.is_tor == Some(true) {
                "TOR".to_string()
            } else if e.is_vpn == Some(true) {
                "VPN".to_string()
            } else {
                e.proxy_type.clone().unwrap_or_else(|| "proxy".into())
            };
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    if flagged {
        kinds.sort();
        format!("proxy/VPN signals: {}", kinds.join(", "))
    } else if known.iter().any(|e| e.is_proxy.is_some()) {
        "no proxy/VPN signals".into()
    } else {
        "proxy/VPN status unknown".into()
    }
}
