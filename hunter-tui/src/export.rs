//! Export of leads (`hunter-tui export`, `e` in the TUI): CSV with the contract's header order, or JSON.
//!
//! Columns are fixed by the user-facing contract: later features append, never reorder.

use protocol::LeadRow;
use serde_json::{Value, json};
use std::io::Write;

/// The CSV header, in contract order.
pub const COLUMNS: [&str; 33] = [
    "domain",
    "company",
    "provider",
    "gateway",
    "local_provider",
    "mx_hosts",
    "spf",
    "spf_includes",
    "dkim",
    "dmarc_policy",
    "dmarc_pct",
    "score",
    "segment",
    "commercial_segment",
    "technical_heat",
    "commercial_heat",
    "priority",
    "priority_label",
    "scan_status",
    "scanned_at",
    "ip_country",
    "ip_asn",
    "ip_org",
    "ip_proxy",
    "infrastructure_summary",
    "spf_result",
    "d365_status",
    "d365_lead_id",
    "d365_url",
    "d365_pushed_at",
    "referral_type",
    "referral_status",
    "referral_id",
];

fn opt<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// One row as CSV fields: booleans `true`/`false`, lists joined with `;`, empty for unknown,
/// timestamps RFC 3339 UTC. Written through [`crate::csv_cell::neutralise`].
pub fn csv_fields(row: &LeadRow) -> [String; 33] {
    [
        row.domain.clone(),
        opt(&row.company),
        opt(&row.provider),
        opt(&row.gateway),
        opt(&row.local_provider),
        row.mx_hosts.join(";"),
        opt(&row.spf),
        row.spf_includes.join(";"),
        opt(&row.dkim),
        opt(&row.dmarc_policy),
        opt(&row.dmarc_pct),
        opt(&row.score),
        opt(&row.segment),
        opt(&row.commercial_segment),
        opt(&row.technical_heat),
        opt(&row.commercial_heat),
        opt(&row.priority),
        opt(&row.priority_label),
        opt(&row.scan_status),
        row.scanned_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default(),
        opt(&row.ip_country),
        opt(&row.ip_asn),
        opt(&row.ip_org),
        opt(&row.ip_proxy),
        opt(&row.infrastructure_summary),
        opt(&row.spf_result),
        opt(&row.d365_status),
        opt(&row.d365_lead_id),
        opt(&row.d365_url),
        row.d365_pushed_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)).unwrap_or_default(),
        opt(&row.referral_type),
        opt(&row.referral_status),
        opt(&row.referral_id),
    ]
}

/// One row as a JSON object with the same keys (lists as arrays, unknown as null).
pub fn json_object(row: &LeadRow) -> Value {
    json!({
        "domain": row.domain,
        "company": row.company,
        "provider": row.provider,
        "gateway": row.gateway,
        "local_provider": row.local_provider,
        "mx_hosts": row.mx_hosts,
        "spf": row.spf,
        "spf_includes": row.spf_includes,
        "dkim": row.dkim,
        "dmarc_policy": row.dmarc_policy,
        "dmarc_pct": row.dmarc_pct,
        "score": row.score,
        "segment": row.segment,
        "commercial_segment": row.commercial_segment,
        "technical_heat": row.technical_heat,
        "commercial_heat": row.commercial_heat,
        "priority": row.priority,
        "priority_label": row.priority_label,
        "scan_status": row.scan_status,
        "scanned_at": row.scanned_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "ip_country": row.ip_country,
        "ip_asn": row.ip_asn,
        "ip_org": row.ip_org,
        "ip_proxy": row.ip_proxy,
        "infrastructure_summary": row.infrastructure_summary,
        "spf_result": row.spf_result,
        "d365_status": row.d365_status,
        "d365_lead_id": row.d365_lead_id,
        "d365_url": row.d365_url,
        "d365_pushed_at": row.d365_pushed_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "referral_type": row.referral_type,
        "referral_status": row.referral_status,
        "referral_id": row.referral_id,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// Writes rows page by page: the caller feeds pages as they arrive, so memory stays bounded.
pub struct Exporter<W: Write> {
    format: Format,
    csv: Option<csv::Writer<W>>,
    out: Option<W>,
    rows: u64,
}

impl<W: Write> Exporter<W> {
    pub fn new(format: Format, out: W) -> std::io::Result<Self> {
        match format {
            Format::Csv => {
                let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
                writer.write_record(COLUMNS).map_err(std::io::Error::other)?;
                Ok(Exporter { format, csv: Some(writer), out: None, rows: 0 })
            }
            Format::Json => {
                let mut out = out;
                out.write_all(b"[")?;
                Ok(Exporter { format, csv: None, out: Some(out), rows: 0 })
            }
        }
    }

    pub fn write(&mut self, row: &LeadRow) -> std::io::Result<()> {
        match self.format {
            Format::Csv => {
                if let Some(csv) = &mut self.csv {
                    csv.write_record(csv_fields(row).map(crate::csv_cell::neutralise))
                        .map_err(std::io::Error::other)?;
                }
            }
            Format::Json => {
                if let Some(out) = &mut self.out {
                    out.write_all(if self.rows == 0 { b"\n" } else { b",\n" })?;
                    serde_json::to_writer(&mut *out, &json_object(row))?;
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Closes the document; returns how many rows were written.
    pub fn finish(mut self) -> std::io::Result<u64> {
        if let Some(mut csv) = self.csv.take() {
            csv.flush()?;
        }
        if let Some(mut out) = self.out.take() {
            out.write_all(b"\n]\n")?;
            out.flush()?;
        }
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> LeadRow {
        LeadRow {
            domain: "contoso.com".into(),
            company: Some("Contoso, Ltd.".into()),
            provider: Some("M365".into()),
            gateway: Some("Mimecast".into()),
            mx_hosts: vec!["eu-smtp-inbound-1.mimecast.com".into(), "eu-smtp-inbound-2.mimecast.com".into()],
            spf: Some(true),
            spf_includes: vec!["spf.protection.outlook.com".into(), "_netblocks.mimecast.com".into()],
            dkim: Some(false),
            dmarc_policy: Some("reject".into()),
            dmarc_pct: Some(100),
            score: Some(75),
            segment: Some("Existing".into()),
            scan_status: Some("ok".into()),
            scanned_at: chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc)),
            ..LeadRow::default()
        }
    }

    fn export(format: Format, rows: &[LeadRow]) -> String {
        let mut buf = Vec::new();
        let mut exporter = Exporter::new(format, &mut buf).unwrap();
        for r in rows {
            exporter.write(r).unwrap();
        }
        exporter.finish().unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn the_csv_header_is_the_contract_order() {
        let text = export(Format::Csv, &[]);
        assert_eq!(
            text.lines().next().unwrap(),
            "domain,company,provider,gateway,local_provider,mx_hosts,spf,spf_includes,dkim,dmarc_policy,dmarc_pct,score,segment,commercial_segment,technical_heat,commercial_heat,priority,priority_label,scan_status,scanned_at,ip_country,ip_asn,ip_org,ip_proxy,infrastructure_summary,spf_result,d365_status,d365_lead_id,d365_url,d365_pushed_at,referral_type,referral_status,referral_id"
        );
    }

    #[test]
    fn csv_rows_use_true_false_semicolons_empty_unknowns_and_utc_times() {
        let text = export(Format::Csv, &[row()]);
        let line = text.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "contoso.com,\"Contoso, Ltd.\",M365,Mimecast,,eu-smtp-inbound-1.mimecast.com;eu-smtp-inbound-2.mimecast.com,true,spf.protection.outlook.com;_netblocks.mimecast.com,false,reject,100,75,Existing,,,,,,ok,2026-11-23T10:00:00Z,,,,,,,,,,,,,"
        );
    }

    #[test]
    fn ip_enrichment_columns_follow_the_scan_columns_in_the_csv() {
        let enriched = LeadRow {
            ip_country: Some("IE".into()),
            ip_asn: Some(8075),
            ip_org: Some("Microsoft".into()),
            ip_proxy: Some(false),
            infrastructure_summary: Some(
                "Mail servers hosted by Microsoft (AS8075) in Ireland; no proxy/VPN signals".into(),
            ),
            ..row()
        };
        let text = export(Format::Csv, &[enriched]);
        let line = text.lines().nth(1).unwrap();
        assert!(
            line.ends_with(
                ",2026-11-23T10:00:00Z,IE,8075,Microsoft,false,Mail servers hosted by Microsoft (AS8075) in Ireland; no proxy/VPN signals,,,,,,,,"
            ),
            "{line}"
        );
    }

    #[test]
    fn spf_result_precedes_the_dynamics_columns() {
        let text = export(Format::Csv, &[LeadRow { spf_result: Some("temperror".into()), ..row() }]);
        assert!(text.lines().nth(1).unwrap().ends_with(",temperror,,,,,,,"), "{text}");
    }

    #[test]
    fn dynamics_columns_follow_spf_result_with_the_record_link_and_push_time() {
        let pushed = LeadRow {
            d365_status: Some("synced".into()),
            d365_lead_id: Some("5f1c0a52-0000-0000-0000-000000000001".into()),
            d365_url: Some(
                "https://org.example/main.aspx?etn=lead&id=5f1c0a52-0000-0000-0000-000000000001&pagetype=entityrecord"
                    .into(),
            ),
            d365_pushed_at: chrono::DateTime::parse_from_rfc3339("2026-12-07T01:00:00Z").ok().map(|t| t.to_utc()),
            ..row()
        };
        let text = export(Format::Csv, &[pushed]);
        assert!(text.lines().next().unwrap().contains(",spf_result,d365_status,d365_lead_id,d365_url,d365_pushed_at,"));
        assert!(
            text.lines().nth(1).unwrap().ends_with(
                ",synced,5f1c0a52-0000-0000-0000-000000000001,https://org.example/main.aspx?etn=lead&id=5f1c0a52-0000-0000-0000-000000000001&pagetype=entityrecord,2026-12-07T01:00:00Z,,,"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_partner_center_columns_come_last() {
        let referred = LeadRow {
            referral_type: Some("co-sell".into()),
            referral_status: Some("Active".into()),
            referral_id: Some("8e4c1f0e".into()),
            ..row()
        };
        let text = export(Format::Csv, &[referred]);
        assert!(text.lines().nth(1).unwrap().ends_with(",co-sell,Active,8e4c1f0e"), "{text}");
    }

    #[test]
    fn json_export_is_an_array_of_objects_with_the_same_keys() {
        let text = export(Format::Json, &[row(), LeadRow { domain: "b.example".into(), ..LeadRow::default() }]);
        let value: Value = serde_json::from_str(&text).unwrap();
        let items = value.as_array().unwrap();
        assert_eq!(items.len(), 2);
        let keys: Vec<&str> = items[0].as_object().unwrap().keys().map(String::as_str).collect();
        for column in COLUMNS {
            assert!(keys.contains(&column), "missing {column}");
        }
        assert_eq!(items[1]["score"], Value::Null);
        assert_eq!(items[0]["mx_hosts"][1], "eu-smtp-inbound-2.mimecast.com");
    }

    #[test]
    fn an_empty_json_export_is_an_empty_array() {
        let value: Value = serde_json::from_str(&export(Format::Json, &[])).unwrap();
        assert_eq!(value, json!([]));
    }
}
