//! How a REST connector reaches its system: hyper's HTTP/1.1 connections, kept in
//! [`super::pool`] between calls, rustls for
//! `https` (the public roots plus the bank's own CA, and a client certificate for
//! mTLS), and the proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, as curl reads them).
//!
//! This replaced reqwest on the upstream path. reqwest turned each call's URL into
//! text and parsed it again twice (in its redirect policy, which runs even with
//! redirects off, and for the response), matched the proxy rules per call and cloned
//! its layers: about 24,000 instructions of a call's 41,000 outside hyper, and an
//! eighth of a cold profile360. Everything it did for the connectors is here, decided
//! once per system when the connector is built: the route (direct, a `CONNECT`
//! tunnel for `https` through a proxy, or the absolute form for plain `http` through
//! one), the TLS configuration and the headers every call carries.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, HOST, PROXY_AUTHORIZATION};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tower_service::Service;

use super::pool::{Pool, Sender};

/// How long an idle pooled connection is kept before it is closed.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// What a [`Transport`] is built from: one system's settings.
pub struct TransportSettings<'a> {
    /// The system's base URL: its scheme and host decide the route.
    pub base_url: &'a Uri,
    pub connect_timeout: Duration,
    pub idle_per_host: usize,
    /// Headers every call carries (accept, user agent, credentials, the spec's own).
    pub headers: HeaderMap,
    /// PEM: the client certificate chain and its private key, for mTLS.
    pub identity_pem: Option<&'a [u8]>,
    /// PEM: CA certificates trusted besides the public roots (a bank's internal CA).
    pub ca_pem: Option<&'a [u8]>,
    /// The proxy rules, normally [`Matcher::from_env`].
    pub proxies: &'a Matcher,
}

/// The way calls go to the system, decided once from its base URL and the proxy rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Direct,
    /// `https` through an HTTP proxy: a `CONNECT` tunnel, TLS end to end inside it.
    Tunnel {
        proxy: String,
    },
    /// Plain `http` through an HTTP proxy: requests in absolute form, sent to it.
    Forward {
        proxy: String,
    },
}

/// Why a transport could not be built; names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("client certificate or key unreadable: {0}")]
    Identity(String),
    #[error("CA certificate unreadable: {0}")]
    Ca(String),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error(
        "the proxy {proxy} is not an http:// proxy; c360 reaches upstreams directly or through \
         an HTTP proxy (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY), or add the host to NO_PROXY"
    )]
    UnsupportedProxy { proxy: String },
    #[error("the base URL names no scheme and host to connect to")]
    NoHost,
}

/// Why a call failed, as far as the connector's error kinds need to know.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No connection: refused, unreachable, the TLS handshake or the proxy failed.
    #[error("cannot connect{}", cause.as_deref().map(|c| format!(": {c}")).unwrap_or_default())]
    Connect {
        /// A cause that names no URL (a TLS or proxy failure).
        cause: Option<String>,
    },
    /// Connecting took longer than the connect timeout.
    #[error("cannot connect within {0:?}")]
    ConnectTimeout(Duration),
    /// The connection broke while the request or the answer was under way.
    #[error("connection failed")]
    Connection,
    /// The answer announced or sent more than the limit.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}

/// One system's client.
pub struct Transport {
    /// Opens a connection to the system (through its proxy, with TLS when `https`).
    connector: HttpsConnector<Connector>,
    /// The system's scheme and authority: where new connections go.
    origin: Uri,
    pool: Pool,
    headers: HeaderMap,
    /// `Proxy-Authorization` for plain-HTTP calls sent to a proxy (a tunnel sends its
    /// own once, when it opens).
    proxy_authorization: Option<HeaderValue>,
    route: Route,
    connect_timeout: Duration,
}

impl Transport {
    pub fn new(settings: TransportSettings<'_>) -> Result<Transport, SetupError> {
        let tls = tls_config(settings.identity_pem, settings.ca_pem)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.connect_timeout));
        let intercept = settings.proxies.intercept(settings.base_url);
        let mut proxy_authorization = None;
        let (connector, route) = match intercept {
            None => (Connector::Direct(http), Route::Direct),
            Some(intercept) => {
                let proxy = intercept.uri().clone();
                let shown = shown(&proxy);
                if proxy.scheme_str() != Some("http") {
                    return Err(SetupError::UnsupportedProxy { proxy: shown });
                }
                if settings.base_url.scheme_str() == Some("https") {
                    let mut tunnel = Tunnel::new(proxy, http);
                    if let Some(auth) = intercept.basic_auth() {
                        tunnel = tunnel.with_auth(auth.clone());
                    }
                    (Connector::Tunnel(tunnel), Route::Tunnel { proxy: shown })
                } else {
                    proxy_authorization = intercept.basic_auth().cloned();
                    (
                        Connector::Forward { http, proxy },
                        Route::Forward { proxy: shown },
                    )
                }
            }
        };
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let mut origin = http::uri::Parts::default();
        origin.scheme = settings.base_url.scheme().cloned();
        origin.authority = settings.base_url.authority().cloned();
        origin.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        let origin = Uri::from_parts(origin).map_err(|_| SetupError::NoHost)?;
        let mut headers = settings.headers;
        if let Some(host) = host_header(settings.base_url) {
            headers.entry(HOST).or_insert(host);
        }
        Ok(Transport {
            connector: https,
            origin,
            pool: Pool::new(settings.idle_per_host, POOL_IDLE_TIMEOUT),
            headers,
            proxy_authorization,
            route,
            connect_timeout: settings.connect_timeout,
        })
    }

    pub fn route(&self) -> &Route {
        &self.route
    }

    /// Sends one request and reads its answer, at most `limit` bytes. `extra` writes
    /// the call's own headers (the trace context) after the system's, into the
    /// request's map: a map of their own, merged in, cost about 1,000 instructions a
    /// call.
    pub async fn exchange(
        &self,
        method: Method,
        uri: Uri,
        extra: impl FnOnce(&mut HeaderMap),
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<(StatusCode, Vec<u8>), CallError> {
        let mut request = Request::new(Full::new(body.map(Bytes::from).unwrap_or_default()));
        *request.method_mut() = method;
        // A forwarding proxy is sent the whole URL; the system itself (or a tunnel to
        // it) the path and query only.
        *request.uri_mut() = match self.route {
            Route::Forward { .. } => uri,
            Route::Direct | Route::Tunnel { .. } => origin_form(&uri),
        };
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        extra(headers);
        if let Some(auth) = &self.proxy_authorization {
            headers.insert(PROXY_AUTHORIZATION, auth.clone());
        }
        let (sender, response) = self.send(request).await?;
        let status = response.status();
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if announced.is_some_and(|len| len > limit) {
            return Err(CallError::TooLarge(limit));
        }
        let body = read_limited(response.into_body(), announced, limit).await?;
        // Read to its end, the answer leaves the connection free for the next call;
        // one refused half-read (above) is dropped with its connection.
        self.pool.put(sender);
        Ok((status, body))
    }

    /// Sends `request` on an idle connection, or on a new one. A request an idle
    /// connection could not take (the system closed it meanwhile, and hyper hands
    /// the request back unsent) goes on the next one; a new connection's failure is
    /// the call's.
    async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(Sender, http::Response<Incoming>), CallError> {
        loop {
            let (mut sender, reused) = match self.pool.take() {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((sender, response)),
                Err(mut error) => match error.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(CallError::Connection),
                },
            }
        }
    }

    /// Opens a connection and starts the task that drives it.
    async fn connect(&self) -> Result<Sender, CallError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| self.connect_error(&*e))?;
        let io = connector
            .call(self.origin.clone())
            .await
            .map_err(|e| self.connect_error(&*e))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|_| CallError::Connection)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    fn connect_error(&self, error: &(dyn StdError + 'static)) -> CallError {
        let chain = || std::iter::successors(Some(error), next_cause);
        let io = |kind| {
            chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == kind)
            })
        };
        if io(std::io::ErrorKind::TimedOut) {
            return CallError::ConnectTimeout(self.connect_timeout);
        }
        let tls = chain().find_map(|cause| cause.downcast_ref::<rustls::Error>());
        let cause = if let Some(tls) = tls {
            Some(format!("TLS: {tls}"))
        } else if let Some(proxy) = chain().find_map(|c| c.downcast_ref::<ProxyFailed>()) {
            Some(format!("proxy {}: {proxy}", route_proxy(&self.route)))
        } else if io(std::io::ErrorKind::ConnectionRefused) {
            Some("connection refused".to_owned())
        } else {
            None
        };
        CallError::Connect { cause }
    }
}

/// The error under `cause`. An io::Error's own `source` skips the error it wraps (where
/// rustls puts its own), so this steps into it.
fn next_cause<'a>(cause: &&'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    let cause: &'a (dyn StdError + 'static) = *cause;
    match cause.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => cause.source(),
    }
}

fn route_proxy(route: &Route) -> &str {
    match route {
        Route::Direct => "",
        Route::Tunnel { proxy } | Route::Forward { proxy } => proxy,
    }
}

/// `uri` as a request line to the system names it: its path and query.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(path) => Uri::from(path.clone()),
        None => Uri::from_static("/"),
    }
}

/// Reads the body, refusing it as soon as it passes `limit`. Sized once when the length
/// is announced: growing by doubling would hold the old and the new buffer at once.
async fn read_limited(
    mut body: Incoming,
    announced: Option<usize>,
    limit: usize,
) -> Result<Vec<u8>, CallError> {
    let mut out = Vec::with_capacity(announced.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| CallError::Connection)?;
        if let Ok(chunk) = frame.into_data() {
            if out.len() + chunk.len() > limit {
                return Err(CallError::TooLarge(limit));
            }
            out.extend_from_slice(&chunk);
        }
    }
    Ok(out)
}

/// `Host` for the system's calls, written once. hyper's client writes it for each call
/// that has none, formatting and checking the text again: about 2,000 instructions a
/// call. Like hyper, the port is left out when it is the scheme's default.
fn host_header(base_url: &Uri) -> Option<HeaderValue> {
    let authority = base_url.authority()?;
    let default_port = match base_url.scheme_str() {
        Some("https" | "wss") => 443,
        _ => 80,
    };
    let text = match authority.port_u16() {
        Some(port) if port != default_port => format!("{}:{port}", authority.host()),
        _ => authority.host().to_owned(),
    };
    HeaderValue::from_str(&text).ok()
}

/// The public roots, the bank's CA when given, and the client certificate when given.
fn tls_config(
    identity_pem: Option<&[u8]>,
    ca_pem: Option<&[u8]>,
) -> Result<rustls::ClientConfig, SetupError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| SetupError::Ca(e.to_string()))?;
            roots.add(cert).map_err(|e| SetupError::Ca(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(SetupError::Ca("no certificate in it".into()));
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    Ok(match identity_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let chain = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SetupError::Identity(e.to_string()))?;
            if chain.is_empty() {
                return Err(SetupError::Identity("no certificate in it".into()));
            }
            let key = PrivateKeyDer::from_pem_slice(pem)
                .map_err(|e| SetupError::Identity(format!("private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| SetupError::Identity(e.to_string()))?
        }
    })
}

/// A proxy's address as logs and errors show it: without credentials.
fn shown(proxy: &Uri) -> String {
    format!(
        "{}://{}",
        proxy.scheme_str().unwrap_or("?"),
        proxy
            .authority()
            .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or(""))
    )
}

type BoxError = Box<dyn StdError + Send + Sync>;

/// The proxy refused or broke the tunnel (hyper-util's own error type cannot be named).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ProxyFailed(#[source] BoxError);

/// Opens the TCP connection a call needs, by its route; TLS goes on top of it.
#[derive(Clone)]
enum Connector {
    Direct(HttpConnector),
    Tunnel(Tunnel<HttpConnector>),
    Forward { http: HttpConnector, proxy: Uri },
}

impl Service<Uri> for Connector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Connector::Direct(http) | Connector::Forward { http, .. } => {
                http.poll_ready(cx).map_err(Into::into)
            }
            Connector::Tunnel(tunnel) => tunnel.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self {
            Connector::Direct(http) => {
                let connecting = http.call(dst);
                Box::pin(async move { Ok(connecting.await?) })
            }
            Connector::Tunnel(tunnel) => {
                let connecting = tunnel.call(dst);
                Box::pin(async move {
                    let io = connecting.await.map_err(|e| ProxyFailed(e.into()))?;
                    Ok(io)
                })
            }
            Connector::Forward { http, proxy } => {
                let connecting = http.call(proxy.clone());
                Box::pin(async move { Ok(connecting.await?) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const ANSWER: &str = r#"{"cif":"1000000001"}"#;

    /// A bank CA, a server certificate for `localhost` and a client identity, both
    /// issued by it.
    struct Pki {
        ca_pem: String,
        ca_der: CertificateDer<'static>,
        server_chain: Vec<CertificateDer<'static>>,
        server_key: PrivatePkcs8KeyDer<'static>,
        identity_pem: String,
    }

    fn pki() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Test bank internal CA");
        let ca = params.self_signed(&ca_key).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let client = CertificateParams::new(vec!["c360-hub".to_owned()])
            .unwrap()
            .signed_by(&client_key, &ca, &ca_key)
            .unwrap();
        Pki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server_chain: vec![server.der().clone()],
            server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()),
            identity_pem: format!("{}{}", client.pem(), client_key.serialize_pem()),
        }
    }

    /// Reads one request head (requests here carry no body).
    async fn head(io: &mut (impl AsyncRead + Unpin)) -> Option<String> {
        let mut seen = Vec::new();
        let mut byte = [0u8; 1];
        while !seen.ends_with(b"\r\n\r\n") {
            if io.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            seen.push(byte[0]);
        }
        Some(String::from_utf8(seen).unwrap())
    }

    /// Answers every request on the connection with `body`, recording the heads.
    async fn answer(
        mut io: impl AsyncRead + AsyncWrite + Unpin,
        body: String,
        seen: Arc<Mutex<Vec<String>>>,
    ) {
        while let Some(request) = head(&mut io).await {
            seen.lock().unwrap().push(request);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            if io.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    /// An HTTPS upstream on localhost that asks for a client certificate issued by
    /// the bank's CA; returns its port and the request heads it answered.
    async fn tls_upstream(pki: &Pki, body: &str) -> (u16, Arc<Mutex<Vec<String>>>) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                pki.server_chain.clone(),
                PrivateKeyDer::Pkcs8(pki.server_key.clone_key()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (log, body) = (seen.clone(), body.to_owned());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, log, body) = (acceptor.clone(), log.clone(), body.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        answer(tls, body, log).await;
                    }
                });
            }
        });
        (port, seen)
    }

    /// An HTTP proxy: opens `CONNECT` tunnels, and answers requests in absolute form
    /// itself (as if from the origin). Records every head it was sent.
    async fn proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let Some(request) = head(&mut client).await else {
                        return;
                    };
                    log.lock().unwrap().push(request.clone());
                    if let Some(target) = request.strip_prefix("CONNECT ") {
                        let target = target.split_whitespace().next().unwrap().to_owned();
                        let mut upstream = TcpStream::connect(target).await.unwrap();
                        client
                            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                            .await
                            .unwrap();
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    } else {
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{ANSWER}",
                            ANSWER.len()
                        );
                        client.write_all(response.as_bytes()).await.unwrap();
                        answer(client, ANSWER.to_owned(), log).await;
                    }
                });
            }
        });
        (port, seen)
    }

    fn transport(
        base_url: &str,
        identity_pem: Option<&str>,
        ca_pem: Option<&str>,
        proxies: &Matcher,
    ) -> Result<Transport, SetupError> {
        Transport::new(TransportSettings {
            base_url: &base_url.parse().unwrap(),
            connect_timeout: Duration::from_secs(2),
            idle_per_host: 4,
            headers: HeaderMap::new(),
            identity_pem: identity_pem.map(str::as_bytes),
            ca_pem: ca_pem.map(str::as_bytes),
            proxies,
        })
    }

    /// A transport that trusts the bank's CA and presents the client certificate.
    fn with_identity(base_url: &str, pki: &Pki, proxies: &Matcher) -> Transport {
        transport(
            base_url,
            Some(&pki.identity_pem),
            Some(&pki.ca_pem),
            proxies,
        )
        .unwrap()
    }

    async fn get(transport: &Transport, url: &str) -> Result<(StatusCode, Vec<u8>), CallError> {
        get_at_most(transport, url, 1 << 20).await
    }

    async fn get_at_most(
        transport: &Transport,
        url: &str,
        limit: usize,
    ) -> Result<(StatusCode, Vec<u8>), CallError> {
        transport
            .exchange(
                Method::GET,
                url.parse().unwrap(),
                |_: &mut HeaderMap| {},
                None,
                limit,
            )
            .await
    }

    fn no_proxy() -> Matcher {
        Matcher::builder().build()
    }

    #[tokio::test]
    async fn an_mtls_upstream_signed_by_the_bank_ca_answers() {
        let pki = pki();
        let (port, seen) = tls_upstream(&pki, ANSWER).await;
        let base = format!("https://localhost:{port}");
        let client = with_identity(&base, &pki, &no_proxy());
        assert_eq!(client.route(), &Route::Direct);
        for _ in 0..2 {
            let (status, body) = get(&client, &format!("{base}/customers/1000000001"))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, ANSWER.as_bytes());
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(
            seen[0].starts_with("GET /customers/1000000001 HTTP/1.1\r\n"),
            "{}",
            seen[0]
        );
        assert!(seen[0]
            .to_ascii_lowercase()
            .contains(&format!("host: localhost:{port}")));
    }

    #[tokio::test]
    async fn a_server_certificate_from_an_unknown_ca_is_refused_with_the_tls_cause() {
        let pki = pki();
        let (port, seen) = tls_upstream(&pki, ANSWER).await;
        let base = format!("https://localhost:{port}");
        let client = transport(&base, Some(&pki.identity_pem), None, &no_proxy()).unwrap();
        let error = get(&client, &format!("{base}/customers/1"))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, CallError::Connect { .. }), "{message}");
        assert!(
            message.starts_with("cannot connect: TLS: invalid peer certificate"),
            "{message}"
        );
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn without_the_client_certificate_the_upstream_answers_nothing() {
        let pki = pki();
        let (port, seen) = tls_upstream(&pki, ANSWER).await;
        let base = format!("https://localhost:{port}");
        let client = transport(&base, None, Some(&pki.ca_pem), &no_proxy()).unwrap();
        assert!(get(&client, &format!("{base}/customers/1")).await.is_err());
        assert!(
            seen.lock().unwrap().is_empty(),
            "the upstream served a caller without a certificate"
        );
    }

    #[tokio::test]
    async fn https_through_a_proxy_goes_in_a_connect_tunnel_with_tls_end_to_end() {
        let pki = pki();
        let (port, upstream_seen) = tls_upstream(&pki, ANSWER).await;
        let (proxy_port, proxy_seen) = proxy().await;
        let proxies = Matcher::builder()
            .https(format!("http://bank:s3cret@127.0.0.1:{proxy_port}"))
            .build();
        let base = format!("https://localhost:{port}");
        let client = with_identity(&base, &pki, &proxies);
        assert_eq!(
            client.route(),
            &Route::Tunnel {
                proxy: format!("http://127.0.0.1:{proxy_port}")
            },
            "the route shows the proxy without its credentials"
        );
        let (status, body) = get(&client, &format!("{base}/cards?cif=1")).await.unwrap();
        assert_eq!(
            (status, body.as_slice()),
            (StatusCode::OK, ANSWER.as_bytes())
        );
        let proxy_seen = proxy_seen.lock().unwrap();
        assert_eq!(proxy_seen.len(), 1);
        assert!(proxy_seen[0].starts_with(&format!("CONNECT localhost:{port} HTTP/1.1\r\n")));
        assert!(
            proxy_seen[0]
                .to_ascii_lowercase()
                .contains("proxy-authorization: basic ymfuazpzm2nyzxq="),
            "{}",
            proxy_seen[0]
        );
        assert!(
            !proxy_seen[0].contains("/cards"),
            "the proxy must not see the path"
        );
        assert!(upstream_seen.lock().unwrap()[0].starts_with("GET /cards?cif=1 HTTP/1.1"));
    }

    #[tokio::test]
    async fn plain_http_through_a_proxy_is_sent_in_absolute_form_with_its_credentials() {
        let (proxy_port, seen) = proxy().await;
        let proxies = Matcher::builder()
            .http(format!("http://bank:s3cret@127.0.0.1:{proxy_port}"))
            .build();
        let base = "http://core.bank.internal:8080";
        let client = transport(base, None, None, &proxies).unwrap();
        assert!(matches!(client.route(), Route::Forward { .. }));
        let (status, _) = get(&client, &format!("{base}/customers/7")).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        let seen = seen.lock().unwrap();
        assert!(
            seen[0].starts_with("GET http://core.bank.internal:8080/customers/7 HTTP/1.1\r\n"),
            "{}",
            seen[0]
        );
        assert!(seen[0]
            .to_ascii_lowercase()
            .contains("proxy-authorization: basic ymfuazpzm2nyzxq="));
        let hosts: Vec<&str> = seen[0]
            .lines()
            .filter(|line| line.to_ascii_lowercase().starts_with("host:"))
            .collect();
        assert_eq!(hosts, ["host: core.bank.internal:8080"]);
    }

    #[test]
    fn the_host_header_leaves_out_the_default_port_as_hyper_does() {
        let host = |url: &str| host_header(&url.parse().unwrap()).unwrap();
        assert_eq!(host("https://core.bank.internal"), "core.bank.internal");
        assert_eq!(
            host("https://core.bank.internal:443/v1"),
            "core.bank.internal"
        );
        assert_eq!(host("http://cards:80"), "cards");
        assert_eq!(host("http://cards:443"), "cards:443");
        assert_eq!(host("https://cards:80"), "cards:80");
        assert_eq!(host("http://127.0.0.1:8088/loans/v1"), "127.0.0.1:8088");
        assert_eq!(host("https://[::1]:8443"), "[::1]:8443");
    }

    #[tokio::test]
    async fn hosts_in_no_proxy_are_called_directly() {
        let proxies = Matcher::builder()
            .all("http://127.0.0.1:9")
            .no("localhost,.bank.internal")
            .build();
        let client = transport("https://core.bank.internal", None, None, &proxies).unwrap();
        assert_eq!(client.route(), &Route::Direct);
    }

    #[test]
    fn a_socks_proxy_stops_the_start_naming_no_proxy() {
        let proxies = Matcher::builder().all("socks5://127.0.0.1:1080").build();
        let error = transport("https://core.bank.internal", None, None, &proxies)
            .err()
            .expect("refused");
        let message = error.to_string();
        assert!(
            message.contains("socks5://127.0.0.1:1080") && message.contains("NO_PROXY"),
            "{message}"
        );
    }

    #[test]
    fn unreadable_certificates_stop_the_start() {
        let error = transport("https://x", Some("not a pem"), None, &no_proxy())
            .err()
            .expect("refused");
        assert!(
            error
                .to_string()
                .starts_with("client certificate or key unreadable"),
            "{error}"
        );
        let error = transport(
            "https://x",
            None,
            Some("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"),
            &no_proxy(),
        )
        .err()
        .expect("refused");
        assert!(
            error.to_string().starts_with("CA certificate unreadable"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_answer_past_the_limit_is_refused_and_a_closed_port_says_refused() {
        let pki = pki();
        let big = format!("\"{}\"", "x".repeat(4096));
        let (port, _) = tls_upstream(&pki, &big).await;
        let base = format!("https://localhost:{port}");
        let client = with_identity(&base, &pki, &no_proxy());
        let error = get_at_most(&client, &format!("{base}/x"), 1024)
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "answer larger than 1024 bytes");

        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let client =
            transport(&format!("http://127.0.0.1:{port}"), None, None, &no_proxy()).unwrap();
        let error = get(&client, &format!("http://127.0.0.1:{port}/x"))
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "cannot connect: connection refused");
    }

    /// A plain HTTP upstream that answers `body` to every request and counts the
    /// connections it accepted; with `close_after_answer` it hangs up after each
    /// answer, without saying so in the answer (as at the end of a keep-alive timeout).
    async fn counting_upstream(
        body: &str,
        close_after_answer: bool,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        let body = body.to_owned();
        tokio::spawn(async move {
            while let Ok((mut io, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = body.clone();
                tokio::spawn(async move {
                    while head(&mut io).await.is_some() {
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if io.write_all(response.as_bytes()).await.is_err() || close_after_answer {
                            return;
                        }
                    }
                });
            }
        });
        (base, accepted)
    }

    #[tokio::test]
    async fn calls_one_after_another_share_one_connection() {
        let (base, accepted) = counting_upstream(ANSWER, false).await;
        let client = transport(&base, None, None, &no_proxy()).unwrap();
        for _ in 0..3 {
            let (status, body) = get(&client, &format!("{base}/x?a=1")).await.unwrap();
            assert_eq!(
                (status, body.as_slice()),
                (StatusCode::OK, ANSWER.as_bytes())
            );
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(client.pool.idle(), 1);
    }

    #[tokio::test]
    async fn a_connection_the_system_closed_while_idle_is_not_used_again() {
        let (base, accepted) = counting_upstream(ANSWER, true).await;
        let client = transport(&base, None, None, &no_proxy()).unwrap();
        for _ in 0..3 {
            let (status, _) = get(&client, &format!("{base}/x")).await.unwrap();
            assert_eq!(status, StatusCode::OK);
            // The hang-up reaches the connection's task before the next call starts,
            // as it does when a system closes a connection idle past its keep-alive.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_connection_whose_answer_was_refused_half_read_is_not_reused() {
        let big = "x".repeat(4096);
        let (base, accepted) = counting_upstream(&big, false).await;
        let client = transport(&base, None, None, &no_proxy()).unwrap();
        let refused = get_at_most(&client, &format!("{base}/x"), 1024)
            .await
            .unwrap_err();
        assert_eq!(refused.to_string(), "answer larger than 1024 bytes");
        let (_, body) = get(&client, &format!("{base}/x")).await.unwrap();
        assert_eq!(body.len(), 4096);
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
