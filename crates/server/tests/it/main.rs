//! The integration suite: the real server on 127.0.0.1:0 with a fresh database per test, every
//! test on SQLite and on PostgreSQL (see `support::both_backends!`).

// Test helpers are async functions outside `#[test]`, where clippy.toml's allowance does not reach.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod support;

mod abuse;
mod bold_groups;
mod bold_import;
mod bold_orgs_keys;
mod bold_rights;
mod bold_users;
mod browser;
mod delivery;
mod faults;
mod headers;
mod openapi;
mod operations;
mod orgo;
mod search;
mod sinks;
mod zitadel;
