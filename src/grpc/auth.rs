//! Who may call what: bearer tokens with per-namespace permissions.
//!
//! A call to `neardup.v1.NearDup` carries `authorization: Bearer <token>`. The
//! [`AuthLayer`] resolves it, before any handler runs, into an [`Access`] that it puts in
//! the request's extensions, or answers UNAUTHENTICATED. Each handler then asks the
//! [`Access`] for the permission it needs on the namespace it touches ([`authorize`]).
//! Health and reflection are never checked.
//!
//! The tokens file ([`Tokens::parse`]) holds one JSON object per line:
//!
//! ```text
//! {"name": "ingest", "sha256": "<64 hex digits>", "namespaces": {"news": ["read", "write"], "archive-*": ["read"]}}
//! ```
//!
//! - `sha256` is the SHA-256 of the token, in hex; the token itself is never stored.
//! - `namespaces` maps a namespace, or a prefix ending in `*` (`*` alone: every
//!   namespace), to permissions: `read` (Check, GetDocument, Stats), `write` (Submit,
//!   SubmitStream, DeleteDocument) and `admin` (everything, and CreateNamespace,
//!   DeleteNamespace, ListNamespaces; ListNamespaces lists the namespaces the token is
//!   admin on, and needs admin on at least one). A token's permissions on a namespace are the union of every
//!   entry that matches it.
//! - Blank lines and lines starting with `#` are ignored; anything else that is not a
//!   valid entry (unknown field or permission, bad hash, duplicate hash or name) makes the
//!   whole file invalid, naming the line.
//!
//! A namespace on which a token has no permission at all is, for that token, a namespace
//! that does not exist: every call on it fails with the same NOT_FOUND, whether it
//! exists or not. A token that may see a namespace but lacks the permission a call needs
//! gets PERMISSION_DENIED.
//!
//! Without a tokens file every caller is [`Access::anonymous`], with every permission;
//! the server allows that only on a loopback address unless told otherwise (see
//! [`crate::server`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use sha2::{Digest, Sha256};
use tonic::codegen::http;

use super::namespace_or_default;
use super::status::ServiceError;

/// What a call may do on a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Check, GetDocument, Stats.
    Read,
    /// Submit, SubmitStream, DeleteDocument.
    Write,
    /// Everything, including namespace management.
    Admin,
}

impl Permission {
    fn bit(self) -> u8 {
        match self {
            Permission::Read => 1,
            Permission::Write => 2,
            Permission::Admin => 4,
        }
    }

    fn parse(s: &str) -> Option<Permission> {
        match s {
            "read" => Some(Permission::Read),
            "write" => Some(Permission::Write),
            "admin" => Some(Permission::Admin),
            _ => None,
        }
    }
}

impl Permission {
    /// Its name in the tokens file and in errors.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of permissions (admin implies the others).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Permissions(u8);

impl Permissions {
    const ALL: Permissions = Permissions(7);

    fn with(self, p: Permission) -> Permissions {
        if p == Permission::Admin {
            Permissions::ALL
        } else {
            Permissions(self.0 | p.bit())
        }
    }

    fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }
}

/// Namespaces an entry of the tokens file applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// Every namespace that starts with this (`*` is the empty prefix).
    Prefix(String),
}

impl Pattern {
    fn parse(s: &str) -> Pattern {
        match s.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.to_string()),
            None => Pattern::Exact(s.to_string()),
        }
    }

    fn matches(&self, namespace: &str) -> bool {
        match self {
            Pattern::Exact(n) => n == namespace,
            Pattern::Prefix(p) => namespace.starts_with(p.as_str()),
        }
    }
}

/// One token of the tokens file: its name and what it may do where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    name: String,
    grants: Vec<(Pattern, Permissions)>,
}

impl Principal {
    /// The token's name (for logs and error messages; never the token).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn permissions(&self, namespace: &str) -> Permissions {
        self.grants
            .iter()
            .filter(|(pattern, _)| pattern.matches(namespace))
            .fold(Permissions::default(), |acc, (_, p)| {
                Permissions(acc.0 | p.0)
            })
    }
}

/// What one call may do: every permission (anonymous access), or a token's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access(Option<Arc<Principal>>);

impl Access {
    /// Every permission on every namespace: the server runs without tokens.
    pub fn anonymous() -> Access {
        Access(None)
    }

    fn permissions(&self, namespace: &str) -> Permissions {
        match &self.0 {
            None => Permissions::ALL,
            Some(p) => p.permissions(namespace),
        }
    }

    /// Whether the token is admin on at least one namespace (anonymous access is).
    pub fn is_admin_anywhere(&self) -> bool {
        match &self.0 {
            None => true,
            Some(p) => p
                .grants
                .iter()
                .any(|(_, perms)| perms.contains(Permission::Admin)),
        }
    }

    /// The token's name (empty for anonymous access).
    pub fn token_name(&self) -> &str {
        self.0.as_ref().map_or("", |p| p.name.as_str())
    }

    /// Whether the call may use `permission` on `namespace` (empty: the default one).
    pub fn may(&self, permission: Permission, namespace: &str) -> bool {
        self.permissions(namespace_or_default(namespace))
            .contains(permission)
    }

    /// Succeeds if the call may use `permission` on `namespace` (empty: the default
    /// one). A namespace the token has no permission on fails exactly as a missing
    /// namespace does.
    pub fn authorize(&self, permission: Permission, namespace: &str) -> Result<(), ServiceError> {
        let namespace = namespace_or_default(namespace);
        let permissions = self.permissions(namespace);
        if permissions.contains(permission) {
            Ok(())
        } else if permissions == Permissions::default() {
            Err(ServiceError::NamespaceNotFound(namespace.to_string()))
        } else {
            Err(ServiceError::PermissionDenied {
                token: self.token_name().to_string(),
                permission: permission.name(),
                namespace: namespace.to_string(),
            })
        }
    }
}

/// The [`Access`] the [`AuthLayer`] gave a request. A request that did not go through
/// the layer (a handler called directly) has every permission.
pub fn access<T>(request: &tonic::Request<T>) -> Access {
    request
        .extensions()
        .get::<Access>()
        .cloned()
        .unwrap_or_else(Access::anonymous)
}

/// [`Access::authorize`] for the access of `request`, as a status.
pub fn authorize<T>(
    request: &tonic::Request<T>,
    permission: Permission,
    namespace: &str,
) -> Result<Access, tonic::Status> {
    let access = access(request);
    access.authorize(permission, namespace)?;
    Ok(access)
}

/// A tokens file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// The file cannot be read.
    #[error("cannot read tokens file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a valid entry.
    #[error("tokens file {path}, line {line}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One line of the tokens file, as written.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    sha256: String,
    namespaces: HashMap<String, Vec<String>>,
}

/// The tokens of one tokens file, by the SHA-256 of the token.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], Arc<Principal>>,
}

impl Tokens {
    /// Parses the contents of a tokens file (see the module docs); `path` names it in
    /// errors.
    pub fn parse(text: &str, path: &str) -> Result<Tokens, TokensError> {
        let mut tokens = Tokens::default();
        let mut names = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let invalid = |message: String| TokensError::Invalid {
                path: path.to_string(),
                line: i + 1,
                message,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry: Entry = serde_json::from_str(line).map_err(|e| invalid(e.to_string()))?;
            if entry.name.is_empty() {
                return Err(invalid("empty name".into()));
            }
            let hash = parse_hex_sha256(&entry.sha256).ok_or_else(|| {
                invalid("sha256 must be 64 hex digits (the SHA-256 of the token)".into())
            })?;
            let mut grants = Vec::new();
            let mut patterns: Vec<_> = entry.namespaces.into_iter().collect();
            patterns.sort();
            for (pattern, list) in patterns {
                if pattern.is_empty() {
                    return Err(invalid("empty namespace pattern".into()));
                }
                let mut permissions = Permissions::default();
                for p in list {
                    let p = Permission::parse(&p).ok_or_else(|| {
                        invalid(format!(
                            "unknown permission {p:?} (use read, write or admin)"
                        ))
                    })?;
                    permissions = permissions.with(p);
                }
                grants.push((Pattern::parse(&pattern), permissions));
            }
            if let Some(first) = names.insert(entry.name.clone(), i + 1) {
                return Err(invalid(format!(
                    "name {:?} is already used on line {first}",
                    entry.name
                )));
            }
            let principal = Arc::new(Principal {
                name: entry.name,
                grants,
            });
            if tokens.by_hash.insert(hash, principal).is_some() {
                return Err(invalid("the same token hash appears twice".into()));
            }
        }
        Ok(tokens)
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether there are no tokens (every call is refused).
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The principal of a presented token.
    pub fn find(&self, token: &str) -> Option<&Arc<Principal>> {
        self.by_hash.get(&sha256(token))
    }
}

/// SHA-256 of `token`.
fn sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The hex SHA-256 of a token, as the tokens file wants it.
pub fn token_hash(token: &str) -> String {
    sha256(token).iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex_sha256(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The tokens of a tokens file, re-read on demand ([`Authenticator::reload`], which the
/// binary calls on SIGHUP). A file that fails to load leaves the tokens as they were.
#[derive(Debug)]
pub struct Authenticator {
    path: PathBuf,
    tokens: RwLock<Arc<Tokens>>,
}

impl Authenticator {
    /// Loads the tokens file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Authenticator, TokensError> {
        let path = path.as_ref().to_path_buf();
        let tokens = read_tokens(&path)?;
        Ok(Authenticator {
            path,
            tokens: RwLock::new(Arc::new(tokens)),
        })
    }

    /// Re-reads the file; returns the number of tokens now in force. On error the
    /// previous tokens stay in force.
    pub fn reload(&self) -> Result<usize, TokensError> {
        let tokens = read_tokens(&self.path)?;
        let n = tokens.len();
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tokens);
        Ok(n)
    }

    /// The file it reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The access of a call with these `authorization` metadata.
    fn authenticate(&self, header: Option<&http::HeaderValue>) -> Result<Access, ServiceError> {
        let token = header
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ServiceError::Unauthenticated(
                    "missing `authorization: Bearer <token>` metadata".into(),
                )
            })?;
        let tokens = self
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        tokens
            .find(token)
            .map(|p| Access(Some(p.clone())))
            .ok_or_else(|| ServiceError::Unauthenticated("unknown token".into()))
    }
}

fn read_tokens(path: &Path) -> Result<Tokens, TokensError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokensError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Tokens::parse(&text, &path.display().to_string())
}

/// The path prefix of the calls that need a token.
const GUARDED: &str = "/neardup.v1.NearDup/";

/// Tower layer: authenticates every `neardup.v1.NearDup` call (see the module docs).
#[derive(Debug, Clone)]
pub struct AuthLayer {
    tokens: Option<Arc<Authenticator>>,
}

impl AuthLayer {
    /// Checks tokens against `tokens`; `None` lets every caller in as
    /// [`Access::anonymous`].
    pub fn new(tokens: Option<Arc<Authenticator>>) -> AuthLayer {
        AuthLayer { tokens }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            tokens: self.tokens.clone(),
        }
    }
}

/// The service of [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    tokens: Option<Arc<Authenticator>>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        if req.uri().path().starts_with(GUARDED) {
            let access = match &self.tokens {
                None => Ok(Access::anonymous()),
                Some(tokens) => tokens.authenticate(req.headers().get(http::header::AUTHORIZATION)),
            };
            match access {
                Ok(access) => {
                    req.extensions_mut().insert(access);
                }
                Err(err) => return Box::pin(std::future::ready(Ok(err.into_http()))),
            }
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(lines: &[String]) -> Tokens {
        Tokens::parse(&lines.join("\n"), "tokens.jsonl").unwrap()
    }

    fn entry(name: &str, token: &str, namespaces: &str) -> String {
        format!(
            r#"{{"name": "{name}", "sha256": "{}", "namespaces": {namespaces}}}"#,
            token_hash(token)
        )
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        // printf %s abc | sha256sum
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn permissions_follow_patterns_and_admin_implies_all() {
        let tokens = file(&[
            "# a comment".into(),
            String::new(),
            entry(
                "a",
                "secret-a",
                r#"{"news": ["read"], "team-*": ["write"], "ops": ["admin"]}"#,
            ),
            entry("b", "secret-b", r#"{"*": ["read"]}"#),
        ]);
        assert_eq!(tokens.len(), 2);
        let a = Access(tokens.find("secret-a").cloned());
        assert!(a.may(Permission::Read, "news"));
        assert!(!a.may(Permission::Write, "news"));
        assert!(a.may(Permission::Write, "team-x"));
        assert!(!a.may(Permission::Read, "team-x"));
        assert!(!a.may(Permission::Read, "team"));
        for p in [Permission::Read, Permission::Write, Permission::Admin] {
            assert!(a.may(p, "ops"));
        }
        let b = Access(tokens.find("secret-b").cloned());
        assert!(b.may(Permission::Read, "") && b.may(Permission::Read, "anything"));
        assert!(!b.may(Permission::Write, "default"));
        assert!(tokens.find("secret-c").is_none());

        assert!(matches!(
            a.authorize(Permission::Write, "news"),
            Err(ServiceError::PermissionDenied { .. })
        ));
        // No permission at all: the same error as a missing namespace.
        let err = a.authorize(Permission::Read, "hidden").unwrap_err();
        assert_eq!(
            err.to_string(),
            ServiceError::NamespaceNotFound("hidden".into()).to_string()
        );
        assert!(
            Access::anonymous()
                .authorize(Permission::Admin, "x")
                .is_ok()
        );
    }

    #[test]
    fn bad_files_name_the_line() {
        let good = entry("a", "t", r#"{"n": ["read"]}"#);
        for (text, wanted) in [
            (format!("{good}\nnot json"), "line 2"),
            (
                entry("b", "t2", r#"{"n": ["reed"]}"#),
                "unknown permission \"reed\"",
            ),
            (
                r#"{"name": "c", "sha256": "abc", "namespaces": {}}"#.to_string(),
                "64 hex digits",
            ),
            (format!("{good}\n{good}"), "already used on line 1"),
            (
                format!("{good}\n{}", entry("z", "t", "{}")),
                "hash appears twice",
            ),
            (
                format!(
                    r#"{{"name": "d", "sha256": "{}", "namespaces": {{}}, "token": "x"}}"#,
                    token_hash("d")
                ),
                "unknown field",
            ),
        ] {
            let err = Tokens::parse(&text, "f").unwrap_err().to_string();
            assert!(err.contains(wanted), "{err}");
        }
    }

    #[test]
    fn bearer_metadata_is_required() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, entry("a", "s3cret", r#"{"n": ["read"]}"#)).unwrap();
        let auth = Authenticator::load(&path).unwrap();
        let header = |v: &str| http::HeaderValue::from_str(v).unwrap();
        assert!(auth.authenticate(Some(&header("Bearer s3cret"))).is_ok());
        assert!(auth.authenticate(Some(&header("bearer  s3cret "))).is_ok());
        for bad in [None, Some(header("Bearer")), Some(header("Basic s3cret"))] {
            let err = auth.authenticate(bad.as_ref()).unwrap_err();
            assert!(err.to_string().contains("missing"), "{err}");
        }
        let err = auth
            .authenticate(Some(&header("Bearer wrong")))
            .unwrap_err();
        assert_eq!(err.to_string(), "unknown token");

        std::fs::write(&path, "garbage").unwrap();
        assert!(auth.reload().is_err());
        assert!(auth.authenticate(Some(&header("Bearer s3cret"))).is_ok());
        std::fs::write(&path, entry("b", "other", r#"{"n": ["read"]}"#)).unwrap();
        assert_eq!(auth.reload().unwrap(), 1);
        assert!(auth.authenticate(Some(&header("Bearer s3cret"))).is_err());
        assert!(auth.authenticate(Some(&header("Bearer other"))).is_ok());
    }
}
