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
    let facets = Facet::ALL.into_iter().map(|facet| MenuItem {
        label: facet.key().to_string(),
        note: facet.description().to_string(),
        value: facet.key().to_string(),
        active: !facet.values(&app.leads.filter).is_empty(),
    });
    let (key, description) = FAVORITE_KEY;
    let favorite = MenuItem {
        label: key.to_string(),
        note: description.to_string(),
        value: key.to_string(),
        active: app.leads.filter.favorites_only,
    };
    let items = facets.chain(std::iter::once(favorite)).collect();
    app.menu = Some(Menu { kind: MenuKind::Facets, title: "Filter by".into(), items, selected: 0 });
}

pub(super) fn open_facet_values(app: &mut App, facet: Facet, values: Vec<FacetCount>) {
    let chosen = facet.values(&app.leads.filter);
    let items: Vec<MenuItem> = values
        .into_iter()
        .map(|v| {
            let active = chosen.iter().any(|c| c.eq_ignore_ascii_case(&v.value));
            let note = if v.count > 0 { humanize::thousands(v.count) } else { String::new() };
            MenuItem { label: v.value.clone(), note, value: v.value, active }
        })
        .collect();
    let key = facet.key();
    if items.is_empty() {
        app.menu = None;
        notify(app, format!("no lead has a {key} yet"), false);
        return;
    }
    app.menu = Some(Menu {
        kind: MenuKind::FacetValues { facet },
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
            let Some(facet) = Facet::from_key(&item.value) else {
                // The one item that is not a facet: favourites.
                let expr = filter_edit::toggle_favorite(&app.leads.expr);
                let mut effects = apply_filter(app, &expr);
                effects.push(save_state(app));
                return effects;
            };
            match facet.fixed_values() {
                Some(values) => {
                    let values = values.iter().map(|v| FacetCount { value: v.to_string(), count: 0 }).collect();
                    open_facet_values(app, facet, values);
                    vec![]
                }
                None => {
                    notify(app, format!("counting {} values…", facet.key()), false);
                    vec![Effect::Send(Request::LeadFacets { facet, filter: Box::new(app.leads.filter.clone()) })]
                }
            }
        }
        kind @ (MenuKind::ReferralSort | MenuKind::ReferralFacets | MenuKind::ReferralFacetValues { .. }) => {
            choose_referral_menu_item(app, kind, item)
        }
        MenuKind::FacetValues { facet } => {
            let expr = if filter_edit::expressible(&item.value) {
                filter_edit::toggle_value(&app.leads.expr, facet, &item.value)
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
