//! The lead list against a simulated daemon: answers arrive late, out of order or failed, the
//! data changes under the list, the user types filters and scrolls. Whatever happened, once the
//! daemon has answered everything the screen shows exactly the rows the daemon holds, no "…".
//!
//! Deterministic (seeded) so a failure names the seed that reproduces it.

use super::*;
use crate::app::fixtures::lead;
use crate::keymap::Key;
use protocol::{LeadCount, LeadKey, LeadPage, LeadRow, Seek, SortValue};

/// A small xorshift generator: reproducible runs without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The daemon's side: the leads, filtered and ordered by score (descending) then domain, as
/// `hunterd` orders them.
struct FakeDaemon {
    leads: Vec<LeadRow>,
}

impl FakeDaemon {
    fn matching(&self, filter: &LeadFilter) -> Vec<LeadRow> {
        let mut rows: Vec<LeadRow> = self
            .leads
            .iter()
            .filter(|row| {
                let text = filter.text.as_deref().is_none_or(|t| {
                    let t = t.to_lowercase();
                    row.domain.contains(&t)
                        || row.company.as_deref().is_some_and(|c| c.to_lowercase().contains(&t))
                        || row.provider.as_deref().is_some_and(|p| p.to_lowercase().contains(&t))
                });
                let provider = filter.providers.is_empty()
                    || filter
                        .providers
                        .iter()
                        .any(|p| row.provider.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(p)));
                text && provider
            })
            .cloned()
            .collect();
        rows.sort_by_key(|row| std::cmp::Reverse(key_of(row)));
        rows
    }

    fn list(&self, query: &LeadQuery) -> LeadPage {
        assert_eq!((query.sort, query.descending), (LeadSort::Score, true), "the simulation orders by score only");
        let rows = self.matching(&query.filter);
        let limit = query.limit as usize;
        let page: Vec<LeadRow> = match &query.seek {
            Seek::Offset(offset) => rows.iter().skip(*offset as usize).take(limit).cloned().collect(),
            Seek::After(key) => rows.iter().filter(|r| key_of(r) < cursor(key)).take(limit).cloned().collect(),
            Seek::Before(key) => {
                let before: Vec<&LeadRow> = rows.iter().filter(|r| key_of(r) > cursor(key)).collect();
                before[before.len().saturating_sub(limit)..].iter().map(|r| (*r).clone()).collect()
            }
            Seek::Last => rows[rows.len().saturating_sub(limit)..].to_vec(),
        };
        let lead_key =
            |r: &LeadRow| LeadKey { value: r.score.map(|s| SortValue::Int(i64::from(s))), domain: r.domain.clone() };
        LeadPage { first: page.first().map(lead_key), last: page.last().map(lead_key), rows: page }
    }
}

fn key_of(row: &LeadRow) -> (i64, String) {
    (i64::from(row.score.unwrap_or_default()), row.domain.clone())
}

fn cursor(key: &LeadKey) -> (i64, String) {
    let value = match key.value {
        Some(SortValue::Int(v)) => v,
        _ => panic!("a score cursor holds a number: {key:?}"),
    };
    (value, key.domain.clone())
}

/// Something on its way to the UI: an answer (worked out when it is delivered, as the daemon
/// reads the data when it gets to the request) or a timer.
enum InFlight {
    Request(Request),
    Timer(Msg),
}

struct Simulation {
    app: App,
    daemon: FakeDaemon,
    in_flight: Vec<InFlight>,
    rng: Rng,
    /// Percent of requests answered with an error.
    failures: u64,
}

impl Simulation {
    fn new(seed: u64, leads: u64) -> Simulation {
        let mut app = App::new("/run/hunter/hunterd.sock".into(), true, crate::output::fixtures::now());
        app.size = (120, 30);
        let mut sim = Simulation {
            app,
            daemon: FakeDaemon { leads: (0..leads).map(lead).collect() },
            in_flight: Vec::new(),
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            failures: 5,
        };
        let status = crate::output::fixtures::status(vec![]);
        sim.apply(Msg::Connected(Box::new(status)));
        sim
    }

    fn apply(&mut self, msg: Msg) {
        for effect in update(&mut self.app, msg) {
            match effect {
                Effect::Send(request) => self.in_flight.push(InFlight::Request(request)),
                Effect::After(_, msg) => self.in_flight.push(InFlight::Timer(*msg)),
                _ => {}
            }
        }
    }

    fn answer(&mut self, request: Request, may_fail: bool) -> Option<Msg> {
        let fail = may_fail && self.rng.chance(self.failures);
        let answer = match request {
            Request::ListLeads(query) => {
                let result =
                    if fail { Err("hunterd did not answer within 10s".into()) } else { Ok(self.daemon.list(&query)) };
                Answer::Leads { query, result }
            }
            Request::CountLeads(filter) => {
                let n = self.daemon.matching(&filter).len() as u64;
                let result = if fail { Err("timeout".into()) } else { Ok(LeadCount { count: n, exact: true }) };
                Answer::LeadCount { filter, result }
            }
            _ => return None,
        };
        Some(Msg::Answer(answer))
    }

    /// Delivers one thing in flight, chosen at random (so answers overtake each other).
    fn deliver_one(&mut self, may_fail: bool) {
        if self.in_flight.is_empty() {
            return;
        }
        let i = self.rng.below(self.in_flight.len());
        let msg = match self.in_flight.swap_remove(i) {
            InFlight::Request(request) => self.answer(request, may_fail),
            InFlight::Timer(msg) => Some(msg),
        };
        if let Some(msg) = msg {
            self.apply(msg);
        }
    }

    fn key(&mut self, key: Key) {
        self.apply(Msg::Key(KeyEvent::new(key.code, key.modifiers)));
    }

    /// Something a user does, or the data changing under the list.
    fn act(&mut self) {
        const TYPED: &str = "provider=M365 ";
        let typing = self.app.prompt.is_some();
        match self.rng.below(10) {
            0..=2 if typing => {
                let c = TYPED.chars().nth(self.rng.below(TYPED.len())).unwrap_or('p');
                self.key(Key::ch(c));
            }
            3 if typing => self.key(Key::plain(KeyCode::Backspace)),
            4 if typing => self.key(Key::plain(KeyCode::Enter)),
            5 if typing => self.key(Key::plain(KeyCode::Esc)),
            0 | 1 => self.key(Key::ch('/')),
            2 => self.key(Key::ch('j')),
            3 => self.key(Key::plain(KeyCode::PageDown)),
            4 => {
                let key = if self.rng.chance(50) { 'G' } else { 'g' };
                self.key(Key::ch(key));
            }
            5 => self.key(Key::ch('c')),
            6 | 7 => {
                // A rescan changes a lead's score (so its place) and perhaps its provider.
                let i = self.rng.below(self.daemon.leads.len());
                self.daemon.leads[i].score = Some((self.rng.next() % 101) as i32);
                if self.rng.chance(30) {
                    self.daemon.leads[i].provider = Some(if self.rng.chance(50) { "M365" } else { "Google" }.into());
                }
                self.apply(Msg::Event(Event::LeadsChanged { count: 1 }));
            }
            _ => self.apply(Msg::Tick(self.app.now)),
        }
        assert_eq!(self.app.screen, Screen::Leads, "the simulation stays on the lead list");
    }

    /// Lets everything in flight arrive (no more failures, no more changes), with ticks between.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            if self.in_flight.is_empty() {
                // A retry waits for the next tick; give it one, then see if anything was asked.
                self.apply(Msg::Tick(self.app.now));
                if self.in_flight.is_empty() {
                    return;
                }
            }
            self.deliver_one(false);
        }
        panic!("the UI kept asking for ever");
    }

    /// What the screen must show once settled: the count and every row in view, as the daemon has them.
    fn check(&self, seed: u64) {
        let list = &self.app.leads;
        let expected = self.daemon.matching(&list.filter);
        assert_eq!(list.total, Some(expected.len() as u64), "seed {seed}: the list's length (filter {:?})", list.expr);
        assert_eq!(list.count.map(|c| c.count), Some(expected.len() as u64), "seed {seed}: the count");
        assert_eq!(list.error, None, "seed {seed}");
        let visible = layout::visible_rows(&self.app);
        let end = (list.top + visible).min(expected.len() as u64);
        for i in list.top..end {
            let shown = list.row(i).map(|r| r.domain.as_str());
            assert_eq!(
                shown,
                Some(expected[i as usize].domain.as_str()),
                "seed {seed}: row {i} (top {}, filter {:?}, pages {:?}, requested {:?})",
                list.top,
                list.expr,
                list.pages.keys().collect::<Vec<_>>(),
                list.requested
            );
        }
    }
}

fn simulate(seed: u64, leads: u64, steps: usize) {
    let mut sim = Simulation::new(seed, leads);
    for _ in 0..steps {
        if sim.rng.chance(55) {
            sim.deliver_one(true);
        } else {
            sim.act();
        }
    }
    // Close any prompt so the list is on screen, then let the daemon catch up.
    if sim.app.prompt.is_some() {
        sim.key(Key::plain(KeyCode::Enter));
    }
    sim.settle();
    sim.check(seed);
}

#[test]
fn after_any_interleaving_of_answers_keys_and_changes_a_small_list_shows_every_row_in_view() {
    for seed in 0..1_000 {
        simulate(seed, 4, 120);
    }
}

#[test]
fn after_any_interleaving_of_answers_keys_and_changes_a_long_list_shows_every_row_in_view() {
    for seed in 0..40 {
        simulate(seed, 700, 200);
    }
}
