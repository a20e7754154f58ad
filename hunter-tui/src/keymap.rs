//! The one keymap. Key handling, the hints bar and the `?` help all read a [`Keymap`], so the help
//! can never describe a key that does something else. [`DEFAULTS`] is the built-in table; a user's
//! `[keys]` section (see [`crate::settings`]) replaces the keys of named actions.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks the app to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Quit,
    /// Close the help, a menu or a view; quit from the leads view.
    Back,
    ToggleHelp,
    ToggleSync,
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    Open,
    Filter,
    ClearFilter,
    Facets,
    SortMenu,
    ReverseSort,
    Mark,
    ClearMarks,
    Add,
    Import,
    Rescan,
    /// Push the selected lead to Dynamics 365 (after a confirmation).
    Push,
    /// Push every marked lead to Dynamics 365 (after a confirmation).
    PushMarked,
    Export,
    Copy,
    Note,
    Tag,
    Favorite,
    RunJob,
    /// Show or hide the referral inbox.
    ToggleReferrals,
    /// Link the selected referral to a company domain.
    LinkReferral,
    /// Remove the selected referral's link (after a confirmation).
    UnlinkReferral,
}

impl Action {
    /// Every action, for parsing names.
    pub const ALL: [Action; 32] = [
        Action::Quit,
        Action::Back,
        Action::ToggleHelp,
        Action::ToggleSync,
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::First,
        Action::Last,
        Action::Open,
        Action::Filter,
        Action::ClearFilter,
        Action::Facets,
        Action::SortMenu,
        Action::ReverseSort,
        Action::Mark,
        Action::ClearMarks,
        Action::Add,
        Action::Import,
        Action::Rescan,
        Action::Push,
        Action::PushMarked,
        Action::Export,
        Action::Copy,
        Action::Note,
        Action::Tag,
        Action::Favorite,
        Action::RunJob,
        Action::ToggleReferrals,
        Action::LinkReferral,
        Action::UnlinkReferral,
    ];

    /// The name used in the `[keys]` section of the user config.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Back => "back",
            Action::ToggleHelp => "help",
            Action::ToggleSync => "sync",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::First => "first",
            Action::Last => "last",
            Action::Open => "open",
            Action::Filter => "filter",
            Action::ClearFilter => "clear_filter",
            Action::Facets => "facets",
            Action::SortMenu => "sort",
            Action::ReverseSort => "reverse_sort",
            Action::Mark => "mark",
            Action::ClearMarks => "clear_marks",
            Action::Add => "add",
            Action::Import => "import",
            Action::Rescan => "rescan",
            Action::Push => "push",
            Action::PushMarked => "push_marked",
            Action::Export => "export",
            Action::Copy => "copy",
            Action::Note => "note",
            Action::Tag => "tag",
            Action::Favorite => "favorite",
            Action::RunJob => "run_job",
            Action::ToggleReferrals => "referrals",
            Action::LinkReferral => "link_referral",
            Action::UnlinkReferral => "unlink_referral",
        }
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// On every screen, including the "daemon not running" one.
    Global,
    /// The leads table.
    Leads,
    /// One lead's detail.
    Detail,
    /// The sync status view.
    Sync,
    /// The referral inbox.
    Referrals,
}

impl Scope {
    pub const ALL: [Scope; 5] = [Scope::Global, Scope::Leads, Scope::Detail, Scope::Sync, Scope::Referrals];

    /// Heading used by the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Leads => "Leads",
            Scope::Detail => "Lead detail",
            Scope::Sync => "Sync status",
            Scope::Referrals => "Referral inbox",
        }
    }
}

/// One key combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    pub const fn plain(code: KeyCode) -> Key {
        Key { code, modifiers: KeyModifiers::NONE }
    }

    pub const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key { code: KeyCode::Char(c), modifiers: KeyModifiers::CONTROL }
    }

    /// Whether a terminal key event is this key. Shift is ignored for characters because
    /// terminals disagree on whether `?` or `G` arrive with it.
    pub fn matches(&self, event: &KeyEvent) -> bool {
        let strip_shift = |m: KeyModifiers| match event.code {
            KeyCode::Char(_) => m.difference(KeyModifiers::SHIFT),
            _ => m,
        };
        self.code == event.code && strip_shift(self.modifiers) == strip_shift(event.modifiers)
    }

    /// How the key is written in the help and the hints bar.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) if self.modifiers.contains(KeyModifiers::CONTROL) => c.to_ascii_uppercase().to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::Backspace => "Backspace".into(),
            KeyCode::Delete => "Del".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        let mut label = String::new();
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            label.push_str("Ctrl-");
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            label.push_str("Alt-");
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) && !matches!(self.code, KeyCode::Char(_)) {
            label.push_str("Shift-");
        }
        label.push_str(&base);
        label
    }

    /// Reads a key as written in the user config: `a`, `G`, `?`, `space`, `enter`, `esc`, `tab`,
    /// `up`, `pgdn`, `f5`, `ctrl-r`, `alt-x`, `shift-tab` (case-insensitive names, `-` or `+`).
    pub fn parse(text: &str) -> Result<Key, String> {
        let text = text.trim();
        if text.chars().count() == 1 {
            return Ok(Key::plain(KeyCode::Char(text.chars().next().unwrap_or(' '))));
        }
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            let prefix =
                ["ctrl-", "ctrl+", "alt-", "alt+", "shift-", "shift+"].into_iter().find(|p| lower.starts_with(p));
            let Some(prefix) = prefix else { break };
            modifiers |= match &prefix[..prefix.len() - 1] {
                "ctrl" => KeyModifiers::CONTROL,
                "alt" => KeyModifiers::ALT,
                _ => KeyModifiers::SHIFT,
            };
            rest = &rest[prefix.len()..];
        }
        let code = if rest.chars().count() == 1 {
            let c = rest.chars().next().unwrap_or(' ');
            // Ctrl-R and Ctrl-r are the same key to a terminal.
            KeyCode::Char(if modifiers.contains(KeyModifiers::CONTROL) { c.to_ascii_lowercase() } else { c })
        } else {
            match rest.to_ascii_lowercase().as_str() {
                "space" => KeyCode::Char(' '),
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                f if f.starts_with('f') && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) => {
                    KeyCode::F(f[1..].parse().unwrap_or(1))
                }
                _ => return Err(format!("unknown key `{text}`")),
            }
        };
        Ok(Key { code, modifiers })
    }
}

/// One row of the built-in table.
#[derive(Debug, Clone, Copy)]
pub struct DefaultBinding {
    pub keys: &'static [Key],
    pub action: Action,
    pub scopes: &'static [Scope],
    pub description: &'static str,
    /// Short label for the one-line hints bar; `None` keeps the binding to the help only.
    pub hint: Option<&'static str>,
}

const GLOBAL: &[Scope] = &[Scope::Global];
const LEADS: &[Scope] = &[Scope::Leads];
const LEAD_ACTIONS: &[Scope] = &[Scope::Leads, Scope::Detail];
const SYNC: &[Scope] = &[Scope::Sync];
const REFERRALS: &[Scope] = &[Scope::Referrals];
/// Keys that mean the same on the leads table and the referral inbox.
const LISTS: &[Scope] = &[Scope::Leads, Scope::Referrals];

/// Every key the TUI understands by default. Order is the order of the help and the hints bar.
/// Nothing here uses Ctrl-B or Ctrl-A: they are tmux's and screen's prefixes.
pub const DEFAULTS: &[DefaultBinding] = &[
    DefaultBinding {
        keys: &[Key::ctrl('c')],
        action: Action::Quit,
        scopes: GLOBAL,
        description: "quit at once",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch('q'), Key::plain(KeyCode::Esc)],
        action: Action::Back,
        scopes: GLOBAL,
        description: "back: close the help, a menu or a view; quit from the leads view",
        hint: Some("back/quit"),
    },
    DefaultBinding {
        keys: &[Key::ch('?')],
        action: Action::ToggleHelp,
        scopes: GLOBAL,
        description: "show or hide this help",
        hint: Some("help"),
    },
    DefaultBinding {
        keys: &[Key::ch('s')],
        action: Action::ToggleSync,
        scopes: GLOBAL,
        description: "show or hide sync status: scheduled jobs, last runs, errors",
        hint: Some("sync"),
    },
    DefaultBinding {
        keys: &[Key::ch('R')],
        action: Action::ToggleReferrals,
        scopes: GLOBAL,
        description: "show or hide the Partner Center referral inbox, linked or not",
        hint: Some("referrals"),
    },
    DefaultBinding {
        keys: &[Key::ch('k'), Key::plain(KeyCode::Up)],
        action: Action::Up,
        scopes: GLOBAL,
        description: "previous row (scroll up in the detail)",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch('j'), Key::plain(KeyCode::Down)],
        action: Action::Down,
        scopes: GLOBAL,
        description: "next row (scroll down in the detail)",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::plain(KeyCode::PageUp), Key::ctrl('u')],
        action: Action::PageUp,
        scopes: GLOBAL,
        description: "one page up",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::plain(KeyCode::PageDown), Key::ctrl('d')],
        action: Action::PageDown,
        scopes: GLOBAL,
        description: "one page down",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch('g'), Key::plain(KeyCode::Home)],
        action: Action::First,
        scopes: GLOBAL,
        description: "first row",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch('G'), Key::plain(KeyCode::End)],
        action: Action::Last,
        scopes: GLOBAL,
        description: "last row",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::plain(KeyCode::Enter)],
        action: Action::Open,
        scopes: LISTS,
        description: "open the selected lead, or a referral's lead (or pick the menu item)",
        hint: Some("detail"),
    },
    DefaultBinding {
        keys: &[Key::ch('/')],
        action: Action::Filter,
        scopes: LISTS,
        description: "filter as you type: words, key=value, score>=60; referrals: text",
        hint: Some("filter"),
    },
    DefaultBinding {
        keys: &[Key::ch('c')],
        action: Action::ClearFilter,
        scopes: LISTS,
        description: "clear the filter",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch('F')],
        action: Action::Facets,
        scopes: LISTS,
        description: "facet filters: segment, provider, tag, …; referrals: kind, status, link",
        hint: Some("facets"),
    },
    DefaultBinding {
        keys: &[Key::ch('o')],
        action: Action::SortMenu,
        scopes: LISTS,
        description: "sort by a column (pick the current one again to reverse)",
        hint: Some("sort"),
    },
    DefaultBinding {
        keys: &[Key::ch('O')],
        action: Action::ReverseSort,
        scopes: LISTS,
        description: "reverse the sort order",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch(' ')],
        action: Action::Mark,
        scopes: LEADS,
        description: "mark or unmark the selected lead (r then acts on all marked)",
        hint: Some("mark"),
    },
    DefaultBinding {
        keys: &[Key::ch('u')],
        action: Action::ClearMarks,
        scopes: LEADS,
        description: "unmark all",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch('a')],
        action: Action::Add,
        scopes: LEADS,
        description: "add domains (URLs and e-mail addresses are fine)",
        hint: Some("add"),
    },
    DefaultBinding {
        keys: &[Key::ch('i')],
        action: Action::Import,
        scopes: LEADS,
        description: "import a CSV or XLSX file (Tab completes the path)",
        hint: Some("import"),
    },
    DefaultBinding {
        keys: &[Key::ch('r')],
        action: Action::Rescan,
        scopes: LEAD_ACTIONS,
        description: "rescan the marked leads, or the selected one",
        hint: Some("rescan"),
    },
    DefaultBinding {
        keys: &[Key::ch('p')],
        action: Action::Push,
        scopes: LEAD_ACTIONS,
        description: "push to Dynamics 365 (confirm first)",
        hint: Some("push"),
    },
    DefaultBinding {
        keys: &[Key::ch('P')],
        action: Action::PushMarked,
        scopes: LEADS,
        description: "push the marked leads to Dynamics 365",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch('e')],
        action: Action::Export,
        scopes: LEADS,
        description: "export the filtered leads to a CSV file",
        hint: Some("export"),
    },
    DefaultBinding {
        keys: &[Key::ch('y')],
        action: Action::Copy,
        scopes: LEAD_ACTIONS,
        description: "copy the domain to the clipboard (OSC 52: works over SSH)",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch('n')],
        action: Action::Note,
        scopes: LEAD_ACTIONS,
        description: "add a note to the lead",
        hint: Some("note"),
    },
    DefaultBinding {
        keys: &[Key::ch('t')],
        action: Action::Tag,
        scopes: LEAD_ACTIONS,
        description: "add or remove a tag",
        hint: Some("tag"),
    },
    DefaultBinding {
        keys: &[Key::ch('f')],
        action: Action::Favorite,
        scopes: LEAD_ACTIONS,
        description: "mark or unmark as favourite",
        hint: None,
    },
    DefaultBinding {
        keys: &[Key::ch('x')],
        action: Action::RunJob,
        scopes: SYNC,
        description: "run the selected job now",
        hint: Some("run job"),
    },
    DefaultBinding {
        keys: &[Key::ch('l')],
        action: Action::LinkReferral,
        scopes: REFERRALS,
        description: "link the referral to a company domain; syncs keep the link",
        hint: Some("link"),
    },
    DefaultBinding {
        keys: &[Key::ch('u')],
        action: Action::UnlinkReferral,
        scopes: REFERRALS,
        description: "unlink the referral, dropping its effect on the score (confirm first)",
        hint: Some("unlink"),
    },
];

/// One row of a keymap in use: the default's meaning with the user's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub keys: Vec<Key>,
    pub action: Action,
    pub scopes: &'static [Scope],
    pub description: &'static str,
    pub hint: Option<&'static str>,
}

impl Binding {
    /// The keys as one label, e.g. `q, Esc`.
    pub fn keys_label(&self) -> String {
        self.keys.iter().map(Key::label).collect::<Vec<_>>().join(", ")
    }

    /// The first key only: the hints bar has no room for alternatives.
    pub fn first_key_label(&self) -> String {
        self.keys.first().map(Key::label).unwrap_or_default()
    }

    /// Whether the binding works in a screen whose scopes are `active` (global ones always do).
    pub fn applies_in(&self, active: Scope) -> bool {
        self.scopes.iter().any(|s| *s == Scope::Global || *s == active)
    }
}

/// The keymap in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap {
            bindings: DEFAULTS
                .iter()
                .map(|d| Binding {
                    keys: d.keys.to_vec(),
                    action: d.action,
                    scopes: d.scopes,
                    description: d.description,
                    hint: d.hint,
                })
                .collect(),
        }
    }
}

impl Keymap {
    /// The defaults with some actions' keys replaced (`action name → key texts`). A key taken by
    /// an override is removed from any other binding that could clash with it. Returns one
    /// readable problem per entry that could not be used; those entries keep their defaults.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> (Keymap, Vec<String>) {
        let mut keymap = Keymap::default();
        let mut problems = Vec::new();
        for (name, texts) in overrides {
            let Some(action) = Action::from_name(name) else {
                let names: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                problems.push(format!("[keys] `{name}` is not an action; use one of {}", names.join(", ")));
                continue;
            };
            let keys: Result<Vec<Key>, String> = texts.iter().map(|t| Key::parse(t)).collect();
            let keys = match keys {
                Ok(keys) if !keys.is_empty() => keys,
                Ok(_) => {
                    problems.push(format!("[keys] `{name}` has no keys; keeping the default"));
                    continue;
                }
                Err(e) => {
                    problems.push(format!("[keys] `{name}`: {e}; keeping the default"));
                    continue;
                }
            };
            keymap.rebind(action, keys);
        }
        (keymap, problems)
    }

    fn rebind(&mut self, action: Action, keys: Vec<Key>) {
        let Some(index) = self.bindings.iter().position(|b| b.action == action) else { return };
        let scopes = self.bindings[index].scopes;
        let overlaps = |other: &[Scope]| {
            scopes.contains(&Scope::Global)
                || other.contains(&Scope::Global)
                || scopes.iter().any(|s| other.contains(s))
        };
        for (i, binding) in self.bindings.iter_mut().enumerate() {
            if i != index && overlaps(binding.scopes) {
                binding.keys.retain(|k| !keys.contains(k));
            }
        }
        self.bindings[index].keys = keys;
    }

    /// The action for a key event on a screen with scope `active`, if any.
    pub fn action_for(&self, event: &KeyEvent, active: Scope) -> Option<Action> {
        if event.kind == KeyEventKind::Release {
            return None;
        }
        self.bindings
            .iter()
            .filter(|b| b.applies_in(active))
            .find(|b| b.keys.iter().any(|k| k.matches(event)))
            .map(|b| b.action)
    }

    /// Every key bound to `action`, e.g. `q, Esc`, for text that mentions keys outside the help.
    pub fn keys_for(&self, action: Action) -> String {
        self.bindings.iter().filter(|b| b.action == action).map(Binding::keys_label).collect::<Vec<_>>().join(", ")
    }

    /// The first key of `action`, for short hints like "press a to add".
    pub fn key_for(&self, action: Action) -> String {
        self.bindings.iter().find(|b| b.action == action).map(Binding::first_key_label).unwrap_or_default()
    }

    /// Bindings that work on a screen with scope `active`, in keymap order.
    pub fn bindings_for(&self, active: Scope) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| b.applies_in(active))
    }

    /// Bindings the help lists under `scope`: the global ones, or those of one screen.
    pub fn listed_under(&self, scope: Scope) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| {
            let global = b.scopes.contains(&Scope::Global);
            if scope == Scope::Global { global } else { !global && b.scopes.contains(&scope) }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &Key) -> KeyEvent {
        KeyEvent::new(key.code, key.modifiers)
    }

    fn overrides(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(a, ks)| (a.to_string(), ks.iter().map(|k| k.to_string()).collect())).collect()
    }

    #[test]
    fn every_key_in_the_keymap_triggers_its_action_in_each_of_its_scopes() {
        let keymap = Keymap::default();
        for binding in &keymap.bindings {
            for scope in binding.scopes {
                let screen = if *scope == Scope::Global { Scope::Leads } else { *scope };
                for key in &binding.keys {
                    assert_eq!(keymap.action_for(&event(key), screen), Some(binding.action), "{}", key.label());
                }
            }
        }
    }

    #[test]
    fn no_key_is_bound_twice_on_one_screen() {
        let keymap = Keymap::default();
        for screen in [Scope::Leads, Scope::Detail, Scope::Sync] {
            let keys: Vec<Key> = keymap.bindings_for(screen).flat_map(|b| b.keys.iter().copied()).collect();
            for (i, key) in keys.iter().enumerate() {
                assert!(!keys[i + 1..].contains(key), "{} bound twice on {screen:?}", key.label());
            }
        }
    }

    #[test]
    fn every_action_has_a_default_binding_and_a_unique_name() {
        let keymap = Keymap::default();
        for action in Action::ALL {
            assert!(keymap.bindings.iter().any(|b| b.action == action), "{action:?} has no binding");
            assert_eq!(Action::from_name(action.name()), Some(action));
        }
    }

    #[test]
    fn sync_only_keys_do_nothing_on_the_leads_screen() {
        let keymap = Keymap::default();
        assert_eq!(keymap.action_for(&event(&Key::ch('x')), Scope::Leads), None);
        assert_eq!(keymap.action_for(&event(&Key::ch('x')), Scope::Sync), Some(Action::RunJob));
    }

    #[test]
    fn lead_actions_work_in_the_detail_but_list_actions_do_not() {
        let keymap = Keymap::default();
        assert_eq!(keymap.action_for(&event(&Key::ch('n')), Scope::Detail), Some(Action::Note));
        assert_eq!(keymap.action_for(&event(&Key::ch('/')), Scope::Detail), None);
    }

    #[test]
    fn a_question_mark_with_shift_still_opens_the_help() {
        let ev = KeyEvent::new(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(Keymap::default().action_for(&ev, Scope::Leads), Some(Action::ToggleHelp));
    }

    #[test]
    fn key_releases_are_ignored() {
        let mut ev = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        ev.kind = KeyEventKind::Release;
        assert_eq!(Keymap::default().action_for(&ev, Scope::Leads), None);
    }

    #[test]
    fn ctrl_c_quits_but_plain_c_clears_the_filter() {
        let keymap = Keymap::default();
        assert_eq!(keymap.action_for(&event(&Key::ctrl('c')), Scope::Leads), Some(Action::Quit));
        assert_eq!(keymap.action_for(&event(&Key::ch('c')), Scope::Leads), Some(Action::ClearFilter));
    }

    #[test]
    fn no_default_key_is_a_terminal_multiplexer_prefix() {
        let keymap = Keymap::default();
        for prefix in [Key::ctrl('b'), Key::ctrl('a')] {
            assert_eq!(keymap.action_for(&event(&prefix), Scope::Leads), None, "{}", prefix.label());
        }
    }

    #[test]
    fn labels_read_like_the_keyboard() {
        let keymap = Keymap::default();
        assert_eq!(keymap.keys_for(Action::Back), "q, Esc");
        assert_eq!(keymap.keys_for(Action::PageDown), "PgDn, Ctrl-D");
        assert_eq!(Key::plain(KeyCode::Up).label(), "↑");
        assert_eq!(keymap.key_for(Action::Mark), "Space");
    }

    #[test]
    fn keys_are_read_from_config_text() {
        assert_eq!(Key::parse("R"), Ok(Key::ch('R')));
        assert_eq!(Key::parse("ctrl-R"), Ok(Key::ctrl('r')));
        assert_eq!(Key::parse("Ctrl+x"), Ok(Key::ctrl('x')));
        assert_eq!(Key::parse("space"), Ok(Key::ch(' ')));
        assert_eq!(Key::parse("pgdn"), Ok(Key::plain(KeyCode::PageDown)));
        assert_eq!(Key::parse("f5"), Ok(Key::plain(KeyCode::F(5))));
        assert_eq!(Key::parse("shift-tab"), Ok(Key { code: KeyCode::Tab, modifiers: KeyModifiers::SHIFT }));
        assert!(Key::parse("hyper-q").is_err());
    }

    #[test]
    fn an_override_replaces_the_keys_of_its_action() {
        let (keymap, problems) = Keymap::with_overrides(&overrides(&[("rescan", &["R", "ctrl-r"])]));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(keymap.keys_for(Action::Rescan), "R, Ctrl-R");
        assert_eq!(keymap.action_for(&event(&Key::ch('r')), Scope::Leads), None);
        assert_eq!(keymap.action_for(&event(&Key::ctrl('r')), Scope::Detail), Some(Action::Rescan));
    }

    #[test]
    fn an_overriding_key_is_taken_from_the_action_that_had_it() {
        let (keymap, _) = Keymap::with_overrides(&overrides(&[("rescan", &["a"])]));
        assert_eq!(keymap.action_for(&event(&Key::ch('a')), Scope::Leads), Some(Action::Rescan));
        assert_eq!(keymap.keys_for(Action::Add), "");
    }

    #[test]
    fn keys_taken_by_a_screen_action_stay_with_actions_of_other_screens() {
        let (keymap, _) = Keymap::with_overrides(&overrides(&[("run_job", &["e"])]));
        assert_eq!(keymap.action_for(&event(&Key::ch('e')), Scope::Sync), Some(Action::RunJob));
        assert_eq!(keymap.action_for(&event(&Key::ch('e')), Scope::Leads), Some(Action::Export));
    }

    #[test]
    fn bad_overrides_are_reported_and_keep_the_default() {
        let (keymap, problems) =
            Keymap::with_overrides(&overrides(&[("rescna", &["R"]), ("add", &["hyper-a"]), ("tag", &[])]));
        assert_eq!(problems.len(), 3, "{problems:?}");
        let unknown = problems.iter().find(|p| p.contains("rescna")).expect("the unknown action is reported");
        assert!(unknown.contains("use one of quit, back"), "{unknown}");
        assert_eq!(keymap, Keymap::default());
    }
}
