//! Placeholder: filled by the quality work.
