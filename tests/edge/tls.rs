//! TLS and mutual TLS with certificates made at test time: the right CA works, another
//! CA fails, a client without a certificate (or with one from another CA) is refused when
//! the server requires one, and plaintext is refused by a TLS server. Then the same
//! through the binaries: `neardup serve --tls-*` and `neardup scan --server https://`.

use std::sync::Arc;
use std::time::Duration;

use neardup::grpc::pb::near_dup_client::NearDupClient;
use neardup::server::{EdgeConfig, TlsFiles};
use neardup::store::MemStore;
use tonic::transport::{Channel, ClientTlsConfig};

use super::{submit, token_line};
use crate::util::child::Served;
use crate::util::neardup;
use crate::util::pki::Pki;
use crate::util::server::{TestServer, wait_serving};

async fn tls_server(pki: &Pki, mutual: bool) -> TestServer {
    let edge = EdgeConfig {
        tls: Some(TlsFiles {
            cert: pki.path("server.pem"),
            key: pki.path("server.key"),
            client_ca: mutual.then(|| pki.path("ca.pem")),
        }),
        ..EdgeConfig::default()
    };
    TestServer::with_edge(
        Default::default(),
        Arc::new(MemStore::default()),
        edge,
        false,
    )
    .await
}

/// Connects over TLS and makes one Submit; the error, as text, if anything failed.
async fn submit_over(
    addr: std::net::SocketAddr,
    tls: Option<ClientTlsConfig>,
) -> Result<(), String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://127.0.0.1:{}", addr.port()))
        .unwrap()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| format!("{e:?}"))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    wait_serving(&channel).await;
    NearDupClient::new(channel)
        .submit(submit("", "a", 1))
        .await
        .map(drop)
        .map_err(|s| format!("{s:?}"))
}

/// Like [`submit_over`], for a client that must fail: returns what it failed with.
async fn refused(addr: std::net::SocketAddr, tls: Option<ClientTlsConfig>) -> String {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://127.0.0.1:{}", addr.port()))
        .unwrap()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).unwrap();
    }
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(e) => return format!("connect: {e:?}"),
    };
    match NearDupClient::new(channel).submit(submit("", "b", 2)).await {
        Ok(_) => panic!("the call was accepted"),
        Err(status) => format!("{status:?}"),
    }
}

#[tokio::test]
async fn tls_with_the_right_ca_only() {
    let pki = Pki::new();
    let server = tls_server(&pki, false).await;
    submit_over(server.addr, Some(pki.client_tls("ca.pem", None)))
        .await
        .unwrap();
    let wrong_ca = refused(server.addr, Some(pki.client_tls("other-ca.pem", None))).await;
    assert!(
        wrong_ca.to_lowercase().contains("certificate") || wrong_ca.contains("UnknownIssuer"),
        "{wrong_ca}"
    );
    // Plaintext to a TLS port gets nowhere.
    let _ = refused(server.addr, None).await;
    server.stop().await;
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let pki = Pki::new();
    let server = tls_server(&pki, true).await;
    submit_over(server.addr, Some(pki.client_tls("ca.pem", Some("client"))))
        .await
        .unwrap();
    let anonymous = refused(server.addr, Some(pki.client_tls("ca.pem", None))).await;
    let stranger = refused(
        server.addr,
        Some(pki.client_tls("ca.pem", Some("stranger"))),
    )
    .await;
    for failure in [&anonymous, &stranger] {
        assert!(
            !failure.contains("Unauthenticated"),
            "refused at TLS, not by a token: {failure}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn scan_over_mutual_tls_with_a_token() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let tokens = pki.dir().join("tokens.jsonl");
    std::fs::write(
        &tokens,
        token_line("editor", "tok-editor", r#"{"default": ["read", "write"]}"#),
    )
    .unwrap();
    let path = |name: &str| pki.path(name).to_str().unwrap().to_string();
    let served = Served::start(
        &[
            "--data-dir",
            data.path().to_str().unwrap(),
            "--tls-cert",
            &path("server.pem"),
            "--tls-key",
            &path("server.key"),
            "--tls-client-ca",
            &path("ca.pem"),
            "--auth-tokens",
            tokens.to_str().unwrap(),
            // With tokens, Submit creates no namespace unless told to.
            "--auto-create-namespaces",
            "true",
        ],
        "warn",
    );
    let file = pki.dir().join("a.txt");
    std::fs::write(&file, format!("{}\n\n{}\n", super::text(1), super::text(1))).unwrap();
    let url = format!("https://{}", served.addr);
    let scan = |client: bool, token: Option<&str>| {
        let mut cmd = neardup();
        cmd.args(["scan", "--format", "json", "--submit", "--server", &url])
            .args(["--tls-ca", &path("ca.pem")]);
        if client {
            cmd.args([
                "--tls-cert",
                &path("client.pem"),
                "--tls-key",
                &path("client.key"),
            ]);
        }
        if let Some(t) = token {
            cmd.env("NEARDUP_TOKEN", t);
        }
        let out = cmd.arg(&file).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, stdout, stderr) = scan(true, Some("tok-editor"));
    assert_eq!(code, Some(0), "{stderr}");
    // The file repeats its two paragraphs: two recycled paragraphs, reported as JSON.
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("\"exact\""), "{stdout}");

    let (code, _, stderr) = scan(true, None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("Unauthenticated"), "{stderr}");
    let (code, _, stderr) = scan(false, Some("tok-editor"));
    assert_eq!(code, Some(1), "{stderr}");
    // TLS flags on a plaintext URL are a usage error.
    let out = neardup()
        .args([
            "scan",
            "--server",
            &format!("http://{}", served.addr),
            "--tls-ca",
            &path("ca.pem"),
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(served.terminate().success());
}
