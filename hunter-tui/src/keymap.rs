//! The one keymap. Key handling, the hints bar and the `?` help all read [`KEYMAP`], so the help
//! can never describe a key that does something else.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key asks the app to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Close the help or the sync view; quit from the main screen.
    Back,
    ToggleHelp,
    ToggleSync,
    Up,
    Down,
    First,
    Last,
    RunJob,
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// On every screen, including the "daemon not running" one.
    Global,
    /// Only in the sync status view.
    Sync,
}

impl Scope {
    /// Heading used by the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Sync => "Sync status",
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
    /// terminals disagree on whether `?` arrives with it.
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
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            other => format!("{other:?}"),
        };
        if self.modifiers.contains(KeyModifiers::CONTROL) { format!("Ctrl-{base}") } else { base }
    }
}

/// One row of the keymap: keys, the action they trigger, and the sentence the help shows.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
    pub scope: Scope,
    pub description: &'static str,
    /// Short label for the one-line hints bar; `None` keeps the binding to the help only.
    pub hint: Option<&'static str>,
}

impl Binding {
    /// The keys as one label, e.g. `q, Ctrl-C`.
    pub fn keys_label(&self) -> String {
        self.keys.iter().map(Key::label).collect::<Vec<_>>().join(", ")
    }

    /// The first key only: the hints bar has no room for alternatives.
    pub fn first_key_label(&self) -> String {
        self.keys.first().map(Key::label).unwrap_or_default()
    }
}

/// Every key the TUI understands. Order is the order of the help and the hints bar.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[Key::ch('q'), Key::ctrl('c')],
        action: Action::Quit,
        scope: Scope::Global,
        description: "quit",
        hint: Some("quit"),
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        action: Action::Back,
        scope: Scope::Global,
        description: "close the help or the sync view; quit from the main screen",
        hint: None,
    },
    Binding {
        keys: &[Key::ch('?')],
        action: Action::ToggleHelp,
        scope: Scope::Global,
        description: "show or hide this help",
        hint: Some("help"),
    },
    Binding {
        keys: &[Key::ch('s')],
        action: Action::ToggleSync,
        scope: Scope::Global,
        description: "show or hide sync status: scheduled jobs, last runs, errors",
        hint: Some("sync status"),
    },
    Binding {
        keys: &[Key::ch('k'), Key::plain(KeyCode::Up)],
        action: Action::Up,
        scope: Scope::Global,
        description: "previous row",
        hint: None,
    },
    Binding {
        keys: &[Key::ch('j'), Key::plain(KeyCode::Down)],
        action: Action::Down,
        scope: Scope::Global,
        description: "next row",
        hint: None,
    },
    Binding {
        keys: &[Key::ch('g'), Key::plain(KeyCode::Home)],
        action: Action::First,
        scope: Scope::Global,
        description: "first row",
        hint: None,
    },
    Binding {
        keys: &[Key::ch('G'), Key::plain(KeyCode::End)],
        action: Action::Last,
        scope: Scope::Global,
        description: "last row",
        hint: None,
    },
    Binding {
        keys: &[Key::ch('x')],
        action: Action::RunJob,
        scope: Scope::Sync,
        description: "run the selected job now",
        hint: Some("run job"),
    },
];

/// The action for a key event in the given scope, if any. Global bindings apply everywhere.
pub fn action_for(event: &KeyEvent, scope: Scope) -> Option<Action> {
    if event.kind != KeyEventKind::Press {
        return None;
    }
    KEYMAP
        .iter()
        .filter(|b| b.scope == Scope::Global || b.scope == scope)
        .find(|b| b.keys.iter().any(|k| k.matches(event)))
        .map(|b| b.action)
}

/// Every key bound to `action`, e.g. `q, Ctrl-C`, for text that mentions keys outside the help.
pub fn keys_for(action: Action) -> String {
    KEYMAP.iter().filter(|b| b.action == action).map(Binding::keys_label).collect::<Vec<_>>().join(", ")
}

/// Bindings active in `scope`, in keymap order.
pub fn bindings_for(scope: Scope) -> impl Iterator<Item = &'static Binding> {
    KEYMAP.iter().filter(move |b| b.scope == Scope::Global || b.scope == scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &Key) -> KeyEvent {
        KeyEvent::new(key.code, key.modifiers)
    }

    #[test]
    fn every_key_in_the_keymap_triggers_its_action() {
        for binding in KEYMAP {
            for key in binding.keys {
                assert_eq!(
                    action_for(&event(key), binding.scope),
                    Some(binding.action),
                    "key {} in {:?}",
                    key.label(),
                    binding.scope
                );
            }
        }
    }

    #[test]
    fn no_key_is_bound_twice_in_one_scope() {
        for scope in [Scope::Global, Scope::Sync] {
            let keys: Vec<Key> = bindings_for(scope).flat_map(|b| b.keys.iter().copied()).collect();
            for (i, key) in keys.iter().enumerate() {
                assert!(!keys[i + 1..].contains(key), "{} bound twice in {scope:?}", key.label());
            }
        }
    }

    #[test]
    fn sync_only_keys_do_nothing_on_the_main_screen() {
        for binding in KEYMAP.iter().filter(|b| b.scope == Scope::Sync) {
            for key in binding.keys {
                assert_eq!(action_for(&event(key), Scope::Global), None, "{}", key.label());
            }
        }
    }

    #[test]
    fn a_question_mark_with_shift_still_opens_the_help() {
        let ev = KeyEvent::new(KeyCode::Char('?'), KeyModifiers::SHIFT);
        assert_eq!(action_for(&ev, Scope::Global), Some(Action::ToggleHelp));
    }

    #[test]
    fn key_releases_are_ignored() {
        let mut ev = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        ev.kind = KeyEventKind::Release;
        assert_eq!(action_for(&ev, Scope::Global), None);
    }

    #[test]
    fn ctrl_c_quits_but_plain_c_does_not() {
        assert_eq!(action_for(&event(&Key::ctrl('c')), Scope::Global), Some(Action::Quit));
        assert_eq!(action_for(&event(&Key::ch('c')), Scope::Global), None);
    }

    #[test]
    fn labels_read_like_the_keyboard() {
        assert_eq!(KEYMAP[0].keys_label(), "q, Ctrl-C");
        assert_eq!(Key::plain(KeyCode::Up).label(), "↑");
        assert_eq!(keys_for(Action::RunJob), "x");
    }
}
