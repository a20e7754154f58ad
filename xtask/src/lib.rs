//! What `cargo xtask dist DIR` writes: man pages (section 1) for `hunterd`, `hunter-tui` and every
//! subcommand, and bash, zsh and fish completions, all generated from the clap definitions so they
//! never drift from `--help`; and the sysusers.d / tmpfiles.d files under the names they are
//! installed as (`hunter.conf`), which cargo-deb's maintainer-script snippets are written for.

use clap::Command;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// The two programs' command lines, as their binaries parse them.
pub fn programs() -> Vec<Command> {
    vec![hunterd::cli::command(), hunter_tui::cli::command()]
}

/// Every subcommand of `cmd` (recursively, not `cmd` itself, without clap's own `help`), each with
/// the words that invoke it: `["hunterd", "migrate", "status"]`.
pub fn subcommands(cmd: &Command) -> Vec<(Vec<String>, Command)> {
    fn walk(cmd: &Command, path: &[String], out: &mut Vec<(Vec<String>, Command)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            let mut words = path.to_vec();
            words.push(sub.get_name().to_string());
            out.push((words.clone(), sub.clone()));
            walk(sub, &words, out);
        }
    }
    let mut out = Vec::new();
    walk(cmd, &[cmd.get_name().to_string()], &mut out);
    out
}

/// The example a command's `--help` shows (its `after_help`), if any.
pub fn example(cmd: &Command) -> Option<String> {
    let text = cmd.get_after_help().or_else(|| cmd.get_after_long_help())?.to_string();
    let example = text.strip_prefix("Example:")?.trim();
    (!example.is_empty()).then(|| example.to_string())
}

/// Files written by [`dist`], relative to its directory.
#[derive(Debug, Default)]
pub struct Written {
    pub man_pages: Vec<PathBuf>,
    pub completions: Vec<PathBuf>,
    pub systemd: Vec<PathBuf>,
}

/// The repository's systemd/ folder.
fn systemd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../systemd")
}

/// Writes `DIR/man/*.1` and `DIR/completions/{bash,zsh,fish}/…` for both programs, and
/// `DIR/sysusers.d/hunter.conf`, `DIR/tmpfiles.d/hunter.conf`.
pub fn dist(dir: &Path) -> anyhow::Result<Written> {
    let man_dir = dir.join("man");
    let mut written = Written::default();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        std::fs::create_dir_all(dir.join("completions").join(shell.to_string()))?;
    }
    std::fs::create_dir_all(&man_dir)?;
    for program in programs() {
        let name = program.get_name().to_string();
        clap_mangen::generate_to(program.clone(), &man_dir)?;
        let mut pages = vec![format!("{name}.1")];
        pages.extend(subcommands(&program).iter().map(|(words, _)| format!("{}.1", words.join("-"))));
        for page in pages {
            let path = man_dir.join(&page);
            anyhow::ensure!(path.is_file(), "clap_mangen wrote no {}", path.display());
            written.man_pages.push(Path::new("man").join(page));
        }
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let shell_dir = dir.join("completions").join(shell.to_string());
            let path = clap_complete::generate_to(shell, &mut program.clone(), &name, &shell_dir)?;
            written.completions.push(path.strip_prefix(dir)?.to_path_buf());
        }
    }
    for (source, kind) in [("hunter.sysusers.conf", "sysusers.d"), ("hunter.tmpfiles.conf", "tmpfiles.d")] {
        let target = Path::new(kind).join("hunter.conf");
        std::fs::create_dir_all(dir.join(kind))?;
        std::fs::copy(systemd_dir().join(source), dir.join(&target))?;
        written.systemd.push(target);
    }
    Ok(written)
}
