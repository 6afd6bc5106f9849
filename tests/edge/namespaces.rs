//! Namespaces through gRPC: CreateNamespace, DeleteNamespace and ListNamespaces (admin
//! only), validated names, Submit that does or does not create namespaces (and the
//! binary's default for it), the limits on namespaces, documents and index bytes
//! (RESOURCE_EXHAUSTED naming the limit, never passed by concurrent writers, given back
//! by failed writes), and lifecycle changes that survive a restart.

use std::sync::Arc;

use neardup::analysis::Analyzer;
use neardup::engine::Settings;
use neardup::grpc::Limits;
use neardup::grpc::auth::Authenticator;
use neardup::grpc::pb::{self, near_dup_client::NearDupClient};
use neardup::server::EdgeConfig;
use neardup::service::{NamespaceLimits, document_footprint};
use neardup::store::{MemStore, Store, WalOptions, WalStore};
use neardup::text::Split;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::{submit, text, token_line, with_token};
use crate::util::server::TestServer;

fn limits(namespaces: NamespaceLimits) -> Limits {
    Limits {
        namespaces,
        ..Limits::default()
    }
}

async fn create(client: &mut NearDupClient<Channel>, ns: &str) -> Result<(), Status> {
    create_as(client, ns, None).await
}

async fn create_as(
    client: &mut NearDupClient<Channel>,
    ns: &str,
    token: Option<&str>,
) -> Result<(), Status> {
    let req = pb::CreateNamespaceRequest {
        namespace: ns.into(),
    };
    let created = client.create_namespace(with_token(req, token)).await?;
    assert_eq!(created.into_inner().namespace, ns);
    Ok(())
}

async fn delete(client: &mut NearDupClient<Channel>, ns: &str) -> Result<u64, Status> {
    let req = pb::DeleteNamespaceRequest {
        namespace: ns.into(),
    };
    Ok(client.delete_namespace(req).await?.into_inner().documents)
}

async fn list_as(
    client: &mut NearDupClient<Channel>,
    token: Option<&str>,
) -> Result<Vec<(String, u64, u64)>, Status> {
    let req = with_token(pb::ListNamespacesRequest {}, token);
    Ok(client
        .list_namespaces(req)
        .await?
        .into_inner()
        .namespaces
        .into_iter()
        .map(|n| (n.namespace, n.documents, n.accounted_bytes))
        .collect())
}

fn names(list: &[(String, u64, u64)]) -> Vec<&str> {
    list.iter().map(|(n, _, _)| n.as_str()).collect()
}

fn wal(dir: &std::path::Path) -> Arc<dyn Store> {
    Arc::new(WalStore::open(dir, WalOptions::new(&Settings::default())).unwrap())
}

fn exhausted(status: Status, flag: &str) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains(&format!("`--{flag}`")),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn lifecycle_and_limits_on_namespaces_and_documents() {
    let dir = tempfile::tempdir().unwrap();
    let l = limits(NamespaceLimits {
        max_namespaces: 3,
        max_documents: 2,
        auto_create: false,
        ..NamespaceLimits::default()
    });
    let server = TestServer::with(l.clone(), wal(dir.path())).await;
    let mut client = server.client().await;

    // Without auto-creation, Submit needs a namespace made first.
    let err = client.submit(submit("news", "d1", 1)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert_eq!(
        err.message(),
        "namespace \"news\" not found; CreateNamespace (an admin call) creates it"
    );
    create(&mut client, "news").await.unwrap();
    let err = create(&mut client, "news").await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    for bad in [
        "",
        "has space",
        "ünïcode",
        "-leading",
        &"x".repeat(65),
        "a/b",
    ] {
        let err = create(&mut client, bad).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}: {err:?}");
    }

    // Two documents per namespace; a resubmission adds nothing and stays allowed.
    client.submit(submit("news", "d1", 1)).await.unwrap();
    client.submit(submit("news", "d2", 2)).await.unwrap();
    exhausted(
        client.submit(submit("news", "d3", 3)).await.unwrap_err(),
        "max-namespace-documents",
    );
    let again = client.submit(submit("news", "d1", 1)).await.unwrap();
    assert_eq!(again.into_inner().outcome(), pb::SubmitOutcome::Unchanged);
    let mut replace = submit("news", "d2", 4);
    replace.replace = true;
    let replaced = client.submit(replace).await.unwrap();
    assert_eq!(replaced.into_inner().outcome(), pb::SubmitOutcome::Replaced);

    // Three namespaces.
    create(&mut client, "a").await.unwrap();
    create(&mut client, "b.2_x-y").await.unwrap();
    exhausted(
        create(&mut client, "c").await.unwrap_err(),
        "max-namespaces",
    );
    let list = list_as(&mut client, None).await.unwrap();
    assert_eq!(names(&list), ["a", "b.2_x-y", "news"]);
    assert_eq!((list[0].1, list[0].2), (0, 0));
    assert_eq!(list[2].1, 2);
    assert!(list[2].2 > 0);
    let stats = client
        .stats(pb::StatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let shown = stats.limits.unwrap();
    assert_eq!(shown.max_namespaces, Some(3));
    assert_eq!(shown.max_namespace_documents, Some(2));
    assert_eq!(shown.max_index_bytes, None);
    assert!(!shown.auto_create_namespaces);

    // Deleting a namespace removes it and its documents, and frees its place.
    assert_eq!(delete(&mut client, "news").await.unwrap(), 2);
    let gone = client
        .get_document(pb::GetDocumentRequest {
            namespace: "news".into(),
            document_id: "d1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(
        delete(&mut client, "news").await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        delete(&mut client, "").await.unwrap_err().code(),
        Code::InvalidArgument
    );
    create(&mut client, "c").await.unwrap();
    client.submit(submit("c", "kept", 5)).await.unwrap();
    server.stop().await;

    // A restart sees the same namespaces: empty ones kept, the deleted one gone, with
    // none of its documents.
    let server = TestServer::with(l, wal(dir.path())).await;
    let mut client = server.client().await;
    let list = list_as(&mut client, None).await.unwrap();
    assert_eq!(names(&list), ["a", "b.2_x-y", "c"]);
    assert_eq!(list[2].1, 1);
    exhausted(
        create(&mut client, "news").await.unwrap_err(),
        "max-namespaces",
    );
    server.stop().await;
}

#[tokio::test]
async fn index_bytes_are_bounded_per_namespace_and_in_all() {
    let analyzer = Analyzer::new(Settings::default().shape()).unwrap();
    let fp = |seed| document_footprint(&analyzer.document(text(seed), Split::Auto));
    let l = limits(NamespaceLimits {
        max_namespace_bytes: fp(1) + fp(2) - 1,
        max_index_bytes: fp(1) + fp(3) + fp(4) - 1,
        ..NamespaceLimits::default()
    });
    let server = TestServer::with(l, Arc::new(MemStore::default())).await;
    let mut client = server.client().await;
    // Auto-creation (the default of the library's limits).
    client.submit(submit("a", "one", 1)).await.unwrap();
    exhausted(
        client.submit(submit("a", "two", 2)).await.unwrap_err(),
        "max-namespace-bytes",
    );
    client.submit(submit("b", "three", 3)).await.unwrap();
    let err = client.submit(submit("c", "four", 4)).await.unwrap_err();
    exhausted(err.clone(), "max-index-bytes");
    assert!(err.message().contains("this document needs"), "{err:?}");
    let list = list_as(&mut client, None).await.unwrap();
    let accounted: Vec<u64> = list.iter().map(|n| n.2).collect();
    // "c" was created by the refused Submit, empty.
    assert_eq!(names(&list), ["a", "b", "c"]);
    assert_eq!(accounted, [fp(1) as u64, fp(3) as u64, 0]);
    // A deletion gives its bytes back.
    client
        .delete_document(pb::DeleteDocumentRequest {
            namespace: "a".into(),
            document_id: "one".into(),
        })
        .await
        .unwrap();
    client.submit(submit("c", "four", 4)).await.unwrap();
    let list = list_as(&mut client, None).await.unwrap();
    let accounted: Vec<u64> = list.iter().map(|n| n.2).collect();
    assert_eq!(accounted, [0, fp(3) as u64, fp(4) as u64]);
    server.stop().await;
}

#[tokio::test]
async fn namespace_rpcs_need_admin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.jsonl");
    let lines = [
        token_line("root", "tok-root", r#"{"*": ["admin"]}"#),
        token_line(
            "ops",
            "tok-ops",
            r#"{"ops-*": ["admin"], "shared": ["read"]}"#,
        ),
        token_line(
            "rw",
            "tok-rw",
            r#"{"shared": ["read", "write"], "ops-x": ["read"]}"#,
        ),
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let edge = EdgeConfig {
        tokens: Some(Arc::new(Authenticator::load(&path).unwrap())),
        ..EdgeConfig::default()
    };
    let l = limits(NamespaceLimits {
        auto_create: false,
        ..NamespaceLimits::default()
    });
    let server = TestServer::with_edge(l, Arc::new(MemStore::default()), edge, false).await;
    let mut client = server.client().await;
    let code = |r: Result<(), Status>| r.err().map(|s| s.code());

    assert_eq!(
        code(create_as(&mut client, "shared", None).await),
        Some(Code::Unauthenticated)
    );
    assert_eq!(
        code(create_as(&mut client, "shared", Some("tok-rw")).await),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        code(create_as(&mut client, "shared", Some("tok-ops")).await),
        Some(Code::PermissionDenied)
    );
    // No permission at all on the name: the same answer as for a missing namespace.
    let hidden = create_as(&mut client, "elsewhere", Some("tok-rw"))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound);
    assert_eq!(
        hidden.message(),
        "namespace \"elsewhere\" not found; CreateNamespace (an admin call) creates it"
    );
    create_as(&mut client, "shared", Some("tok-root"))
        .await
        .unwrap();
    create_as(&mut client, "ops-x", Some("tok-ops"))
        .await
        .unwrap();
    // The writer may write to a namespace that exists, and may not create one by Submit.
    client
        .submit(with_token(submit("shared", "s", 1), Some("tok-rw")))
        .await
        .unwrap();

    // ListNamespaces: what the token is admin on; nothing for a token admin nowhere.
    assert_eq!(
        names(&list_as(&mut client, Some("tok-root")).await.unwrap()),
        ["ops-x", "shared"]
    );
    assert_eq!(
        names(&list_as(&mut client, Some("tok-ops")).await.unwrap()),
        ["ops-x"]
    );
    let err = list_as(&mut client, Some("tok-rw")).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    let del = |ns: &str, token| {
        with_token(
            pb::DeleteNamespaceRequest {
                namespace: ns.into(),
            },
            token,
        )
    };
    let err = client
        .delete_namespace(del("shared", Some("tok-rw")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = client
        .delete_namespace(del("shared", Some("tok-ops")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let deleted = client
        .delete_namespace(del("shared", Some("tok-root")))
        .await
        .unwrap();
    assert_eq!(deleted.into_inner().documents, 1);
    server.stop().await;
}

/// A namespace deleted while writers submit to it: every write lands before the deletion
/// (and goes with it) or fails with NOT_FOUND after it; the store never keeps a document
/// of the deleted namespace, and a restart agrees.
#[test]
fn a_namespace_deleted_under_concurrent_writes_leaves_nothing_behind() {
    use neardup::service::{Service, ServiceError, Submission};
    let store = Arc::new(MemStore::default());
    let settings = Settings::default();
    let no_auto = NamespaceLimits {
        auto_create: false,
        ..NamespaceLimits::default()
    };
    let service = Arc::new(Service::open_with(settings.clone(), store.clone(), no_auto).unwrap());
    let analyzer = Arc::new(Analyzer::new(settings.shape()).unwrap());
    for round in 0..20 {
        let ns = format!("r{round}");
        assert!(service.create_namespace(&ns).unwrap());
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (service, analyzer, ns) = (service.clone(), analyzer.clone(), ns.clone());
                std::thread::spawn(move || {
                    let mut refused = 0;
                    for i in 0..10 {
                        let submission = Submission {
                            namespace: ns.clone(),
                            id: format!("w{w}-{i}"),
                            doc: analyzer.document(text(w * 100 + i), Split::Auto),
                            split: Split::Auto,
                            metadata: Default::default(),
                            opts: service.settings().query_options(),
                            replace: false,
                        };
                        match service.submit(submission, || {}) {
                            Ok(_) => {}
                            Err(ServiceError::NamespaceNotFound(_)) => refused += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    refused
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(round % 5));
        service.delete_namespace(&ns).unwrap();
        let refused: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let kept = store
            .load()
            .unwrap()
            .iter()
            .filter(|d| d.namespace == ns)
            .count();
        assert_eq!(kept, 0, "round {round}: {refused} refused");
        assert!(!store.namespaces().unwrap().contains(&ns));
        assert!(!service.namespaces().contains(&ns));
    }
    let reopened = Service::open(settings, store).unwrap();
    assert_eq!(reopened.namespaces(), Vec::<String>::new());
    assert_eq!(reopened.documents(), 0);
}

/// Concurrent Submits against a limit (`--max-namespace-documents`, then
/// `--max-namespace-bytes` and `--max-index-bytes`): each write checks the limit and
/// reserves its room in one step, so of 32 writers racing for K places exactly K succeed,
/// the others get RESOURCE_EXHAUSTED naming the limit, and Stats counts K documents.
/// Several rounds, with as many workers as writers, so that the race is run many times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submits_never_pass_a_limit() {
    const WRITERS: usize = 32;
    let analyzer = Analyzer::new(Settings::default().shape()).unwrap();
    let fp = |seed| document_footprint(&analyzer.document(text(seed), Split::Auto));
    // Every writer's document takes the same room, so a byte limit of K documents admits
    // exactly K.
    let each = fp(0);
    assert!((0..WRITERS * 6).all(|seed| fp(seed) == each));
    let cases = [
        ("max-namespace-documents", 5usize),
        ("max-namespace-documents", 1),
        ("max-namespace-documents", 17),
        ("max-namespace-documents", 31),
        ("max-namespace-bytes", 7),
        ("max-index-bytes", 12),
    ];
    for (round, (flag, k)) in cases.into_iter().enumerate() {
        let mut namespaces = NamespaceLimits::default();
        match flag {
            "max-namespace-documents" => namespaces.max_documents = k,
            "max-namespace-bytes" => namespaces.max_namespace_bytes = k * each,
            _ => namespaces.max_index_bytes = k * each,
        }
        let l = Limits {
            workers: WRITERS,
            ..limits(namespaces)
        };
        let server = TestServer::with(l, Arc::new(MemStore::default())).await;
        let client = server.client().await;
        let ns = format!("race{round}");
        create(&mut client.clone(), &ns).await.unwrap();
        let start = Arc::new(tokio::sync::Barrier::new(WRITERS));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (mut client, start, ns) = (client.clone(), start.clone(), ns.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    let seed = round * WRITERS + w;
                    client.submit(submit(&ns, &format!("d{w}"), seed)).await
                })
            })
            .collect();
        let mut admitted = 0;
        for writer in writers {
            match writer.await.unwrap() {
                Ok(_) => admitted += 1,
                Err(status) => exhausted(status, flag),
            }
        }
        assert_eq!(admitted, k, "round {round}: {flag} {k}");
        let stats = client
            .clone()
            .stats(pb::StatsRequest {
                namespace: ns.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stats.namespaces[0].documents, k as u64, "round {round}");
        let list = list_as(&mut client.clone(), None).await.unwrap();
        assert_eq!(list[0], (ns, k as u64, (k * each) as u64), "round {round}");
        server.stop().await;
    }
}

/// A write that fails after its check (the store refuses it, the engine change is rolled
/// back) gives back the room it reserved, and a replacement settles to the size of its
/// new text.
#[tokio::test]
async fn a_failed_write_gives_its_reservation_back() {
    use crate::util::server::FlakyStore;
    use std::sync::atomic::Ordering;
    let analyzer = Analyzer::new(Settings::default().shape()).unwrap();
    let fp = |t: &str| document_footprint(&analyzer.document(t, Split::Auto)) as u64;
    let store = Arc::new(FlakyStore::default());
    let l = limits(NamespaceLimits {
        max_documents: 2,
        ..NamespaceLimits::default()
    });
    let server = TestServer::with(l, store.clone()).await;
    let mut client = server.client().await;
    client.submit(submit("ns", "a", 1)).await.unwrap();
    store.fail.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        let err = client.submit(submit("ns", "b", 2)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    }
    let mut replace = submit("ns", "a", 3);
    replace.replace = true;
    let err = client.submit(replace.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let list = list_as(&mut client, None).await.unwrap();
    assert_eq!(list, [("ns".to_string(), 1, fp(&text(1)))]);

    store.fail.store(false, Ordering::SeqCst);
    client.submit(submit("ns", "b", 2)).await.unwrap();
    exhausted(
        client.submit(submit("ns", "c", 4)).await.unwrap_err(),
        "max-namespace-documents",
    );
    // A replacement of a long text by a short one: the old text's bytes go, the new
    // one's stay.
    replace.text = "A much shorter text, but still long enough to be indexed here.".into();
    client.submit(replace.clone()).await.unwrap();
    let list = list_as(&mut client, None).await.unwrap();
    assert_eq!(
        list,
        [("ns".to_string(), 2, fp(&replace.text) + fp(&text(2)))]
    );
    server.stop().await;
}

/// `neardup serve` creates namespaces on first Submit by default only for anonymous
/// access on a loopback listener. Anonymous on another address (`--allow-anonymous`) or
/// with tokens, such a Submit is NOT_FOUND and says how to make the namespace; the flag,
/// given, decides either way.
// Multi-threaded: the connection closes on another thread while this one waits for the
// child to drain and exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_creates_namespaces_by_default_only_for_anonymous_loopback() {
    use crate::util::child::Served;
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.jsonl");
    std::fs::write(
        &tokens,
        token_line("w", "tok-w", r#"{"*": ["read", "write"]}"#),
    )
    .unwrap();
    let tokens = tokens.to_str().unwrap();
    let cases: [(&str, &[&str], Option<&str>, bool); 6] = [
        ("127.0.0.1:0", &[], None, true),
        ("0.0.0.0:0", &["--allow-anonymous"], None, false),
        (
            "127.0.0.1:0",
            &["--auth-tokens", tokens],
            Some("tok-w"),
            false,
        ),
        (
            "0.0.0.0:0",
            &["--allow-anonymous", "--auto-create-namespaces", "true"],
            None,
            true,
        ),
        (
            "127.0.0.1:0",
            &["--auth-tokens", tokens, "--auto-create-namespaces", "true"],
            Some("tok-w"),
            true,
        ),
        (
            "127.0.0.1:0",
            &["--auto-create-namespaces", "false"],
            None,
            false,
        ),
    ];
    for (listen, flags, token, creates) in cases {
        let data = tempfile::tempdir().unwrap();
        let mut args = vec!["--data-dir", data.path().to_str().unwrap()];
        args.extend(flags);
        let served = Served::start_on(listen, &args, "warn");
        // A listener on 0.0.0.0 is reached through loopback.
        let port = served.addr.rsplit(':').next().unwrap();
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = NearDupClient::new(channel);
        let case = format!("{listen} {flags:?}");
        let shown = client
            .stats(with_token(pb::StatsRequest::default(), token))
            .await
            .unwrap()
            .into_inner()
            .limits
            .unwrap();
        assert_eq!(shown.auto_create_namespaces, creates, "{case}");
        let submitted = client
            .submit(with_token(submit("fresh", "d1", 1), token))
            .await;
        match submitted {
            Ok(_) => assert!(creates, "{case}: created"),
            Err(err) => {
                assert!(!creates, "{case}: {err:?}");
                assert_eq!(err.code(), Code::NotFound, "{case}: {err:?}");
                assert_eq!(
                    err.message(),
                    "namespace \"fresh\" not found; CreateNamespace (an admin call) creates it",
                    "{case}"
                );
                // Anonymous access is admin: made first, the namespace takes the Submit.
                if token.is_none() {
                    create(&mut client, "fresh").await.unwrap();
                    client.submit(submit("fresh", "d1", 1)).await.unwrap();
                }
            }
        }
        // An open connection would hold up the drain at shutdown.
        drop(client);
        assert!(served.terminate().success(), "{case}");
    }
}
