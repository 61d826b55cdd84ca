//! MESH (the NHS Message Exchange for Social care and Health) and the ITK3 messages that travel
//! over it for GP Connect Send Document.
//!
//! * [`client`]: the MESH API over HTTPS: the `NHSMESH` authorisation scheme, mutual TLS,
//!   handshake, endpoint lookup, send (chunked over the size limit), inbox, download, acknowledge
//!   and tracking by local id.
//! * [`itk`]: the ITK3 FHIR STU3 message bundle carrying a document (the GP outcome letter PDF),
//!   and the reading of ITK3 infrastructure and business acknowledgements.
//!
//! This crate knows HTTP and FHIR STU3 JSON; it knows nothing of the database. The binary's worker
//! joins it to the application (`crates/telederm/src/mesh.rs`).

pub mod client;
pub mod itk;

pub use client::{MeshClient, MeshError, MeshSettings};
