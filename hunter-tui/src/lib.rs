//! hunter-tui: the interactive terminal client and its scriptable subcommands.

pub mod client;
