//! How fast each registry server is asked: an even pace per server, and exponential backoff for a
//! server that stops answering or says it is rate limiting us. Pure bookkeeping over a clock the
//! caller passes in, so the rules are tested without waiting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A server that failed once is left alone this long; each further failure doubles it.
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    servers: HashMap<String, Pace>,
}

#[derive(Debug, Clone, Copy)]
struct Pace {
    /// The earliest moment the next lookup may start.
    free_at: Instant,
    failures: u32,
}

impl Pacer {
    pub fn new(per_minute: u32) -> Pacer {
        Pacer { interval: Duration::from_secs(60) / per_minute.max(1), servers: HashMap::new() }
    }

    /// How long a lookup at `server` would have to wait from `now`.
    pub fn wait(&self, server: &str, now: Instant) -> Duration {
        self.servers.get(server).map_or(Duration::ZERO, |p| p.free_at.saturating_duration_since(now))
    }

    /// Takes the server's next slot: returns how long to wait for it.
    pub fn reserve(&mut self, server: &str, now: Instant) -> Duration {
        let pace = self.servers.entry(server.to_string()).or_insert(Pace { free_at: now, failures: 0 });
        let start = pace.free_at.max(now);
        pace.free_at = start + self.interval;
        start - now
    }

    /// The server answered: its backoff is forgiven.
    pub fn succeeded(&mut self, server: &str) {
        if let Some(pace) = self.servers.get_mut(server) {
            pace.failures = 0;
        }
    }

    /// The server was slow, unreachable or rate limiting: nothing goes to it for the returned time.
    pub fn failed(&mut self, server: &str, now: Instant) -> Duration {
        let pace = self.servers.entry(server.to_string()).or_insert(Pace { free_at: now, failures: 0 });
        pace.failures = pace.failures.saturating_add(1);
        let backoff = backoff(pace.failures);
        pace.free_at = pace.free_at.max(now + backoff);
        backoff
    }
}

/// 30 s, 1 min, 2 min, … capped at an hour.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_at_one_server_are_spaced_evenly() {
        let mut pacer = Pacer::new(60);
        let now = Instant::now();
        assert_eq!(pacer.reserve("rdap.example", now), Duration::ZERO);
        assert_eq!(pacer.reserve("rdap.example", now), Duration::from_secs(1));
        assert_eq!(pacer.reserve("rdap.example", now), Duration::from_secs(2));
    }

    #[test]
    fn different_servers_do_not_wait_for_each_other() {
        let mut pacer = Pacer::new(60);
        let now = Instant::now();
        pacer.reserve("rdap.one", now);
        assert_eq!(pacer.reserve("rdap.two", now), Duration::ZERO);
    }

    #[test]
    fn a_failing_server_is_left_alone_longer_each_time_and_forgiven_when_it_answers() {
        let mut pacer = Pacer::new(60);
        let now = Instant::now();
        assert_eq!(pacer.failed("whois.slow", now), Duration::from_secs(30));
        assert_eq!(pacer.failed("whois.slow", now), Duration::from_secs(60));
        assert_eq!(pacer.wait("whois.slow", now), Duration::from_secs(60));
        pacer.succeeded("whois.slow");
        assert_eq!(pacer.failed("whois.slow", now), Duration::from_secs(30));
    }

    #[test]
    fn backoff_is_capped_at_an_hour() {
        assert_eq!(backoff(40), Duration::from_secs(3600));
    }
}
