//! `hunterd migrate revert`: rolls applied migrations back with their `.down.sql` scripts, newest
//! first, one transaction each.
//!
//! sqlx's `Migrator::undo` silently skips an applied migration that has no down script and never
//! compares checksums, which would leave a half-reverted schema; so we plan and check first, then
//! undo one migration per call to report each as it goes.

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migration, Migrator};

#[derive(Debug, thiserror::Error)]
pub enum RevertError {
    #[error("unknown migration version {requested}: use 0 (revert everything) or one of {known}")]
    UnknownVersion { requested: i64, known: String },
    #[error("the database records migration {0}, which this hunterd does not know: upgrade hunterd")]
    AppliedUnknown(i64),
    #[error("migration {0} failed part-way: fix the cause, then run `hunterd migrate` before reverting")]
    Dirty(i64),
    #[error("applied migration {0} differs from the one in this hunterd: refusing to revert it")]
    ChecksumMismatch(i64),
    #[error("migration {0} has no down script, so it cannot be reverted")]
    NoDownScript(i64),
    #[error("reverting migration {version} failed: {source}")]
    Undo { version: i64, source: MigrateError },
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// A migration as the database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRow {
    pub version: i64,
    pub success: bool,
    pub checksum: Vec<u8>,
}

/// The down scripts to run, newest first, and the version the database ends at.
#[derive(Debug)]
pub struct Plan<'m> {
    pub downs: Vec<&'m Migration>,
    pub target: i64,
}

/// Works out what `revert [--to VERSION]` must undo. Without `to`, only the newest applied
/// migration; with it, every applied migration newer than `to` (0 means all).
pub fn plan<'m>(migrator: &'m Migrator, applied: &[AppliedRow], to: Option<i64>) -> Result<Plan<'m>, RevertError> {
    let ups: Vec<&Migration> = migrator.iter().filter(|m| !m.migration_type.is_down_migration()).collect();
    if let Some(to) = to
        && to != 0
        && !ups.iter().any(|m| m.version == to)
    {
        let known: Vec<String> = ups.iter().map(|m| m.version.to_string()).collect();
        return Err(RevertError::UnknownVersion { requested: to, known: known.join(", ") });
    }
    if let Some(row) = applied.iter().find(|r| !r.success) {
        return Err(RevertError::Dirty(row.version));
    }
    for row in applied {
        let up = ups.iter().find(|m| m.version == row.version).ok_or(RevertError::AppliedUnknown(row.version))?;
        if *up.checksum != *row.checksum {
            return Err(RevertError::ChecksumMismatch(row.version));
        }
    }
    let mut versions: Vec<i64> = applied.iter().map(|r| r.version).collect();
    versions.sort_unstable();
    let target = match to {
        Some(to) => to,
        // Everything below the newest stays.
        None => versions.len().checked_sub(2).map_or(0, |i| versions[i]),
    };
    let mut downs = Vec::new();
    for &version in versions.iter().rev().filter(|&&v| v > target) {
        let down = migrator
            .iter()
            .find(|m| m.version == version && m.migration_type.is_down_migration())
            .ok_or(RevertError::NoDownScript(version))?;
        downs.push(down);
    }
    Ok(Plan { downs, target })
}

/// Reverts per [`plan`], calling `on_reverted` after each migration is undone (so a failure
/// part-way still shows what was done). Returns the resulting schema version (0: none).
pub async fn revert(
    pool: &PgPool,
    migrator: &Migrator,
    to: Option<i64>,
    mut on_reverted: impl FnMut(&Migration),
) -> Result<i64, RevertError> {
    let applied = applied_rows(pool).await?;
    let plan = plan(migrator, &applied, to)?;
    for (i, down) in plan.downs.iter().enumerate() {
        // `undo` reverts every applied migration above its target: aim just below this one.
        let below = plan.downs.get(i + 1).map_or(plan.target, |next| next.version);
        migrator.undo(pool, below).await.map_err(|source| RevertError::Undo { version: down.version, source })?;
        on_reverted(down);
    }
    Ok(applied_rows(pool).await?.iter().filter(|r| r.success).map(|r| r.version).max().unwrap_or(0))
}

/// The `_sqlx_migrations` rows; none when the table does not exist yet.
async fn applied_rows(pool: &PgPool) -> Result<Vec<AppliedRow>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, bool, Vec<u8>)> =
        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(version, success, checksum)| AppliedRow { version, success, checksum }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::SqlSafeStr;
    use sqlx::migrate::MigrationType;
    use std::borrow::Cow;

    fn migration(version: i64, kind: MigrationType, sql: &'static str) -> Migration {
        Migration::new(version, Cow::Borrowed("m"), kind, sql.into_sql_str(), false)
    }

    fn migrator(reversible: &[i64], simple: &[i64]) -> Migrator {
        let mut all = Vec::new();
        for &v in reversible {
            all.push(migration(v, MigrationType::ReversibleUp, "up"));
            all.push(migration(v, MigrationType::ReversibleDown, "down"));
        }
        for &v in simple {
            all.push(migration(v, MigrationType::Simple, "up"));
        }
        all.sort_by_key(|m| m.version);
        Migrator { migrations: Cow::Owned(all), ..Migrator::DEFAULT }
    }

    fn applied(m: &Migrator, versions: &[i64]) -> Vec<AppliedRow> {
        versions
            .iter()
            .map(|&v| {
                let up = m.iter().find(|x| x.version == v && !x.migration_type.is_down_migration()).expect("known");
                AppliedRow { version: v, success: true, checksum: up.checksum.to_vec() }
            })
            .collect()
    }

    fn versions(plan: &Plan<'_>) -> Vec<i64> {
        plan.downs.iter().map(|m| m.version).collect()
    }

    #[test]
    fn without_to_only_the_newest_applied_is_reverted() {
        let m = migrator(&[1, 2, 3], &[]);
        let plan = plan(&m, &applied(&m, &[1, 2]), None).unwrap();
        assert_eq!(versions(&plan), [2]);
        assert_eq!(plan.target, 1);
        assert!(plan.downs.iter().all(|d| d.migration_type.is_down_migration()));
    }

    #[test]
    fn to_reverts_everything_newer_newest_first() {
        let m = migrator(&[1, 2, 3], &[]);
        assert_eq!(versions(&plan(&m, &applied(&m, &[1, 2, 3]), Some(1)).unwrap()), [3, 2]);
        assert_eq!(versions(&plan(&m, &applied(&m, &[1, 2, 3]), Some(0)).unwrap()), [3, 2, 1]);
    }

    #[test]
    fn nothing_applied_plans_nothing() {
        let m = migrator(&[1, 2], &[]);
        assert!(plan(&m, &[], None).unwrap().downs.is_empty());
        assert!(plan(&m, &[], Some(0)).unwrap().downs.is_empty());
    }

    #[test]
    fn an_unknown_to_names_the_known_versions() {
        let m = migrator(&[1, 2], &[]);
        let err = plan(&m, &applied(&m, &[1, 2]), Some(7)).unwrap_err();
        assert_eq!(err.to_string(), "unknown migration version 7: use 0 (revert everything) or one of 1, 2");
    }

    #[test]
    fn a_migration_without_down_script_is_refused_not_skipped() {
        let m = migrator(&[1], &[2]);
        assert!(matches!(plan(&m, &applied(&m, &[1, 2]), Some(0)), Err(RevertError::NoDownScript(2))));
    }

    #[test]
    fn a_changed_applied_migration_is_refused() {
        let m = migrator(&[1], &[]);
        let rows = [AppliedRow { version: 1, success: true, checksum: vec![0; 48] }];
        assert!(matches!(plan(&m, &rows, None), Err(RevertError::ChecksumMismatch(1))));
    }

    #[test]
    fn a_failed_or_unknown_applied_migration_is_refused() {
        let m = migrator(&[1], &[]);
        let mut rows = applied(&m, &[1]);
        rows[0].success = false;
        assert!(matches!(plan(&m, &rows, None), Err(RevertError::Dirty(1))));
        let rows = [AppliedRow { version: 9, success: true, checksum: Vec::new() }];
        assert!(matches!(plan(&m, &rows, None), Err(RevertError::AppliedUnknown(9))));
    }
}
