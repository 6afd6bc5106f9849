//! Placeholder: filled by the recovery work.
