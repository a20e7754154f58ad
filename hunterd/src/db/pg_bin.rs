//! Finding PostgreSQL's programs and their versions: one search for the embedded cluster's server
//! binaries and for the client tools backups use.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Candidate binary folders, best first: `pg_config --bindir`, then the distribution layouts.
pub fn candidate_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    let mut versioned: Vec<(u32, PathBuf)> = Vec::new();
    for pattern_root in ["/usr/lib/postgresql", "/usr/local/lib/postgresql"] {
        if let Ok(entries) = std::fs::read_dir(pattern_root) {
            for entry in entries.flatten() {
                if let Some(v) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
                    versioned.push((v, entry.path().join("bin")));
                }
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/usr") {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if let Some(v) = name.to_str().and_then(|n| n.strip_prefix("pgsql-")).and_then(|v| v.parse::<u32>().ok()) {
                versioned.push((v, entry.path().join("bin")));
            }
        }
    }
    versioned.sort_by_key(|v| std::cmp::Reverse(v.0));
    dirs.extend(versioned.into_iter().map(|(_, p)| p));
    dirs.extend(["/usr/local/pgsql/bin", "/usr/bin"].map(PathBuf::from));
    dirs
}

/// Major version of a PostgreSQL program, from its `--version` ("pg_dump (PostgreSQL) 15.20 (Debian …)").
pub fn program_major(program: &str) -> Option<u32> {
    let out = Command::new(program).arg("--version").stdin(Stdio::null()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    parse_major(&String::from_utf8_lossy(&out.stdout))
}

/// The major version in a `--version` line: the digits after `(PostgreSQL)`.
pub fn parse_major(version_line: &str) -> Option<u32> {
    let mut words = version_line.split_whitespace().skip_while(|w| *w != "(PostgreSQL)");
    let version = words.nth(1)?;
    let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_major_version_is_read_from_the_version_line() {
        assert_eq!(parse_major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n"), Some(15));
        assert_eq!(parse_major("psql (PostgreSQL) 17devel"), Some(17));
        assert_eq!(parse_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major("something else"), None);
    }
}
