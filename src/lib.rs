//! neardup: find paragraphs that repeat earlier text, in any language.
//!
//! A document is split into paragraphs ([`text::paragraph`]), each normalized and cut
//! into script-aware tokens ([`text::normalize`]) and shingles ([`text::shingle`]),
//! signed with MinHash ([`minhash`]) and looked up in an LSH index ([`lsh`]); every
//! candidate is verified exactly ([`verify`]) before it is reported. [`engine`] ties these
//! together and is what every front end uses: the `scan` command, the batch `dedup`, and
//! the gRPC service.
//!
//! The engine and the modules under it never touch the network or the file system.
#![warn(missing_docs)]

pub mod batch;
pub mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod html;
pub mod lsh;
pub mod metrics;
pub mod minhash;
pub mod scan;
pub mod server;
pub mod store;
pub mod text;
pub mod verify;

pub use engine::{
    AnalyzedDocument, Engine, Match, ParagraphReport, ParagraphStatus, QueryOptions, Report,
    Settings,
};
pub use error::{Error, Result};
pub use verify::MatchKind;
