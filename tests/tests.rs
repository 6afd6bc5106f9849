//! Integration tests, one binary: each module drives neardup through an interface a user
//! has (the library's public API, the `neardup` binary, the gRPC service).

mod cli;
mod compat;
mod dedup;
mod dedup_parquet;
mod edge;
mod edited;
mod editorial;
mod editorial_cli;
mod fold;
mod fuzz_corpus;
mod grpc;
mod html;
mod quality;
mod recovery;
mod scan;
mod util;
