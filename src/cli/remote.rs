//! `neardup scan --server URL`: the scan report, computed by a running server.
//!
//! Each file is sent in order with `Check` (nothing indexed; each file is compared with
//! the namespace's documents and with itself) or, with `--submit`, with `Submit` (indexed
//! under its file name, so later files are also compared with earlier ones, exactly as
//! the offline scan does). Responses are converted back into engine reports, so the
//! offline renderers print them unchanged. Texts of sources that are not among the files
//! are fetched with `GetDocument` for the text report's excerpts.
//!
//! Of the engine flags, thresholds and `--max-matches` are sent as per-request options
//! when they differ from the built-in defaults; the others are the server's.
//!
//! Checking against a namespace that holds no documents (a fresh server) would compare
//! each file only with itself; that is refused with [`NothingIndexed`] (exit code 3), which
//! says how to index files first.
//!
//! An `https://` URL is TLS: the server's certificate is checked against `--tls-ca`, or
//! the system's roots without it; `--tls-cert`/`--tls-key` present a client certificate
//! (mutual TLS). `--token` (better: `NEARDUP_TOKEN`, which `ps` does not show) is sent as
//! `authorization: Bearer`.

use anyhow::{Context, Result};
use clap::Args;
use std::collections::HashMap;
use std::sync::Arc;

use neardup::engine::Settings;
use neardup::grpc::convert::report_from_pb;
use neardup::grpc::pb;
use neardup::grpc::pb::near_dup_client::NearDupClient;
use neardup::report::ScannedDocument;
use std::path::PathBuf;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use super::{EngineArgs, UsageError};

/// `scan --server` without `--submit`: the namespace holds no documents yet.
#[derive(Debug, thiserror::Error)]
#[error(
    "namespace {namespace:?} on {url} holds no documents yet, so there is nothing to check \
     against; index files first with `neardup scan --server {url} --namespace {namespace} \
     --submit FILE...`"
)]
pub struct NothingIndexed {
    /// The namespace checked against.
    pub namespace: String,
    /// The server.
    pub url: String,
}

/// Flags of `scan` for a remote scan.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// Scan against a running `neardup serve` at this URL (e.g. http://127.0.0.1:50051).
    #[arg(long, env = "NEARDUP_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// With --server: index each file (Submit) instead of only checking it (Check).
    #[arg(long, requires = "server")]
    pub submit: bool,
    /// With --server: the namespace to check against or submit to.
    #[arg(
        long,
        env = "NEARDUP_NAMESPACE",
        default_value = "default",
        requires = "server"
    )]
    pub namespace: String,
    /// With an https:// --server: the CA (PEM) the server's certificate must chain to
    /// [default: the system's roots].
    #[arg(long, env = "NEARDUP_TLS_CA", value_name = "FILE", requires = "server")]
    pub tls_ca: Option<PathBuf>,
    /// With an https:// --server: present this client certificate (PEM; mutual TLS).
    #[arg(long, env = "NEARDUP_CLIENT_CERT", value_name = "FILE", requires_all = ["server", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(
        long,
        env = "NEARDUP_CLIENT_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// With an https:// --server: the name the server's certificate must carry
    /// [default: the URL's host].
    #[arg(
        long,
        env = "NEARDUP_TLS_DOMAIN",
        value_name = "NAME",
        requires = "server"
    )]
    pub tls_domain: Option<String>,
    /// With --server: the bearer token to send.
    #[arg(
        long,
        env = "NEARDUP_TOKEN",
        hide_env_values = true,
        requires = "server"
    )]
    pub token: Option<String>,
}

fn read_pem(flag: &'static str, path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        UsageError::new(format!(
            "invalid --{flag}: cannot read {}: {e}",
            path.display()
        ))
        .into()
    })
}

/// A channel to `url`, with TLS for `https://`.
async fn connect(url: &str, remote: &RemoteArgs) -> Result<Channel> {
    let mut endpoint = Channel::from_shared(url.to_string())
        .map_err(|e| UsageError::new(format!("invalid --server {url}: {e}")))?;
    let wants_tls =
        remote.tls_ca.is_some() || remote.tls_cert.is_some() || remote.tls_domain.is_some();
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        tls = match &remote.tls_ca {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(read_pem("tls-ca", ca)?)),
            None => tls.with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&remote.tls_cert, &remote.tls_key) {
            tls = tls.identity(Identity::from_pem(
                read_pem("tls-cert", cert)?,
                read_pem("tls-key", key)?,
            ));
        }
        if let Some(domain) = &remote.tls_domain {
            tls = tls.domain_name(domain.clone());
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| UsageError::new(format!("invalid --server {url}: {e}")))?;
    } else if wants_tls {
        return Err(UsageError::new(format!(
            "invalid --server {url}: it is plaintext, but TLS flags were given: use an https:// URL"
        ))
        .into());
    }
    endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))
}

/// The per-request options the engine flags ask for (only those changed from defaults),
/// and page-break repair off.
fn options(engine: &EngineArgs) -> Option<pb::QueryOptions> {
    let d = Settings::default();
    let o = pb::QueryOptions {
        threshold: (engine.threshold != d.threshold).then_some(engine.threshold),
        containment: (engine.containment != d.containment).then_some(engine.containment),
        max_matches: (engine.max_matches != d.max_matches).then_some(engine.max_matches as u32),
        include_spans: None,
        edited: engine.no_edited.then_some(false),
        // The scan report of a server has no repairs: the server need not judge them.
        repair: pb::PageBreakRepair::Off as i32,
        passage_mode: pb::PassageMode::Unspecified as i32,
    };
    Some(o)
}

fn status_error(file: &str, status: tonic::Status) -> anyhow::Error {
    let message = format!(
        "server refused {file}: {:?}: {}",
        status.code(),
        status.message()
    );
    if status.code() == tonic::Code::InvalidArgument {
        UsageError::new(message).into()
    } else {
        anyhow::anyhow!(message)
    }
}

/// Scans `(name, text)` pairs through the server at `url`. Returns the scanned documents
/// and the texts of other sources the reports point to.
pub fn scan(
    url: &str,
    remote: &RemoteArgs,
    engine: &EngineArgs,
    inputs: Vec<(String, String)>,
    fetch_sources: bool,
) -> Result<(Vec<ScannedDocument>, HashMap<String, String>)> {
    let url = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let channel = connect(&url, remote).await?;
        let bearer = remote
            .token
            .as_ref()
            .map(|t| MetadataValue::try_from(format!("Bearer {t}")))
            .transpose()
            .map_err(|_| UsageError::new("invalid --token: must be printable ASCII"))?;
        let mut client =
            NearDupClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
                if let Some(bearer) = &bearer {
                    req.metadata_mut().insert("authorization", bearer.clone());
                }
                Ok(req)
            })
            .max_decoding_message_size(usize::MAX);
        let opts = options(engine);
        let nothing_indexed = || NothingIndexed {
            namespace: remote.namespace.clone(),
            url: url.clone(),
        };
        if !remote.submit {
            let stats = client
                .stats(pb::StatsRequest {
                    namespace: remote.namespace.clone(),
                })
                .await;
            match stats {
                Err(s) if s.code() == tonic::Code::NotFound => return Err(nothing_indexed().into()),
                Err(s) => {
                    return Err(anyhow::anyhow!(
                        "cannot read the statistics of namespace {:?} from {url}: {:?}: {}",
                        remote.namespace,
                        s.code(),
                        s.message()
                    ));
                }
                Ok(r) if r.get_ref().namespaces.iter().all(|n| n.documents == 0) => {
                    return Err(nothing_indexed().into());
                }
                Ok(_) => {}
            }
        }
        let mut scanned = Vec::with_capacity(inputs.len());
        for (name, text) in inputs {
            let report = if remote.submit {
                let request = pb::SubmitRequest {
                    namespace: remote.namespace.clone(),
                    document_id: name.clone(),
                    text: text.clone(),
                    options: opts,
                    ..Default::default()
                };
                client
                    .submit(request)
                    .await
                    .map_err(|s| status_error(&name, s))?
                    .into_inner()
                    .report
            } else {
                let request = pb::CheckRequest {
                    namespace: remote.namespace.clone(),
                    document_id: name.clone(),
                    text: text.clone(),
                    options: opts,
                };
                client
                    .check(request)
                    .await
                    .map_err(|s| match s.code() {
                        tonic::Code::NotFound => nothing_indexed().into(),
                        _ => status_error(&name, s),
                    })?
                    .into_inner()
                    .report
            };
            let report = report.with_context(|| format!("server sent no report for {name}"))?;
            let report = report_from_pb(report, &name)
                .with_context(|| format!("bad report from the server for {name}"))?;
            scanned.push(ScannedDocument {
                name: Arc::from(name.as_str()),
                text: Arc::from(text),
                report,
                repairs: Vec::new(),
                alignments: Vec::new(),
            });
        }
        let mut sources = HashMap::new();
        if fetch_sources {
            for doc in &scanned {
                for p in &doc.report.paragraphs {
                    let Some(best) = p.matches.first() else {
                        continue;
                    };
                    let name = best.source.name.to_string();
                    if sources.contains_key(&name) || scanned.iter().any(|d| *d.name == *name) {
                        continue;
                    }
                    // A source deleted meanwhile just has no excerpt.
                    let text = client
                        .get_document(pb::GetDocumentRequest {
                            namespace: remote.namespace.clone(),
                            document_id: name.clone(),
                        })
                        .await
                        .ok()
                        .and_then(|r| r.into_inner().document)
                        .map(|d| d.text)
                        .unwrap_or_default();
                    sources.insert(name, text);
                }
            }
        }
        Ok((scanned, sources))
    })
}
