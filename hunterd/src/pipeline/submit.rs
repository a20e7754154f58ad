//! Work people ask for enters the pipeline here: an add, an import or a rescan becomes a batch (so
//! `--wait` can follow it) and queued scans, and this daemon's workers are woken at once (others poll).
//!
//! An add or an import is stored and queued in one transaction: companies are never stored without
//! their scans queued, and a failure leaves nothing behind and reaches the caller.

use crate::intake::{self, AddReport, DomainRules, ImportError, ImportOptions, ImportReport, ImportSource};
use crate::jobs::queue;
use sqlx::PgPool;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Notify;

/// Imports are big: they queue behind scans a person asked for one by one.
pub const IMPORT_PRIORITY: i16 = 5;

/// Scans a person asked for go before periodic rescans (priority 0).
pub const USER_PRIORITY: i16 = 10;

/// Submits work to the scan queue of one database.
#[derive(Clone)]
pub struct Submitter {
    pool: PgPool,
    wake: Arc<Notify>,
}

/// A rescan that was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub batch_id: String,
    /// Companies in the batch (ones already waiting in the queue count: they will be scanned).
    pub queued: u64,
}

impl Submitter {
    pub fn new(pool: PgPool) -> Submitter {
        Submitter { pool, wake: Arc::new(Notify::new()) }
    }

    /// What wakes this daemon's scan workers.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Imports a file and queues scans for what it brought in, in one transaction.
    pub async fn import(&self, path: &Path, rules: &DomainRules) -> Result<ImportReport, ImportError> {
        let options = ImportOptions { source: "import".into(), batch_id: None };
        let mut tx = self.pool.begin().await?;
        let report = intake::import_in(&mut tx, ImportSource::path(path), rules, &options).await?;
        queue::track_intake_batch(&mut tx, &report.batch_id.to_string(), "import", IMPORT_PRIORITY).await?;
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(report)
    }

    /// Adds typed domains and queues their scans, in one transaction.
    pub async fn add(&self, inputs: &[String], rules: &DomainRules) -> Result<AddReport, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let report = intake::add_domains_in(&mut tx, inputs, rules, "manual").await?;
        queue::track_intake_batch(&mut tx, &report.batch_id.to_string(), "add", USER_PRIORITY).await?;
        tx.commit().await?;
        self.wake.notify_waiters();
        Ok(report)
    }

    /// Queues rescans of known companies as one batch.
    pub async fn rescan(&self, company_ids: &[i64]) -> Result<Queued, sqlx::Error> {
        let batch_id = queue::create_batch(&self.pool, "rescan", company_ids).await?;
        queue::enqueue_scans(&self.pool, company_ids, USER_PRIORITY).await?;
        self.wake.notify_waiters();
        Ok(Queued { batch_id, queued: company_ids.len() as u64 })
    }

    /// Queues a rescan of every company as one batch.
    pub async fn rescan_all(&self) -> Result<Queued, sqlx::Error> {
        let (batch_id, queued) = queue::enqueue_all_scans(&self.pool, USER_PRIORITY).await?;
        self.wake.notify_waiters();
        Ok(Queued { batch_id, queued })
    }
}
