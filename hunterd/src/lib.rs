//! hunterd: the daemon. Owns PostgreSQL, runs scheduled work, serves clients on a local socket.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod db;
pub mod dynamics;
pub mod enrich;
pub mod http;
pub mod intake;
pub mod ipc;
pub mod jobs;
pub mod leads;
pub mod logging;
pub mod ops;
pub mod partner_center;
pub mod paths;
pub mod pipeline;
pub mod provider;
pub mod scan;
pub mod score;
pub mod systemd;
pub mod whois;
