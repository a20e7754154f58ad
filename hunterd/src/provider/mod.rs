//! Provider detection: who runs a domain's mail, which gateway sits in front, and the evidence.
//!
//! Pure: a [`ScanResult`] and a [`ProviderTable`] in, a [`Detection`] out. The MX decides the
//! provider exactly as the reference engine did (§5 of engine.md); only when the MX belongs to a
//! secure e-mail gateway do other records (SPF, DKIM, autodiscover, TXT) name the provider behind it.

mod table;

pub use table::{
    BackendHint, GatewayEntry, HintKind, LOCAL, LocalProviderEntry, ProviderEntry, ProviderTable, ProviderTableError,
    UNKNOWN,
};

use crate::scan::{ScanResult, ScanStatus, SpfNode};
use serde::{Deserialize, Serialize};
use table::is_same_or_subdomain;

/// Microsoft 365 / Google Workspace tenant size, as guessed from the first MX host (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantSize {
    Small,
    Medium,
    Large,
}

impl TenantSize {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantSize::Small => "small",
            TenantSize::Medium => "medium",
            TenantSize::Large => "large",
        }
    }
}

/// Which kind of record an [`Evidence`] quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceSource {
    /// The scan's outcome (no MX, null MX, NXDOMAIN…).
    Scan,
    Mx,
    Spf,
    Dkim,
    Autodiscover,
    Txt,
    /// A Partner Center referral (the customer's Entra tenant id).
    PartnerCenter,
}

/// One conclusion and the record that led to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was concluded, e.g. "provider M365 behind gateway Mimecast".
    pub claim: String,
    pub source: EvidenceSource,
    /// The record as a zone-file-like line, e.g. `example.com MX 10 eu-smtp-1.mimecast.com`.
    pub record: String,
}

/// Who runs a domain's mail, and why we think so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    /// A `[[provider]]` name from the table, or [`LOCAL`] / [`UNKNOWN`].
    pub provider: String,
    /// The secure e-mail gateway the MX points at, if any.
    pub gateway: Option<String>,
    /// The hosting company, when the provider is [`LOCAL`] or `Hosting`.
    pub local_provider: Option<String>,
    /// Registrable part of the first MX host (§3.7); `None` without a usable MX.
    pub mx_root: Option<String>,
    /// Only for M365 and Google, from the first MX host.
    pub tenant_size: Option<TenantSize>,
    pub evidence: Vec<Evidence>,
}

/// Works out the provider, gateway, local hoster and tenant size of a scanned domain.
pub fn detect(scan: &ScanResult, table: &ProviderTable) -> Detection {
    let domain = scan.domain.trim_end_matches('.').to_ascii_lowercase();
    let Some(first) = scan.mx.iter().find(|m| !m.host.trim_end_matches('.').is_empty()) else {
        return no_mx(scan, &domain);
    };
    let host = first.host.trim_end_matches('.').to_ascii_lowercase();
    let mx_record = format!("{domain} MX {} {host}", first.preference);
    let mut evidence = Vec::new();
    let mx_root = table.mx_root(&host);
    let mut root = mx_root.clone().unwrap_or_default();
    let mut size_host = host.clone();
    if let Some((target, target_root)) = classifying_alias(first.cname_target.as_deref(), &root, table) {
        evidence.push(Evidence {
            claim: format!(
                "MX host {host} is a CNAME to {target} (RFC 2181 forbids it, but it is common): judged by the target"
            ),
            source: EvidenceSource::Mx,
            record: format!("{host} CNAME {target}"),
        });
        (root, size_host) = (target_root, target);
    }

    let (provider, gateway) = if let Some(p) = table.match_provider(&root) {
        evidence.push(Evidence {
            claim: format!("provider {}: MX root {root} is {}", p.name, p.description),
            source: EvidenceSource::Mx,
            record: mx_record.clone(),
        });
        (p.name.clone(), None)
    } else if let Some(g) = table.match_gateway(&root) {
        evidence.push(Evidence {
            claim: format!("gateway {}: MX root {root} is a secure e-mail gateway", g.name),
            source: EvidenceSource::Mx,
            record: mx_record.clone(),
        });
        let backend = infer_backend(scan, &domain, table, &g.name, &mut evidence);
        if backend.is_none() {
            evidence.push(Evidence {
                claim: format!(
                    "provider {UNKNOWN}: gateway {} hides the mailbox provider and no backend hint was decisive",
                    g.name
                ),
                source: EvidenceSource::Mx,
                record: mx_record.clone(),
            });
        }
        (backend.unwrap_or_else(|| UNKNOWN.to_string()), Some(g.name.clone()))
    } else if let Some(cloud) = own_host_in_front_of_cloud(scan, &domain, &root, table) {
        evidence.push(Evidence {
            claim: format!(
                "provider {cloud}: MX is the company's own host ({root}), a self-hosted relay or hybrid in front of \
                 its {cloud} tenant"
            ),
            source: EvidenceSource::Mx,
            record: mx_record.clone(),
        });
        infer_backend(scan, &domain, table, "the company's own MX (relay or hybrid)", &mut evidence);
        (cloud, None)
    } else {
        evidence.push(Evidence {
            claim: format!(
                "provider {LOCAL}: MX root {root} matches no known provider or gateway (self-hosted or hoster)"
            ),
            source: EvidenceSource::Mx,
            record: mx_record.clone(),
        });
        (LOCAL.to_string(), None)
    };

    let local_provider = if provider == LOCAL || provider == HOSTING {
        table.match_local_provider(&root).map(|lp| {
            evidence.push(Evidence {
                claim: format!("local provider {}: MX root {root} is under {}", lp.name, lp.key),
                source: EvidenceSource::Mx,
                record: mx_record.clone(),
            });
            lp.name.clone()
        })
    } else {
        None
    };

    let tenant_size = tenant_size(&provider, &size_host).map(|(size, why)| {
        evidence.push(Evidence {
            claim: format!("tenant size {}: {why}", size.as_str()),
            source: EvidenceSource::Mx,
            record: mx_record.clone(),
        });
        size
    });

    Detection { provider, gateway, local_provider, mx_root, tenant_size, evidence }
}

/// The mail-hosting provider of the large hosters (named by [[local_provider]]).
const HOSTING: &str = "Hosting";

/// The CNAME target of the first MX host and its root, when the host's own root says nothing and
/// the target's names a provider or gateway.
fn classifying_alias(target: Option<&str>, root: &str, table: &ProviderTable) -> Option<(String, String)> {
    if table.match_provider(root).is_some() || table.match_gateway(root).is_some() {
        return None;
    }
    let target = clean(target?);
    let target_root = table.mx_root(&target)?;
    (table.match_provider(&target_root).is_some() || table.match_gateway(&target_root).is_some())
        .then_some((target, target_root))
}

/// The cloud provider whose tenant a company has when its MX is its own host (a relay or a hybrid
/// deployment) and its other records are decisive: the provider the backend hints name.
fn own_host_in_front_of_cloud(scan: &ScanResult, domain: &str, root: &str, table: &ProviderTable) -> Option<String> {
    if table.mx_root(domain).as_deref() != Some(root) {
        return None;
    }
    let hints = collect_hints(scan, domain, table);
    decisive_backend(&hints, table)
}

/// The provider whose hints add up to `backend_min_weight` or more; a tie goes to the one listed first.
fn decisive_backend(hints: &[Hint<'_>], table: &ProviderTable) -> Option<String> {
    let totals = table.providers.iter().map(|p| {
        let total: u32 = hints.iter().filter(|h| h.rule.provider == p.name).map(|h| h.rule.weight).sum();
        (p.name.as_str(), total)
    });
    totals
        .filter(|(_, w)| *w >= table.backend_min_weight)
        .fold(None::<(&str, u32)>, |best, (name, w)| match best {
            Some((_, bw)) if bw >= w => best,
            _ => Some((name, w)),
        })
        .map(|(name, _)| name.to_string())
}

fn no_mx(scan: &ScanResult, domain: &str) -> Detection {
    let (why, record) = match scan.status {
        ScanStatus::NullMx => {
            ("the domain publishes an RFC 7505 null MX (accepts no mail)", format!("{domain} MX 0 ."))
        }
        ScanStatus::Nxdomain => ("the domain does not exist", format!("{domain} NXDOMAIN")),
        ScanStatus::Timeout | ScanStatus::Servfail | ScanStatus::Refused => {
            ("the MX lookup failed", format!("{domain} MX ({})", scan.status.as_str()))
        }
        _ => ("the domain publishes no MX record", format!("{domain} MX (none)")),
    };
    Detection {
        provider: UNKNOWN.to_string(),
        gateway: None,
        local_provider: None,
        mx_root: None,
        tenant_size: None,
        evidence: vec![Evidence { claim: format!("provider {UNKNOWN}: {why}"), source: EvidenceSource::Scan, record }],
    }
}

/// §5.4 applied to the first MX host (the reference passed the root, so the patterns never matched).
/// The second value says which pattern decided.
pub fn tenant_size(provider: &str, first_mx_host: &str) -> Option<(TenantSize, &'static str)> {
    let h = first_mx_host.trim_end_matches('.').to_ascii_lowercase();
    if h.is_empty() {
        return None;
    }
    match provider {
        "M365" => Some(if h.contains("mail.protection.outlook.com") {
            (TenantSize::Large, "MX host is under mail.protection.outlook.com")
        } else if has_regional_eop_label(&h) {
            (TenantSize::Small, "MX host matches xxx00.protection.outlook.com")
        } else if h.contains("olc.protection.outlook.com") {
            (TenantSize::Small, "MX host is under olc.protection.outlook.com")
        } else {
            (TenantSize::Medium, "default for Microsoft 365")
        }),
        "Google" => Some(if h.contains("aspmx.l.google.com") {
            (TenantSize::Medium, "MX host is aspmx.l.google.com")
        } else if h.contains("google.com") || h.contains("googlemail.com") {
            (TenantSize::Large, "MX host is under google.com / googlemail.com")
        } else {
            (TenantSize::Medium, "default for Google")
        }),
        _ => None,
    }
}

/// The reference's regex `[a-z]{3}\d{2}\.protection\.outlook\.com`, searched anywhere in the name.
fn has_regional_eop_label(h: &str) -> bool {
    const TAIL: &str = ".protection.outlook.com";
    let b = h.as_bytes();
    h.match_indices(TAIL).any(|(at, _)| {
        at >= 5 && b[at - 5..at - 2].iter().all(u8::is_ascii_lowercase) && b[at - 2..at].iter().all(u8::is_ascii_digit)
    })
}

/// A record that points at a backend provider, as found in this scan.
struct Hint<'t> {
    rule: &'t BackendHint,
    source: EvidenceSource,
    record: String,
}

/// Names the mailbox provider behind a gateway, or `None` when no provider's hints reach
/// `backend_min_weight`. Every hint seen is recorded as evidence, used or not.
fn infer_backend(
    scan: &ScanResult,
    domain: &str,
    table: &ProviderTable,
    gateway: &str,
    evidence: &mut Vec<Evidence>,
) -> Option<String> {
    let hints = collect_hints(scan, domain, table);
    let best = decisive_backend(&hints, table);
    for h in hints {
        let strength = match h.rule.weight {
            0 => "not evidence of mail hosting on its own".to_string(),
            w if w >= table.backend_min_weight => format!("weight {w}, decisive"),
            w => format!("weight {w}, corroborating only"),
        };
        let claim = if best.as_deref() == Some(h.rule.provider.as_str()) && h.rule.weight > 0 {
            format!("provider {} behind gateway {gateway} ({strength})", h.rule.provider)
        } else if best.as_deref() == Some(h.rule.provider.as_str()) {
            format!("hint of {} behind gateway {gateway} ({strength})", h.rule.provider)
        } else {
            format!("hint of {} behind gateway {gateway}, not concluded ({strength})", h.rule.provider)
        };
        evidence.push(Evidence { claim, source: h.source, record: h.record });
    }
    best
}

fn collect_hints<'t>(scan: &ScanResult, domain: &str, table: &'t ProviderTable) -> Vec<Hint<'t>> {
    let includes = own_spf_includes(scan, domain);
    let mut dkim_cnames: Vec<(String, String)> =
        scan.dkim.iter().filter_map(|d| d.cname_target.as_ref().map(|t| (d.selector.clone(), clean(t)))).collect();
    for t in &scan.hints.dkim_onmicrosoft {
        if !dkim_cnames.iter().any(|(_, known)| *known == clean(t)) {
            dkim_cnames.push((String::new(), clean(t)));
        }
    }
    let mut txts: Vec<&str> = scan.apex_txt.iter().map(String::as_str).collect();
    for t in scan.hints.ms_verification.iter().chain(&scan.hints.google_site_verification) {
        if !txts.contains(&t.as_str()) {
            txts.push(t);
        }
    }

    let mut hints = Vec::new();
    for rule in &table.backend_hints {
        let p = rule.pattern.as_str();
        match rule.kind {
            HintKind::SpfInclude => {
                for (target, record) in &includes {
                    if is_same_or_subdomain(target, p) {
                        hints.push(Hint {
                            rule,
                            source: EvidenceSource::Spf,
                            record: format!("{domain} TXT \"{record}\" (include:{target})"),
                        });
                    }
                }
            }
            HintKind::DkimCname => {
                for (selector, target) in &dkim_cnames {
                    if is_same_or_subdomain(target, p) {
                        let name = if selector.is_empty() { "(selector)".to_string() } else { selector.clone() };
                        hints.push(Hint {
                            rule,
                            source: EvidenceSource::Dkim,
                            record: format!("{name}._domainkey.{domain} CNAME {target}"),
                        });
                    }
                }
            }
            HintKind::DkimSelector => {
                for d in scan.dkim.iter().filter(|d| d.record.is_some() && d.selector.eq_ignore_ascii_case(p)) {
                    hints.push(Hint {
                        rule,
                        source: EvidenceSource::Dkim,
                        record: format!("{}._domainkey.{domain} TXT (DKIM key)", d.selector),
                    });
                }
            }
            HintKind::Autodiscover => {
                if let Some(target) = scan.hints.autodiscover_cname.as_deref().map(clean)
                    && is_same_or_subdomain(&target, p)
                {
                    hints.push(Hint {
                        rule,
                        source: EvidenceSource::Autodiscover,
                        record: format!("autodiscover.{domain} CNAME {target}"),
                    });
                }
            }
            HintKind::ApexTxt => {
                for txt in txts.iter().filter(|t| starts_with_ignore_case(t.trim_start(), p)) {
                    hints.push(Hint { rule, source: EvidenceSource::Txt, record: format!("{domain} TXT \"{txt}\"") });
                }
            }
        }
    }
    hints
}

/// Include/redirect targets of the domain's own SPF policy, with the record that names each: the
/// top record, what it redirects to, and includes under the domain itself (`include:_spf.example.com`).
/// Third parties' records are not entered: a SaaS sender's record may itself include Google or Microsoft.
fn own_spf_includes(scan: &ScanResult, domain: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match &scan.spf.tree {
        Some(root) => walk_own(root, domain, &mut out, 0),
        None => {
            if let Some(record) = &scan.spf.record {
                for target in spf_targets(record) {
                    out.push((target, record.clone()));
                }
            }
        }
    }
    out
}

fn walk_own(node: &SpfNode, domain: &str, out: &mut Vec<(String, String)>, depth: u32) {
    // The scanner stops loops, but a hand-built tree must not recurse forever.
    if depth > 10 {
        return;
    }
    let record = node.record.clone().unwrap_or_default();
    for child in node.includes.iter().chain(node.redirect.as_deref()) {
        let target = clean(&child.domain);
        out.push((target.clone(), record.clone()));
        if is_same_or_subdomain(&target, domain) {
            walk_own(child, domain, out, depth + 1);
        }
    }
    if node.includes.is_empty()
        && node.redirect.is_none()
        && let Some(record) = &node.record
    {
        // A node whose children were not resolved still names its targets in its text.
        for target in spf_targets(record) {
            out.push((target, record.clone()));
        }
    }
}

/// `include:` and `redirect=` targets written in an SPF record.
fn spf_targets(record: &str) -> Vec<String> {
    record
        .split_ascii_whitespace()
        .filter_map(|term| {
            let term = term.trim_start_matches(['+', '-', '~', '?']);
            let lower = term.to_ascii_lowercase();
            lower.strip_prefix("include:").or_else(|| lower.strip_prefix("redirect=")).map(clean)
        })
        .filter(|t| !t.is_empty())
        .collect()
}

fn clean(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.is_char_boundary(prefix.len())
        && text[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests;
