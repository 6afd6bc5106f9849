//! The service at the network's edge (issue 12): TLS and mutual TLS, tokens and
//! permissions (with SIGHUP reload through the binary), the metrics endpoint, bounded
//! memory under overload, health while restoring and draining, and a damaged stored text
//! answered as data loss.

mod auth;
mod data_loss;
mod health;
mod metrics;
mod namespaces;
mod overload;
mod tls;

use neardup::grpc::auth::token_hash;
use neardup::grpc::pb;

/// A request carrying `authorization: Bearer TOKEN` (none for `None`).
pub fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    req
}

/// One line of a tokens file.
pub fn token_line(name: &str, token: &str, namespaces: &str) -> String {
    format!(
        r#"{{"name": "{name}", "sha256": "{}", "namespaces": {namespaces}}}"#,
        token_hash(token)
    )
}

/// A text long enough to be indexed, different for each `seed`.
pub fn text(seed: usize) -> String {
    format!(
        "Paragraph {seed} of the report: the harbour authority counted {seed} ships in the \
         northern port after the strike, and the committee will meet again next Tuesday.\n\n\
         A second paragraph about document {seed}: residents of the valley complained about \
         the noise from the highway that cuts through the centre of the town."
    )
}

/// A Submit of `text(seed)` as document `id` in `namespace`.
pub fn submit(namespace: &str, id: &str, seed: usize) -> pb::SubmitRequest {
    pb::SubmitRequest {
        namespace: namespace.into(),
        document_id: id.into(),
        text: text(seed),
        ..Default::default()
    }
}
