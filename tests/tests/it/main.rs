//! Workspace-level integration tests: real hunterd processes, real PostgreSQL, real sockets.

mod backup;
mod beside_daemon;
mod check;
mod cli;
mod config;
mod connections;
mod dns_transport;
mod dynamics;
mod embedded;
mod engine;
mod enrichment;
mod intake;
mod ipc;
mod lifecycle;
mod marks;
mod migrate_revert;
mod migrations;
mod partner_center;
mod privacy;
mod providers;
mod queue;
mod referral_inbox;
mod registration;
mod scan;
mod supervision;
mod tui;
