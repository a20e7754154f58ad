//! `cargo xtask dist DIR`: generates the man pages and shell completions (see the library docs).

use anyhow::Context;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (Some("dist"), Some(dir), None) => {
            let dir = PathBuf::from(dir);
            let written = xtask::dist(&dir).with_context(|| format!("cannot write into {}", dir.display()))?;
            println!(
                "wrote {} man pages, {} completion files and {} systemd files into {}",
                written.man_pages.len(),
                written.completions.len(),
                written.systemd.len(),
                dir.display()
            );
            Ok(())
        }
        _ => anyhow::bail!("usage: cargo xtask dist DIR   (man pages and shell completions of hunterd and hunter-tui)"),
    }
}
