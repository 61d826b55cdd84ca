//! One module per group of subcommands.

pub mod audit;
pub mod blobs;
pub mod calendar;
pub mod fhir;
pub mod image;
pub mod ops;
pub mod keys;
pub mod report;
pub mod retention;
pub mod rules;
pub mod server;
