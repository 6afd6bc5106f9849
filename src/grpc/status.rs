//! The service's error type and its one mapping to gRPC status codes.
//!
//! Every handler returns [`ServiceError`]; this file is the only place that picks a
//! [`tonic::Code`]. Engine errors map by kind; storage failures are `UNAVAILABLE` (the
//! change was rolled back, so a retry is safe), except a stored record that passes its
//! checksum but does not decode, or no longer reads back, which is `DATA_LOSS` (a retry
//! cannot help); overload (too many calls or too many
//! request bytes in flight) and a limit on namespaces, documents or index bytes are
//! `RESOURCE_EXHAUSTED`; creating a namespace that exists is `ALREADY_EXISTS`; a missing or unknown token is
//! `UNAUTHENTICATED`, a token without the permission `PERMISSION_DENIED`, and a namespace
//! the token may not see at all is the same `NOT_FOUND` as a namespace that does not
//! exist. The tower layers of [`crate::server`] answer with these codes too, through
//! [`ServiceError::into_http`].

use tonic::{Code, Status};

use crate::error::Error;
pub use crate::service::ServiceError;
#[cfg(test)]
use crate::store::StoreError;

impl ServiceError {
    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            ServiceError::Engine(Error::InvalidArgument { .. }) => Code::InvalidArgument,
            ServiceError::Engine(Error::AlreadyExists(_)) | ServiceError::NamespaceExists(_) => {
                Code::AlreadyExists
            }
            ServiceError::Engine(Error::NotFound(_)) | ServiceError::NamespaceNotFound(_) => {
                Code::NotFound
            }
            ServiceError::Engine(Error::TooLarge(_))
            | ServiceError::Overloaded(_)
            | ServiceError::InflightBytes { .. }
            | ServiceError::LimitExceeded { .. } => Code::ResourceExhausted,
            ServiceError::Unauthenticated(_) => Code::Unauthenticated,
            ServiceError::PermissionDenied { .. } => Code::PermissionDenied,
            ServiceError::Store(_)
            | ServiceError::Starting
            | ServiceError::Engine(Error::Unavailable(_)) => Code::Unavailable,
            ServiceError::DataLoss(_) => Code::DataLoss,
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
                ServiceError::NamespaceExists("n".into()),
                Code::AlreadyExists,
            ),
            (
                ServiceError::LimitExceeded {
                    flag: "max-namespaces",
                    limit: 1,
                    detail: "x".into(),
                },
                Code::ResourceExhausted,
            ),
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
                    permission: "write",
                    namespace: "n".into(),
                },
                Code::PermissionDenied,
            ),
            (ServiceError::Starting, Code::Unavailable),
            (StoreError::Corrupt("bad".into()).into(), Code::Unavailable),
            (StoreError::DataLoss("lost".into()).into(), Code::DataLoss),
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
