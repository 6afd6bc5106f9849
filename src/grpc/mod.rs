//! The gRPC edge of neardup: the generated `neardup.v1` types ([`pb`]), conversions
//! between them and the engine's types ([`convert`]), the service ([`service`]) and the
//! one mapping of errors to status codes ([`status`]).
//!
//! Nothing below [`crate::engine`] depends on this module; it depends on the engine and
//! the [`crate::store::Store`] trait only.

pub mod convert;
pub mod service;
pub mod status;

/// Types and client/server stubs generated from `proto/neardup/v1/neardup.proto`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("neardup.v1");
}

/// The encoded descriptor set of `neardup.v1`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/neardup_descriptor.bin"));

pub use crate::service::DEFAULT_NAMESPACE;

pub use service::{Limits, NearDupService};
pub use status::ServiceError;
