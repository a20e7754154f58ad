//! Reading DNS answers: names, TXT strings, CNAME chains and the raw evidence we keep.

use super::model::RawRecord;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

/// Lower-case presentation form without the trailing dot ("" for the root).
pub fn name_str(name: &Name) -> String {
    let mut s = name.to_ascii().to_ascii_lowercase();
    if s.ends_with('.') {
        s.pop();
    }
    s
}

/// A query name for `domain` (absolute, so no search list ever applies).
pub fn fqdn(domain: &str) -> Option<Name> {
    Name::from_ascii(format!("{domain}.")).ok()
}

/// The text of every TXT record in `records`, each record's strings joined without a separator
/// (RFC 7208 §3.3).
pub fn txt_texts(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(txt.txt_data.iter().map(|s| String::from_utf8_lossy(s)).collect::<String>()),
            _ => None,
        })
        .collect()
}

/// The CNAME targets met when following the chain from `from`, in order (empty if `from` is not an
/// alias). Stops on a loop.
pub fn cname_chain(records: &[Record], from: &str) -> Vec<String> {
    let mut chain: Vec<String> = Vec::new();
    let mut current = from.to_string();
    while let Some(target) = records.iter().find_map(|r| match &r.data {
        RData::CNAME(c) if name_str(&r.name) == current => Some(name_str(&c.0)),
        _ => None,
    }) {
        if target == from || chain.contains(&target) {
            break;
        }
        chain.push(target.clone());
        current = target;
    }
    chain
}

/// Records as kept for evidence: TXT as quoted strings (so a multi-string record stays visible),
/// everything else in presentation format.
pub fn raw_records(records: &[Record]) -> Vec<RawRecord> {
    records
        .iter()
        .map(|r| {
            let data = match &r.data {
                RData::TXT(txt) => txt
                    .txt_data
                    .iter()
                    .map(|s| format!("\"{}\"", String::from_utf8_lossy(s).replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            };
            RawRecord { name: name_str(&r.name), rtype: r.record_type().to_string(), data }
        })
        .collect()
}

/// Records of `rtype` in an answer.
pub fn of_type(records: &[Record], rtype: RecordType) -> impl Iterator<Item = &Record> {
    records.iter().filter(move |r| r.record_type() == rtype)
}
