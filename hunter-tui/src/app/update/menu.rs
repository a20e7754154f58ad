//! Menus: the sort menu and the facet pickers (facets, then a facet's values).

use super::*;

/// Sorting by a column starts with the order people want first: best scores, P1, newest scans.
pub(super) fn default_descending(sort: LeadSort) -> bool {
    matches!(sort, LeadSort::Score | LeadSort::ScannedAt)
}

pub(super) fn open_sort_menu(app: &mut App) {
    let items: Vec<MenuItem> = LeadSort::ALL
        .iter()
        .map(|s| {
            let active = *s == app.leads.sort;
            let note =
                if active { if app.leads.descending { "↓ (again: ↑)" } else { "↑ (again: ↓)" } } else { "" };
            MenuItem { label: humanize::sort_label(*s).into(), note: note.into(), value: s.name().into(), active }
        })
        .collect();
    let selected = items.iter().position(|i| i.active).unwrap_or(0);
    app.menu = Some(Menu { kind: MenuKind::Sort, title: "Sort by".into(), items, selected });
}

pub(super) fn open_facets_menu(app: &mut App) {
    let items = FACETS
        .iter()
        .map(|(key, _)| {
            let description = FILTER_KEYS.iter().find(|(k, _)| k == key).map(|(_, d)| *d).unwrap_or("");
            let active = if *key == "favorite" {
                app.leads.filter.favorites_only
            } else {
                !filter_edit::values_of(&app.leads.filter, key).is_empty()
            };
            MenuItem { label: key.to_string(), note: description.to_string(), value: key.to_string(), active }
        })
        .collect();
    app.menu = Some(Menu { kind: MenuKind::Facets, title: "Filter by".into(), items, selected: 0 });
}

pub(super) fn open_facet_values(app: &mut App, key: &str, values: Vec<FacetCount>) {
    let chosen = filter_edit::values_of(&app.leads.filter, key);
    let items: Vec<MenuItem> = values
        .into_iter()
        .map(|v| {
            let active = chosen.iter().any(|c| c.eq_ignore_ascii_case(&v.value));
            let note = if v.count > 0 { humanize::thousands(v.count) } else { String::new() };
            MenuItem { label: v.value.clone(), note, value: v.value, active }
        })
        .collect();
    if items.is_empty() {
        app.menu = None;
        notify(app, format!("no lead has a {key} yet"), false);
        return;
    }
    app.menu = Some(Menu {
        kind: MenuKind::FacetValues { key: key.to_string() },
        title: format!("{key} (Enter adds or removes)"),
        items,
        selected: 0,
    });
}

pub(super) fn on_menu_action(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(menu) = app.menu.as_mut() else { return vec![] };
    let last = menu.items.len().saturating_sub(1);
    match action {
        Action::Quit => app.quit = true,
        Action::Back => app.menu = None,
        Action::Up => menu.selected = menu.selected.saturating_sub(1),
        Action::Down => menu.selected = (menu.selected + 1).min(last),
        Action::First | Action::PageUp => menu.selected = 0,
        Action::Last | Action::PageDown => menu.selected = last,
        Action::Open => return choose_menu_item(app),
        _ => {}
    }
    vec![]
}

pub(super) fn choose_menu_item(app: &mut App) -> Vec<Effect> {
    let Some(menu) = app.menu.take() else { return vec![] };
    let Some(item) = menu.items.get(menu.selected).cloned() else { return vec![] };
    match menu.kind {
        MenuKind::Sort => {
            let Some(sort) = LeadSort::from_name(&item.value) else { return vec![] };
            let descending = if sort == app.leads.sort { !app.leads.descending } else { default_descending(sort) };
            set_sort(app, sort, descending)
        }
        MenuKind::Facets => {
            let key = item.value;
            match FACETS.iter().find(|(k, _)| *k == key).and_then(|(_, values)| *values) {
                Some([]) => {
                    let expr = filter_edit::toggle_favorite(&app.leads.expr);
                    let mut effects = apply_filter(app, &expr);
                    effects.push(save_state(app));
                    effects
                }
                Some(values) => {
                    let values = values.iter().map(|v| FacetCount { value: v.to_string(), count: 0 }).collect();
                    open_facet_values(app, &key, values);
                    vec![]
                }
                None => {
                    notify(app, format!("counting {key} values…"), false);
                    vec![Effect::Send(Request::LeadFacets { facet: key, filter: Box::new(app.leads.filter.clone()) })]
                }
            }
        }
        MenuKind::FacetValues { key } => {
            let expr = if filter_edit::expressible(&item.value) {
                filter_edit::toggle_value(&app.leads.expr, &key, &item.value)
            } else {
                // Terms are split on spaces: such a value can only be searched for as text.
                notify(app, format!("`{}` has spaces: filtering by its text instead", item.value), false);
                format!("{} {}", app.leads.expr, item.value)
            };
            let mut effects = apply_filter(app, &expr);
            effects.push(save_state(app));
            effects
        }
    }
}
