//! Placeholder: filled by the scan work.
