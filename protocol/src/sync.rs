//! The counts of a Partner Center sync run, carried in its job summary (so no message changes shape):
//! the daemon writes the summary, clients read the counts back (exit codes, the "new referrals" notice).

/// What one sync run did with the referrals it fetched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub fetched: u64,
    pub created: u64,
    pub updated: u64,
    /// Unchanged since the last sync (nothing written).
    pub skipped: u64,
    /// Unusable records and records that could not be stored; the others are kept.
    pub failed: u64,
}

impl SyncCounts {
    /// `fetched 12, new 3, updated 1, skipped 8, failed 0`.
    pub fn summary(&self) -> String {
        format!(
            "fetched {}, new {}, updated {}, skipped {}, failed {}",
            self.fetched, self.created, self.updated, self.skipped, self.failed
        )
    }

    /// Reads a [`summary`](Self::summary) back (it may be followed by more text after `;`).
    pub fn parse(summary: &str) -> Option<SyncCounts> {
        let head = summary.split(';').next()?;
        let mut counts = SyncCounts::default();
        let mut seen = 0;
        for part in head.split(',') {
            let (name, value) = part.trim().split_once(' ')?;
            let value: u64 = value.trim().parse().ok()?;
            let slot = match name {
                "fetched" => &mut counts.fetched,
                "new" => &mut counts.created,
                "updated" => &mut counts.updated,
                "skipped" => &mut counts.skipped,
                "failed" => &mut counts.failed,
                _ => return None,
            };
            *slot = value;
            seen += 1;
        }
        (seen == 5).then_some(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_reads_back_as_the_same_counts() {
        let c = SyncCounts { fetched: 12, created: 3, updated: 1, skipped: 8, failed: 0 };
        assert_eq!(SyncCounts::parse(&c.summary()), Some(c));
        assert_eq!(SyncCounts::parse(&format!("{}; watermark 2026-01-01", c.summary())), Some(c));
    }

    #[test]
    fn other_job_summaries_are_not_sync_counts() {
        assert_eq!(SyncCounts::parse("queued 3 rescan(s)"), None);
    }
}
