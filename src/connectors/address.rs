//! The URL of one call: the system's base URL, the endpoint's filled path, its query.
//!
//! `url::Url` builds it correctly for any path (percent-encoding what a path cannot
//! hold, resolving `.` and `..` segments) but parses the whole path again each time
//! and hands back text that `http::Uri` then parses once more: about 2,500
//! instructions a call. Paths the hub fills from its own templates and encoded
//! values are almost always plain already, where that work changes nothing; they are
//! written straight after the base. Any other path goes through `url::Url` as before,
//! so the URL sent is the same either way (a test compares the two).

use url::form_urlencoded::Serializer;
use url::Url;

/// The base URL of a system, and its text ready for a path to follow.
#[derive(Debug, Clone)]
pub struct BaseUrl {
    url: Url,
    /// Scheme, authority and path without its trailing `/`; `None` when the base has
    /// a query or fragment (a path written after the text would land inside them).
    prefix: Option<String>,
}

impl BaseUrl {
    pub fn new(url: Url) -> BaseUrl {
        let prefix = (url.query().is_none() && url.fragment().is_none() && !url.cannot_be_a_base())
            .then(|| url.as_str().trim_end_matches('/').to_owned());
        BaseUrl { url, prefix }
    }

    /// The URL of a call to `path` (starting with `/`, below the base's own path) with
    /// `pairs` as its query, form-encoded; no `?` when there are none.
    pub fn call(&self, path: &str, pairs: &[(&str, &str)]) -> String {
        match &self.prefix {
            Some(prefix) if plain(path) => {
                let mut text = String::with_capacity(prefix.len() + path.len() + 64);
                text.push_str(prefix);
                text.push_str(path);
                if pairs.is_empty() {
                    return text;
                }
                text.push('?');
                let start = text.len();
                let mut query = Serializer::for_suffix(text, start);
                for (name, value) in pairs {
                    query.append_pair(name, value);
                }
                query.finish()
            }
            _ => self.through_url(path, pairs),
        }
    }

    fn through_url(&self, path: &str, pairs: &[(&str, &str)]) -> String {
        let mut url = self.url.clone();
        let joined = format!("{}{}", url.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url.into()
    }
}

/// Whether `url::Url` would leave `path` as it is: only characters a path holds
/// unencoded, and no segment that names the current or the parent directory (which
/// it would resolve away, `%2e` counting as a dot).
fn plain(path: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b);
    path.starts_with('/')
        && path.bytes().all(allowed)
        && path.split('/').all(|segment| !dot_segment(segment))
}

fn dot_segment(segment: &str) -> bool {
    if !segment.contains(['.', '%']) {
        return false;
    }
    let dots = segment.to_ascii_lowercase().replace("%2e", ".");
    dots == "." || dots == ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_path_is_written_as_url_would_write_it_and_others_go_through_url() {
        let paths = [
            "/customers",
            "/accounts/6217000010001234/transactions",
            "/users/u-1/login-events",
            "/a+b%2Fc/d",
            "/x/./y",
            "/x/../y",
            "/x/%2e%2E/y",
            "/x/.%2e",
            "/x/..",
            "/x/.../y",
            "/x/a.b",
            "/sp ace",
            "/quote\"<>`{}",
            "/caf\u{e9}",
            "/back\\slash",
            "/x?y",
            "/x#y",
            "/%zz",
            "/",
            "//double",
        ];
        let queries: [&[(&str, &str)]; 3] = [
            &[],
            &[("ids", "1000000001,1000000002")],
            &[
                ("name", "Li Na & co"),
                ("from", "2026-01-01T00:00:00+08:00"),
            ],
        ];
        for base in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "https://core.bank.internal/esb/v1/",
            "https://core.bank.internal/esb/v1",
            "http://h/p?fixed=1",
            "http://h/p#f",
        ] {
            let base = BaseUrl::new(base.parse().unwrap());
            for path in paths {
                for pairs in queries {
                    assert_eq!(
                        base.call(path, pairs),
                        base.through_url(path, pairs),
                        "{base:?} {path} {pairs:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn only_plain_paths_skip_url() {
        assert!(plain("/accounts/6217000010001234/transactions"));
        assert!(plain("/a+b%2Fc"));
        for path in ["/x/../y", "/x/%2E", "/sp ace", "/caf\u{e9}", "relative"] {
            assert!(!plain(path), "{path}");
        }
    }
}
