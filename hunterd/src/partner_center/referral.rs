//! One referral as Hunter understands it, read leniently from the API's JSON (microsoft-apis.md
//! B.8: nulls nearly everywhere, fields we do not model, `ids` as an array or an object), plus the
//! two rules that matter to a salesperson: what kind of referral it is (B.10) and which company
//! domain it belongs to. Pure functions: no I/O here.

use crate::intake::{DomainRules, Rejection};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// What kind of referral this is, derived from `type`, `qualification`, `direction` and
/// `inviteContext` (microsoft-apis.md B.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferralKind {
    /// `Shared`: Microsoft- or partner-originated co-sell (or our own invitation to co-sell).
    CoSell,
    /// A commercial-marketplace lead (`referralSource` / `callToAction` set).
    Marketplace,
    /// `Independent` + `Direct`: a customer found us on Microsoft's solution-provider pages.
    SolutionProvider,
    /// `Independent` + `MarketingQualified`: from Microsoft marketing automation.
    MarketingQualified,
    /// `Outgoing` and not shared: our own pipeline deal.
    OwnDeal,
}

impl ReferralKind {
    pub const ALL: [ReferralKind; 5] = [
        ReferralKind::CoSell,
        ReferralKind::Marketplace,
        ReferralKind::SolutionProvider,
        ReferralKind::MarketingQualified,
        ReferralKind::OwnDeal,
    ];

    /// The stored and filterable name (the lead list's `referral` facet uses these).
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralKind::CoSell => "co-sell",
            ReferralKind::Marketplace => "marketplace",
            ReferralKind::SolutionProvider => "solution-provider",
            ReferralKind::MarketingQualified => "marketing-qualified",
            ReferralKind::OwnDeal => "own-deal",
        }
    }

    pub fn parse(s: &str) -> Option<ReferralKind> {
        ReferralKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Whether a referral could be tied to a company domain, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Linked(String),
    /// Neither a website nor a contact address.
    NoDomain,
    /// Only consumer mailboxes (gmail.com, outlook.com, …): no company to tie it to.
    FreeMailOnly,
    /// A website or address was there but is not a usable domain; the reason says what was wrong.
    Invalid(String),
    /// A person removed the link (`hunter-tui referrals unlink`); syncs leave it removed.
    Unlinked,
}

impl Link {
    pub fn status(&self) -> &'static str {
        match self {
            Link::Linked(_) => "linked",
            Link::NoDomain => "no_domain",
            Link::FreeMailOnly => "free_mail_only",
            Link::Invalid(_) => "invalid",
            Link::Unlinked => "unlinked",
        }
    }

    pub fn domain(&self) -> Option<&str> {
        match self {
            Link::Linked(d) => Some(d),
            _ => None,
        }
    }

    /// Why no company was linked (for the log and the intake row).
    pub fn reason(&self) -> Option<String> {
        match self {
            Link::Linked(_) => None,
            Link::NoDomain => Some("the referral has no website and no customer contact e-mail".into()),
            Link::FreeMailOnly => Some("the referral's contacts only use free-mail addresses".into()),
            Link::Invalid(why) => Some(why.clone()),
            Link::Unlinked => Some("the link was removed by hand; syncs leave it removed".into()),
        }
    }
}

/// What scoring needs to know about a company's referrals (read with its scan claim).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyReferrals {
    /// Distinct [`ReferralKind`] names.
    pub kinds: Vec<String>,
    /// The customer's Entra tenant id, when a referral carried one.
    pub customer_tenant: Option<String>,
}

impl CompanyReferrals {
    /// From the stored kinds and the tenant-bearing parts of the stored referrals.
    pub fn from_stored(kinds: Vec<String>, tenant_parts: &[Value]) -> CompanyReferrals {
        CompanyReferrals { kinds, customer_tenant: tenant_parts.iter().find_map(tenant_id) }
    }
}

/// A referral record that cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the record is not a JSON object")]
    NotAnObject,
    #[error("the record has no `id`")]
    NoId,
    #[error("`{field}` is not a date-time: {value}")]
    BadTime { field: &'static str, value: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Referral {
    pub id: String,
    pub engagement_id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub substatus: Option<String>,
    pub referral_type: Option<String>,
    pub qualification: Option<String>,
    pub direction: Option<String>,
    pub kind: Option<ReferralKind>,
    pub customer_name: Option<String>,
    /// The customer's contacts' addresses (`customerProfile.team[].email` and the older contact fields).
    pub contact_emails: Vec<String>,
    pub websites: Vec<String>,
    pub deal_value: Option<f64>,
    pub currency: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub expiration: Option<DateTime<Utc>>,
    /// The customer's Entra tenant id, when a record carries one (undocumented: accepted if present).
    pub tenant_id: Option<String>,
    pub raw: Value,
}

impl Referral {
    /// Reads one element of a page's `value`. Only a missing `id` or an unreadable timestamp makes a
    /// record unusable; every other field is optional and read whatever its JSON type.
    pub fn from_json(raw: Value) -> Result<Referral, Malformed> {
        if !raw.is_object() {
            return Err(Malformed::NotAnObject);
        }
        let id = text(&raw, &["id"]).ok_or(Malformed::NoId)?;
        let time = |field: &'static str| -> Result<Option<DateTime<Utc>>, Malformed> {
            match raw.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
                    .map(|t| Some(t.with_timezone(&Utc)))
                    .map_err(|_| Malformed::BadTime { field, value: s.clone() }),
                Some(other) => Err(Malformed::BadTime { field, value: other.to_string() }),
            }
        };
        let (created, updated, expiration) =
            (time("createdDateTime")?, time("updatedDateTime")?, time("expirationDateTime")?);
        let mut referral = Referral {
            engagement_id: text(&raw, &["engagementId"]),
            name: text(&raw, &["name"]),
            status: text(&raw, &["status"]),
            substatus: text(&raw, &["substatus"]),
            referral_type: text(&raw, &["type"]),
            qualification: text(&raw, &["qualification"]),
            direction: text(&raw, &["direction"]),
            kind: None,
            customer_name: text(&raw, &["customerProfile", "name"]),
            contact_emails: contact_emails(&raw),
            websites: websites(&raw),
            deal_value: number(raw.pointer("/details/dealValue")),
            currency: text(&raw, &["details", "currency"]),
            created,
            updated,
            expiration,
            tenant_id: tenant_id(&raw),
            id,
            raw: Value::Null,
        };
        referral.kind = kind(&referral, &raw);
        referral.raw = raw;
        Ok(referral)
    }

    /// The company domain: a website first, then the contacts' e-mail domains (free mail skipped).
    pub fn link(&self, rules: &DomainRules) -> Link {
        let mut invalid: Option<String> = None;
        let mut free_mail = false;
        let candidates = self
            .websites
            .iter()
            .map(|w| ("website", w))
            .chain(self.contact_emails.iter().map(|e| ("contact e-mail", e)));
        for (what, value) in candidates {
            match rules.check(value) {
                Ok(domain) => return Link::Linked(domain),
                Err(Rejection::FreeMail(_)) => free_mail = true,
                Err(why) => {
                    invalid
                        .get_or_insert_with(|| format!("{what} `{}` is not a company domain: {why}", shorten(value)));
                }
            }
        }
        match (free_mail, invalid) {
            (true, _) => Link::FreeMailOnly,
            (false, Some(why)) => Link::Invalid(why),
            (false, None) => Link::NoDomain,
        }
    }
}

/// microsoft-apis.md B.10, in order of how specific the evidence is.
fn kind(r: &Referral, raw: &Value) -> Option<ReferralKind> {
    let is = |v: &Option<String>, want: &str| v.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(want));
    if is(&r.referral_type, "Shared") {
        return Some(ReferralKind::CoSell);
    }
    let marketplace = ["referralSource", "callToAction"].iter().any(|f| text(raw, &[f]).is_some());
    if marketplace {
        return Some(ReferralKind::Marketplace);
    }
    if is(&r.direction, "Outgoing") {
        return Some(ReferralKind::OwnDeal);
    }
    if is(&r.qualification, "Direct") {
        return Some(ReferralKind::SolutionProvider);
    }
    if is(&r.qualification, "MarketingQualified") {
        return Some(ReferralKind::MarketingQualified);
    }
    let invited_by_microsoft =
        text(raw, &["inviteContext", "invitedBy", "organizationId"]).is_some_and(|o| o.eq_ignore_ascii_case("msft"));
    if invited_by_microsoft || is(&r.qualification, "SalesQualified") {
        return Some(ReferralKind::CoSell);
    }
    None
}

/// A non-empty string at `path` (numbers are accepted as their text).
fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut at = v;
    for key in path {
        at = at.get(key)?;
    }
    match at {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `dealValue` is a number in the schema, a string in the docs' PATCH example: take both.
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

fn contact_emails(raw: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: Option<String>| {
        if let Some(e) = v
            && !out.iter().any(|o| o.eq_ignore_ascii_case(&e))
        {
            out.push(e);
        }
    };
    if let Some(Value::Array(team)) = raw.pointer("/customerProfile/team") {
        for member in team {
            push(text(member, &["email"]));
        }
    }
    for path in [
        &["customerProfile", "primaryContact", "email"][..],
        &["contact", "email"],
        &["details", "contact", "email"],
        &["email"],
    ] {
        push(text(raw, path));
    }
    out
}

fn websites(raw: &Value) -> Vec<String> {
    let paths: [&[&str]; 5] = [
        &["customerProfile", "website"],
        &["customerProfile", "companyWebsite"],
        &["website"],
        &["companyWebsite"],
        &["details", "website"],
    ];
    paths.iter().filter_map(|p| text(raw, p)).collect()
}

/// B.11: no documented field carries it; accept a top-level `azureTenantId` or a
/// `customerProfile.ids` entry whose profile type names a tenant, when its id is a GUID.
fn tenant_id(raw: &Value) -> Option<String> {
    let guid = |s: String| uuid::Uuid::parse_str(&s).ok().map(|u| u.to_string());
    if let Some(t) = text(raw, &["azureTenantId"]).and_then(guid) {
        return Some(t);
    }
    let Some(Value::Array(ids)) = raw.pointer("/customerProfile/ids") else { return None };
    ids.iter()
        .filter(|e| text(e, &["profileType"]).is_some_and(|t| t.to_ascii_lowercase().contains("tenant")))
        .find_map(|e| text(e, &["id"]).and_then(guid))
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 80 { s.to_string() } else { format!("{}…", s.chars().take(80).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn referral(v: Value) -> Referral {
        Referral::from_json(v).expect("a usable record")
    }

    fn kind_of(v: Value) -> Option<&'static str> {
        referral(v).kind.map(ReferralKind::as_str)
    }

    #[test]
    fn microsoft_originated_shared_referrals_are_co_sell() {
        let r = json!({"id": "a", "type": "Shared", "qualification": "SalesQualified", "direction": "Incoming",
                       "inviteContext": {"invitedBy": {"organizationId": "msft", "organizationName": "Microsoft"}}});
        assert_eq!(kind_of(r), Some("co-sell"));
    }

    #[test]
    fn shared_referrals_from_another_partner_are_co_sell() {
        let r = json!({"id": "a", "type": "Shared", "qualification": "SalesQualified", "direction": "Incoming",
                       "inviteContext": {"invitedBy": {"organizationId": "5f1e", "organizationName": "Fabrikam"}}});
        assert_eq!(kind_of(r), Some("co-sell"));
    }

    #[test]
    fn independent_direct_incoming_referrals_are_solution_provider_leads() {
        let r = json!({"id": "a", "type": "Independent", "qualification": "Direct", "direction": "Incoming"});
        assert_eq!(kind_of(r), Some("solution-provider"));
    }

    #[test]
    fn marketing_qualified_referrals_are_their_own_kind() {
        let r =
            json!({"id": "a", "type": "Independent", "qualification": "MarketingQualified", "direction": "Incoming"});
        assert_eq!(kind_of(r), Some("marketing-qualified"));
    }

    #[test]
    fn outgoing_independent_referrals_are_our_own_deals() {
        let r = json!({"id": "a", "type": "Independent", "qualification": "None", "direction": "Outgoing"});
        assert_eq!(kind_of(r), Some("own-deal"));
    }

    #[test]
    fn a_referral_source_marks_a_marketplace_lead() {
        let r = json!({"id": "a", "type": "Independent", "qualification": "None", "direction": "Incoming",
                       "referralSource": "AppSource", "callToAction": "ContactMe"});
        assert_eq!(kind_of(r), Some("marketplace"));
    }

    #[test]
    fn a_referral_without_any_telling_field_has_no_kind() {
        assert_eq!(kind_of(json!({"id": "a"})), None);
    }

    #[test]
    fn a_record_without_an_id_is_malformed() {
        assert_eq!(Referral::from_json(json!({"name": "x"})), Err(Malformed::NoId));
        assert_eq!(Referral::from_json(json!("just a string")), Err(Malformed::NotAnObject));
    }

    #[test]
    fn an_unreadable_update_time_is_malformed() {
        let r = Referral::from_json(json!({"id": "a", "updatedDateTime": "yesterday"}));
        assert!(matches!(r, Err(Malformed::BadTime { field: "updatedDateTime", .. })), "{r:?}");
    }

    #[test]
    fn seven_digit_fractions_and_nulls_are_read() {
        let r = referral(json!({"id": "a", "createdDateTime": "2024-03-01T10:11:12.1234567Z",
                                "updatedDateTime": null, "details": {"dealValue": "10000.5", "currency": "EUR"}}));
        assert_eq!(r.created.map(|t| t.to_rfc3339()), Some("2024-03-01T10:11:12.123456700+00:00".into()));
        assert_eq!(r.updated, None);
        assert_eq!(r.deal_value, Some(10000.5));
        assert_eq!(r.currency.as_deref(), Some("EUR"));
    }

    #[test]
    fn the_website_wins_over_contact_addresses() {
        let r = referral(json!({"id": "a", "website": "https://www.Contoso.com/about",
                                "customerProfile": {"team": [{"email": "ann@fabrikam.com"}]}}));
        assert_eq!(r.link(&DomainRules::default()), Link::Linked("contoso.com".into()));
    }

    #[test]
    fn free_mail_contacts_are_skipped_for_the_next_company_address() {
        let r = referral(json!({"id": "a", "customerProfile": {"team": [
            {"email": "ann@gmail.com"}, {"email": "bob@Fabrikam.co.uk"}]}}));
        assert_eq!(r.link(&DomainRules::default()), Link::Linked("fabrikam.co.uk".into()));
    }

    #[test]
    fn only_free_mail_contacts_leave_the_referral_unlinked_saying_so() {
        let r = referral(json!({"id": "a", "customerProfile": {"team": [{"email": "ann@gmail.com"}]}}));
        assert_eq!(r.link(&DomainRules::default()).status(), "free_mail_only");
    }

    #[test]
    fn no_website_and_no_contact_is_no_domain() {
        let r = referral(json!({"id": "a", "customerProfile": {"team": "not a list", "ids": {}}}));
        assert_eq!(r.link(&DomainRules::default()), Link::NoDomain);
    }

    #[test]
    fn an_unusable_website_is_invalid_with_the_reason() {
        let r = referral(json!({"id": "a", "website": "http://192.0.2.1/"}));
        let link = r.link(&DomainRules::default());
        assert_eq!(link.status(), "invalid");
        assert!(link.reason().is_some_and(|r| r.contains("192.0.2.1")), "{link:?}");
    }

    #[test]
    fn a_tenant_id_is_taken_from_a_tenant_profile_entry() {
        let r = referral(json!({"id": "a", "customerProfile": {"ids": [
            {"profileType": "Duns", "id": "123"},
            {"profileType": "AzureTenantId", "id": "0A1B2C3D-0000-4000-8000-000000000001"}]}}));
        assert_eq!(r.tenant_id.as_deref(), Some("0a1b2c3d-0000-4000-8000-000000000001"));
    }
}
