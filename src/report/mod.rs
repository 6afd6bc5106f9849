//! The report of a scan, in every format: one model ([`Scan`]: the documents, their
//! reports, and what a summary derives from them), one set of JSON wire types
//! ([`json`]), and the renderers: [`text`] (for a terminal), [`json`] (JSON Lines) and
//! [`html`] (one self-contained page for an editor). [`passage`] groups a report's
//! recycled paragraphs into the passages they reprint.
//!
//! Renderers do no I/O of their own beyond writing to what they are given, and never
//! panic on a report: offsets past the end of a text are clamped.

pub mod html;
pub mod json;
mod model;
pub mod passage;
pub mod text;

pub use model::{Aligned, Overview, Repaired, Scan, ScannedDocument, SourceShare, owners};
