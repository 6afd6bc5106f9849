//! Placeholder: filled by the html work.
