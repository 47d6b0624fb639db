//! How the load generator sends: one keep-alive HTTP/1.1 connection per worker, on
//! hyper's connection API, for `http://` targets; reqwest for anything else.
//!
//! The generator shares the machine with the hub it measures, so what it spends per
//! request is taken from the hub. Through reqwest (a connection pool, the URL parsed
//! for every request, redirect and timeout layers, default headers copied in) it took
//! 36 % of the two cores at 11,800 warm profile360 requests/s, against the hub's 60 %.
//! A worker has one request in flight at a time, so it needs no pool: it owns a
//! connection, sends a prepared request on it, reads the whole answer and opens a new
//! connection only when the old one failed.

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// Where the requests go, parsed once.
#[derive(Clone)]
pub(super) enum Target {
    /// `http://host:port/graphql`, sent on connections of the worker's own.
    Plain {
        address: String,
        host: HeaderValue,
        path: String,
        authorization: Option<HeaderValue>,
    },
    /// Any other URL (`https://…`), through reqwest's client.
    Other {
        client: reqwest::Client,
        url: reqwest::Url,
    },
}

impl Target {
    /// The GraphQL endpoint of `base` (e.g. `http://127.0.0.1:4000`), with `token` as
    /// bearer; `client` serves the URLs a plain connection cannot.
    pub(super) fn new(
        base: &str,
        token: Option<&str>,
        client: reqwest::Client,
    ) -> Result<Target, String> {
        let endpoint = format!("{}/graphql", base.trim_end_matches('/'));
        let url = reqwest::Url::parse(&endpoint)
            .map_err(|e| format!("--target {base} is not a URL: {e}"))?;
        if url.scheme() != "http" {
            return Ok(Target::Other { client, url });
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("--target {base} names no host"))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let authorization = match token {
            Some(token) => Some(
                HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| "the token is not a valid header value".to_owned())?,
            ),
            None => None,
        };
        Ok(Target::Plain {
            address: format!("{host}:{port}"),
            host: HeaderValue::from_str(&authority)
                .map_err(|_| format!("--target {base}: the host is not a valid header value"))?,
            path: url.path().to_owned(),
            authorization,
        })
    }
}

/// A worker's way of sending: its connection, opened on first use and again after a
/// failure.
pub(super) struct Sender {
    target: Target,
    connection: Option<SendRequest<Full<Bytes>>>,
}

impl Sender {
    pub(super) fn new(target: Target) -> Sender {
        Sender {
            target,
            connection: None,
        }
    }

    /// POSTs `body` (JSON) and reads the whole answer; `None` when no answer came (a
    /// refused or broken connection), counted by the caller as an error.
    pub(super) async fn post(&mut self, body: Bytes) -> Option<(StatusCode, Bytes)> {
        let answer = match &self.target {
            Target::Other { client, url } => {
                let response = client
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .ok()?;
                let status = response.status();
                Some((status, response.bytes().await.ok()?))
            }
            Target::Plain { .. } => self.post_plain(body).await,
        };
        if answer.is_none() {
            self.connection = None;
        }
        answer
    }

    async fn post_plain(&mut self, body: Bytes) -> Option<(StatusCode, Bytes)> {
        let Target::Plain {
            address,
            host,
            path,
            authorization,
        } = &self.target
        else {
            return None;
        };
        if self.connection.is_none() {
            let stream = tokio::net::TcpStream::connect(address.as_str())
                .await
                .ok()?;
            stream.set_nodelay(true).ok()?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .ok()?;
            tokio::spawn(connection);
            self.connection = Some(sender);
        }
        let connection = self.connection.as_mut()?;
        connection.ready().await.ok()?;
        let mut request = Request::post(path.as_str())
            .header(HOST, host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(ACCEPT, HeaderValue::from_static("*/*"));
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let request = request.body(Full::new(body)).ok()?;
        let response = connection.send_request(request).await.ok()?;
        let status = response.status();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_targets_are_parsed_once_and_others_go_to_reqwest() {
        let client = reqwest::Client::new();
        match Target::new("http://127.0.0.1:4000/", Some("t0k"), client.clone()) {
            Ok(Target::Plain {
                address,
                host,
                path,
                authorization,
            }) => {
                assert_eq!(address, "127.0.0.1:4000");
                assert_eq!(host, "127.0.0.1:4000");
                assert_eq!(path, "/graphql");
                assert_eq!(authorization.unwrap(), "Bearer t0k");
            }
            _ => panic!("an http URL is a plain target"),
        }
        assert!(matches!(
            Target::new("https://hub.example:8443", None, client.clone()),
            Ok(Target::Other { .. })
        ));
        assert!(Target::new("not a url", None, client).is_err());
    }
}
