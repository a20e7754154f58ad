//! Change detection between two consecutive scans of a lead: what a salesperson wants to be told
//! about (a lead moved to Google, put a gateway in front, tightened DMARC…).

use serde::Serialize;

/// The parts of a lead whose change is news.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub provider: Option<String>,
    pub gateway: Option<String>,
    pub mx_hosts: Vec<String>,
    pub spf_record: Option<String>,
    pub dmarc_policy: Option<String>,
    /// Selectors that have a DKIM key.
    pub dkim_selectors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
}

fn joined_set(values: &[String]) -> Option<String> {
    let mut sorted: Vec<&str> = values.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    (!sorted.is_empty()).then(|| sorted.join(";"))
}

/// Differences from `before` to `after`. MX hosts and DKIM selectors compare as sets (order and
/// duplicates are not news); SPF compares the record text.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<FieldChange> {
    let pairs: [(&'static str, Option<String>, Option<String>); 6] = [
        ("provider", before.provider.clone(), after.provider.clone()),
        ("gateway", before.gateway.clone(), after.gateway.clone()),
        ("mx", joined_set(&before.mx_hosts), joined_set(&after.mx_hosts)),
        ("spf", before.spf_record.clone(), after.spf_record.clone()),
        ("dmarc_policy", before.dmarc_policy.clone(), after.dmarc_policy.clone()),
        ("dkim", joined_set(&before.dkim_selectors), joined_set(&after.dkim_selectors)),
    ];
    pairs
        .into_iter()
        .filter(|(_, from, to)| from != to)
        .map(|(field, from, to)| FieldChange { field, from, to })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m365() -> Snapshot {
        Snapshot {
            provider: Some("M365".into()),
            gateway: None,
            mx_hosts: vec!["contoso-com.mail.protection.outlook.com".into()],
            spf_record: Some("v=spf1 include:spf.protection.outlook.com -all".into()),
            dmarc_policy: Some("none".into()),
            dkim_selectors: vec!["selector1".into(), "selector2".into()],
        }
    }

    #[test]
    fn identical_scans_report_nothing() {
        assert!(diff(&m365(), &m365()).is_empty());
    }

    #[test]
    fn mx_order_and_dkim_order_are_not_changes() {
        let mut a = m365();
        a.mx_hosts = vec!["b.example".into(), "a.example".into()];
        let mut b = a.clone();
        b.mx_hosts = vec!["a.example".into(), "b.example".into(), "a.example".into()];
        b.dkim_selectors.reverse();
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn a_move_to_google_reports_provider_and_mx() {
        let mut after = m365();
        after.provider = Some("Google".into());
        after.mx_hosts = vec!["aspmx.l.google.com".into()];
        let changes = diff(&m365(), &after);
        let fields: Vec<&str> = changes.iter().map(|c| c.field).collect();
        assert_eq!(fields, vec!["provider", "mx"]);
        assert_eq!(changes[0].from.as_deref(), Some("M365"));
        assert_eq!(changes[0].to.as_deref(), Some("Google"));
    }

    #[test]
    fn a_new_gateway_and_a_stricter_dmarc_policy_are_reported() {
        let mut after = m365();
        after.gateway = Some("Mimecast".into());
        after.dmarc_policy = Some("reject".into());
        let changes = diff(&m365(), &after);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0], FieldChange { field: "gateway", from: None, to: Some("Mimecast".into()) });
        assert_eq!(changes[1].field, "dmarc_policy");
    }

    #[test]
    fn losing_dkim_is_reported() {
        let mut after = m365();
        after.dkim_selectors.clear();
        let changes = diff(&m365(), &after);
        assert_eq!(changes, vec![FieldChange { field: "dkim", from: Some("selector1;selector2".into()), to: None }]);
    }
}
