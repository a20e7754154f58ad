//! Workspace-level integration tests: real hunterd processes, real PostgreSQL, real sockets.

mod cli;
mod config;
mod embedded;
mod engine;
mod enrichment;
mod intake;
mod ipc;
mod lifecycle;
mod migrations;
mod queue;
mod scan;
mod tui;
