//! Placeholder: filled by the dedup work.
