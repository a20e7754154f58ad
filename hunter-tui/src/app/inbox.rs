//! The referral inbox's state: the query (search, facets, sort), the page of rows around the
//! selection and what the daemon counted. The daemon filters, sorts and pages; a few thousand
//! referrals cost one page of memory here.

use protocol::{LinkStatus, ReferralFacet, ReferralFilter, ReferralQuery, ReferralRow, ReferralSort};

/// Referrals per `ListReferrals` request.
pub const INBOX_PAGE: u64 = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    pub filter: ReferralFilter,
    pub sort: ReferralSort,
    pub descending: bool,
    /// The page on hand: rows from `offset`.
    pub offset: u64,
    pub rows: Vec<ReferralRow>,
    /// Referrals matching the filter; `None` until the first answer.
    pub total: Option<u64>,
    /// Incoming referrals expiring within the daemon's window (whatever the filter), and the window.
    pub expiring: Option<(u64, u64)>,
    pub selected: u64,
    /// First row on screen.
    pub top: u64,
    /// The page asked for and not answered yet.
    pub requested: Option<ReferralQuery>,
    /// Why the last page could not be loaded.
    pub error: Option<String>,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            filter: ReferralFilter::default(),
            sort: ReferralSort::Updated,
            descending: true,
            offset: 0,
            rows: Vec::new(),
            total: None,
            expiring: None,
            selected: 0,
            top: 0,
            requested: None,
            error: None,
        }
    }
}

impl Inbox {
    /// The query for the page holding the selection.
    pub fn query(&self) -> ReferralQuery {
        ReferralQuery {
            filter: self.filter.clone(),
            sort: self.sort,
            descending: self.descending,
            offset: (self.selected / INBOX_PAGE) * INBOX_PAGE,
            limit: INBOX_PAGE as u32,
        }
    }

    /// Whether the rows on hand cover the selection (else its page must be fetched).
    pub fn has_selection(&self) -> bool {
        self.total == Some(0) || (self.offset..self.offset + self.rows.len() as u64).contains(&self.selected)
    }

    pub fn row(&self, index: u64) -> Option<&ReferralRow> {
        index.checked_sub(self.offset).and_then(|i| self.rows.get(i as usize))
    }

    pub fn selected_row(&self) -> Option<&ReferralRow> {
        self.row(self.selected)
    }

    /// Whether an answer to `query` belongs to what is shown now.
    pub fn is_current(&self, query: &ReferralQuery) -> bool {
        query.filter == self.filter && query.sort == self.sort && query.descending == self.descending
    }

    /// The query changed: start from the top.
    pub fn reset(&mut self) {
        self.rows.clear();
        self.offset = 0;
        self.total = None;
        self.selected = 0;
        self.top = 0;
        self.requested = None;
        self.error = None;
    }

    /// Keeps the selection inside the rows and on screen (`visible` rows tall).
    pub fn clamp(&mut self, visible: u64) {
        let visible = visible.max(1);
        if let Some(total) = self.total {
            self.selected = self.selected.min(total.saturating_sub(1));
            self.top = self.top.min(total.saturating_sub(visible));
        }
        if self.selected < self.top {
            self.top = self.selected;
        } else if self.selected >= self.top + visible {
            self.top = self.selected + 1 - visible;
        }
    }

    /// The values chosen for one facet.
    pub fn facet_values(&self, facet: ReferralFacet) -> Vec<String> {
        match facet {
            ReferralFacet::Kind => self.filter.kinds.clone(),
            ReferralFacet::Status => self.filter.statuses.clone(),
            ReferralFacet::LinkStatus => self.filter.link_statuses.iter().map(|s| s.name().to_string()).collect(),
        }
    }

    /// Adds the value to the facet, or removes it when it is there already.
    pub fn toggle_facet_value(&mut self, facet: ReferralFacet, value: &str) {
        fn toggle(list: &mut Vec<String>, value: &str) {
            match list.iter().position(|v| v.eq_ignore_ascii_case(value)) {
                Some(i) => {
                    list.remove(i);
                }
                None => list.push(value.to_string()),
            }
        }
        match facet {
            ReferralFacet::Kind => toggle(&mut self.filter.kinds, value),
            ReferralFacet::Status => toggle(&mut self.filter.statuses, value),
            ReferralFacet::LinkStatus => {
                let Some(status) = LinkStatus::from_name(value) else { return };
                match self.filter.link_statuses.iter().position(|s| *s == status) {
                    Some(i) => {
                        self.filter.link_statuses.remove(i);
                    }
                    None => self.filter.link_statuses.push(status),
                }
            }
        }
    }

    /// The filter in words for the bar: `search "acme" · kind co-sell · link no_domain,invalid`.
    pub fn describe_filter(&self) -> String {
        let f = &self.filter;
        let mut parts = Vec::new();
        if let Some(text) = f.text.as_deref().filter(|t| !t.is_empty()) {
            parts.push(format!("search \"{text}\""));
        }
        for facet in ReferralFacet::ALL {
            let values = self.facet_values(facet);
            if !values.is_empty() {
                parts.push(format!("{} {}", facet.key(), values.join(",")));
            }
        }
        if f.expiring_only {
            parts.push("expiring soon".into());
        }
        parts.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<ReferralRow> {
        (0..n).map(|i| ReferralRow { id: format!("r{i}"), ..ReferralRow::default() }).collect()
    }

    #[test]
    fn the_page_asked_for_is_the_one_holding_the_selection() {
        let inbox = Inbox { selected: 450, total: Some(1_000), ..Inbox::default() };
        assert_eq!(inbox.query().offset, 400);
        assert!(!inbox.has_selection());
    }

    #[test]
    fn rows_are_found_by_their_absolute_position() {
        let inbox = Inbox { offset: 200, rows: rows(200), total: Some(1_000), selected: 250, ..Inbox::default() };
        assert!(inbox.has_selection());
        assert_eq!(inbox.selected_row().map(|r| r.id.as_str()), Some("r50"));
        assert_eq!(inbox.row(199), None);
    }

    #[test]
    fn facet_values_toggle_and_describe_themselves() {
        let mut inbox = Inbox::default();
        inbox.toggle_facet_value(ReferralFacet::LinkStatus, "no_domain");
        inbox.toggle_facet_value(ReferralFacet::LinkStatus, "invalid");
        inbox.toggle_facet_value(ReferralFacet::Kind, "co-sell");
        inbox.filter.text = Some("acme".into());
        assert_eq!(inbox.describe_filter(), "search \"acme\" · kind co-sell · link no_domain,invalid");
        inbox.toggle_facet_value(ReferralFacet::LinkStatus, "no_domain");
        assert_eq!(inbox.facet_values(ReferralFacet::LinkStatus), ["invalid"]);
    }
}
