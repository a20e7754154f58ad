//! The referral inbox: every synced Partner Center referral, linked to a company or not, and the
//! manual links a person sets when the sync could not find the company (no website, only free-mail
//! contacts, an invalid domain) or found the wrong one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a referral is tied to a company, and if not, why. `Unlinked` is a person's doing
/// (`referrals unlink`); the others are what the sync found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkStatus {
    Linked,
    /// Neither a website nor a contact address.
    NoDomain,
    /// Only consumer mailboxes (gmail.com, outlook.com, …).
    FreeMailOnly,
    /// A website or address that is not a usable company domain.
    Invalid,
    /// A person removed the link; later syncs leave it removed.
    Unlinked,
}

impl LinkStatus {
    pub const ALL: [LinkStatus; 5] =
        [LinkStatus::Linked, LinkStatus::NoDomain, LinkStatus::FreeMailOnly, LinkStatus::Invalid, LinkStatus::Unlinked];

    /// The stored name, also used on command lines (`--link-status no_domain`) and in exports.
    pub fn name(self) -> &'static str {
        match self {
            LinkStatus::Linked => "linked",
            LinkStatus::NoDomain => "no_domain",
            LinkStatus::FreeMailOnly => "free_mail_only",
            LinkStatus::Invalid => "invalid",
            LinkStatus::Unlinked => "unlinked",
        }
    }

    pub fn from_name(name: &str) -> Option<LinkStatus> {
        LinkStatus::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Every facet is "any of these values" (empty = no constraint); facets combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralFilter {
    /// Case-insensitive substring of the referral id, name, customer, domain or a contact address.
    pub text: Option<String>,
    /// Referral kinds (`co-sell`, `marketplace`, `solution-provider`, `marketing-qualified`,
    /// `own-deal`; `unknown` for a referral whose kind could not be told).
    pub kinds: Vec<String>,
    /// Partner Center statuses (`New`, `Active`, `Closed`; `unknown` for none).
    pub statuses: Vec<String>,
    pub link_statuses: Vec<LinkStatus>,
    /// Only incoming referrals expiring within the daemon's `partner_center.expiring_soon` window.
    pub expiring_only: bool,
}

impl ReferralFilter {
    pub fn is_empty(&self) -> bool {
        *self == ReferralFilter::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReferralSort {
    Id,
    Name,
    Customer,
    Kind,
    Status,
    Substatus,
    DealValue,
    Created,
    Updated,
    Expiration,
    LinkStatus,
    Domain,
}

impl ReferralSort {
    pub const ALL: [ReferralSort; 12] = [
        ReferralSort::Id,
        ReferralSort::Name,
        ReferralSort::Customer,
        ReferralSort::Kind,
        ReferralSort::Status,
        ReferralSort::Substatus,
        ReferralSort::DealValue,
        ReferralSort::Created,
        ReferralSort::Updated,
        ReferralSort::Expiration,
        ReferralSort::LinkStatus,
        ReferralSort::Domain,
    ];

    /// The name used on command lines and in menus (`--sort expiration`).
    pub fn name(self) -> &'static str {
        match self {
            ReferralSort::Id => "id",
            ReferralSort::Name => "name",
            ReferralSort::Customer => "customer",
            ReferralSort::Kind => "kind",
            ReferralSort::Status => "status",
            ReferralSort::Substatus => "substatus",
            ReferralSort::DealValue => "deal_value",
            ReferralSort::Created => "created",
            ReferralSort::Updated => "updated",
            ReferralSort::Expiration => "expiration",
            ReferralSort::LinkStatus => "link_status",
            ReferralSort::Domain => "domain",
        }
    }

    pub fn from_name(name: &str) -> Option<ReferralSort> {
        ReferralSort::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One page of the inbox: filtered, sorted and paged by the daemon (a few thousand referrals at
/// most, so an offset is cheap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralQuery {
    pub filter: ReferralFilter,
    pub sort: ReferralSort,
    pub descending: bool,
    pub offset: u64,
    /// At most [`crate::MAX_PAGE`]; larger values are capped.
    pub limit: u32,
}

impl Default for ReferralQuery {
    fn default() -> Self {
        ReferralQuery {
            filter: ReferralFilter::default(),
            sort: ReferralSort::Updated,
            descending: true,
            offset: 0,
            limit: 200,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralPage {
    pub rows: Vec<ReferralRow>,
    pub offset: u64,
    /// Referrals matching the filter.
    pub total: u64,
    /// Incoming referrals expiring within the window, whatever the filter (for the status bar).
    pub expiring_soon: u64,
    /// The window (`partner_center.expiring_soon`), in seconds.
    pub expiring_window_secs: u64,
}

/// One referral in the inbox (and one line of `hunter-tui referrals`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralRow {
    pub id: String,
    pub name: Option<String>,
    pub customer: Option<String>,
    /// `co-sell`, `marketplace`, `solution-provider`, `marketing-qualified`, `own-deal`; `None` = unknown.
    pub kind: Option<String>,
    pub direction: Option<String>,
    pub status: Option<String>,
    pub substatus: Option<String>,
    /// Decimal text as stored (e.g. `25000.00`).
    pub deal_value: Option<String>,
    pub currency: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub expiration: Option<DateTime<Utc>>,
    pub contacts: Vec<String>,
    pub link_status: Option<LinkStatus>,
    /// Why it is not linked (or who removed the link).
    pub link_reason: Option<String>,
    /// The linked company's domain.
    pub domain: Option<String>,
    /// Who linked or unlinked it by hand (a manual link or unlink that syncs keep); `None` = as synced.
    pub manual_by: Option<String>,
    pub manual_at: Option<DateTime<Utc>>,
    /// An incoming referral still waiting for an answer that expires within the window.
    pub expiring_soon: bool,
}

/// Facets of the inbox a picker offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReferralFacet {
    Kind,
    Status,
    LinkStatus,
}

impl ReferralFacet {
    pub const ALL: [ReferralFacet; 3] = [ReferralFacet::Kind, ReferralFacet::Status, ReferralFacet::LinkStatus];

    pub fn key(self) -> &'static str {
        match self {
            ReferralFacet::Kind => "kind",
            ReferralFacet::Status => "status",
            ReferralFacet::LinkStatus => "link",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            ReferralFacet::Kind => {
                "referral kind: co-sell, marketplace, solution-provider, marketing-qualified, own-deal, unknown"
            }
            ReferralFacet::Status => "Partner Center status: New, Active, Closed",
            ReferralFacet::LinkStatus => "link status: linked, no_domain, free_mail_only, invalid, unlinked",
        }
    }
}

/// What a link or unlink did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkOutcome {
    /// The referral as it is now.
    pub referral: ReferralRow,
    /// The company was new (created by the link).
    pub company_created: bool,
    /// The rescan that applies (or removes) the referral's scoring effects, to follow with
    /// `BatchProgress`; `None` when there was no company to rescan.
    pub batch_id: Option<String>,
}
