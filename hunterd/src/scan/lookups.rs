//! One scan's view of the DNS transport: counts what it sends and follows CNAME chains that a
//! nameserver answers with the alias alone (authoritative servers and some forwarders do).

use super::records::{fqdn, name_str};
use super::resolver::{Answer, Dns, Failure};
use hickory_resolver::proto::rr::{RData, RecordType};
use std::sync::atomic::AtomicU32;

/// Longest CNAME chain followed (hops, the first alias included).
pub const MAX_CHAIN: usize = 8;

pub(crate) struct Lookups<'a> {
    dns: &'a Dns,
    pub sent: AtomicU32,
}

impl<'a> Lookups<'a> {
    pub fn new(dns: &'a Dns) -> Self {
        Lookups { dns, sent: AtomicU32::new(0) }
    }

    /// A domain's own records.
    pub async fn query(&self, name: &str, rtype: RecordType) -> Result<Answer, Failure> {
        self.chased(name, rtype, false).await
    }

    /// For names shared by many domains (SPF include targets, MX hosts): see [`Dns::query_shared`].
    pub async fn query_shared(&self, name: &str, rtype: RecordType) -> Result<Answer, Failure> {
        self.chased(name, rtype, true).await
    }

    async fn ask(&self, name: &str, rtype: RecordType, shared: bool) -> Result<Answer, Failure> {
        let Some(qname) = fqdn(name) else { return Err(Failure::Other(format!("`{name}` is not a valid DNS name"))) };
        if shared {
            self.dns.query_shared(&qname, rtype, &self.sent).await
        } else {
            self.dns.query(&qname, rtype, &self.sent).await
        }
    }

    /// The answer for `name`, with the chain followed when it ends in an alias without the asked
    /// records: every hop's CNAME stays in the answer (evidence), then the target's records. A loop
    /// or a chain longer than [`MAX_CHAIN`] stops where it is.
    async fn chased(&self, name: &str, rtype: RecordType, shared: bool) -> Result<Answer, Failure> {
        let mut answer = self.ask(name, rtype, shared).await?;
        if rtype == RecordType::CNAME {
            return Ok(answer);
        }
        let start = name.trim_end_matches('.').to_ascii_lowercase();
        let mut asked = vec![start.clone()];
        loop {
            // A resolver that followed the chain itself proves the end has no such records (a SOA
            // with NOERROR) or does not exist (NXDOMAIN): nothing to ask.
            if answer.negative_proof || answer.is_nxdomain() {
                return Ok(answer);
            }
            let Some((next, hops)) = dangling_alias(&answer, &start, rtype) else { return Ok(answer) };
            if hops >= MAX_CHAIN || asked.contains(&next) {
                return Ok(answer);
            }
            asked.push(next.clone());
            // Alias targets are usually a provider's names, shared by many domains.
            let more = self.ask(&next, rtype, true).await?;
            answer.rcode = more.rcode;
            answer.negative_proof = more.negative_proof;
            for record in more.records {
                if !answer.records.contains(&record) {
                    answer.records.push(record);
                }
            }
        }
    }
}

/// The target to ask next and the chain's length so far: the end of the CNAME chain from `from`,
/// when the answer holds no `rtype` record there. `None` when there is nothing to follow (no alias,
/// the records are there, or the chain loops inside the answer).
fn dangling_alias(answer: &Answer, from: &str, rtype: RecordType) -> Option<(String, usize)> {
    let mut chain = vec![from.to_string()];
    loop {
        let current = chain.last()?;
        let target = answer.records.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if name_str(&r.name) == *current => Some(name_str(&c.0)),
            _ => None,
        });
        match target {
            Some(target) if chain.contains(&target) => return None,
            Some(target) => chain.push(target),
            None => break,
        }
    }
    let end = chain.last()?;
    let answered = answer.records.iter().any(|r| r.record_type() == rtype && name_str(&r.name) == *end);
    let hops = chain.len() - 1;
    (hops > 0 && !answered).then(|| (end.clone(), hops))
}
