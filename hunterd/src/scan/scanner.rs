//! One domain's mail-DNS scan: MX first (it decides whether the rest is worth asking), then TXT/SPF,
//! DMARC, DKIM, autodiscover and the MX hosts' addresses, all at once.

use super::dkim::{DEFAULT_SELECTORS, is_dkim_record};
use super::dmarc::parse_dmarc;
use super::hints::{is_google_site_verification, is_ms_verification, is_onmicrosoft};
use super::lookups::Lookups;
use super::model::{
    DkimSelector, DmarcRecord, MxHost, RawRecord, ScanResult, ScanStatus, SpfResult, SpfStatus, TenantHints,
};
use super::mx::mx_set;
use super::name::normalize_domain;
use super::records::{cname_chain, name_str, of_type, raw_records, txt_texts};
use super::resolver::{Dns, DnsSettings, Failure};
use super::spf;
use crate::config::ScanConfig;
use hickory_resolver::proto::rr::{RData, RecordType};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// MX hosts whose addresses are looked up; beyond this a domain's list is padding, not evidence.
const MAX_MX_HOSTS_RESOLVED: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("scan.nameservers: `{0}` is not an ip:port address (e.g. 127.0.0.1:53 or [::1]:53)")]
    BadNameserver(String),
    #[error("cannot read the system resolver configuration (resolv.conf): {0}")]
    SystemConfig(String),
    #[error("the system resolver configuration (resolv.conf) lists no nameservers")]
    NoNameservers,
}

/// Scans domains' mail DNS. Cheap to clone; clones share the transport, its in-flight limit, rate
/// limits and cache, so one `Scanner` per process is the intended use. Its UDP sockets are opened
/// by the first scan and served by tasks on that scan's Tokio runtime: scan from one runtime.
#[derive(Clone)]
pub struct Scanner {
    inner: Arc<Inner>,
}

struct Inner {
    dns: Dns,
    selectors: Vec<String>,
    nameservers: Vec<SocketAddr>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner").field("nameservers", &self.inner.nameservers).finish_non_exhaustive()
    }
}

impl Scanner {
    /// Builds the transport from `config`; an empty nameserver list means the system's resolv.conf.
    /// Needs no runtime to construct; `scan` runs on Tokio.
    pub fn new(config: &ScanConfig) -> Result<Scanner, ScanError> {
        let nameservers = if config.nameservers.is_empty() {
            system_nameservers()?
        } else {
            config
                .nameservers
                .iter()
                .map(|ns| ns.trim().parse::<SocketAddr>().map_err(|_| ScanError::BadNameserver(ns.clone())))
                .collect::<Result<Vec<_>, _>>()?
        };
        let settings = DnsSettings {
            nameservers: nameservers.clone(),
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
            retries: config.retries,
            concurrency: config.concurrency.max(1) as usize,
            per_nameserver_qps: config.per_nameserver_qps,
        };
        let selectors = if config.dkim_selectors.is_empty() {
            DEFAULT_SELECTORS.iter().map(|s| s.to_string()).collect()
        } else {
            let mut list: Vec<String> = Vec::new();
            for s in &config.dkim_selectors {
                let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
                if !s.is_empty() && !list.contains(&s) {
                    list.push(s);
                }
            }
            list
        };
        Ok(Scanner { inner: Arc::new(Inner { dns: Dns::new(&settings), selectors, nameservers }) })
    }

    /// The nameservers queries go to (from the config, or from resolv.conf).
    pub fn nameservers(&self) -> &[SocketAddr] {
        &self.inner.nameservers
    }

    /// The DKIM selectors every scan tries.
    pub fn dkim_selectors(&self) -> &[String] {
        &self.inner.selectors
    }

    /// Scans `domain` (punycode expected; a Unicode name is converted). Never fails: what went wrong
    /// is in `status` and `warnings`.
    pub async fn scan(&self, domain: &str) -> ScanResult {
        let Some(domain) = normalize_domain(domain) else {
            let mut result = empty_result(domain.trim().to_ascii_lowercase(), ScanStatus::Invalid, SpfStatus::None);
            result.warnings.push("not a valid domain name".into());
            return result;
        };
        let dns = Lookups::new(&self.inner.dns);
        let mut result = scan_domain(&dns, &domain, &self.inner.selectors).await;
        result.queries = dns.sent.load(Ordering::Relaxed);
        result
    }

    /// Whether the nameservers answer at all (`hunterd check`): any DNS answer counts, even NXDOMAIN;
    /// a timeout, SERVFAIL or REFUSED is the reason it does not.
    pub async fn probe(&self) -> Result<(), String> {
        let dns = Lookups::new(&self.inner.dns);
        match dns.query("com", RecordType::NS).await {
            Ok(_) => Ok(()),
            Err(Failure::Refused) => Err("refuses our queries (is recursion allowed for this host?)".into()),
            Err(failure) => Err(failure.to_string()),
        }
    }

    /// The A and AAAA addresses of `name`, through CNAMEs: where the domain and its `www` are hosted,
    /// for IP enrichment. Not part of the mail scan, so a failure only means no addresses.
    pub async fn addresses(&self, name: &str) -> Vec<IpAddr> {
        let dns = Lookups::new(&self.inner.dns);
        let (a, aaaa) = tokio::join!(dns.query(name, RecordType::A), dns.query(name, RecordType::AAAA));
        let mut found = Vec::new();
        for answer in [a, aaaa] {
            match answer {
                Ok(answer) => found.extend(answer.records.iter().filter_map(|r| match &r.data {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                    _ => None,
                })),
                Err(failure) => tracing::debug!(%name, "address lookup failed ({failure})"),
            }
        }
        found
    }
}

fn system_nameservers() -> Result<Vec<SocketAddr>, ScanError> {
    let (config, _opts) =
        hickory_resolver::system_conf::read_system_conf().map_err(|e| ScanError::SystemConfig(e.to_string()))?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for ns in config.name_servers() {
        for connection in &ns.connections {
            let addr = SocketAddr::new(ns.ip, connection.port);
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
    }
    if addrs.is_empty() {
        return Err(ScanError::NoNameservers);
    }
    Ok(addrs)
}

fn empty_result(domain: String, status: ScanStatus, spf_status: SpfStatus) -> ScanResult {
    ScanResult {
        domain,
        status,
        mx: Vec::new(),
        spf: SpfResult {
            status: spf_status,
            record: None,
            all_records: Vec::new(),
            includes: Vec::new(),
            lookup_count: 0,
            tree: None,
        },
        dmarc: None,
        dkim: Vec::new(),
        hints: TenantHints::default(),
        apex_txt: Vec::new(),
        raw: Vec::new(),
        queries: 0,
        warnings: Vec::new(),
    }
}

fn failure_status(failure: &Failure) -> ScanStatus {
    match failure {
        Failure::ServFail => ScanStatus::Servfail,
        Failure::Refused => ScanStatus::Refused,
        // No usable answer arrived: to the user that is the same as silence.
        Failure::Timeout | Failure::Other(_) => ScanStatus::Timeout,
    }
}

async fn scan_domain(dns: &Lookups<'_>, domain: &str, selectors: &[String]) -> ScanResult {
    // MX decides the status. A domain that does not exist, or whose servers fail or stay silent, is
    // not asked the other dozen questions: they would fail the same way, slowly.
    let mx_answer = match dns.query(domain, RecordType::MX).await {
        Ok(answer) => answer,
        Err(failure) => {
            let mut result = empty_result(domain.to_string(), failure_status(&failure), SpfStatus::TempError);
            result.warnings.push(format!("MX lookup failed ({failure})"));
            return result;
        }
    };
    let entries: Vec<(u16, String)> = of_type(&mx_answer.records, RecordType::MX)
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, name_str(&mx.exchange))),
            _ => None,
        })
        .collect();
    if mx_answer.is_nxdomain() && entries.is_empty() {
        let mut result = empty_result(domain.to_string(), ScanStatus::Nxdomain, SpfStatus::None);
        result.raw = raw_records(&mx_answer.records);
        return result;
    }
    let set = mx_set(&entries);
    let status = if set.null_mx {
        ScanStatus::NullMx
    } else if set.hosts.is_empty() {
        ScanStatus::NoMx
    } else {
        ScanStatus::Ok
    };

    let (hosts, txt, dmarc, dkim, autodiscover) = tokio::join!(
        resolve_hosts(dns, &set.hosts),
        txt_and_spf(dns, domain),
        lookup_dmarc(dns, domain),
        lookup_dkim(dns, domain, selectors),
        lookup_autodiscover(dns, domain),
    );

    let mut result = empty_result(domain.to_string(), status, SpfStatus::None);
    result.raw = raw_records(&mx_answer.records);
    if set.mixed_null {
        result.warnings.push("null MX published beside other MX hosts (RFC 7505 forbids it); ignored".into());
    }
    let (mx, host_raw, host_warnings) = hosts;
    result.mx = mx;
    result.raw.extend(host_raw);
    result.warnings.extend(host_warnings);

    let TxtPart { texts, spf, raw, warnings } = txt;
    result.hints.ms_verification = texts.iter().filter(|t| is_ms_verification(t)).cloned().collect();
    result.hints.google_site_verification = texts.iter().filter(|t| is_google_site_verification(t)).cloned().collect();
    result.apex_txt = texts;
    result.spf = spf;
    result.raw.extend(raw);
    result.warnings.extend(warnings);

    let (dmarc, raw, warnings) = dmarc;
    result.dmarc = dmarc;
    result.raw.extend(raw);
    result.warnings.extend(warnings);

    let (dkim, raw, warnings) = dkim;
    for selector in &dkim {
        if let Some(target) = &selector.cname_target
            && is_onmicrosoft(target)
            && !result.hints.dkim_onmicrosoft.contains(target)
        {
            result.hints.dkim_onmicrosoft.push(target.clone());
        }
    }
    result.dkim = dkim;
    result.raw.extend(raw);
    result.warnings.extend(warnings);

    let (autodiscover, raw, warnings) = autodiscover;
    result.hints.autodiscover_cname = autodiscover;
    result.raw.extend(raw);
    result.warnings.extend(warnings);
    result
}

/// A and AAAA of each MX host, through CNAMEs (recorded as the chain's final name).
async fn resolve_hosts(dns: &Lookups<'_>, hosts: &[(u16, String)]) -> (Vec<MxHost>, Vec<RawRecord>, Vec<String>) {
    let resolved = futures::future::join_all(hosts.iter().take(MAX_MX_HOSTS_RESOLVED).map(|(_, host)| async move {
        tokio::join!(dns.query_shared(host, RecordType::A), dns.query_shared(host, RecordType::AAAA))
    }))
    .await;
    let (mut raw, mut warnings) = (Vec::new(), Vec::new());
    let mut mx = Vec::with_capacity(hosts.len());
    for (i, (preference, host)) in hosts.iter().enumerate() {
        let mut entry =
            MxHost { preference: *preference, host: host.clone(), cname_target: None, addresses: Vec::new() };
        if let Some((a, aaaa)) = resolved.get(i) {
            for (rtype, answer) in [("A", a), ("AAAA", aaaa)] {
                match answer {
                    Ok(answer) => {
                        if entry.cname_target.is_none() {
                            entry.cname_target = cname_chain(&answer.records, host).last().cloned();
                        }
                        entry.addresses.extend(answer.records.iter().filter_map(|r| match &r.data {
                            RData::A(a) => Some(IpAddr::V4(a.0)),
                            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                            _ => None,
                        }));
                        raw.extend(raw_records(&answer.records));
                    }
                    Err(failure) => warnings.push(format!("{rtype} lookup of MX host {host} failed ({failure})")),
                }
            }
        }
        mx.push(entry);
    }
    if hosts.len() > MAX_MX_HOSTS_RESOLVED {
        warnings
            .push(format!("{} MX hosts; addresses looked up for the first {MAX_MX_HOSTS_RESOLVED} only", hosts.len()));
    }
    (mx, raw, warnings)
}

struct TxtPart {
    texts: Vec<String>,
    spf: SpfResult,
    raw: Vec<RawRecord>,
    warnings: Vec<String>,
}

async fn txt_and_spf(dns: &Lookups<'_>, domain: &str) -> TxtPart {
    let answer = dns.query(domain, RecordType::TXT).await;
    let (texts, mut raw) = match &answer {
        Ok(a) => (txt_texts(&a.records), raw_records(&a.records)),
        Err(_) => (Vec::new(), Vec::new()),
    };
    let apex = match &answer {
        Ok(_) => Ok(texts.as_slice()),
        Err(failure) => Err(failure),
    };
    let outcome = spf::evaluate(dns, domain, apex).await;
    raw.extend(outcome.raw);
    TxtPart { spf: outcome.result, texts, raw, warnings: outcome.warnings }
}

async fn lookup_dmarc(dns: &Lookups<'_>, domain: &str) -> (Option<DmarcRecord>, Vec<RawRecord>, Vec<String>) {
    match dns.query(&format!("_dmarc.{domain}"), RecordType::TXT).await {
        Ok(answer) => {
            let mut warnings = Vec::new();
            let records: Vec<DmarcRecord> = txt_texts(&answer.records).iter().filter_map(|t| parse_dmarc(t)).collect();
            if records.len() > 1 {
                warnings.push(format!(
                    "{} DMARC records at _dmarc.{domain}: receivers ignore them all; the first is reported",
                    records.len()
                ));
            }
            (records.into_iter().next(), raw_records(&answer.records), warnings)
        }
        Err(failure) => (None, Vec::new(), vec![format!("DMARC lookup failed ({failure})")]),
    }
}

/// `_domainkey.<domain>` is asked first: NXDOMAIN there means no selector below it exists (RFC 8020),
/// which saves the selector queries for the many domains without DKIM.
async fn lookup_dkim(
    dns: &Lookups<'_>,
    domain: &str,
    selectors: &[String],
) -> (Vec<DkimSelector>, Vec<RawRecord>, Vec<String>) {
    let (mut found, mut raw, mut warnings) = (Vec::new(), Vec::new(), Vec::new());
    if let Ok(probe) = dns.query(&format!("_domainkey.{domain}"), RecordType::TXT).await
        && probe.is_nxdomain()
        && probe.records.is_empty()
    {
        return (found, raw, warnings);
    }
    let names: Vec<String> = selectors.iter().map(|s| format!("{s}._domainkey.{domain}")).collect();
    let answers = futures::future::join_all(names.iter().map(|n| dns.query(n, RecordType::TXT))).await;
    for ((selector, name), answer) in selectors.iter().zip(&names).zip(answers) {
        match answer {
            Ok(answer) => {
                let chain = cname_chain(&answer.records, name);
                let record = txt_texts(&answer.records).into_iter().find(|t| is_dkim_record(t));
                if record.is_some() || !chain.is_empty() {
                    raw.extend(raw_records(&answer.records));
                    found.push(DkimSelector {
                        selector: selector.clone(),
                        record,
                        cname_target: chain.first().cloned(),
                    });
                }
            }
            Err(failure) => warnings.push(format!("DKIM lookup of selector {selector} failed ({failure})")),
        }
    }
    (found, raw, warnings)
}

async fn lookup_autodiscover(dns: &Lookups<'_>, domain: &str) -> (Option<String>, Vec<RawRecord>, Vec<String>) {
    let name = format!("autodiscover.{domain}");
    match dns.query(&name, RecordType::CNAME).await {
        Ok(answer) => (cname_chain(&answer.records, &name).first().cloned(), raw_records(&answer.records), Vec::new()),
        Err(failure) => (None, Vec::new(), vec![format!("autodiscover CNAME lookup failed ({failure})")]),
    }
}
