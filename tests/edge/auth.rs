//! Tokens and permissions: every RPC under every kind of token, namespaces a token may not
//! see, Stats filtering, open health and reflection, the loopback rule, and SIGHUP reload
//! through the binary.

use std::sync::Arc;
use std::time::Duration;

use neardup::grpc::auth::Authenticator;
use neardup::grpc::pb::{self, near_dup_client::NearDupClient};
use neardup::server::EdgeConfig;
use neardup::store::MemStore;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::{submit, text, token_line, with_token};
use crate::util::child::Served;
use crate::util::neardup;
use crate::util::server::TestServer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Submit,
    SubmitStream,
    Check,
    GetDocument,
    DeleteDocument,
    Stats,
}

const RPCS: [Rpc; 6] = [
    Rpc::Submit,
    Rpc::SubmitStream,
    Rpc::Check,
    Rpc::GetDocument,
    Rpc::DeleteDocument,
    Rpc::Stats,
];

impl Rpc {
    fn writes(self) -> bool {
        matches!(self, Rpc::Submit | Rpc::SubmitStream | Rpc::DeleteDocument)
    }
}

/// Calls `rpc` on namespace `ns`; `id` names the document it submits or deletes. A
/// stream's single item error comes back as a status, like a unary call's.
async fn call(
    client: &mut NearDupClient<Channel>,
    rpc: Rpc,
    ns: &str,
    id: &str,
    token: Option<&str>,
) -> Result<(), Status> {
    match rpc {
        Rpc::Submit => client
            .submit(with_token(submit(ns, id, 7), token))
            .await
            .map(drop),
        Rpc::SubmitStream => {
            let items = tokio_stream::iter(vec![submit(ns, id, 8)]);
            let mut responses = client
                .submit_stream(with_token(items, token))
                .await?
                .into_inner();
            let item = responses.message().await?.expect("one response");
            match item.result.unwrap() {
                pb::submit_stream_response::Result::Submitted(_) => Ok(()),
                pb::submit_stream_response::Result::Error(e) => {
                    Err(Status::new(Code::from(e.code), e.message))
                }
            }
        }
        Rpc::Check => client
            .check(with_token(
                pb::CheckRequest {
                    namespace: ns.into(),
                    text: text(1),
                    ..Default::default()
                },
                token,
            ))
            .await
            .map(drop),
        Rpc::GetDocument => client
            .get_document(with_token(
                pb::GetDocumentRequest {
                    namespace: ns.into(),
                    document_id: "seed".into(),
                },
                token,
            ))
            .await
            .map(drop),
        Rpc::DeleteDocument => client
            .delete_document(with_token(
                pb::DeleteDocumentRequest {
                    namespace: ns.into(),
                    document_id: id.into(),
                },
                token,
            ))
            .await
            .map(drop),
        Rpc::Stats => client
            .stats(with_token(
                pb::StatsRequest {
                    namespace: ns.into(),
                },
                token,
            ))
            .await
            .map(drop),
    }
}

const TOKENS: [(&str, &str, &str); 5] = [
    ("reader", "tok-reader", r#"{"ns": ["read"]}"#),
    ("writer", "tok-writer", r#"{"ns": ["write"]}"#),
    ("admin", "tok-admin", r#"{"*": ["admin"]}"#),
    (
        "outsider",
        "tok-outsider",
        r#"{"other": ["read", "write"]}"#,
    ),
    ("team", "tok-team", r#"{"team-*": ["read", "write"]}"#),
];

fn tokens_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("tokens.jsonl");
    let lines: Vec<String> = TOKENS
        .iter()
        .map(|(name, token, ns)| token_line(name, token, ns))
        .collect();
    std::fs::write(&path, format!("# test tokens\n{}\n", lines.join("\n"))).unwrap();
    path
}

async fn start_with_tokens() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = Authenticator::load(tokens_file(dir.path())).unwrap();
    let edge = EdgeConfig {
        tokens: Some(Arc::new(tokens)),
        ..EdgeConfig::default()
    };
    let server = TestServer::with_edge(
        Default::default(),
        Arc::new(MemStore::default()),
        edge,
        false,
    )
    .await;
    (server, dir)
}

async fn stats_names(client: &mut NearDupClient<Channel>, token: &str) -> Vec<String> {
    client
        .stats(with_token(pb::StatsRequest::default(), Some(token)))
        .await
        .unwrap()
        .into_inner()
        .namespaces
        .into_iter()
        .map(|n| n.namespace)
        .collect()
}

async fn exists(client: &mut NearDupClient<Channel>, ns: &str, id: &str) -> bool {
    let got = client
        .get_document(with_token(
            pb::GetDocumentRequest {
                namespace: ns.into(),
                document_id: id.into(),
            },
            Some("tok-admin"),
        ))
        .await;
    match got {
        Ok(_) => true,
        Err(s) if s.code() == Code::NotFound => false,
        Err(s) => panic!("{s:?}"),
    }
}

#[tokio::test]
async fn every_rpc_under_every_permission() {
    let (server, _dir) = start_with_tokens().await;
    let mut client = server.client().await;
    let admin = Some("tok-admin");
    let callers = [
        None,
        Some("not-a-token"),
        Some("tok-reader"),
        Some("tok-writer"),
        Some("tok-outsider"),
        Some("tok-admin"),
    ];
    client
        .submit(with_token(submit("ns", "seed", 1), admin))
        .await
        .unwrap();
    client
        .submit(with_token(submit("other", "o", 2), Some("tok-outsider")))
        .await
        .unwrap();
    for i in 0..callers.len() {
        client
            .submit(with_token(
                submit("ns", &format!("del-{i}"), 100 + i),
                admin,
            ))
            .await
            .unwrap();
    }
    // What a namespace that does not exist looks like.
    let missing = client
        .check(with_token(
            pb::CheckRequest {
                namespace: "ghost".into(),
                text: text(1),
                ..Default::default()
            },
            admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    for (i, &token) in callers.iter().enumerate() {
        for rpc in RPCS {
            let id = match rpc {
                Rpc::DeleteDocument => format!("del-{i}"),
                _ => format!("new-{i}-{rpc:?}"),
            };
            let got = call(&mut client, rpc, "ns", &id, token).await;
            let expected = match token {
                None | Some("not-a-token") => Some(Code::Unauthenticated),
                Some("tok-outsider") => Some(Code::NotFound),
                Some("tok-reader") if rpc.writes() => Some(Code::PermissionDenied),
                Some("tok-writer") if !rpc.writes() => Some(Code::PermissionDenied),
                _ => None,
            };
            let what = format!("{rpc:?} as {token:?}");
            match (expected, got) {
                (None, Ok(())) => {}
                (Some(code), Err(status)) => {
                    assert_eq!(status.code(), code, "{what}: {status:?}");
                    if code == Code::NotFound {
                        // Indistinguishable from a namespace that does not exist.
                        assert_eq!(
                            status.message(),
                            missing.message().replace("ghost", "ns"),
                            "{what}"
                        );
                    }
                    if code == Code::PermissionDenied {
                        assert!(status.message().contains("\"ns\""), "{what}: {status:?}");
                    }
                }
                (expected, got) => panic!("{what}: expected {expected:?}, got {got:?}"),
            }
        }
    }
    // Refused writes changed nothing; allowed ones happened.
    for (i, token) in callers.iter().enumerate() {
        let may_write = matches!(token, Some("tok-writer" | "tok-admin"));
        assert_eq!(
            exists(&mut client, "ns", &format!("new-{i}-Submit")).await,
            may_write,
            "{token:?}"
        );
        assert_eq!(
            exists(&mut client, "ns", &format!("new-{i}-SubmitStream")).await,
            may_write,
            "{token:?}"
        );
        assert_eq!(
            exists(&mut client, "ns", &format!("del-{i}")).await,
            !may_write,
            "{token:?}"
        );
    }
    // A prefix pattern: team-* but nothing else.
    call(&mut client, Rpc::Submit, "team-a", "t", Some("tok-team"))
        .await
        .unwrap();
    call(&mut client, Rpc::Check, "team-a", "t", Some("tok-team"))
        .await
        .unwrap();
    let err = call(&mut client, Rpc::Submit, "teamwork", "t", Some("tok-team"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn no_reads_across_namespaces() {
    let (server, _dir) = start_with_tokens().await;
    let mut client = server.client().await;
    client
        .submit(with_token(submit("ns", "seed", 1), Some("tok-admin")))
        .await
        .unwrap();
    client
        .submit(with_token(submit("other", "o", 2), Some("tok-outsider")))
        .await
        .unwrap();
    // The outsider's own namespace knows nothing of "ns", even for the same text (its
    // own document "o" is alike, and is all it finds).
    let report = client
        .check(with_token(
            pb::CheckRequest {
                namespace: "other".into(),
                text: text(1),
                ..Default::default()
            },
            Some("tok-outsider"),
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    let sources: Vec<&str> = report
        .paragraphs
        .iter()
        .flat_map(|p| &p.matches)
        .map(|m| m.source.as_ref().unwrap().document_id.as_str())
        .collect();
    assert!(sources.iter().all(|s| *s == "o"), "{sources:?}");
    let err = client
        .get_document(with_token(
            pb::GetDocumentRequest {
                namespace: "other".into(),
                document_id: "seed".into(),
            },
            Some("tok-outsider"),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // Stats without a namespace: only what the token may read.
    assert_eq!(stats_names(&mut client, "tok-reader").await, ["ns"]);
    assert_eq!(stats_names(&mut client, "tok-outsider").await, ["other"]);
    assert!(stats_names(&mut client, "tok-writer").await.is_empty());
    assert_eq!(stats_names(&mut client, "tok-admin").await, ["ns", "other"]);
    server.stop().await;
}

#[tokio::test]
async fn health_and_reflection_need_no_token() {
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    let (server, _dir) = start_with_tokens().await;
    let channel = server.channel().await; // waits on health, without a token
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let responses: Vec<_> = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert!(responses[0].is_ok(), "{responses:?}");
    server.stop().await;
}

#[test]
fn anonymous_access_only_on_loopback() {
    let data = tempfile::tempdir().unwrap();
    let out = neardup()
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not a loopback address") && stderr.contains("--allow-anonymous"),
        "{stderr}"
    );

    // Allowed explicitly, or with tokens, it starts.
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens_file(dir.path());
    for extra in [
        vec!["--allow-anonymous"],
        vec!["--auth-tokens", tokens.to_str().unwrap()],
    ] {
        let data = tempfile::tempdir().unwrap();
        let mut args = vec!["--data-dir", data.path().to_str().unwrap()];
        args.extend(extra);
        let served = Served::start_on("0.0.0.0:0", &args, "warn");
        assert!(served.addr.starts_with("0.0.0.0:"), "{}", served.addr);
        assert!(served.terminate().success());
    }
}

async fn stats_as(addr: &str, token: &str) -> Result<(), Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    NearDupClient::new(channel)
        .stats(with_token(pb::StatsRequest::default(), Some(token)))
        .await
        .map(drop)
}

#[tokio::test]
async fn sighup_reloads_the_tokens_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.jsonl");
    std::fs::write(&tokens, token_line("old", "tok-old", r#"{"*": ["read"]}"#)).unwrap();
    let served = Served::start(
        &[
            "--data-dir",
            data.path().to_str().unwrap(),
            "--auth-tokens",
            tokens.to_str().unwrap(),
        ],
        "info",
    );
    stats_as(&served.addr, "tok-old").await.unwrap();
    assert_eq!(
        stats_as(&served.addr, "tok-new").await.unwrap_err().code(),
        Code::Unauthenticated
    );

    std::fs::write(&tokens, token_line("new", "tok-new", r#"{"*": ["read"]}"#)).unwrap();
    served.signal(libc::SIGHUP);
    assert!(
        served.wait_for_log("reloaded the tokens file", Duration::from_secs(20)),
        "{}",
        served.log()
    );
    stats_as(&served.addr, "tok-new").await.unwrap();
    assert_eq!(
        stats_as(&served.addr, "tok-old").await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // A bad file keeps the tokens in force and says so.
    std::fs::write(&tokens, "{ not json").unwrap();
    served.signal(libc::SIGHUP);
    assert!(
        served.wait_for_log("cannot reload the tokens file", Duration::from_secs(20)),
        "{}",
        served.log()
    );
    assert!(served.log().contains("line 1"), "{}", served.log());
    stats_as(&served.addr, "tok-new").await.unwrap();
    assert!(served.terminate().success());
}
