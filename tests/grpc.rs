//! Placeholder: filled by the grpc work.
