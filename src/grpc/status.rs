//! The one mapping of the service's errors to gRPC status codes.
//!
//! Every handler returns [`ServiceError`]; this file is the only place that picks a
//! [`tonic::Code`]. Engine errors map by kind; storage failures are `UNAVAILABLE` (the
//! change was rolled back, so a retry is safe); overload is `RESOURCE_EXHAUSTED`.

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
            ServiceError::Engine(Error::AlreadyExists(_)) => Code::AlreadyExists,
            ServiceError::Engine(Error::NotFound(_)) | ServiceError::NamespaceNotFound(_) => {
                Code::NotFound
            }
            ServiceError::Engine(Error::TooLarge(_)) | ServiceError::Overloaded(_) => {
                Code::ResourceExhausted
            }
            ServiceError::Store(_) => Code::Unavailable,
            ServiceError::Internal(_) => Code::Internal,
        }
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
