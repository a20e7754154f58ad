//! hunterd: the daemon. Owns PostgreSQL, runs scheduled work, serves clients on a local socket.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod db;
pub mod ipc;
pub mod jobs;
pub mod logging;
pub mod paths;
pub mod systemd;
