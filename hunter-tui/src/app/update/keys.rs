//! Keys: what an action means on each screen (sync, leads, detail) and the lead actions they share.

use super::*;

/// The keymap scope for the current state: the help overlay and the "not connected" screen
/// only take global keys.
pub(super) fn scope(app: &App) -> Scope {
    match app.link {
        Link::Up(_) if !app.help => app.screen.scope(),
        _ => Scope::Global,
    }
}

pub(super) fn on_key(app: &mut App, key: &KeyEvent) -> Vec<Effect> {
    if key.kind == KeyEventKind::Release {
        return vec![];
    }
    if app.prompt.is_some() && !app.help {
        return on_prompt_key(app, key);
    }
    let action = app.keymap.action_for(key, scope(app));
    if app.menu.is_some() && !app.help {
        return match action {
            Some(action) => on_menu_action(app, action),
            None => vec![],
        };
    }
    match action {
        Some(action) => on_action(app, action),
        None => vec![],
    }
}

pub(super) fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    if app.help {
        match action {
            Action::Quit => app.quit = true,
            Action::Back | Action::ToggleHelp => app.help = false,
            _ => {}
        }
        return vec![];
    }
    if action == Action::Quit {
        app.quit = true;
        return vec![];
    }
    if action == Action::ToggleHelp {
        app.help = true;
        return vec![];
    }
    if !app.connected() {
        if action == Action::Back {
            app.quit = true;
        }
        return vec![];
    }
    match app.screen {
        Screen::Leads => on_leads_action(app, action),
        Screen::Detail => on_detail_action(app, action),
        Screen::Sync => on_sync_action(app, action),
        Screen::Referrals => on_referrals_action(app, action),
    }
}

pub(super) fn on_sync_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Back | Action::ToggleSync => {
            app.screen = Screen::Leads;
            fetch_leads(app)
        }
        Action::Up | Action::Down | Action::First | Action::Last | Action::PageUp | Action::PageDown => {
            move_job_selection(app, action);
            vec![]
        }
        Action::RunJob => run_selected_job(app),
        Action::ToggleReferrals => open_inbox(app),
        _ => vec![],
    }
}

pub(super) fn on_leads_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Back => {
            app.quit = true;
            vec![]
        }
        Action::ToggleSync => {
            app.screen = Screen::Sync;
            vec![]
        }
        Action::ToggleReferrals => open_inbox(app),
        Action::Up | Action::Down | Action::First | Action::Last | Action::PageUp | Action::PageDown => {
            move_lead_selection(app, action);
            fetch_leads(app)
        }
        Action::Open => open_detail(app),
        Action::Filter => {
            let before = app.leads.expr.clone();
            open_prompt(app, PromptKind::Filter { before: before.clone() }, before);
            vec![]
        }
        Action::ClearFilter => {
            if app.leads.expr.is_empty() {
                return vec![];
            }
            let mut effects = apply_filter(app, "");
            effects.push(save_state(app));
            effects
        }
        Action::Facets => {
            open_facets_menu(app);
            vec![]
        }
        Action::SortMenu => {
            open_sort_menu(app);
            vec![]
        }
        Action::ReverseSort => {
            let (sort, descending) = (app.leads.sort, !app.leads.descending);
            set_sort(app, sort, descending)
        }
        Action::Mark => {
            if let Some(domain) = app.leads.selected_row().map(|r| r.domain.clone()) {
                if !app.leads.marked.remove(&domain) {
                    app.leads.marked.insert(domain);
                }
                move_lead_selection(app, Action::Down);
                return fetch_leads(app);
            }
            vec![]
        }
        Action::ClearMarks => {
            app.leads.marked.clear();
            vec![]
        }
        Action::Add => {
            open_prompt(app, PromptKind::Add, String::new());
            vec![]
        }
        Action::Import => {
            open_prompt(app, PromptKind::Import, String::new());
            vec![]
        }
        Action::Export => {
            let name = format!("leads-{}.csv", app.now.format("%Y-%m-%d"));
            open_prompt(app, PromptKind::Export, name);
            vec![]
        }
        Action::Rescan => rescan(app, app.leads.targets()),
        Action::Push => lead_action(app, action),
        Action::PushMarked => {
            let marked: Vec<String> = app.leads.marked.iter().cloned().collect();
            if marked.is_empty() {
                notify(app, "mark leads with Space first (p pushes the selected one)".into(), true);
                return vec![];
            }
            vec![Effect::Send(Request::PushPreview { domains: marked })]
        }
        Action::Copy | Action::Note | Action::Tag | Action::Favorite => lead_action(app, action),
        _ => vec![],
    }
}

pub(super) fn on_detail_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Back => {
            let back_to = app.detail.take().map_or(Screen::Leads, |d| d.back_to);
            app.screen = back_to;
            if back_to == Screen::Referrals { fetch_inbox(app) } else { fetch_leads(app) }
        }
        Action::ToggleSync => {
            app.screen = Screen::Sync;
            app.detail = None;
            vec![]
        }
        Action::ToggleReferrals => open_inbox(app),
        Action::Up | Action::Down | Action::First | Action::Last | Action::PageUp | Action::PageDown => {
            scroll_detail(app, action);
            vec![]
        }
        Action::Rescan => {
            let domains = app.current_domain().into_iter().collect();
            rescan(app, domains)
        }
        Action::Copy | Action::Note | Action::Tag | Action::Favorite | Action::Push => lead_action(app, action),
        _ => vec![],
    }
}

/// Actions on the lead under the cursor (leads view) or on screen (detail).
pub(super) fn lead_action(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(domain) = app.current_domain() else {
        return vec![];
    };
    match action {
        // In the detail of a lead pushed to Dynamics 365, the record link is what one wants to paste.
        Action::Copy if app.screen == Screen::Detail && app.current_row().is_some_and(|r| r.d365_url.is_some()) => {
            let url = app.current_row().and_then(|r| r.d365_url.clone()).unwrap_or_default();
            notify(app, "copied the Dynamics 365 record link".to_string(), false);
            vec![Effect::Copy(url)]
        }
        Action::Copy => {
            notify(app, format!("copied {domain}"), false);
            vec![Effect::Copy(domain)]
        }
        Action::Push => vec![Effect::Send(Request::PushPreview { domains: vec![domain] })],
        Action::Note => {
            open_prompt(app, PromptKind::Note { domain }, String::new());
            vec![]
        }
        Action::Tag => {
            let tags = app.current_row().map(|r| r.tags.clone()).unwrap_or_default();
            open_prompt(app, PromptKind::Tag { domain, tags }, String::new());
            vec![]
        }
        Action::Favorite => {
            let favorite = !app.current_row().is_some_and(|r| r.favorite);
            vec![Effect::Send(Request::SetFavorite { domain, favorite })]
        }
        _ => vec![],
    }
}

pub(super) fn rescan(app: &mut App, domains: Vec<String>) -> Vec<Effect> {
    if domains.is_empty() {
        return vec![];
    }
    notify(app, format!("asking hunterd to rescan {}…", humanize::count(domains.len(), "lead")), false);
    vec![Effect::Send(Request::Rescan { domains })]
}

pub(super) fn open_detail(app: &mut App) -> Vec<Effect> {
    let Some(domain) = app.leads.selected_row().map(|r| r.domain.clone()) else {
        return vec![];
    };
    app.screen = Screen::Detail;
    app.detail = Some(DetailState::new(domain.clone()));
    vec![Effect::Send(Request::LeadDetail { domain })]
}

pub(super) fn scroll_detail(app: &mut App, action: Action) {
    let page = app.size.1.saturating_sub(6).max(1);
    let max = layout::detail_max_scroll(app);
    let Some(detail) = app.detail.as_mut() else { return };
    detail.scroll = match action {
        Action::Up => detail.scroll.saturating_sub(1),
        Action::Down => detail.scroll.saturating_add(1),
        Action::PageUp => detail.scroll.saturating_sub(page),
        Action::PageDown => detail.scroll.saturating_add(page),
        Action::First => 0,
        _ => max,
    }
    .min(max);
}

pub(super) fn move_lead_selection(app: &mut App, action: Action) {
    let visible = layout::visible_rows(app).max(1);
    let list = &mut app.leads;
    let last = list.total.unwrap_or(0).saturating_sub(1);
    list.selected = match action {
        Action::Up => list.selected.saturating_sub(1),
        Action::Down => (list.selected + 1).min(last),
        Action::PageUp => {
            list.top = list.top.saturating_sub(visible);
            list.selected.saturating_sub(visible)
        }
        Action::PageDown => {
            list.top = (list.top + visible).min(last.saturating_sub(visible - 1));
            (list.selected + visible).min(last)
        }
        Action::First => 0,
        Action::Last => last,
        _ => list.selected,
    };
    list.clamp(visible);
}

pub(super) fn move_job_selection(app: &mut App, action: Action) {
    if app.jobs.is_empty() {
        return;
    }
    let last = app.jobs.len() - 1;
    app.selected_job = match action {
        Action::Up | Action::PageUp => app.selected_job.saturating_sub(1),
        Action::Down | Action::PageDown => (app.selected_job + 1).min(last),
        Action::First => 0,
        Action::Last => last,
        _ => app.selected_job,
    };
}

pub(super) fn run_selected_job(app: &mut App) -> Vec<Effect> {
    let Some(name) = app.selected().map(|j| j.name.clone()) else {
        return vec![];
    };
    notify(app, format!("asked hunterd to run {name}…"), false);
    vec![Effect::Send(Request::RunJob { name })]
}
