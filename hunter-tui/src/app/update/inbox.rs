//! The referral inbox: keys, its page requests and answers, search, facets, sort, and the link and
//! unlink prompts.

use protocol::{LinkStatus, ReferralFacet, ReferralPage, ReferralQuery, ReferralSort};

use super::*;
use crate::app::inbox::Inbox;

/// Shows the inbox, loading it when it has not been yet.
pub(super) fn open_inbox(app: &mut App) -> Vec<Effect> {
    app.screen = Screen::Referrals;
    app.detail = None;
    fetch_inbox(app)
}

/// Asks for the page holding the selection, unless it is here or on its way.
pub(super) fn fetch_inbox(app: &mut App) -> Vec<Effect> {
    if !app.connected() {
        return vec![];
    }
    let visible = layout::inbox_rows(app);
    app.inbox.clamp(visible);
    if app.inbox.has_selection() && app.inbox.total.is_some() {
        return vec![];
    }
    request_inbox_page(app)
}

/// Asks for the selection's page again (the data changed): the rows shown stay until it arrives.
pub(super) fn refresh_inbox(app: &mut App) -> Vec<Effect> {
    if !app.connected() {
        return vec![];
    }
    request_inbox_page(app)
}

fn request_inbox_page(app: &mut App) -> Vec<Effect> {
    let query = app.inbox.query();
    if app.inbox.requested.as_ref() == Some(&query) {
        return vec![];
    }
    app.inbox.requested = Some(query.clone());
    vec![Effect::Send(Request::ListReferrals(Box::new(query)))]
}

pub(super) fn on_referral_page(
    app: &mut App,
    query: &ReferralQuery,
    result: Result<ReferralPage, String>,
) -> Vec<Effect> {
    if app.inbox.requested.as_ref() == Some(query) {
        app.inbox.requested = None;
    }
    match result {
        Ok(page) => {
            // The status bar's count holds whatever the filter.
            app.inbox.expiring = Some((page.expiring_soon, page.expiring_window_secs));
            if !app.inbox.is_current(query) {
                return vec![];
            }
            app.inbox.offset = page.offset;
            app.inbox.rows = page.rows;
            app.inbox.total = Some(page.total);
            app.inbox.error = None;
            // The selection may have moved on while this page was on its way.
            fetch_inbox(app)
        }
        Err(error) => {
            if app.inbox.is_current(query) {
                app.inbox.error = Some(error);
            }
            vec![]
        }
    }
}

pub(super) fn on_referrals_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Back | Action::ToggleReferrals => {
            app.screen = Screen::Leads;
            fetch_leads(app)
        }
        Action::ToggleSync => {
            app.screen = Screen::Sync;
            vec![]
        }
        Action::Up | Action::Down | Action::First | Action::Last | Action::PageUp | Action::PageDown => {
            move_inbox_selection(app, action);
            fetch_inbox(app)
        }
        Action::Open => open_referral_lead(app),
        Action::Filter => {
            let before = app.inbox.filter.text.clone().unwrap_or_default();
            open_prompt(app, PromptKind::ReferralSearch { before: before.clone() }, before);
            vec![]
        }
        Action::ClearFilter => {
            if app.inbox.filter.is_empty() {
                return vec![];
            }
            app.inbox.filter = protocol::ReferralFilter::default();
            app.inbox.reset();
            fetch_inbox(app)
        }
        Action::Facets => {
            open_referral_facets_menu(app);
            vec![]
        }
        Action::SortMenu => {
            open_referral_sort_menu(app);
            vec![]
        }
        Action::ReverseSort => {
            let (sort, descending) = (app.inbox.sort, !app.inbox.descending);
            set_referral_sort(app, sort, descending)
        }
        Action::LinkReferral => {
            let Some(row) = app.inbox.selected_row() else { return vec![] };
            let (referral_id, domain) = (row.id.clone(), row.domain.clone().unwrap_or_default());
            open_prompt(app, PromptKind::LinkReferral { referral_id }, domain);
            vec![]
        }
        Action::UnlinkReferral => {
            let Some(row) = app.inbox.selected_row() else { return vec![] };
            let referral_id = row.id.clone();
            match (row.link_status, row.domain.clone()) {
                (Some(LinkStatus::Linked), Some(domain)) => {
                    open_prompt(app, PromptKind::UnlinkReferral { referral_id, domain }, String::new());
                }
                _ => notify(app, format!("referral {referral_id} is not linked: nothing to unlink"), true),
            }
            vec![]
        }
        _ => vec![],
    }
}

/// Enter on a linked referral opens its lead; Back returns to the inbox.
fn open_referral_lead(app: &mut App) -> Vec<Effect> {
    let Some(row) = app.inbox.selected_row() else { return vec![] };
    let Some(domain) = row.domain.clone().filter(|_| row.link_status == Some(LinkStatus::Linked)) else {
        let key = app.keymap.key_for(Action::LinkReferral);
        notify(app, format!("referral {} is not linked to a lead: {key} links it to a domain", row.id), true);
        return vec![];
    };
    app.screen = Screen::Detail;
    app.detail = Some(DetailState { back_to: Screen::Referrals, ..DetailState::new(domain.clone()) });
    vec![Effect::Send(Request::LeadDetail { domain })]
}

pub(super) fn move_inbox_selection(app: &mut App, action: Action) {
    let visible = layout::inbox_rows(app).max(1);
    let inbox = &mut app.inbox;
    let last = inbox.total.unwrap_or(0).saturating_sub(1);
    inbox.selected = match action {
        Action::Up => inbox.selected.saturating_sub(1),
        Action::Down => (inbox.selected + 1).min(last),
        Action::PageUp => {
            inbox.top = inbox.top.saturating_sub(visible);
            inbox.selected.saturating_sub(visible)
        }
        Action::PageDown => {
            inbox.top = (inbox.top + visible).min(last.saturating_sub(visible - 1));
            (inbox.selected + visible).min(last)
        }
        Action::First => 0,
        Action::Last => last,
        _ => inbox.selected,
    };
    inbox.clamp(visible);
}

/// Applies a search typed in the prompt (live, debounced, and on Enter).
pub(super) fn apply_referral_search(app: &mut App, text: &str) -> Vec<Effect> {
    let text = text.trim();
    let text = (!text.is_empty()).then(|| text.to_string());
    if app.inbox.filter.text == text {
        return vec![];
    }
    app.inbox.filter.text = text;
    app.inbox.reset();
    fetch_inbox(app)
}

fn set_referral_sort(app: &mut App, sort: ReferralSort, descending: bool) -> Vec<Effect> {
    app.inbox.sort = sort;
    app.inbox.descending = descending;
    app.inbox.reset();
    fetch_inbox(app)
}

/// Dates and money read best newest or largest first.
fn referral_sort_descending(sort: ReferralSort) -> bool {
    matches!(sort, ReferralSort::Updated | ReferralSort::Created | ReferralSort::DealValue)
}

pub fn referral_sort_label(sort: ReferralSort) -> &'static str {
    match sort {
        ReferralSort::Id => "Referral id",
        ReferralSort::Name => "Name",
        ReferralSort::Customer => "Customer",
        ReferralSort::Kind => "Kind",
        ReferralSort::Status => "Status",
        ReferralSort::Substatus => "Substatus",
        ReferralSort::DealValue => "Deal value",
        ReferralSort::Created => "Created",
        ReferralSort::Updated => "Updated",
        ReferralSort::Expiration => "Expires",
        ReferralSort::LinkStatus => "Link",
        ReferralSort::Domain => "Domain",
    }
}

fn open_referral_sort_menu(app: &mut App) {
    let items: Vec<MenuItem> = ReferralSort::ALL
        .iter()
        .map(|s| {
            let active = *s == app.inbox.sort;
            let note =
                if active { if app.inbox.descending { "↓ (again: ↑)" } else { "↑ (again: ↓)" } } else { "" };
            MenuItem { label: referral_sort_label(*s).into(), note: note.into(), value: s.name().into(), active }
        })
        .collect();
    let selected = items.iter().position(|i| i.active).unwrap_or(0);
    app.menu = Some(Menu { kind: MenuKind::ReferralSort, title: "Sort referrals by".into(), items, selected });
}

/// The value of the one facet-menu item that is not a facet: expiring soon only.
const EXPIRING_ITEM: &str = "expiring";

fn open_referral_facets_menu(app: &mut App) {
    let facets = ReferralFacet::ALL.into_iter().map(|facet| MenuItem {
        label: facet.key().to_string(),
        note: facet.description().to_string(),
        value: facet.key().to_string(),
        active: !app.inbox.facet_values(facet).is_empty(),
    });
    let window = app.inbox.expiring.map(|(_, secs)| humanize::duration(secs)).unwrap_or_else(|| "soon".into());
    let expiring = MenuItem {
        label: EXPIRING_ITEM.into(),
        note: format!("only incoming referrals still New that expire within {window}"),
        value: EXPIRING_ITEM.into(),
        active: app.inbox.filter.expiring_only,
    };
    let items = facets.chain(std::iter::once(expiring)).collect();
    app.menu = Some(Menu { kind: MenuKind::ReferralFacets, title: "Filter referrals by".into(), items, selected: 0 });
}

pub(super) fn open_referral_facet_values(app: &mut App, facet: ReferralFacet, values: Vec<FacetCount>) {
    let chosen = app.inbox.facet_values(facet);
    let items: Vec<MenuItem> = values
        .into_iter()
        .map(|v| {
            let active = chosen.iter().any(|c| c.eq_ignore_ascii_case(&v.value));
            MenuItem { label: v.value.clone(), note: humanize::thousands(v.count), value: v.value, active }
        })
        .collect();
    if items.is_empty() {
        app.menu = None;
        notify(app, "no referral matches the other filters".into(), false);
        return;
    }
    app.menu = Some(Menu {
        kind: MenuKind::ReferralFacetValues { facet },
        title: format!("{} (Enter adds or removes)", facet.key()),
        items,
        selected: 0,
    });
}

/// Enter in one of the inbox's menus.
pub(super) fn choose_referral_menu_item(app: &mut App, kind: MenuKind, item: MenuItem) -> Vec<Effect> {
    match kind {
        MenuKind::ReferralSort => {
            let Some(sort) = ReferralSort::from_name(&item.value) else { return vec![] };
            let descending =
                if sort == app.inbox.sort { !app.inbox.descending } else { referral_sort_descending(sort) };
            set_referral_sort(app, sort, descending)
        }
        MenuKind::ReferralFacets if item.value == EXPIRING_ITEM => {
            app.inbox.filter.expiring_only = !app.inbox.filter.expiring_only;
            app.inbox.reset();
            fetch_inbox(app)
        }
        MenuKind::ReferralFacets => {
            let Some(facet) = ReferralFacet::ALL.into_iter().find(|f| f.key() == item.value) else { return vec![] };
            notify(app, format!("counting {} values…", facet.key()), false);
            vec![Effect::Send(Request::ReferralFacets { facet, filter: Box::new(app.inbox.filter.clone()) })]
        }
        MenuKind::ReferralFacetValues { facet } => {
            app.inbox.toggle_facet_value(facet, &item.value);
            app.inbox.reset();
            fetch_inbox(app)
        }
        MenuKind::Sort | MenuKind::Facets | MenuKind::FacetValues { .. } => vec![],
    }
}

/// Enter in the link prompt: the daemon validates the domain; the prompt stays open until it agrees.
pub(super) fn submit_link(app: &mut App, referral_id: String, input: String) -> Vec<Effect> {
    set_prompt_hint(app, format!("linking {referral_id} to {input}…"), false);
    vec![Effect::Send(Request::LinkReferral { referral_id, domain: input })]
}

pub(super) fn submit_unlink(app: &mut App, referral_id: String, answer: &str) -> Vec<Effect> {
    app.prompt = None;
    if !matches!(answer.to_lowercase().as_str(), "y" | "yes") {
        notify(app, "unlink cancelled".into(), false);
        return vec![];
    }
    vec![Effect::Send(Request::UnlinkReferral { referral_id })]
}

/// A link or unlink answered: the row changes in place, the inbox and the leads are fetched again,
/// and the company's rescan is followed like any other batch.
pub(super) fn on_relinked(
    app: &mut App,
    referral_id: &str,
    domain: Option<String>,
    result: Result<Box<protocol::LinkOutcome>, String>,
) -> Vec<Effect> {
    let linking_prompt = matches!(&app.prompt, Some(Prompt { kind: PromptKind::LinkReferral { referral_id: id }, .. }) if id == referral_id);
    let outcome = match result {
        Ok(outcome) => outcome,
        // A domain intake refuses: say why under the input, so it can be corrected.
        Err(error) if domain.is_some() && linking_prompt => {
            set_prompt_hint(app, error, true);
            return vec![];
        }
        Err(error) => {
            let what = if domain.is_some() { "link failed" } else { "unlink failed" };
            return failed(app, what, error);
        }
    };
    if linking_prompt {
        app.prompt = None;
    }
    let row = outcome.referral;
    let text = match (&row.domain, domain.is_some()) {
        (Some(linked), true) => {
            let new = if outcome.company_created { " (a new lead)" } else { "" };
            format!("linked {} to {linked}{new}; scanning it to apply the referral to its score", row.id)
        }
        _ => format!(
            "unlinked {} (now {}); rescanning the company without it",
            row.id,
            row.link_status.map(LinkStatus::name).unwrap_or("unlinked")
        ),
    };
    notify(app, text, false);
    let mut company = row.domain.clone();
    if let Some(slot) = app.inbox.rows.iter_mut().find(|r| r.id == row.id) {
        company = company.or_else(|| slot.domain.clone());
        *slot = row.clone();
    }
    let mut effects = refresh_inbox(app);
    if let Some(batch) = outcome.batch_id {
        let label = company.unwrap_or_else(|| format!("referral {}", row.id));
        effects.extend(watch_batch(app, batch, format!("rescore {label}"), 1));
    }
    effects
}

/// The status bar's `⚠ 3 referrals expire within 3d`, when there are any.
pub fn expiring_summary(inbox: &Inbox) -> Option<String> {
    let (count, window) = inbox.expiring?;
    (count > 0).then(|| {
        format!("⚠ {} expiring within {}", humanize::count(count as usize, "referral"), humanize::duration(window))
    })
}
