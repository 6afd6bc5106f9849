//! The service's error type and its one mapping to gRPC status codes.
//!
//! Every handler returns [`ServiceError`]; this file is the only place that picks a
//! [`tonic::Code`]. Engine errors map by kind; storage failures are `UNAVAILABLE` (the
//! change was rolled back, so a retry is safe); overload (too many calls or too many
//! request bytes in flight) is `RESOURCE_EXHAUSTED`; a missing or unknown token is
//! `UNAUTHENTICATED`, a token without the permission `PERMISSION_DENIED`, and a namespace
//! the token may not see at all is the same `NOT_FOUND` as a namespace that does not
//! exist. The tower layers of [`crate::server`] answer with these codes too, through
//! [`ServiceError::into_http`].

use tonic::{Code, Status};

use super::auth::Permission;
use crate::error::Error;
use crate::store::StoreError;

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The engine refused the request.
    #[error(transparent)]
    Engine(#[from] Error),
    /// The namespace has no documents yet.
    #[error("namespace {0:?} not found (it is created by its first Submit)")]
    NamespaceNotFound(String),
    /// Too many calls are waiting for a worker.
    #[error("server overloaded: {0} calls already waiting for a worker, retry later")]
    Overloaded(usize),
    /// Too many request bytes are being received or processed.
    #[error(
        "server overloaded: {held} bytes of requests in flight, and this {wanted}-byte message \
         would pass the limit of {limit} bytes; retry later"
    )]
    InflightBytes {
        /// Bytes held by calls in flight.
        held: usize,
        /// Bytes the refused message needed.
        wanted: usize,
        /// The limit (`--max-inflight-bytes`).
        limit: usize,
    },
    /// No valid bearer token.
    #[error("{0}")]
    Unauthenticated(String),
    /// The token may see the namespace but lacks this permission there.
    #[error("token {token:?} has no {permission} permission on namespace {namespace:?}")]
    PermissionDenied {
        /// The token's name.
        token: String,
        /// The permission the call needs.
        permission: Permission,
        /// The namespace.
        namespace: String,
    },
    /// The server is still rebuilding its index from the store.
    #[error("server is starting: the index is being restored from the store, retry shortly")]
    Starting,
    /// The store could not record the change; nothing was changed.
    #[error("{0}; the change was not applied, retry later")]
    Store(#[from] StoreError),
    /// A bug or a lost worker thread.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            ServiceError::Engine(Error::InvalidArgument { .. }) => Code::InvalidArgument,
            ServiceError::Engine(Error::AlreadyExists(_)) => Code::AlreadyExists,
            ServiceError::Engine(Error::NotFound(_)) | ServiceError::NamespaceNotFound(_) => {
                Code::NotFound
            }
            ServiceError::Engine(Error::TooLarge(_))
            | ServiceError::Overloaded(_)
            | ServiceError::InflightBytes { .. } => Code::ResourceExhausted,
            ServiceError::Unauthenticated(_) => Code::Unauthenticated,
            ServiceError::PermissionDenied { .. } => Code::PermissionDenied,
            ServiceError::Store(_) | ServiceError::Starting => Code::Unavailable,
            ServiceError::Internal(_) => Code::Internal,
        }
    }
}

impl ServiceError {
    /// This error as a complete gRPC response, for the layers that answer before any
    /// handler runs.
    pub fn into_http<B: Default>(self) -> tonic::codegen::http::Response<B> {
        Status::from(self).into_http()
    }
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Status {
        Status::new(err.code(), err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let cases = [
            (
                ServiceError::from(Error::invalid("text", "empty")),
                Code::InvalidArgument,
            ),
            (Error::AlreadyExists("a".into()).into(), Code::AlreadyExists),
            (Error::NotFound("a".into()).into(), Code::NotFound),
            (ServiceError::NamespaceNotFound("n".into()), Code::NotFound),
            (
                Error::TooLarge("big".into()).into(),
                Code::ResourceExhausted,
            ),
            (ServiceError::Overloaded(3), Code::ResourceExhausted),
            (
                ServiceError::InflightBytes {
                    held: 1,
                    wanted: 2,
                    limit: 2,
                },
                Code::ResourceExhausted,
            ),
            (
                ServiceError::Unauthenticated("no token".into()),
                Code::Unauthenticated,
            ),
            (
                ServiceError::PermissionDenied {
                    token: "t".into(),
                    permission: Permission::Write,
                    namespace: "n".into(),
                },
                Code::PermissionDenied,
            ),
            (ServiceError::Starting, Code::Unavailable),
            (StoreError::Corrupt("bad".into()).into(), Code::Unavailable),
            (ServiceError::Internal("x".into()), Code::Internal),
        ];
        for (err, code) in cases {
            let message = err.to_string();
            let status = Status::from(err);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), message);
        }
    }
}
