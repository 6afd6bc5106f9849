//! The gRPC edge of neardup: the generated `neardup.v1` types ([`pb`]), conversions
//! between them and the engine's types ([`convert`]), the service ([`service`]), the
//! one mapping of errors to status codes ([`status`]), and the tower layers every call
//! passes: tokens and permissions ([`auth`]), the byte budget ([`budget`]), and the span,
//! log line and metrics of each call ([`telemetry`]).
//!
//! Nothing below [`crate::engine`] depends on this module; it depends on the engine and
//! the [`crate::store::Store`] trait only.

pub mod auth;
pub mod backend;
pub mod budget;
pub mod convert;
pub mod service;
pub mod status;
pub mod telemetry;

/// Types and client/server stubs generated from `proto/neardup/v1/neardup.proto`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("neardup.v1");
}

/// The encoded descriptor set of `neardup.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/neardup_descriptor.bin"));

pub use crate::service::DEFAULT_NAMESPACE;

/// The namespace a request's `namespace` field names.
pub fn namespace_or_default(namespace: &str) -> &str {
    if namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        namespace
    }
}

pub use service::{Limits, NearDupService};
pub use status::ServiceError;
