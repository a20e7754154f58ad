//! The one-line prompt: typing, the debounced live filter, completion, and what Enter does per prompt.

use super::*;

pub(super) fn open_prompt(app: &mut App, kind: PromptKind, input: String) {
    app.prompt = Some(Prompt { kind, input, hint: None, hint_is_error: false });
}

/// Text editing in a prompt: typing, Backspace, Ctrl-U (clear), Ctrl-W (delete a word), Tab
/// (complete a path), Enter (submit), Esc (cancel). Ctrl-C still quits.
pub(super) fn on_prompt_key(app: &mut App, key: &KeyEvent) -> Vec<Effect> {
    let Some(prompt) = app.prompt.as_mut() else { return vec![] };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => return cancel_prompt(app),
        KeyCode::Enter => return submit_prompt(app),
        KeyCode::Tab if prompt.kind.completes_paths() => return vec![Effect::Complete(prompt.input.clone())],
        KeyCode::Char('c') if ctrl => {
            app.quit = true;
            return vec![];
        }
        KeyCode::Char('u') if ctrl => prompt.input.clear(),
        KeyCode::Char('w') if ctrl => {
            let kept = prompt.input.trim_end().rfind(char::is_whitespace).map_or(0, |i| i + 1);
            prompt.input.truncate(kept);
        }
        KeyCode::Backspace => {
            prompt.input.pop();
        }
        KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => prompt.input.push(c),
        _ => return vec![],
    }
    prompt.hint = None;
    if matches!(prompt.kind, PromptKind::Filter { .. } | PromptKind::ReferralSearch { .. }) {
        app.filter_seq += 1;
        return vec![Effect::After(FILTER_DEBOUNCE, Box::new(Msg::FilterDue(app.filter_seq)))];
    }
    vec![]
}

pub(super) fn on_filter_due(app: &mut App, seq: u64) -> Vec<Effect> {
    if seq != app.filter_seq {
        return vec![];
    }
    if let Some(Prompt { kind: PromptKind::ReferralSearch { .. }, input, .. }) = &app.prompt {
        let input = input.clone();
        return apply_referral_search(app, &input);
    }
    let Some(Prompt { kind: PromptKind::Filter { .. }, input, .. }) = &app.prompt else { return vec![] };
    let input = input.clone();
    match try_filter(app, &input) {
        Ok(effects) => effects,
        Err(e) => {
            set_prompt_hint(app, e, true);
            vec![]
        }
    }
}

pub(super) fn set_prompt_hint(app: &mut App, hint: String, error: bool) {
    if let Some(prompt) = app.prompt.as_mut() {
        prompt.hint = Some(hint);
        prompt.hint_is_error = error;
    }
}

pub(super) fn cancel_prompt(app: &mut App) -> Vec<Effect> {
    let Some(prompt) = app.prompt.take() else { return vec![] };
    match prompt.kind {
        PromptKind::Filter { before } => apply_filter(app, &before),
        PromptKind::ReferralSearch { before } => apply_referral_search(app, &before),
        _ => vec![],
    }
}

pub(super) fn submit_prompt(app: &mut App) -> Vec<Effect> {
    let Some(prompt) = app.prompt.clone() else { return vec![] };
    let input = prompt.input.trim().to_string();
    match prompt.kind {
        PromptKind::Filter { .. } => match try_filter(app, &input) {
            Ok(mut effects) => {
                app.prompt = None;
                effects.push(save_state(app));
                effects
            }
            Err(e) => {
                set_prompt_hint(app, e, true);
                vec![]
            }
        },
        PromptKind::ReferralSearch { .. } => {
            app.prompt = None;
            apply_referral_search(app, &input)
        }
        _ if input.is_empty() => {
            app.prompt = None;
            vec![]
        }
        PromptKind::LinkReferral { referral_id } => submit_link(app, referral_id, input),
        PromptKind::UnlinkReferral { referral_id, .. } => submit_unlink(app, referral_id, &input),
        PromptKind::Add => {
            app.prompt = None;
            let inputs: Vec<String> = input
                .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            notify(app, format!("adding {}…", humanize::count(inputs.len(), "domain")), false);
            vec![Effect::Send(Request::AddDomains { inputs })]
        }
        PromptKind::Import => {
            app.prompt = None;
            notify(app, format!("uploading {input}…"), false);
            vec![Effect::Import(PathBuf::from(input))]
        }
        PromptKind::Export => {
            app.prompt = None;
            let total = app.leads.total.unwrap_or(0);
            notify(app, format!("exporting {}…", humanize::count(total as usize, "lead")), false);
            vec![Effect::Export { path: PathBuf::from(input), query: Box::new(app.leads.query()) }]
        }
        PromptKind::Note { domain } => {
            app.prompt = None;
            vec![Effect::Send(Request::AddNote { domain, author: app.user.clone(), body: input })]
        }
        PromptKind::Push { domains, .. } => {
            app.prompt = None;
            if !matches!(input.to_lowercase().as_str(), "y" | "yes") {
                notify(app, "push cancelled".into(), false);
                return vec![];
            }
            notify(app, format!("pushing {} to Dynamics 365…", humanize::count(domains.len(), "lead")), false);
            vec![Effect::Send(Request::PushLeads { domains })]
        }
        PromptKind::Tag { domain, tags } => {
            app.prompt = None;
            let tag = input.to_lowercase();
            let present = !tags.contains(&tag);
            vec![Effect::Send(Request::SetTag { domain, tag, present })]
        }
    }
}

pub(super) fn on_completed(app: &mut App, input: &str, mut candidates: Vec<String>) {
    let Some(prompt) = app.prompt.as_mut() else { return };
    if prompt.input != input {
        return;
    }
    candidates.sort();
    match candidates.len() {
        0 => {
            prompt.hint = Some("no file matches".into());
            prompt.hint_is_error = true;
        }
        1 => {
            prompt.input = candidates.remove(0);
            prompt.hint = None;
        }
        _ => {
            prompt.input = common_prefix(&candidates);
            let names: Vec<&str> =
                candidates.iter().map(|c| c.trim_end_matches('/').rsplit('/').next().unwrap_or(c)).collect();
            prompt.hint = Some(names.join("  "));
            prompt.hint_is_error = false;
        }
    }
}

/// The longest prefix all candidates share (on character boundaries).
pub fn common_prefix(candidates: &[String]) -> String {
    let Some(first) = candidates.first() else { return String::new() };
    let mut prefix: &str = first;
    for other in &candidates[1..] {
        let end = prefix
            .char_indices()
            .zip(other.chars())
            .find(|((_, a), b)| a != b)
            .map_or(prefix.len().min(other.len()), |((i, _), _)| i);
        prefix = &prefix[..end];
    }
    prefix.to_string()
}
