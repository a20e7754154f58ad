//! Storing intake: an import is one transaction, so a file either lands whole (accepted, merged and
//! rejected rows all recorded) or not at all.
//!
//! Rows are streamed with `COPY` into a temporary staging table while the file is still being read (a
//! blocking thread parses, the async side forwards), then companies and `intake_rows` are written with
//! a few set-based statements. Memory stays bounded whatever the file's size; the new companies are
//! found afterwards through `intake_rows` (`new_company_ids`), not carried in a vector.

use std::path::Path;

use futures::stream::BoxStream;
use protocol::{IntakeOutcome, RejectedRow};
use sqlx::types::Uuid;
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::mpsc;

use super::ImportError;
use super::columns::{ColumnUse, RowOutcome};
use super::domain::DomainRules;
use super::source::{FileFormat, ImportSource, ParsedRow, SourceInfo, read_rows};

/// Rejected rows kept in a report; the rest are counted (and all are in `intake_rows`).
pub const REPORT_REJECTED_MAX: usize = 1000;
/// COPY data is handed over in chunks of about this size.
const COPY_CHUNK: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Stored in `companies.source` (new companies) and `intake_rows.source`.
    pub source: String,
    /// Use this batch id (e.g. one the caller already registered); default: a new random one.
    pub batch_id: Option<Uuid>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { source: "import".into(), batch_id: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// `intake_rows.batch_id` of every row of this import.
    pub batch_id: Uuid,
    pub format: FileFormat,
    pub encoding: Option<&'static str>,
    pub delimiter: Option<char>,
    pub header_line: Option<u64>,
    pub columns: Vec<ColumnUse>,
    /// Rows that created a company.
    pub accepted: u64,
    /// Rows whose domain was already known (in the database or earlier in the file).
    pub merged: u64,
    pub rejected: u64,
    /// The first [`REPORT_REJECTED_MAX`] rejected rows, in file order.
    pub rejected_rows: Vec<RejectedRow>,
}

impl ImportReport {
    pub fn to_protocol(&self, file_name: &str) -> protocol::ImportReport {
        protocol::ImportReport {
            file_name: file_name.to_string(),
            accepted: self.accepted,
            merged: self.merged,
            rejected: self.rejected,
            rejected_rows: self.rejected_rows.clone(),
            batch_id: Some(self.batch_id.to_string()),
        }
    }
}

/// Imports a file in one transaction of its own.
pub async fn import_file(
    pool: &PgPool,
    path: impl AsRef<Path>,
    rules: &DomainRules,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    import(pool, ImportSource::path(path.as_ref()), rules, options).await
}

/// Imports bytes from a reader (an upload) in one transaction of its own.
pub async fn import_reader(
    pool: &PgPool,
    reader: impl std::io::Read + Send + 'static,
    file_name: Option<&str>,
    rules: &DomainRules,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    import(pool, ImportSource::reader(reader, file_name), rules, options).await
}

pub async fn import(
    pool: &PgPool,
    source: ImportSource,
    rules: &DomainRules,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let mut tx = pool.begin().await?;
    let report = import_in(&mut tx, source, rules, options).await?;
    tx.commit().await?;
    Ok(report)
}

/// The import inside a transaction the caller owns (so it can, say, queue scans for the new companies
/// before committing). On error the caller must roll back.
pub async fn import_in(
    conn: &mut PgConnection,
    source: ImportSource,
    rules: &DomainRules,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let batch_id = match options.batch_id {
        Some(id) => id,
        None => sqlx::query_scalar("SELECT gen_random_uuid()").fetch_one(&mut *conn).await?,
    };
    sqlx::query(
        "CREATE TEMP TABLE intake_stage (seq BIGINT NOT NULL, line_no BIGINT NOT NULL, domain TEXT, \
         company_name TEXT, raw JSONB NOT NULL, reason TEXT) ON COMMIT DROP",
    )
    .persistent(false)
    .execute(&mut *conn)
    .await?;

    let started = std::time::Instant::now();
    let produced = stage_rows(conn, source, rules).await?;
    let staged = started.elapsed();

    sqlx::query("ANALYZE intake_stage").persistent(false).execute(&mut *conn).await?;
    // One row per domain: the first row's position, and the first non-empty company name.
    sqlx::query(
        "CREATE TEMP TABLE intake_firsts ON COMMIT DROP AS \
         SELECT DISTINCT ON (domain) domain, company_name, min(seq) OVER (PARTITION BY domain) AS first_seq \
         FROM intake_stage WHERE domain IS NOT NULL \
         ORDER BY domain, (company_name IS NULL), seq",
    )
    .persistent(false)
    .execute(&mut *conn)
    .await?;
    // The company of every domain, and whether this import created it. An existing company without a
    // name gets this file's name; names already set are never overwritten by an import. Inserts go in
    // domain order so that concurrent imports of overlapping lists lock rows in the same order and
    // cannot deadlock.
    sqlx::query(
        "CREATE TEMP TABLE intake_ids ON COMMIT DROP AS \
         WITH ins AS ( \
           INSERT INTO companies (domain, company_name, source) \
           SELECT domain, company_name, $1 FROM intake_firsts ORDER BY domain \
           ON CONFLICT (domain) DO UPDATE SET company_name = EXCLUDED.company_name, updated_at = now() \
             WHERE companies.company_name IS NULL AND EXCLUDED.company_name IS NOT NULL \
           RETURNING id, domain, (xmax = 0) AS is_new) \
         SELECT id, domain, is_new FROM ins",
    )
    .bind(&options.source)
    .persistent(false)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO intake_ids (id, domain, is_new) \
         SELECT c.id, c.domain, false FROM intake_firsts f JOIN companies c ON c.domain = f.domain \
         WHERE NOT EXISTS (SELECT 1 FROM intake_ids i WHERE i.domain = f.domain)",
    )
    .persistent(false)
    .execute(&mut *conn)
    .await?;
    sqlx::query("ANALYZE intake_ids").persistent(false).execute(&mut *conn).await?;
    // No ORDER BY: sorting a million rows costs seconds, and `line_no` keeps the file order.
    sqlx::query(
        "INSERT INTO intake_rows (company_id, source, batch_id, line_no, raw, outcome, reason) \
         SELECT i.id, $1, $2, s.line_no, s.raw, \
                CASE WHEN s.domain IS NULL THEN 'rejected' \
                     WHEN i.is_new AND s.seq = f.first_seq THEN 'accepted' ELSE 'merged' END, \
                s.reason \
         FROM intake_stage s \
         LEFT JOIN intake_firsts f ON f.domain = s.domain \
         LEFT JOIN intake_ids i ON i.domain = s.domain",
    )
    .bind(&options.source)
    .bind(batch_id)
    .persistent(false)
    .execute(&mut *conn)
    .await?;
    let accepted: i64 = sqlx::query_scalar("SELECT count(*) FROM intake_ids WHERE is_new")
        .persistent(false)
        .fetch_one(&mut *conn)
        .await?;
    // Several imports may share a transaction.
    sqlx::query("DROP TABLE intake_stage, intake_firsts, intake_ids").persistent(false).execute(&mut *conn).await?;

    let accepted = accepted as u64;
    let info = produced.info;
    tracing::info!(
        batch = %batch_id,
        accepted,
        merged = produced.valid.saturating_sub(accepted),
        rejected = produced.rejected,
        read_ms = staged.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "import stored (not yet committed)"
    );
    Ok(ImportReport {
        batch_id,
        format: info.format,
        encoding: info.encoding,
        delimiter: info.delimiter,
        header_line: info.header_line,
        columns: info.columns,
        accepted,
        merged: produced.valid.saturating_sub(accepted),
        rejected: produced.rejected,
        rejected_rows: produced.rejected_rows,
    })
}

/// What the reading thread hands back besides the COPY data.
struct Produced {
    info: SourceInfo,
    valid: u64,
    rejected: u64,
    rejected_rows: Vec<RejectedRow>,
}

/// Reads the source on a blocking thread and COPYs its rows into `intake_stage` as they come.
async fn stage_rows(
    conn: &mut PgConnection,
    source: ImportSource,
    rules: &DomainRules,
) -> Result<Produced, ImportError> {
    let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(4);
    let rules = rules.clone();
    let reader = tokio::task::spawn_blocking(move || produce(source, &rules, &sender));

    let mut copy =
        conn.copy_in_raw("COPY intake_stage (seq, line_no, domain, company_name, raw, reason) FROM STDIN").await?;
    let mut send_error = None;
    while let Some(chunk) = receiver.recv().await {
        if let Err(e) = copy.send(chunk).await {
            send_error = Some(e);
            break;
        }
    }
    // Unblocks the reader if we stopped early.
    drop(receiver);
    let produced = reader.await.map_err(|e| ImportError::Task(e.to_string()))?;
    if let Some(e) = send_error {
        // The connection is already broken; the caller's rollback cleans up.
        let _ = copy.abort("import failed").await;
        return Err(e.into());
    }
    match produced {
        Ok(produced) => {
            copy.finish().await?;
            Ok(produced)
        }
        Err(e) => {
            // The error that matters is the file's; a failed abort leaves the transaction failed anyway.
            let _ = copy.abort("import failed").await;
            Err(e)
        }
    }
}

fn produce(source: ImportSource, rules: &DomainRules, sender: &mpsc::Sender<Vec<u8>>) -> Result<Produced, ImportError> {
    let mut buf = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
    let (mut seq, mut valid, mut rejected) = (0u64, 0u64, 0u64);
    let mut rejected_rows = Vec::new();
    let info = read_rows(source, rules, &mut |row: ParsedRow| {
        seq += 1;
        copy_line(&mut buf, seq, &row);
        match row.outcome {
            RowOutcome::Accepted { .. } => valid += 1,
            RowOutcome::Rejected { reason } => {
                rejected += 1;
                if rejected_rows.len() < REPORT_REJECTED_MAX {
                    rejected_rows.push(RejectedRow { line: row.line, reason, raw: row.text });
                }
            }
        }
        if buf.len() >= COPY_CHUNK {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(COPY_CHUNK + 64 * 1024));
            sender.blocking_send(full).map_err(|_| ImportError::Cancelled)?;
        }
        Ok(())
    })?;
    if !buf.is_empty() {
        sender.blocking_send(buf).map_err(|_| ImportError::Cancelled)?;
    }
    Ok(Produced { info, valid, rejected, rejected_rows })
}

/// One line of COPY text format: seq, line_no, domain, company_name, raw, reason.
fn copy_line(out: &mut Vec<u8>, seq: u64, row: &ParsedRow) {
    let (domain, company, reason) = match &row.outcome {
        RowOutcome::Accepted { domain, company } => (Some(domain.as_str()), company.as_deref(), None),
        RowOutcome::Rejected { reason } => (None, None, Some(reason.as_str())),
    };
    out.extend_from_slice(seq.to_string().as_bytes());
    out.push(b'\t');
    out.extend_from_slice(row.line.to_string().as_bytes());
    out.push(b'\t');
    copy_field(out, domain);
    out.push(b'\t');
    copy_field(out, company);
    out.push(b'\t');
    copy_field(out, Some(&row.raw.to_string()));
    out.push(b'\t');
    copy_field(out, reason);
    out.push(b'\n');
}

fn copy_field(out: &mut Vec<u8>, value: Option<&str>) {
    let Some(value) = value else {
        out.extend_from_slice(b"\\N");
        return;
    };
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => {}
            _ => out.push(b),
        }
    }
}

/// The companies an import created, in file order, for the scan queue; streamed, so a million-row import costs no
/// million-element vector.
pub fn new_company_ids<'e, E>(executor: E, batch_id: Uuid) -> BoxStream<'e, Result<i64, sqlx::Error>>
where
    E: sqlx::Executor<'e, Database = Postgres> + 'e,
{
    sqlx::query_scalar(
        "SELECT company_id FROM intake_rows WHERE batch_id = $1 AND outcome = 'accepted' ORDER BY line_no, id",
    )
    .bind(batch_id)
    .fetch(executor)
}

/// What became of one input of [`add_domains`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOutcome {
    pub input: String,
    pub domain: Option<String>,
    pub company_id: Option<i64>,
    /// `Accepted`: a new company; `Merged`: already known (or earlier in the same list).
    pub outcome: IntakeOutcome,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddReport {
    pub batch_id: Uuid,
    /// One per input, in input order.
    pub results: Vec<AddOutcome>,
}

impl AddReport {
    pub fn to_protocol(&self) -> protocol::AddReport {
        protocol::AddReport {
            results: self
                .results
                .iter()
                .map(|r| protocol::AddOutcome {
                    input: r.input.clone(),
                    domain: r.domain.clone(),
                    outcome: r.outcome,
                    reason: r.reason.clone(),
                })
                .collect(),
            batch_id: Some(self.batch_id.to_string()),
        }
    }
}

/// Adds domains typed by hand (`hunter-tui add`), validated like imported cells (e-mail addresses and
/// URLs are fine), in one transaction; every input is recorded in `intake_rows` with its outcome.
pub async fn add_domains(
    pool: &PgPool,
    inputs: &[String],
    rules: &DomainRules,
    source: &str,
) -> Result<AddReport, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let report = add_domains_in(&mut tx, inputs, rules, source).await?;
    tx.commit().await?;
    Ok(report)
}

/// [`add_domains`] inside a transaction the caller owns (so it can queue the scans before committing).
pub async fn add_domains_in(
    tx: &mut PgConnection,
    inputs: &[String],
    rules: &DomainRules,
    source: &str,
) -> Result<AddReport, sqlx::Error> {
    let checked: Vec<Result<String, String>> =
        inputs.iter().map(|input| rules.check(input).map_err(|why| why.to_string())).collect();
    let mut unique: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for domain in checked.iter().flatten() {
        if seen.insert(domain.as_str()) {
            unique.push(domain.clone());
        }
    }

    let batch_id: Uuid = sqlx::query_scalar("SELECT gen_random_uuid()").fetch_one(&mut *tx).await?;
    let created: Vec<(i64, String)> = sqlx::query_as(
        "INSERT INTO companies (domain, source) \
         SELECT d, $2 FROM UNNEST($1::text[]) AS t(d) ORDER BY d \
         ON CONFLICT (domain) DO NOTHING RETURNING id, domain",
    )
    .bind(&unique)
    .bind(source)
    .fetch_all(&mut *tx)
    .await?;
    let existing: Vec<(i64, String)> = sqlx::query_as("SELECT id, domain FROM companies WHERE domain = ANY($1)")
        .bind(&unique)
        .fetch_all(&mut *tx)
        .await?;
    let created: std::collections::HashSet<String> = created.into_iter().map(|(_, d)| d).collect();
    let ids: std::collections::HashMap<String, i64> = existing.into_iter().map(|(id, d)| (d, id)).collect();

    let mut first_seen = std::collections::HashSet::new();
    let mut results = Vec::with_capacity(inputs.len());
    for (input, checked) in inputs.iter().zip(checked) {
        results.push(match checked {
            Ok(domain) => {
                let new = created.contains(&domain) && first_seen.insert(domain.clone());
                AddOutcome {
                    input: input.clone(),
                    company_id: ids.get(&domain).copied(),
                    domain: Some(domain),
                    outcome: if new { IntakeOutcome::Accepted } else { IntakeOutcome::Merged },
                    reason: None,
                }
            }
            Err(reason) => AddOutcome {
                input: input.clone(),
                domain: None,
                company_id: None,
                outcome: IntakeOutcome::Rejected,
                reason: Some(reason),
            },
        });
    }

    let company_ids: Vec<Option<i64>> = results.iter().map(|r| r.company_id).collect();
    let raws: Vec<serde_json::Value> =
        results.iter().map(|r| serde_json::json!({ "input": super::columns::clean(&r.input) })).collect();
    let outcomes: Vec<&str> = results.iter().map(|r| outcome_str(r.outcome)).collect();
    let reasons: Vec<Option<String>> = results.iter().map(|r| r.reason.clone()).collect();
    sqlx::query(
        "INSERT INTO intake_rows (company_id, source, batch_id, raw, outcome, reason) \
         SELECT c, $5, $6, r, o, w FROM UNNEST($1::bigint[], $2::jsonb[], $3::text[], $4::text[]) \
           WITH ORDINALITY AS t(c, r, o, w, n) ORDER BY n",
    )
    .bind(&company_ids)
    .bind(&raws)
    .bind(&outcomes)
    .bind(&reasons)
    .bind(source)
    .bind(batch_id)
    .execute(&mut *tx)
    .await?;
    Ok(AddReport { batch_id, results })
}

fn outcome_str(outcome: IntakeOutcome) -> &'static str {
    match outcome {
        IntakeOutcome::Accepted => "accepted",
        IntakeOutcome::Merged => "merged",
        IntakeOutcome::Rejected => "rejected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::io::{Cursor, Read};

    async fn import_text(pool: &PgPool, text: impl Into<Vec<u8>>) -> Result<ImportReport, ImportError> {
        import_reader(
            pool,
            Cursor::new(text.into()),
            Some("leads.csv"),
            &DomainRules::default(),
            &ImportOptions::default(),
        )
        .await
    }

    async fn counts(pool: &PgPool) -> (i64, i64) {
        sqlx::query_as("SELECT (SELECT count(*) FROM companies), (SELECT count(*) FROM intake_rows)")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    /// `(line_no, outcome, domain, reason)` of one import's rows, in file order.
    async fn stored_rows(pool: &PgPool, batch: Uuid) -> Vec<(i64, String, Option<String>, Option<String>)> {
        sqlx::query_as(
            "SELECT r.line_no, r.outcome, c.domain, r.reason FROM intake_rows r \
             LEFT JOIN companies c ON c.id = r.company_id WHERE r.batch_id = $1 ORDER BY r.line_no, r.id",
        )
        .bind(batch)
        .fetch_all(pool)
        .await
        .unwrap()
    }

    fn row(
        line: i64,
        outcome: &str,
        domain: Option<&str>,
        reason: Option<&str>,
    ) -> (i64, String, Option<String>, Option<String>) {
        (line, outcome.into(), domain.map(Into::into), reason.map(Into::into))
    }

    const LEADS: &str = "Firma,Web Sitesi,E-posta\n\
                         Acme,www.acme.com.tr,\n\
                         Beta,,info@beta.com\n\
                         Acme Again,https://ACME.com.tr/about,\n\
                         Nobody,,someone@gmail.com\n";

    #[sqlx::test(migrations = "../migrations")]
    async fn an_import_creates_companies_and_records_every_row(pool: PgPool) {
        let report = import_text(&pool, LEADS).await.unwrap();
        assert_eq!((report.accepted, report.merged, report.rejected), (2, 1, 1));
        assert_eq!(
            report.rejected_rows,
            [RejectedRow {
                line: 5,
                reason: "E-posta: `gmail.com` is a free-mail provider, not a company".into(),
                raw: "Nobody,,someone@gmail.com".into()
            }]
        );
        assert_eq!(
            stored_rows(&pool, report.batch_id).await,
            [
                row(2, "accepted", Some("acme.com.tr"), None),
                row(3, "accepted", Some("beta.com"), None),
                row(4, "merged", Some("acme.com.tr"), None),
                row(5, "rejected", None, Some("E-posta: `gmail.com` is a free-mail provider, not a company")),
            ]
        );
        let companies: Vec<(String, Option<String>, String)> =
            sqlx::query_as("SELECT domain, company_name, source FROM companies ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            companies,
            [
                ("acme.com.tr".into(), Some("Acme".into()), "import".into()),
                ("beta.com".into(), Some("Beta".into()), "import".into())
            ]
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn the_raw_row_is_kept_by_column_name(pool: PgPool) {
        let report = import_text(&pool, LEADS).await.unwrap();
        let raw: serde_json::Value =
            sqlx::query_scalar("SELECT raw FROM intake_rows WHERE batch_id = $1 AND line_no = 3")
                .bind(report.batch_id)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(raw, serde_json::json!({"Firma": "Beta", "Web Sitesi": "", "E-posta": "info@beta.com"}));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_reimport_merges_into_the_existing_companies(pool: PgPool) {
        import_text(&pool, LEADS).await.unwrap();
        let again = import_text(&pool, LEADS).await.unwrap();
        assert_eq!((again.accepted, again.merged, again.rejected), (0, 3, 1));
        assert_eq!(counts(&pool).await, (2, 8));
        assert_eq!(new_company_ids(&pool, again.batch_id).try_collect::<Vec<_>>().await.unwrap(), Vec::<i64>::new());
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn an_import_names_unnamed_companies_but_never_renames(pool: PgPool) {
        add_domains(&pool, &["acme.com.tr".into()], &DomainRules::default(), "add").await.unwrap();
        sqlx::query("INSERT INTO companies (domain, company_name, source) VALUES ('beta.com', 'Beta Original', 'add')")
            .execute(&pool)
            .await
            .unwrap();
        let report = import_text(&pool, LEADS).await.unwrap();
        assert_eq!((report.accepted, report.merged), (0, 3));
        let names: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT domain, company_name FROM companies ORDER BY domain")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            names,
            [("acme.com.tr".into(), Some("Acme".into())), ("beta.com".into(), Some("Beta Original".into()))]
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn new_company_ids_lists_the_created_companies_in_file_order(pool: PgPool) {
        let report = import_text(&pool, "zeta.com\nalpha.com\nzeta.com\n").await.unwrap();
        let ids: Vec<i64> = new_company_ids(&pool, report.batch_id).try_collect().await.unwrap();
        let domains: Vec<String> = sqlx::query_scalar(
            "SELECT domain FROM UNNEST($1::bigint[]) WITH ORDINALITY AS u(id, n) JOIN companies USING (id) ORDER BY n",
        )
        .bind(&ids)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(domains, ["zeta.com", "alpha.com"]);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_bad_quote_is_reported_on_its_line_and_the_rows_after_it_are_kept(pool: PgPool) {
        let text = "domain,company\nacme.com,Acme\nbeta.com,\"Beta, unclosed\ngamma.com,Gamma\ndelta.com,Delta\n";
        let report = import_text(&pool, text).await.unwrap();
        assert_eq!((report.accepted, report.merged, report.rejected), (3, 0, 1));
        assert_eq!(
            report.rejected_rows,
            [RejectedRow {
                line: 3,
                reason: "a quote (\") opened on this line is never closed".into(),
                raw: "beta.com,\"Beta, unclosed".into()
            }]
        );
        assert_eq!(
            stored_rows(&pool, report.batch_id).await,
            [
                row(2, "accepted", Some("acme.com"), None),
                row(3, "rejected", None, Some("a quote (\") opened on this line is never closed")),
                row(4, "accepted", Some("gamma.com"), None),
                row(5, "accepted", Some("delta.com"), None),
            ]
        );
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn bytes_invalid_in_the_declared_encoding_reject_their_row(pool: PgPool) {
        let mut text = b"\xEF\xBB\xBFdomain,company\nacme.com,Acme\n".to_vec();
        text.extend(b"beta.com,B\xFC\xFCro\ngamma.com,Gamma\n");
        let report = import_text(&pool, text).await.unwrap();
        assert_eq!((report.accepted, report.rejected), (2, 1));
        assert_eq!(report.rejected_rows[0].line, 3);
        assert_eq!(report.rejected_rows[0].reason, "contains bytes that are not valid UTF-8");
        assert_eq!(counts(&pool).await, (2, 3));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn an_empty_file_stores_nothing(pool: PgPool) {
        let err = import_text(&pool, "").await.unwrap_err();
        assert_eq!(err.to_string(), "file is empty");
        assert_eq!(counts(&pool).await, (0, 0));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_ten_megabyte_line_is_rejected_and_the_rest_imported(pool: PgPool) {
        let mut text = String::from("domain\nacme.com\n");
        text.push_str(&"x".repeat(10 * 1024 * 1024));
        text.push_str("\nbeta.com\n");
        let report = import_text(&pool, text).await.unwrap();
        assert_eq!((report.accepted, report.rejected), (2, 1));
        assert_eq!(report.rejected_rows[0].line, 3);
        assert_eq!(report.rejected_rows[0].reason, "row is longer than 64 KiB; skipped");
        assert!(report.rejected_rows[0].raw.chars().count() <= 201);
        assert_eq!(
            stored_rows(&pool, report.batch_id).await,
            [
                row(2, "accepted", Some("acme.com"), None),
                row(3, "rejected", None, Some("row is longer than 64 KiB; skipped")),
                row(4, "accepted", Some("beta.com"), None),
            ]
        );
    }

    /// Yields `good` then fails, like a disk or upload dying mid-file.
    struct FailingReader {
        good: Cursor<Vec<u8>>,
    }

    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.good.read(buf)? {
                0 => Err(std::io::Error::other("device went away")),
                n => Ok(n),
            }
        }
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_read_failure_mid_file_stores_nothing(pool: PgPool) {
        // Well past the first COPY chunk, so rows were already sent to the database.
        let good: String = (0..100_000).map(|i| format!("company-{i}.com\n")).collect();
        let reader = FailingReader { good: Cursor::new(good.into_bytes()) };
        let err =
            import_reader(&pool, reader, None, &DomainRules::default(), &ImportOptions::default()).await.unwrap_err();
        assert!(err.to_string().contains("device went away"), "{err}");
        assert_eq!(counts(&pool).await, (0, 0));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn a_file_without_an_address_column_stores_nothing(pool: PgPool) {
        let err = import_text(&pool, "Firma,Şehir\nAcme,İzmir\n").await.unwrap_err();
        assert!(matches!(err, ImportError::NoAddressColumn { .. }), "{err}");
        assert_eq!(counts(&pool).await, (0, 0));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn the_report_keeps_the_first_thousand_rejected_rows_and_counts_all(pool: PgPool) {
        let text: String =
            std::iter::once("domain\n".to_string()).chain((0..1500).map(|i| format!("bad_{i}.com\n"))).collect();
        let report = import_text(&pool, text).await.unwrap();
        assert_eq!(report.rejected, 1500);
        assert_eq!(report.rejected_rows.len(), REPORT_REJECTED_MAX);
        assert_eq!(report.rejected_rows[999].line, 1001);
        assert_eq!(counts(&pool).await, (0, 1500));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn an_xlsx_file_is_imported(pool: PgPool) {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (r, (name, site)) in [("Firma", "Web"), ("Acme", "acme.com"), ("Beta", "10.0.0.1")].iter().enumerate() {
            sheet.write_string(r as u32, 0, *name).unwrap();
            sheet.write_string(r as u32, 1, *site).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leads.xlsx");
        book.save(&path).unwrap();
        let report = import_file(&pool, &path, &DomainRules::default(), &ImportOptions::default()).await.unwrap();
        assert_eq!((report.format, report.accepted, report.rejected), (FileFormat::Xlsx, 1, 1));
        assert_eq!(report.rejected_rows[0].line, 3);
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn two_imports_can_share_a_transaction(pool: PgPool) {
        let mut tx = pool.begin().await.unwrap();
        let (rules, options) = (DomainRules::default(), ImportOptions::default());
        let source = |text: &[u8]| ImportSource::reader(Cursor::new(text.to_vec()), None);
        let first = import_in(&mut tx, source(b"a.com\n"), &rules, &options).await.unwrap();
        assert_eq!(first.accepted, 1);
        let second = import_in(&mut tx, source(b"a.com\nb.com\n"), &rules, &options).await.unwrap();
        assert_eq!((second.accepted, second.merged), (1, 1));
        tx.rollback().await.unwrap();
        assert_eq!(counts(&pool).await, (0, 0));
    }

    #[sqlx::test(migrations = "../migrations")]
    async fn added_domains_report_one_outcome_per_input(pool: PgPool) {
        add_domains(&pool, &["old.com".into()], &DomainRules::default(), "add").await.unwrap();
        let inputs: Vec<String> =
            ["New.com", "https://www.new.com/x", "old.com", "info@other.com.tr", "gmail.com", "com.tr"]
                .map(String::from)
                .into();
        let report = add_domains(&pool, &inputs, &DomainRules::default(), "add").await.unwrap();
        let got: Vec<(Option<&str>, IntakeOutcome, Option<&str>)> =
            report.results.iter().map(|r| (r.domain.as_deref(), r.outcome, r.reason.as_deref())).collect();
        assert_eq!(
            got,
            [
                (Some("new.com"), IntakeOutcome::Accepted, None),
                (Some("new.com"), IntakeOutcome::Merged, None),
                (Some("old.com"), IntakeOutcome::Merged, None),
                (Some("other.com.tr"), IntakeOutcome::Accepted, None),
                (None, IntakeOutcome::Rejected, Some("`gmail.com` is a free-mail provider, not a company")),
                (None, IntakeOutcome::Rejected, Some("`com.tr` is a public suffix, not a company domain")),
            ]
        );
        assert!(report.results[..4].iter().all(|r| r.company_id.is_some()));
        assert_eq!(report.results[0].company_id, report.results[1].company_id);
        let outcomes: Vec<String> =
            sqlx::query_scalar("SELECT outcome FROM intake_rows WHERE batch_id = $1 ORDER BY id")
                .bind(report.batch_id)
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(outcomes, ["accepted", "merged", "merged", "accepted", "rejected", "rejected"]);
        assert_eq!(counts(&pool).await.0, 3);
    }
}
