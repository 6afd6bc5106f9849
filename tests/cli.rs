//! The binary's conventions, whatever the subcommand: a closed standard output ends it
//! quietly with 0 (as ripgrep does), exit codes say whose fault a failure is (2: the
//! user's flags or input; 1: anything else, such as a server's malformed answer), and
//! storage errors name the file.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use neardup::grpc::pb;
use neardup::grpc::pb::near_dup_server::{NearDup, NearDupServer};
use tonic::{Request, Response, Status};

use crate::util::{neardup, test_data};

/// Runs `cmd` with a standard output whose reading end is closed before it starts, so its
/// first write fails with EPIPE (Rust ignores SIGPIPE, so nothing kills it first).
fn with_closed_stdout(mut cmd: Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer)
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `cmd` to completion, killing it (and failing) if it is still running after
/// `secs` seconds: a server that should have refused to start must not hang the test.
fn output_within(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn closed_stdout_ends_every_subcommand_quietly_with_0() {
    let magazine = test_data("magazine-zh/magazine.txt");
    let sources = test_data("synthetic-dev/sources.jsonl");
    let cases: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec!["settings".as_ref()],
        vec!["scan".as_ref(), magazine.as_os_str()],
        vec![
            "scan".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            magazine.as_os_str(),
        ],
        vec![
            "scan".as_ref(),
            "--format".as_ref(),
            "html".as_ref(),
            magazine.as_os_str(),
        ],
        vec![
            "dedup".as_ref(),
            "--input".as_ref(),
            sources.as_os_str(),
            "--kept".as_ref(),
            "-".as_ref(),
        ],
    ];
    for args in cases {
        let mut cmd = neardup();
        cmd.args(&args);
        let out = with_closed_stdout(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

/// `neardup scan --format html FILE | head -1`: the reader takes a line and leaves while
/// the report (150 KB, more than a pipe holds) is still being written.
#[test]
fn reader_leaving_after_one_line_is_not_an_error() {
    let mut child = neardup()
        .args(["scan", "--format", "html"])
        .arg(test_data("magazine-zh/magazine.txt"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "<!DOCTYPE html>\n");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// A server that answers Check with a report neardup cannot read.
struct Malformed;

#[tonic::async_trait]
impl NearDup for Malformed {
    async fn submit(
        &self,
        _: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        Err(Status::unimplemented("submit"))
    }

    async fn check(
        &self,
        _: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let paragraph = pb::ParagraphReport {
            status: 99,
            end: 10,
            ..Default::default()
        };
        Ok(Response::new(pb::CheckResponse {
            namespace: "default".into(),
            report: Some(pb::Report {
                paragraphs: vec![paragraph],
                ..Default::default()
            }),
        }))
    }

    type SubmitStreamStream = tokio_stream::Empty<Result<pb::SubmitStreamResponse, Status>>;

    async fn submit_stream(
        &self,
        _: Request<tonic::Streaming<pb::SubmitRequest>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        Err(Status::unimplemented("submit_stream"))
    }

    async fn get_document(
        &self,
        _: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<pb::GetDocumentResponse>, Status> {
        Err(Status::unimplemented("get_document"))
    }

    async fn delete_document(
        &self,
        _: Request<pb::DeleteDocumentRequest>,
    ) -> Result<Response<pb::DeleteDocumentResponse>, Status> {
        Err(Status::unimplemented("delete_document"))
    }

    async fn stats(
        &self,
        _: Request<pb::StatsRequest>,
    ) -> Result<Response<pb::StatsResponse>, Status> {
        Ok(Response::new(pb::StatsResponse {
            namespaces: vec![pb::NamespaceStats {
                namespace: "default".into(),
                documents: 1,
                ..Default::default()
            }],
            ..Default::default()
        }))
    }

    async fn create_namespace(
        &self,
        _: Request<pb::CreateNamespaceRequest>,
    ) -> Result<Response<pb::CreateNamespaceResponse>, Status> {
        Err(Status::unimplemented("create_namespace"))
    }

    async fn delete_namespace(
        &self,
        _: Request<pb::DeleteNamespaceRequest>,
    ) -> Result<Response<pb::DeleteNamespaceResponse>, Status> {
        Err(Status::unimplemented("delete_namespace"))
    }

    async fn list_namespaces(
        &self,
        _: Request<pb::ListNamespacesRequest>,
    ) -> Result<Response<pb::ListNamespacesResponse>, Status> {
        Err(Status::unimplemented("list_namespaces"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answer_from_the_server_exits_1_not_2() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(NearDupServer::new(Malformed))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("draft.txt");
    std::fs::write(
        &file,
        "A paragraph of ordinary text, long enough to judge.\n",
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        neardup()
            .args(["scan", "--server", &url])
            .arg(&file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    server.abort();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bad report from the server") && stderr.contains("paragraph status 99"),
        "{stderr}"
    );
}

/// A storage failure names the file it failed on, whichever file that is.
#[test]
fn store_io_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // The data directory is a file.
    let not_a_dir = dir.path().join("data.txt");
    std::fs::write(&not_a_dir, "").unwrap();
    // A log segment that cannot be read (a directory where a file should be).
    let data = dir.path().join("data");
    let segment = data.join("wal-00000000000000000001.log");
    std::fs::create_dir_all(&segment).unwrap();
    for (data_dir, named) in [(&not_a_dir, &not_a_dir), (&data, &segment)] {
        let out = output_within(
            neardup()
                .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(data_dir)
                .env("NEARDUP_LOG", "warn"),
            30,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&named.display().to_string()),
            "{} not named: {stderr}",
            named.display()
        );
    }
}

#[test]
fn settings_prints_the_tuning_of_each_path() {
    let run = |args: &[&str]| {
        let out = neardup().args(args).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let serve = run(&["settings"]);
    let dedup = run(&["settings", "--for", "dedup"]);
    // One tuning for both paths: the same bands and bucket reads…
    for text in [&serve, &dedup] {
        assert!(text.contains("20 bands x 1 rows"), "{text}");
        assert!(text.contains("whole up to 64 ids"), "{text}");
    }
    // …and what differs is what the index holds.
    assert!(serve.contains("every paragraph of every stored document"));
    assert!(dedup.contains("kept units only"));
    assert!(run(&["settings", "--max-matches", "3"]).contains("2 x max-matches"));
    let bad = neardup()
        .args(["settings", "--for", "both"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// Namespace limits that a Redis Cluster index cannot enforce are refused, not ignored,
/// before any connection is tried.
#[test]
fn serve_refuses_limits_a_cluster_index_cannot_enforce() {
    for flag in [
        "--max-namespaces",
        "--max-namespace-documents",
        "--max-namespace-bytes",
        "--max-index-bytes",
    ] {
        let out = output_within(
            neardup().args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--index",
                "redis-cluster://127.0.0.1:1",
                flag,
                "1000",
            ]),
            30,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains("not enforced with a Redis Cluster index"),
            "{stderr}"
        );
    }
}
