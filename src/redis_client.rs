//! The one way the hub makes a Redis client, for the cache's shared tier and for the
//! bus alike, so that both trust the same CA and read the same URL forms.

/// A client for `url`, trusting `ca` (PEM) for TLS when given: banks run Redis behind
/// their own CA, which no public root store knows.
pub fn client(url: &str, ca: Option<&[u8]>) -> redis::RedisResult<redis::Client> {
    match ca {
        Some(ca) => redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(ca.to_vec()),
            },
        ),
        None => redis::Client::open(url),
    }
}
