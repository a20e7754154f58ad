//! Importing a 1M-row CSV into a fresh database: wall time, rows/s and this process's peak RSS (the
//! PostgreSQL server's memory is its own). Then the same file again, where every row merges. Asserts
//! nothing; the goal is 1M rows in under 60 s in bounded memory.
//!
//! Run: `cargo bench -p hunter-tests --bench import` (needs PostgreSQL at DATABASE_URL).

use std::io::{BufWriter, Write};
use std::time::Instant;

use hunter_tests::TestDb;
use hunterd::intake::{DomainRules, ImportOptions, ImportReport, import_file};

const ROWS: usize = 1_000_000;

/// A Turkish-style lead list: mostly websites, some only e-mails, a few duplicates and bad rows.
fn write_csv(path: &std::path::Path) -> u64 {
    let mut out = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "Firma Ünvanı;Web Sitesi;E-posta;Şehir").unwrap();
    for i in 0..ROWS {
        match i % 100 {
            // Duplicate of an earlier row's domain.
            50..=52 if i > 100 => writeln!(out, "Tekrar {i} A.Ş.;www.firma{}.com.tr;;İstanbul", i - 50),
            3 => writeln!(out, "Kişi {i};;kisi{i}@gmail.com;Ankara"),
            4 => writeln!(out, "Bozuk {i};firma_{i}.com;;İzmir"),
            5..=19 => writeln!(out, "Firma {i} Ltd. Şti.;;bilgi@firma{i}.com.tr;Bursa"),
            _ => writeln!(out, "\"Firma {i} Sanayi ve Ticaret A.Ş.\";https://www.firma{i}.com.tr/iletisim;;İstanbul"),
        }
        .unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// Peak resident set size of this process so far, in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn print(label: &str, report: &ImportReport, seconds: f64) {
    let rows = report.accepted + report.merged + report.rejected;
    println!(
        "{label}: {rows} rows in {seconds:.1} s = {:.0} rows/s   accepted {} merged {} rejected {}   peak RSS {:.0} MiB",
        rows as f64 / seconds,
        report.accepted,
        report.merged,
        report.rejected,
        peak_rss_mib()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs benches in test mode with no such flag: do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leads.csv");
    let t = Instant::now();
    let bytes = write_csv(&path);
    println!(
        "wrote {ROWS} rows ({:.1} MiB) in {:.1} s; peak RSS before import {:.0} MiB",
        bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64(),
        peak_rss_mib()
    );

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let db = TestDb::create().await;
        let pool = db.pool().await;
        hunterd::db::MIGRATOR.run(&pool).await.unwrap();
        let rules = DomainRules::default();
        let options = ImportOptions::default();

        let t = Instant::now();
        let first = import_file(&pool, &path, &rules, &options).await.unwrap();
        print("import 1M rows, fresh database", &first, t.elapsed().as_secs_f64());

        let t = Instant::now();
        let again = import_file(&pool, &path, &rules, &options).await.unwrap();
        print("same file again (all merge)   ", &again, t.elapsed().as_secs_f64());
        pool.close().await;
    });
}
