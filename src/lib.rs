//! neardup: find paragraphs that repeat earlier text, in any language.
//!
//! A document is split into paragraphs ([`text::paragraph`]), each normalized and cut
//! into script-aware tokens ([`text::normalize`]) and shingles ([`text::shingle`]),
//! signed with MinHash ([`minhash`]) and given band keys ([`lsh`]): one [`analysis`] for
//! every path. The candidate [`index`] turns band keys into earlier paragraphs worth
//! verifying, and every candidate is verified exactly ([`verify`]) before it is reported.
//! [`engine`] is the embedded index and its reports; [`batch`] runs the same index and
//! rules over corpora; the gRPC service is a thin layer over them.
//!
//! The engine and the modules under it never touch the network or the file system.
#![warn(missing_docs)]

pub mod align;
pub mod analysis;
pub mod batch;
pub mod cluster;
pub mod edit;
pub mod editorial;
pub mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod index;
pub mod lsh;
pub mod metrics;
pub mod minhash;
pub mod report;
pub mod scan;
pub mod server;
pub mod service;
pub mod store;
pub mod text;
pub mod verify;

pub use engine::{
    AnalyzedDocument, Engine, Match, ParagraphReport, ParagraphStatus, QueryOptions, Report,
    Settings,
};
pub use error::{Error, Result};
pub use verify::MatchKind;
