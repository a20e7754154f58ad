//! Who may open one more connection: at most `server.max_clients` in all and
//! `server.max_clients_per_user` per account (the socket peer's uid), so that one account's idle or
//! runaway clients never lock the others out. A refused client is told why, in words, instead of
//! having its connection reset.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why a connection was refused; the text is what the client shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    #[error("hunterd is busy ({connected} clients connected, the most it serves at once); try again shortly")]
    Full { connected: usize },
    #[error(
        "hunterd is busy: {account} already has {connected} connections open, the most one account may hold \
         (server.max_clients_per_user); close some (idle ones are dropped after server.idle_timeout)"
    )]
    AccountFull { account: String, connected: usize },
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// `None`: a peer whose credentials could not be read; they share one allowance.
    per_uid: HashMap<Option<u32>, usize>,
}

/// Connection counts, shared by the accept loop and every connection's [`Ticket`].
#[derive(Debug, Clone)]
pub struct Admission {
    max_total: usize,
    max_per_uid: usize,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Ticket {
    uid: Option<u32>,
    counts: Arc<Mutex<Counts>>,
}

impl Admission {
    pub fn new(max_total: usize, max_per_uid: usize) -> Admission {
        Admission { max_total: max_total.max(1), max_per_uid: max_per_uid.max(1), counts: Arc::default() }
    }

    /// Admits a connection from `uid`, or says why not. `name` names the account in the refusal.
    pub fn admit(&self, uid: Option<u32>, name: impl FnOnce() -> String) -> Result<Ticket, Busy> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.total >= self.max_total {
            return Err(Busy::Full { connected: counts.total });
        }
        let mine = counts.per_uid.get(&uid).copied().unwrap_or(0);
        if mine >= self.max_per_uid {
            return Err(Busy::AccountFull { account: name(), connected: mine });
        }
        counts.total += 1;
        *counts.per_uid.entry(uid).or_default() += 1;
        Ok(Ticket { uid, counts: self.counts.clone() })
    }

    /// Connections open now.
    pub fn connected(&self) -> usize {
        self.counts.lock().map(|c| c.total).unwrap_or(0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_uid.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_uid.remove(&self.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> String {
        "uid 1000 (alice)".into()
    }

    #[test]
    fn one_account_is_stopped_at_its_own_cap_while_another_still_gets_in() {
        let admission = Admission::new(10, 2);
        let _a = (admission.admit(Some(1000), alice).unwrap(), admission.admit(Some(1000), alice).unwrap());
        assert_eq!(
            admission.admit(Some(1000), alice).unwrap_err(),
            Busy::AccountFull { account: alice(), connected: 2 }
        );
        assert!(admission.admit(Some(0), || "root".into()).is_ok());
    }

    #[test]
    fn the_global_cap_refuses_everyone_with_the_count() {
        let admission = Admission::new(2, 2);
        let _a = admission.admit(Some(1), || "a".into()).unwrap();
        let _b = admission.admit(Some(2), || "b".into()).unwrap();
        let refused = admission.admit(Some(3), || "c".into()).unwrap_err();
        assert_eq!(refused, Busy::Full { connected: 2 });
        assert!(refused.to_string().starts_with("hunterd is busy (2 clients"));
    }

    #[test]
    fn a_closed_connection_frees_its_slot() {
        let admission = Admission::new(1, 1);
        let ticket = admission.admit(Some(1000), alice).unwrap();
        assert!(admission.admit(Some(1000), alice).is_err());
        drop(ticket);
        assert_eq!(admission.connected(), 0);
        assert!(admission.admit(Some(1000), alice).is_ok());
    }
}
