//! hunter-tui: the interactive terminal client and its scriptable subcommands.
//!
//! [`cli`] parses arguments and dispatches; [`output`] formats what subcommands print; [`app`] is
//! the interactive UI; [`keymap`] is the one table of keys; [`settings`] holds the user's remapped
//! keys and remembered filter; [`client`] talks to hunterd.

pub mod app;
pub mod cli;
pub mod client;
pub mod commands;
pub mod csv_cell;
pub mod export;
pub mod humanize;
pub mod keymap;
pub mod output;
pub mod referrals;
pub mod settings;

#[cfg(test)]
mod fake_daemon;
