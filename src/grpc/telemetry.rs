//! One tower layer for what every call leaves behind: a tracing span, one log line and
//! its metrics ([`crate::metrics`]).
//!
//! The layer opens an `rpc` span with the method for each call, and runs the call inside
//! it; the handler, which alone sees the request body, records the namespace, document id
//! and counts into that span ([`record`], [`record_counts`]). When the response ends (its
//! trailers carry the status) or is abandoned (CANCELLED), the layer writes one log line
//! (`code`, `latency_us`, `error`) in the span, at info for `neardup.v1.NearDup` calls
//! (warn for server faults) and at debug for health and reflection, and updates the
//! request counter and latency histogram of the method and code.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tonic::Code;
use tonic::body::Body;
use tonic::codegen::http;
use tracing::Instrument;
use tracing::field::Empty;

use crate::metrics::Metrics;

/// Records the namespace (empty: the default one) and document id of the current call.
pub fn record(namespace: &str, document_id: &str) {
    let span = tracing::Span::current();
    span.record("namespace", super::namespace_or_default(namespace));
    if !document_id.is_empty() {
        span.record("document_id", document_id);
    }
}

/// Records what the current call's report held.
pub fn record_counts(paragraphs: usize, matches: usize) {
    let span = tracing::Span::current();
    span.record("paragraphs", paragraphs);
    span.record("matches", matches);
}

const NEARDUP: &str = "neardup.v1.NearDup";

/// `(service, method)` of a request path; unknown ones are `("unknown", "unknown")`, so a
/// caller cannot grow the label sets without bound.
fn rpc_name(path: &str) -> (&'static str, &'static str) {
    const KNOWN: &[(&str, &[&str])] = &[
        (
            NEARDUP,
            &[
                "Submit",
                "Check",
                "SubmitStream",
                "GetDocument",
                "DeleteDocument",
                "Stats",
                "CreateNamespace",
                "DeleteNamespace",
                "ListNamespaces",
            ],
        ),
        ("grpc.health.v1.Health", &["Check", "Watch"]),
        (
            "grpc.reflection.v1.ServerReflection",
            &["ServerReflectionInfo"],
        ),
    ];
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (service, method) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    KNOWN
        .iter()
        .find(|(s, _)| *s == service)
        .and_then(|(s, methods)| methods.iter().find(|m| **m == method).map(|m| (*s, *m)))
        .unwrap_or(("unknown", "unknown"))
}

/// The canonical name of a status code, as gRPC writes it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// One call being watched, from arrival until [`Call::finish`] (or its drop: CANCELLED).
struct Call {
    metrics: Arc<Metrics>,
    service: &'static str,
    method: &'static str,
    span: tracing::Span,
    started: Instant,
    finished: bool,
}

impl Call {
    /// The status of a response's headers or trailers, if they carry one.
    fn finish_with(&mut self, headers: &http::HeaderMap) -> bool {
        match tonic::Status::from_header_map(headers) {
            Some(status) => {
                self.finish(status.code(), status.message());
                true
            }
            None => false,
        }
    }

    fn finish(&mut self, code: Code, message: &str) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let latency = self.started.elapsed();
        let name = code_name(code);
        self.metrics
            .call_finished(self.service, self.method, name, latency);
        let latency_us = latency.as_micros() as u64;
        let error = (!message.is_empty()).then_some(message);
        let fault = matches!(
            code,
            Code::Internal | Code::Unknown | Code::DataLoss | Code::Unavailable
        );
        if self.service != NEARDUP {
            tracing::debug!(parent: &self.span, code = name, latency_us, error, "call");
        } else if fault {
            tracing::warn!(parent: &self.span, code = name, latency_us, error, "call");
        } else {
            tracing::info!(parent: &self.span, code = name, latency_us, error, "call");
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(Code::Cancelled, "the caller went away");
    }
}

/// A response body that finishes its [`Call`] when the trailers pass.
struct WatchedBody {
    inner: Body,
    call: Call,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(trailers) = f.trailers_ref()
                    && !this.call.finish_with(trailers)
                {
                    this.call.finish(Code::Ok, "");
                }
            }
            Some(Err(status)) => this.call.finish(status.code(), status.message()),
            None => this.call.finish(Code::Ok, ""),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The tower layer (see the module docs).
#[derive(Debug, Clone)]
pub struct TelemetryLayer {
    metrics: Arc<Metrics>,
}

impl TelemetryLayer {
    /// Counts into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> TelemetryLayer {
        TelemetryLayer { metrics }
    }
}

impl<S> tower::Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;
    fn layer(&self, inner: S) -> TelemetryService<S> {
        TelemetryService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// The service of [`TelemetryLayer`].
#[derive(Debug, Clone)]
pub struct TelemetryService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B> tower::Service<http::Request<B>> for TelemetryService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (service, method) = rpc_name(req.uri().path());
        let span = if service == NEARDUP {
            tracing::info_span!(
                "rpc",
                method,
                namespace = Empty,
                document_id = Empty,
                paragraphs = Empty,
                matches = Empty
            )
        } else {
            tracing::debug_span!("rpc", service, method)
        };
        self.metrics.call_started();
        let mut call = Call {
            metrics: self.metrics.clone(),
            service,
            method,
            span: span.clone(),
            started: Instant::now(),
            finished: false,
        };
        let future = self.inner.call(req).instrument(span);
        Box::pin(async move {
            let response = match future.await {
                Ok(response) => response,
                Err(err) => {
                    call.finish(Code::Internal, "the transport failed");
                    return Err(err);
                }
            };
            if call.finish_with(response.headers()) {
                return Ok(response);
            }
            Ok(response.map(|inner| Body::new(WatchedBody { inner, call })))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_methods_become_labels() {
        assert_eq!(rpc_name("/neardup.v1.NearDup/Submit"), (NEARDUP, "Submit"));
        assert_eq!(
            rpc_name("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        for path in ["/neardup.v1.NearDup/Nope", "/x/y", "", "/"] {
            assert_eq!(rpc_name(path), ("unknown", "unknown"), "{path}");
        }
    }
}
