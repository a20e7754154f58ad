//! The `hunter-tui` binary: everything lives in the library; errors that stop the program are
//! printed here, as one readable line with their causes.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    match hunter_tui::cli::main().map_err(anyhow::Error::from) {
        Ok(code) => code,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "hunter-tui: {err:#}");
            ExitCode::FAILURE
        }
    }
}
