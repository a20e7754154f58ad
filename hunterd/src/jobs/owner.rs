//! Who holds a lease. A daemon's owner name starts with its state directory's id, and a state
//! directory is locked by one daemon at a time: so leases carrying this id that are not the running
//! process's own were left by an earlier run of the same daemon (killed, crashed) and are reclaimed
//! at start instead of waiting out the lease.

use std::path::Path;

const ID_FILE: &str = "daemon-id";

/// This state directory's id (created on first use).
pub fn state_id(state_dir: &Path) -> std::io::Result<String> {
    let path = state_dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if is_id(id.trim()) => Ok(id.trim().to_string()),
        Ok(_) | Err(_) => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            std::fs::write(&path, &id)?;
            Ok(id)
        }
    }
}

fn is_id(text: &str) -> bool {
    text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// The lease owner name of this process.
pub fn owner(state_id: &str, host: &str, pid: u32) -> String {
    format!("{state_id}:{host}:{pid}")
}

/// A `LIKE` pattern matching every run of the daemon on this state directory.
pub fn every_run(state_id: &str) -> String {
    format!("{state_id}:%")
}

/// Hands back the work earlier runs of this daemon held. Call before this run claims anything.
pub async fn reclaim_previous_runs(pool: &sqlx::PgPool, state_id: &str) -> Result<u64, sqlx::Error> {
    super::queue::release_orphans(pool, None, &every_run(state_id), &[]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_kept_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        let first = state_id(dir.path()).unwrap();
        assert_eq!(state_id(dir.path()).unwrap(), first);
        assert!(owner(&first, "host", 7).starts_with(&every_run(&first)[..33]));
    }

    #[test]
    fn a_damaged_id_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ID_FILE), "x%").unwrap();
        assert!(is_id(&state_id(dir.path()).unwrap()));
    }
}
