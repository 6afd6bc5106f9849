//! The engine's error type: every way a request can be refused, with a message a user
//! can act on. Transport layers map these to their own codes in one place each.

/// Errors from the engine and its settings.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// An option or setting is out of range.
    #[error("invalid {name}: {message}")]
    InvalidArgument {
        /// The option's name, as the user wrote it.
        name: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A document id is already taken by a different text.
    #[error("document {0:?} already exists with a different text (ask to replace it)")]
    AlreadyExists(String),
    /// No document has that id.
    #[error("document {0:?} not found")]
    NotFound(String),
    /// The request is larger than the configured limits, or the index has no room left
    /// for it (a Redis Cluster at its `maxmemory`).
    #[error("{0}")]
    TooLarge(String),
    /// The index could not be read or written (a remote index that cannot be reached);
    /// nothing was changed that a retry would not redo.
    #[error("index unavailable: {0}")]
    Unavailable(String),
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(name: &'static str, message: impl Into<String>) -> Error {
        Error::InvalidArgument {
            name,
            message: message.into(),
        }
    }
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
