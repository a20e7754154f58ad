//! The whole state of the interactive UI, in one value. Rendering reads it, [`update`](super::update)
//! changes it, and nothing else does, so every screen can be built in a test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use protocol::{
    DaemonStatus, DatabaseInfo, JobInfo, LeadCount, LeadDetail, LeadFilter, LeadKey, LeadQuery, LeadRow, LeadSort, Seek,
};

use crate::client::ClientError;
use crate::keymap::{Keymap, Scope};
use crate::settings::UiState;

/// How long a one-line notice stays in the footer.
pub const NOTICE_SECS: i64 = 5;

/// How often the UI retries the connection while the daemon is away.
pub const RETRY_SECS: u64 = 2;

/// Rows per `ListLeads` request: a few screens' worth, so scrolling rarely waits.
pub const PAGE_SIZE: u64 = 200;

/// How far beyond the screen pages are fetched ahead (at least): half a page, so at normal
/// key-repeat speed the next page has arrived long before the cursor gets there.
pub const PREFETCH_ROWS: u64 = PAGE_SIZE / 2;

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub socket: PathBuf,
    /// False under `--no-color` / `NO_COLOR`: then no cell gets a colour, only bold/reverse.
    pub color: bool,
    /// The clock, injected by ticks so rendering never reads it (snapshots stay stable).
    pub now: DateTime<Utc>,
    /// Terminal size, so paging knows how many rows are visible.
    pub size: (u16, u16),
    pub keymap: Arc<Keymap>,
    /// Author of the notes written here.
    pub user: String,
    pub link: Link,
    pub screen: Screen,
    pub help: bool,
    pub jobs: Vec<JobInfo>,
    /// Selected row in the sync status view.
    pub selected_job: usize,
    pub leads: LeadList,
    /// The Partner Center referral inbox.
    pub inbox: super::inbox::Inbox,
    pub detail: Option<DetailState>,
    pub prompt: Option<Prompt>,
    pub menu: Option<Menu>,
    pub progress: Progress,
    pub notice: Option<Notice>,
    /// Bumped on every filter keystroke; only the latest debounce timer applies the filter.
    pub filter_seq: u64,
    /// A refresh is scheduled (lead changes are coalesced).
    pub refresh_scheduled: bool,
    pub quit: bool,
}

/// The connection to hunterd as the user sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// First attempt in flight.
    Connecting,
    Up(Daemon),
    Down(Down),
}

/// What the header shows about a connected daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Daemon {
    pub build_version: String,
    pub protocol: u32,
    pub pid: u32,
    pub database: DatabaseInfo,
    pub uptime_secs: u64,
    /// Our clock when `uptime_secs` was read; uptime shown = uptime_secs + (now - fetched_at).
    pub fetched_at: DateTime<Utc>,
}

impl Daemon {
    pub fn from_status(status: &DaemonStatus, now: DateTime<Utc>) -> Self {
        Daemon {
            build_version: status.build_version.clone(),
            protocol: status.protocol,
            pid: status.pid,
            database: status.database.clone(),
            uptime_secs: status.uptime_secs,
            fetched_at: now,
        }
    }

    /// Uptime now, counted on from the last status without asking the daemon again.
    pub fn uptime_at(&self, now: DateTime<Utc>) -> u64 {
        let since_fetch = (now - self.fetched_at).num_seconds().max(0).unsigned_abs();
        self.uptime_secs.saturating_add(since_fetch)
    }
}

/// Why there is no usable connection, kept as data (a [`ClientError`] is neither `Clone` nor
/// comparable) so the "not connected" screen can be rendered and tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    NotRunning,
    Unreachable {
        reason: String,
    },
    PermissionDenied,
    VersionMismatch {
        message: String,
    },
    /// The daemon said it is shutting down.
    Stopped,
    /// The connection dropped or a request failed without an answer.
    Lost {
        reason: String,
    },
}

impl Down {
    /// Whether starting the daemon is the fix (so the screen shows how to).
    pub fn suggests_starting(&self) -> bool {
        matches!(self, Down::NotRunning | Down::Unreachable { .. } | Down::Stopped | Down::Lost { .. })
    }
}

impl From<&ClientError> for Down {
    fn from(err: &ClientError) -> Self {
        match err {
            ClientError::NotRunning { .. } => Down::NotRunning,
            ClientError::Unreachable { reason, .. } => Down::Unreachable { reason: reason.clone() },
            ClientError::PermissionDenied { .. } => Down::PermissionDenied,
            ClientError::VersionMismatch(message) => Down::VersionMismatch { message: message.clone() },
            other => Down::Lost { reason: other.to_string() },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Leads,
    Detail,
    Sync,
    /// The Partner Center referral inbox.
    Referrals,
}

impl Screen {
    /// Which keymap bindings apply.
    pub fn scope(self) -> Scope {
        match self {
            Screen::Leads => Scope::Leads,
            Screen::Detail => Scope::Detail,
            Screen::Sync => Scope::Sync,
            Screen::Referrals => Scope::Referrals,
        }
    }
}

/// A transient footer message: the outcome of something the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
    pub at: DateTime<Utc>,
}

/// One page of rows as received. `stale` pages are still shown but fetched again when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub rows: Arc<Vec<LeadRow>>,
    pub stale: bool,
    /// Where the page starts and ends in the list order: the neighbouring pages are asked for
    /// from these (a keyset seek, as fast at row 900,000 as at row 0).
    pub first: Option<LeadKey>,
    pub last: Option<LeadKey>,
}

/// The leads table: the query (filter and sort), a window of pages fetched around the viewport,
/// the selection and the marks. The daemon filters, sorts and counts; we only hold what is near
/// the screen, so 100k leads cost a few pages of memory.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadList {
    /// The filter expression in effect, as typed (always parses).
    pub expr: String,
    pub filter: LeadFilter,
    pub sort: LeadSort,
    pub descending: bool,
    /// Leads matching the filter as far as the list knows: the daemon's count, corrected by what
    /// the pages show (a short page ends the list); `None` until the first answer.
    pub total: Option<u64>,
    /// The daemon's count for this filter, asked once per filter change (and after data
    /// changes); `exact == false` is an estimate, shown with "≈".
    pub count: Option<LeadCount>,
    /// A count was asked for and not answered yet (a failed one is asked again on the next tick).
    pub counting: bool,
    pub pages: BTreeMap<u64, Page>,
    /// Pages asked for and not answered yet (for the current query), with how they were asked.
    pub requested: BTreeMap<u64, Seek>,
    /// Requested pages asked for before the data last changed: their answers may predate the
    /// change, so they are shown but kept stale (fetched again).
    pub outdated: BTreeSet<u64>,
    pub selected: u64,
    /// First row on screen.
    pub top: u64,
    /// Marked domains (kept across filters and scrolling).
    pub marked: BTreeSet<String>,
    /// Why the last page request failed.
    pub error: Option<String>,
}

impl Default for LeadList {
    fn default() -> Self {
        LeadList {
            expr: String::new(),
            filter: LeadFilter::default(),
            sort: LeadSort::Score,
            descending: true,
            total: None,
            count: None,
            counting: false,
            pages: BTreeMap::new(),
            requested: BTreeMap::new(),
            outdated: BTreeSet::new(),
            selected: 0,
            top: 0,
            marked: BTreeSet::new(),
            error: None,
        }
    }
}

impl LeadList {
    /// A list starting from a remembered state; an expression that no longer parses is dropped
    /// (and reported by the caller).
    pub fn from_state(state: &UiState) -> (LeadList, Option<String>) {
        let mut list = LeadList::default();
        if let Some(sort) = LeadSort::from_name(&state.sort) {
            list.sort = sort;
            list.descending = state.descending;
        }
        match LeadFilter::parse(&state.filter) {
            Ok(filter) => {
                list.expr = state.filter.trim().to_string();
                list.filter = filter;
                (list, None)
            }
            Err(e) => (list, Some(format!("saved filter dropped: {e}"))),
        }
    }

    pub fn state(&self) -> UiState {
        UiState { filter: self.expr.clone(), sort: self.sort.name().to_string(), descending: self.descending }
    }

    /// The row at an absolute position, if its page is here.
    pub fn row(&self, index: u64) -> Option<&LeadRow> {
        let page = self.pages.get(&(index / PAGE_SIZE))?;
        page.rows.get((index % PAGE_SIZE) as usize)
    }

    pub fn selected_row(&self) -> Option<&LeadRow> {
        self.row(self.selected)
    }

    /// The current filter and sort, from the first row.
    pub fn query(&self) -> LeadQuery {
        LeadQuery {
            filter: self.filter.clone(),
            sort: self.sort,
            descending: self.descending,
            seek: Seek::Offset(0),
            limit: PAGE_SIZE as u32,
        }
    }

    /// How to ask for page `page`: after the page before it or before the page after it (keyset),
    /// from the end for the last page, by offset only for a jump. `None` = wait: a neighbour is on
    /// its way, and seeking from it will be cheaper than an offset.
    pub fn seek_for(&self, page: u64) -> Option<(Seek, u32)> {
        let full = PAGE_SIZE as u32;
        if page == 0 {
            return Some((Seek::Offset(0), full));
        }
        // Only a fresh neighbour says where this page starts: a stale one's rows may have moved.
        let fresh = |p: u64| self.pages.get(&p).filter(|page| !page.stale);
        if let Some(last) = fresh(page - 1).filter(|p| p.rows.len() as u64 == PAGE_SIZE).and_then(|p| p.last.clone()) {
            return Some((Seek::After(last), full));
        }
        if let Some(first) = fresh(page + 1).and_then(|p| p.first.clone()) {
            return Some((Seek::Before(first), full));
        }
        if self.requested.contains_key(&(page - 1)) || self.requested.contains_key(&(page + 1)) {
            return None;
        }
        match self.total {
            Some(total) if total > 0 && page == (total - 1) / PAGE_SIZE => {
                Some((Seek::Last, (total - page * PAGE_SIZE) as u32))
            }
            _ => Some((Seek::Offset(page * PAGE_SIZE), full)),
        }
    }

    /// The page a request was for, while it is still wanted.
    pub fn page_of(&self, seek: &Seek) -> Option<u64> {
        self.requested.iter().find(|(_, s)| *s == seek).map(|(page, _)| *page)
    }

    /// What an answered page says about where the list ends: a short page read forwards ends it,
    /// a full one reaches at least its last row (an estimated count may fall short).
    pub fn learn_extent(&mut self, page: u64, seek: &Seek, rows: u64) {
        let end = page * PAGE_SIZE + rows;
        self.total = match seek {
            Seek::Before(_) => self.total.or(Some(end)),
            _ if rows < PAGE_SIZE || matches!(seek, Seek::Last) => Some(end),
            _ => Some(self.total.map_or(end, |t| t.max(end))),
        };
    }

    /// Whether an answer to `query` belongs to what is shown now.
    pub fn is_current(&self, query: &LeadQuery) -> bool {
        query.filter == self.filter && query.sort == self.sort && query.descending == self.descending
    }

    /// Forgets every row: the query changed (a new filter also forgets the count).
    pub fn reset(&mut self) {
        self.total = self.count.map(|c| c.count);
        self.pages.clear();
        self.requested.clear();
        self.outdated.clear();
        self.selected = 0;
        self.top = 0;
        self.error = None;
    }

    /// Keeps the rows on screen but fetches them again when needed (the data changed).
    pub fn mark_stale(&mut self) {
        for page in self.pages.values_mut() {
            page.stale = true;
        }
        self.outdated.extend(self.requested.keys().copied());
    }

    /// Forgets the pages asked for (their answers will not come, or not for this connection).
    pub fn forget_requests(&mut self) {
        self.requested.clear();
        self.outdated.clear();
    }

    /// Pages that the viewport of `visible` rows needs, with a screen (at least
    /// [`PREFETCH_ROWS`]) above and two screens (at least as many) below fetched ahead.
    pub fn window(&self, visible: u64) -> std::ops::RangeInclusive<u64> {
        let visible = visible.max(1);
        let first = self.top.saturating_sub(visible.max(PREFETCH_ROWS)) / PAGE_SIZE;
        let mut last = (self.top + visible + (2 * visible).max(PREFETCH_ROWS)) / PAGE_SIZE;
        if let Some(total) = self.total {
            last = last.min(total.saturating_sub(1) / PAGE_SIZE);
        }
        first..=last.max(first)
    }

    /// Pages to ask for now: in the window, missing or stale, and not already asked for.
    pub fn pages_to_fetch(&self, visible: u64) -> Vec<u64> {
        // Until the first answer we do not know how many pages exist: ask for the first one only.
        let window =
            if self.total.is_none() { self.top / PAGE_SIZE..=self.top / PAGE_SIZE } else { self.window(visible) };
        window
            .filter(|p| self.pages.get(p).is_none_or(|page| page.stale))
            .filter(|p| !self.requested.contains_key(p))
            .collect()
    }

    /// Drops pages far from the viewport so memory stays bounded while scrolling through 100k rows.
    pub fn evict(&mut self, visible: u64) {
        let window = self.window(visible);
        let (low, high) = (window.start().saturating_sub(2), window.end() + 2);
        self.pages.retain(|p, _| (low..=high).contains(p));
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

    /// Domains a bulk action applies to: the marked ones, else the selected one.
    pub fn targets(&self) -> Vec<String> {
        if self.marked.is_empty() {
            self.selected_row().map(|r| vec![r.domain.clone()]).unwrap_or_default()
        } else {
            self.marked.iter().cloned().collect()
        }
    }
}

/// The detail view of one lead.
#[derive(Debug, Clone, PartialEq)]
pub struct DetailState {
    pub domain: String,
    pub detail: Option<Arc<LeadDetail>>,
    pub error: Option<String>,
    /// First line shown.
    pub scroll: u16,
    /// Where Back returns to: the leads, or the referral inbox it was opened from.
    pub back_to: Screen,
}

impl DetailState {
    pub fn new(domain: String) -> Self {
        DetailState { domain, detail: None, error: None, scroll: 0, back_to: Screen::Leads }
    }
}

/// A one-line text input at the bottom of the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: String,
    /// Under the input: completion candidates, or why the input is not valid.
    pub hint: Option<String>,
    pub hint_is_error: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKind {
    /// Live filter; `before` is restored on Esc.
    Filter {
        before: String,
    },
    Add,
    Import,
    Export,
    Note {
        domain: String,
    },
    Tag {
        domain: String,
        tags: Vec<String>,
    },
    /// Confirm a Dynamics 365 push: `summary` says what would be created or updated.
    Push {
        domains: Vec<String>,
        summary: String,
    },
    /// Free-text search of the referral inbox, live as typed; `before` is restored on Esc.
    ReferralSearch {
        before: String,
    },
    /// The company domain of a referral (the daemon validates it as intake does).
    LinkReferral {
        referral_id: String,
    },
    /// Confirm removing a referral's link.
    UnlinkReferral {
        referral_id: String,
        domain: String,
    },
}

impl PromptKind {
    pub fn label(&self) -> String {
        match self {
            PromptKind::Filter { .. } => "Filter".into(),
            PromptKind::Add => "Add domains".into(),
            PromptKind::Import => "Import file".into(),
            PromptKind::Export => "Export CSV to".into(),
            PromptKind::Note { domain } => format!("Note on {domain}"),
            PromptKind::Tag { domain, .. } => format!("Tag {domain} (existing tag = remove)"),
            PromptKind::Push { summary, .. } => format!("{summary} — push to Dynamics 365? y/N"),
            PromptKind::ReferralSearch { .. } => "Search referrals".into(),
            PromptKind::LinkReferral { referral_id } => format!("Company domain for referral {referral_id}"),
            PromptKind::UnlinkReferral { referral_id, domain } => {
                format!("Remove the link of referral {referral_id} to {domain} (its score effect goes too)? y/N")
            }
        }
    }

    /// Whether Tab completes a file path here.
    pub fn completes_paths(&self) -> bool {
        matches!(self, PromptKind::Import | PromptKind::Export)
    }
}

/// A small pick list (sort column, facet, facet value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub kind: MenuKind,
    pub title: String,
    pub items: Vec<MenuItem>,
    pub selected: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItem {
    pub label: String,
    /// Right-hand note (a count, "current", …).
    pub note: String,
    pub value: String,
    /// Already in effect (shown with a check mark).
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuKind {
    Sort,
    Facets,
    /// Values of one facet.
    FacetValues {
        facet: protocol::Facet,
    },
    /// The referral inbox's sort, facets and a facet's values.
    ReferralSort,
    ReferralFacets,
    ReferralFacetValues {
        facet: protocol::ReferralFacet,
    },
}

/// Work in progress the user should see: the daemon's scan queue and batches started here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub scan: Option<ScanQueue>,
    pub batches: Vec<BatchWatch>,
    /// A poll of the batches is scheduled (at most one at a time).
    pub polling: bool,
}

impl Progress {
    pub fn is_active(&self) -> bool {
        self.scan.is_some() || !self.batches.is_empty()
    }
}

/// The scan queue as reported by `Progress` events: how much is left of the most there was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanQueue {
    pub waiting: u64,
    /// Most waiting since the queue was last empty: the bar's 100 %.
    pub peak: u64,
}

/// A batch (add, import, rescan) started from this UI, followed until scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchWatch {
    pub id: String,
    pub label: String,
    pub done: u64,
    pub total: u64,
}

impl App {
    pub fn new(socket: PathBuf, color: bool, now: DateTime<Utc>) -> Self {
        App {
            socket,
            color,
            now,
            size: (80, 24),
            keymap: Arc::new(Keymap::default()),
            user: "hunter-tui".into(),
            link: Link::Connecting,
            screen: Screen::Leads,
            help: false,
            jobs: Vec::new(),
            selected_job: 0,
            leads: LeadList::default(),
            inbox: super::inbox::Inbox::default(),
            detail: None,
            prompt: None,
            menu: None,
            progress: Progress::default(),
            notice: None,
            filter_seq: 0,
            refresh_scheduled: false,
            quit: false,
        }
    }

    pub fn daemon(&self) -> Option<&Daemon> {
        match &self.link {
            Link::Up(d) => Some(d),
            _ => None,
        }
    }

    pub fn connected(&self) -> bool {
        matches!(self.link, Link::Up(_))
    }

    pub fn selected(&self) -> Option<&JobInfo> {
        self.jobs.get(self.selected_job)
    }

    /// The domain lead actions apply to on this screen.
    pub fn current_domain(&self) -> Option<String> {
        match self.screen {
            Screen::Detail => self.detail.as_ref().map(|d| d.domain.clone()),
            Screen::Leads => self.leads.selected_row().map(|r| r.domain.clone()),
            Screen::Sync | Screen::Referrals => None,
        }
    }

    /// The lead row behind [`current_domain`](Self::current_domain), as far as it is known.
    pub fn current_row(&self) -> Option<&LeadRow> {
        match self.screen {
            Screen::Detail => self.detail.as_ref().and_then(|d| d.detail.as_ref()).map(|d| &d.row),
            Screen::Leads => self.leads.selected_row(),
            Screen::Sync | Screen::Referrals => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> Page {
        Page {
            rows: Arc::new((0..n).map(|i| LeadRow { domain: format!("d{i}.test"), ..LeadRow::default() }).collect()),
            stale: false,
            first: None,
            last: None,
        }
    }

    #[test]
    fn before_the_first_answer_only_the_first_page_is_asked_for() {
        let list = LeadList::default();
        assert_eq!(list.pages_to_fetch(30), vec![0]);
    }

    #[test]
    fn pages_around_the_viewport_are_fetched_once() {
        let mut list = LeadList { total: Some(100_000), top: 1_000, selected: 1_000, ..LeadList::default() };
        list.pages.insert(5, page(200));
        list.requested.insert(6, Seek::Offset(1_200));
        // Half a page above (900) to two screens or half a page below (1130): pages 4..=5, of which
        // 5 is here.
        assert_eq!(list.pages_to_fetch(30), vec![4]);
    }

    #[test]
    fn stale_pages_are_fetched_again() {
        let mut list = LeadList { total: Some(150), ..LeadList::default() };
        list.pages.insert(0, page(150));
        assert!(list.pages_to_fetch(30).is_empty());
        list.mark_stale();
        assert_eq!(list.pages_to_fetch(30), vec![0]);
    }

    #[test]
    fn an_empty_result_is_asked_for_again_only_once_stale() {
        let mut list = LeadList { total: Some(0), ..LeadList::default() };
        list.pages.insert(0, page(0));
        assert!(list.pages_to_fetch(30).is_empty());
        list.mark_stale();
        assert_eq!(list.pages_to_fetch(30), vec![0], "leads may have arrived since");
    }

    #[test]
    fn far_pages_are_evicted() {
        let mut list = LeadList { total: Some(100_000), ..LeadList::default() };
        for p in 0..20 {
            list.pages.insert(p, page(200));
        }
        list.top = 2_000;
        list.evict(30);
        assert_eq!(list.pages.keys().copied().collect::<Vec<_>>(), (7..=12).collect::<Vec<_>>());
    }

    #[test]
    fn the_selection_stays_on_screen_and_within_the_rows() {
        let mut list = LeadList { total: Some(100), selected: 150, ..LeadList::default() };
        list.clamp(30);
        assert_eq!((list.selected, list.top), (99, 70));
        list.selected = 10;
        list.clamp(30);
        assert_eq!(list.top, 10);
    }

    #[test]
    fn bulk_actions_use_the_marked_rows_else_the_selected_one() {
        let mut list = LeadList { total: Some(3), ..LeadList::default() };
        list.pages.insert(0, page(3));
        list.selected = 1;
        assert_eq!(list.targets(), vec!["d1.test"]);
        list.marked.insert("d2.test".into());
        list.marked.insert("d0.test".into());
        assert_eq!(list.targets(), vec!["d0.test", "d2.test"]);
    }

    #[test]
    fn a_remembered_state_restores_filter_and_sort() {
        let state = UiState { filter: "segment=Migration acme".into(), sort: "domain".into(), descending: false };
        let (list, problem) = LeadList::from_state(&state);
        assert_eq!(problem, None);
        assert_eq!(list.filter.segments, vec!["Migration"]);
        assert_eq!((list.sort, list.descending), (LeadSort::Domain, false));
        assert_eq!(list.state(), state);
    }

    #[test]
    fn a_remembered_filter_that_no_longer_parses_is_dropped_with_a_reason() {
        let state = UiState { filter: "segmnt=Cold".into(), sort: "nonsense".into(), descending: false };
        let (list, problem) = LeadList::from_state(&state);
        assert!(list.filter.is_empty());
        assert_eq!(list.sort, LeadSort::Score);
        assert!(problem.unwrap().contains("segmnt=Cold"));
    }
}
