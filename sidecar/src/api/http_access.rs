//! Who may talk to a JSON-RPC server over HTTP: the coordinator's API and the Ethereum proxy.
//!
//! A browser on the host will send a web page's requests to any loopback port, so listening on
//! 127.0.0.1 alone does not keep web pages out. This layer refuses, before jsonrpsee sees them,
//! requests whose Host is not the server's own address (DNS rebinding), requests that carry an
//! Origin not allowed (a page's `fetch`), WebSocket upgrades unless they are switched on, and,
//! where a bearer token is configured (the proxy), requests without it. Refusals are HTTP 403 or
//! 401 with a JSON-RPC error body that says what was refused (docs/sidecar.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, Server, ServerBuilder, ServerConfig};
use serde_json::json;
use subtle::ConstantTimeEq;
use thiserror::Error;
use tower::layer::util::{Identity, Stack};
use tower::{Layer, Service};
use zeroize::Zeroizing;

use crate::api::errors::codes;

/// How many random bytes a generated bearer token has (hex-encoded in its file).
const TOKEN_BYTES: usize = 32;
/// A refusal quotes at most this much of what it refused.
const QUOTE_LIMIT: usize = 200;

/// A token file that cannot be used.
#[derive(Debug, Error)]
pub enum TokenFileError {
    /// Reading or creating the file failed.
    #[error("token file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no token.
    #[error("token file {0} is empty")]
    Empty(PathBuf),
    /// Others than the owner may read or write the file.
    #[error("token file {path} has mode {mode:o}: others may read it; make it 0600")]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// The bearer token in `path` (its first line), created there with 32 random bytes (hex, mode
/// 0600 from the start) when the file does not exist yet. Returns the token and whether it was
/// created.
pub fn load_or_create_token(path: &Path) -> Result<(Zeroizing<String>, bool), TokenFileError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |source| TokenFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let created = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut *bytes);
            let mut text = Zeroizing::new(hex::encode(&bytes[..]));
            text.push('\n');
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            true
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(error) => return Err(io(error)),
    };
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(TokenFileError::Exposed {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    let token = Zeroizing::new(text.lines().next().unwrap_or_default().trim().to_owned());
    if token.is_empty() {
        return Err(TokenFileError::Empty(path.to_path_buf()));
    }
    Ok((token, created))
}

/// The access options an operator sets on the command line (`--allow-host`, `--allow-origin`,
/// `--websocket`).
#[derive(Debug, Clone, Default)]
pub struct AccessOptions {
    /// Host values accepted besides the listen address.
    pub allow_hosts: Vec<String>,
    /// Web origins accepted.
    pub allow_origins: Vec<String>,
    /// Serve WebSocket upgrades too.
    pub websocket: bool,
}

impl AccessOptions {
    /// The policy of a server on `listen` with these options and no token.
    pub fn policy(&self, listen: SocketAddr) -> AccessPolicy {
        AccessPolicy::new(listen)
            .allow_hosts(self.allow_hosts.iter().cloned())
            .allow_origins(self.allow_origins.iter().cloned())
            .websocket(self.websocket)
    }
}

/// A jsonrpsee server with the access layer.
pub type GuardedServer = Server<Stack<AccessLayer, Identity>, Identity>;

/// Binds `listen` and makes a jsonrpsee server that admits only what `policy` (given the bound
/// address, whose port `listen` may leave to the system) allows, with request bodies of at most
/// `max_request_body` bytes, serving WebSocket only when the policy says so.
pub async fn bind(
    listen: SocketAddr,
    max_request_body: u32,
    policy: impl FnOnce(SocketAddr) -> AccessPolicy,
) -> std::io::Result<(GuardedServer, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let policy = policy(address);
    let config = ServerConfig::builder().max_request_body_size(max_request_body);
    let config = if policy.websocket_enabled() {
        config
    } else {
        config.http_only()
    };
    let server = ServerBuilder::default()
        .set_config(config.build())
        .set_http_middleware(tower::ServiceBuilder::new().layer(AccessLayer::new(policy)))
        .build_from_tcp(listener.into_std()?)?;
    Ok((server, address))
}

/// What a server accepts.
#[derive(Clone, Default)]
pub struct AccessPolicy {
    /// Host header values accepted: `host:port` exactly, or `host` on any port.
    hosts: Vec<String>,
    /// Origin header values accepted (exactly, ASCII case aside).
    origins: Vec<String>,
    /// The bearer token every request must carry, if any.
    token: Option<Arc<Zeroizing<String>>>,
    /// Whether WebSocket upgrades are served.
    websocket: bool,
}

impl std::fmt::Debug for AccessPolicy {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AccessPolicy")
            .field("hosts", &self.hosts)
            .field("origins", &self.origins)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("websocket", &self.websocket)
            .finish()
    }
}

impl AccessPolicy {
    /// Requests addressed to `listen` (and `localhost:PORT` when it is a loopback address),
    /// from no web origin, over plain HTTP, with no token.
    pub fn new(listen: SocketAddr) -> Self {
        let mut hosts = vec![listen.to_string()];
        if listen.ip().is_loopback() {
            hosts.push(format!("localhost:{}", listen.port()));
        }
        Self {
            hosts,
            ..Self::default()
        }
    }

    /// Also accepts these Host values (`host:port`, or `host` for any port).
    pub fn allow_hosts(mut self, hosts: impl IntoIterator<Item = String>) -> Self {
        self.hosts
            .extend(hosts.into_iter().map(|host| host.to_ascii_lowercase()));
        self
    }

    /// Accepts requests from these web origins (`scheme://host[:port]`).
    pub fn allow_origins(mut self, origins: impl IntoIterator<Item = String>) -> Self {
        self.origins.extend(
            origins
                .into_iter()
                .map(|origin| origin.trim_end_matches('/').to_ascii_lowercase()),
        );
        self
    }

    /// Requires `Authorization: Bearer TOKEN` on every request.
    pub fn require_token(mut self, token: Zeroizing<String>) -> Self {
        self.token = Some(Arc::new(token));
        self
    }

    /// Serves WebSocket upgrades too (off by default).
    pub fn websocket(mut self, on: bool) -> Self {
        self.websocket = on;
        self
    }

    /// Whether WebSocket upgrades are served.
    pub fn websocket_enabled(&self) -> bool {
        self.websocket
    }

    /// Whether a Host value names this server.
    fn host_allowed(&self, value: &str) -> bool {
        let value = value.to_ascii_lowercase();
        let name = host_name(&value);
        self.hosts
            .iter()
            .any(|allowed| *allowed == value || (!has_port(allowed) && allowed == name))
    }

    /// Checks a request's head; the refusal to answer instead, if any.
    fn check(&self, method: &Method, uri: &hyper::Uri, headers: &HeaderMap) -> Result<(), Refusal> {
        // Both the Host header and an absolute-form target name the host; both must pass.
        let hosts: Vec<String> = headers
            .get_all(header::HOST)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .chain(
                uri.authority()
                    .map(|authority| authority.as_str().to_owned()),
            )
            .collect();
        if hosts.is_empty() {
            return Err(Refusal::forbidden(
                "host",
                "",
                "the request has no Host header",
            ));
        }
        if let Some(host) = hosts.iter().find(|host| !self.host_allowed(host)) {
            return Err(Refusal::forbidden(
                "host",
                host,
                "Host is not this server's address (start it with --allow-host to accept it)",
            ));
        }
        for origin in headers.get_all(header::ORIGIN) {
            let origin = String::from_utf8_lossy(origin.as_bytes());
            let normal = origin.trim_end_matches('/').to_ascii_lowercase();
            if !self.origins.contains(&normal) {
                return Err(Refusal::forbidden(
                    "origin",
                    &origin,
                    "requests from web pages are refused; Origin is not in --allow-origin",
                ));
            }
        }
        if is_upgrade(headers) && !self.websocket {
            return Err(Refusal::forbidden(
                "websocket",
                "",
                "WebSocket is off (start the server with --websocket to serve it)",
            ));
        }
        // A CORS preflight carries no credentials; an allowed origin gets its answer.
        if *method == Method::OPTIONS && headers.contains_key(header::ORIGIN) {
            return Ok(());
        }
        if let Some(expected) = &self.token {
            let Some(value) = headers.get(header::AUTHORIZATION) else {
                return Err(Refusal::unauthorized(
                    "no bearer token: send Authorization: Bearer with the token from the token file",
                ));
            };
            let presented = value
                .as_bytes()
                .strip_prefix(b"Bearer ")
                .unwrap_or_default();
            if !bool::from(presented.ct_eq(expected.as_bytes())) {
                return Err(Refusal::unauthorized("wrong bearer token"));
            }
        }
        Ok(())
    }
}

/// The host part of a Host value (`[v6]`, a name or a v4 address), without the port.
fn host_name(value: &str) -> &str {
    if value.starts_with('[') {
        // `[v6]` or `[v6]:port`; anything else after the bracket is not a host this server has.
        return match value.find(']') {
            Some(end) => {
                let rest = &value[end + 1..];
                let port = rest.strip_prefix(':').is_some_and(|port| {
                    !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit())
                });
                if rest.is_empty() || port {
                    &value[..=end]
                } else {
                    value
                }
            }
            None => value,
        };
    }
    match value.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => name,
        _ => value,
    }
}

fn has_port(value: &str) -> bool {
    host_name(value).len() != value.len()
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers.get_all(header::CONNECTION).iter().any(|value| {
        String::from_utf8_lossy(value.as_bytes())
            .split(',')
            .any(|part| part.trim().eq_ignore_ascii_case("upgrade"))
    });
    headers.contains_key(header::UPGRADE) || connection_upgrade
}

/// A request refused before it reached jsonrpsee.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    status: StatusCode,
    code: i32,
    /// host, origin, websocket or token.
    refused: &'static str,
    /// The refused value (quoted, shortened), if any.
    value: Option<String>,
    message: String,
}

impl Refusal {
    fn forbidden(refused: &'static str, value: &str, why: &str) -> Self {
        let value: String = value.chars().take(QUOTE_LIMIT).collect();
        let message = if value.is_empty() {
            format!("forbidden: {why}")
        } else {
            format!("forbidden: {refused} {value:?}: {why}")
        };
        Self {
            status: StatusCode::FORBIDDEN,
            code: codes::FORBIDDEN,
            refused,
            value: (!value.is_empty()).then_some(value),
            message,
        }
    }

    fn unauthorized(why: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: codes::UNAUTHORIZED,
            refused: "token",
            value: None,
            message: format!("unauthorized: {why}"),
        }
    }

    fn response(&self) -> HttpResponse {
        let body = json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {
                "code": self.code,
                "message": self.message,
                "data": { "refused": self.refused, "value": self.value },
            },
        });
        let mut response = HttpResponse::new(HttpBody::from(body.to_string()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The tower layer that applies an [`AccessPolicy`] (for `Server::set_http_middleware`).
#[derive(Debug, Clone)]
pub struct AccessLayer(Arc<AccessPolicy>);

impl AccessLayer {
    /// A layer enforcing `policy`.
    pub fn new(policy: AccessPolicy) -> Self {
        Self(Arc::new(policy))
    }
}

impl<S> Layer<S> for AccessLayer {
    type Service = AccessService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessService {
            inner,
            policy: Arc::clone(&self.0),
        }
    }
}

/// The service [`AccessLayer`] makes.
#[derive(Debug, Clone)]
pub struct AccessService<S> {
    inner: S,
    policy: Arc<AccessPolicy>,
}

impl<S, B> Service<HttpRequest<B>> for AccessService<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<HttpResponse, S::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        if let Err(refusal) = self
            .policy
            .check(request.method(), request.uri(), request.headers())
        {
            tracing::debug!(refused = refusal.refused, "HTTP request refused");
            return std::future::ready(Ok(refusal.response())).boxed();
        }
        // An allowed origin (checked above) is told so, or its browser hides the answer.
        let origin = request.headers().get(header::ORIGIN).cloned();
        if let (Some(origin), true) = (&origin, request.method() == Method::OPTIONS) {
            return std::future::ready(Ok(preflight(origin))).boxed();
        }
        self.inner
            .call(request)
            .map(move |result| {
                result.map(|mut response| {
                    if let Some(origin) = origin {
                        response
                            .headers_mut()
                            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                        response
                            .headers_mut()
                            .insert(header::VARY, HeaderValue::from_static("Origin"));
                    }
                    response
                })
            })
            .boxed()
    }
}

/// The answer to a CORS preflight from an allowed origin.
fn preflight(origin: &HeaderValue) -> HttpResponse {
    let mut response = HttpResponse::new(HttpBody::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, authorization"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    fn check(policy: &AccessPolicy, pairs: &[(&str, &str)]) -> Result<(), Refusal> {
        policy.check(&Method::POST, &"/".parse().unwrap(), &head(pairs))
    }

    fn refused(result: Result<(), Refusal>) -> (u16, &'static str) {
        let refusal = result.unwrap_err();
        (refusal.status.as_u16(), refusal.refused)
    }

    #[test]
    fn a_bracketed_host_is_the_address_alone_or_with_a_port_and_nothing_else() {
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("[::1]:8545"), "[::1]");
        // Anything else after the bracket keeps the whole value, which no listen address is.
        for odd in ["[::1]garbage", "[::1]:", "[::1]:80x", "[::1"] {
            assert_eq!(host_name(odd), odd);
        }
        let policy = AccessPolicy::new("[::1]:8545".parse().unwrap());
        assert!(check(&policy, &[("host", "[::1]:8545")]).is_ok());
        assert_eq!(
            refused(check(&policy, &[("host", "[::1]garbage:8545")])),
            (403, "host")
        );
    }

    #[test]
    fn only_the_listen_address_localhost_and_allowed_hosts_pass() {
        let policy = AccessPolicy::new("127.0.0.1:8545".parse().unwrap())
            .allow_hosts(["signer.internal".to_owned(), "Proxy.lan:9000".to_owned()]);
        for host in [
            "127.0.0.1:8545",
            "LOCALHOST:8545",
            "signer.internal",
            "signer.internal:1234",
            "proxy.lan:9000",
        ] {
            assert_eq!(check(&policy, &[("host", host)]), Ok(()), "{host}");
        }
        for host in [
            "127.0.0.1:8546",
            "127.0.0.1",
            "localhost",
            "evil.example:8545",
            "proxy.lan:9001",
            "proxy.lan",
        ] {
            assert_eq!(
                refused(check(&policy, &[("host", host)])),
                (403, "host"),
                "{host}"
            );
        }
        assert_eq!(refused(check(&policy, &[])), (403, "host"));
        let absolute = policy.check(
            &Method::POST,
            &"http://evil.example/".parse().unwrap(),
            &head(&[("host", "127.0.0.1:8545")]),
        );
        assert_eq!(refused(absolute), (403, "host"));
        let v6 = AccessPolicy::new("[::1]:8000".parse().unwrap());
        assert_eq!(check(&v6, &[("host", "[::1]:8000")]), Ok(()));
        assert_eq!(check(&v6, &[("host", "localhost:8000")]), Ok(()));
        assert_eq!(
            refused(check(&v6, &[("host", "[::2]:8000")])),
            (403, "host")
        );
    }

    #[test]
    fn origins_websocket_and_tokens_are_refused_unless_allowed() {
        let listen: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let host = ("host", "127.0.0.1:8000");
        let policy = AccessPolicy::new(listen).allow_origins(["https://app.example/".to_owned()]);
        assert_eq!(
            check(&policy, &[host, ("origin", "https://APP.example")]),
            Ok(())
        );
        assert_eq!(
            refused(check(&policy, &[host, ("origin", "https://evil.example")])),
            (403, "origin")
        );
        assert_eq!(
            refused(check(&policy, &[host, ("origin", "null")])),
            (403, "origin")
        );
        let upgrade = [
            host,
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ];
        assert_eq!(refused(check(&policy, &upgrade)), (403, "websocket"));
        assert_eq!(check(&policy.clone().websocket(true), &upgrade), Ok(()));

        let guarded = policy.require_token(Zeroizing::new("s3cret".to_owned()));
        assert_eq!(refused(check(&guarded, &[host])), (401, "token"));
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "bearer s3cret", "s3cret"] {
            assert_eq!(
                refused(check(&guarded, &[host, ("authorization", wrong)])),
                (401, "token"),
                "{wrong}"
            );
        }
        assert_eq!(
            check(&guarded, &[host, ("authorization", "Bearer s3cret")]),
            Ok(())
        );
        // The host is checked before the token: a rebinding page learns nothing about it.
        assert_eq!(
            refused(check(
                &guarded,
                &[("host", "evil.example"), ("authorization", "Bearer s3cret")]
            )),
            (403, "host")
        );
        assert!(!format!("{guarded:?}").contains("s3cret"));
    }

    #[test]
    fn a_token_file_is_created_owner_only_once_and_then_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("thresig-token-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("proxy.token");
        let (token, created) = load_or_create_token(&path).unwrap();
        assert!(created);
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = load_or_create_token(&path).unwrap();
        assert!(!created);
        assert_eq!(*again, *token);
        let (other, _) = load_or_create_token(&dir.join("other.token")).unwrap();
        assert_ne!(*other, *token, "tokens are random");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load_or_create_token(&path),
            Err(TokenFileError::Exposed { mode: 0o644, .. })
        ));
        let empty = dir.join("empty.token");
        std::fs::write(&empty, "\n").unwrap();
        std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            load_or_create_token(&empty),
            Err(TokenFileError::Empty(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
