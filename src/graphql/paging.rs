//! Relay cursors over upstream pages.
//!
//! Upstreams page with their own opaque keys, which point at pages, not items. A
//! cursor here is "the page that starts at key K, after skipping S items", so every
//! edge gets a cursor and any page style works. The last edge of an upstream page
//! points at the next page with no skip, so sequential paging never over-fetches.
//!
//! Lists of the hub's own records page by key instead: a cursor is the time and id of
//! the last item seen ([`encode_keyset`]).

use async_graphql::connection::CursorType;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::errors;
use crate::config::GraphqlConfig;
use crate::connectors::PageRequest;
use crate::domain::Page;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageCursor {
    #[serde(rename = "k", skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(rename = "s", default)]
    pub skip: usize,
}

impl CursorType for PageCursor {
    type Error = String;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "not a cursor from this API".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|_| "not a cursor from this API".to_owned())
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursor serializes"))
    }
}

/// The cursor of an item in a list ordered by (time, id).
pub fn encode_keyset(at: DateTime<Utc>, id: Uuid) -> String {
    let text = format!(
        "{}|{id}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
    URL_SAFE_NO_PAD.encode(text)
}

/// The time and id an [`encode_keyset`] cursor holds.
pub fn decode_keyset(cursor: &str) -> Result<(DateTime<Utc>, Uuid), String> {
    let refuse = || "not a cursor from this API".to_owned();
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refuse())?;
    let text = String::from_utf8(bytes).map_err(|_| refuse())?;
    let (time, id) = text.split_once('|').ok_or_else(refuse)?;
    Ok((
        DateTime::parse_from_rfc3339(time)
            .map_err(|_| refuse())?
            .with_timezone(&Utc),
        Uuid::parse_str(id).map_err(|_| refuse())?,
    ))
}

/// A checked `first`: the configured default when omitted, else 1 to the configured
/// maximum.
pub fn page_size(first: Option<i32>, config: &GraphqlConfig) -> async_graphql::Result<usize> {
    match first {
        None => Ok(config.default_page_size),
        Some(n) if n < 1 => Err(errors::bad_input("first", "must be at least 1")),
        Some(n) if n as usize > config.max_page_size => Err(errors::bad_input(
            "first",
            format!("must be at most {}", config.max_page_size),
        )),
        Some(n) => Ok(n as usize),
    }
}

/// A validated page request: how many items, from which cursor.
#[derive(Debug, Clone)]
pub struct Window {
    pub first: usize,
    pub after: PageCursor,
}

impl Window {
    pub fn parse(
        first: Option<i32>,
        after: Option<String>,
        config: &GraphqlConfig,
    ) -> async_graphql::Result<Window> {
        let first = page_size(first, config)?;
        let after = match after {
            None => PageCursor::default(),
            Some(raw) => {
                PageCursor::decode_cursor(&raw).map_err(|e| errors::bad_input("after", e))?
            }
        };
        if after.skip > config.max_page_size * 2 {
            return Err(errors::bad_input("after", "not a cursor from this API"));
        }
        Ok(Window { first, after })
    }

    /// What to ask the upstream for: the cursor's page, enough to skip and fill.
    pub fn request(&self) -> PageRequest {
        PageRequest {
            limit: self.after.skip + self.first,
            key: self.after.key.clone(),
        }
    }

    /// The items of this window with their cursors, and whether more follow.
    pub fn slice<T>(&self, page: Page<T>) -> (Vec<(PageCursor, T)>, bool) {
        let count = page.items.len();
        let mut edges = Vec::new();
        for (index, item) in page
            .items
            .into_iter()
            .enumerate()
            .skip(self.after.skip)
            .take(self.first)
        {
            let cursor = if index + 1 == count && page.next_page_key.is_some() {
                PageCursor {
                    key: page.next_page_key.clone(),
                    skip: 0,
                }
            } else {
                PageCursor {
                    key: self.after.key.clone(),
                    skip: index + 1,
                }
            };
            edges.push((cursor, item));
        }
        let more_in_page = count > self.after.skip + self.first;
        (edges, more_in_page || page.next_page_key.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(items: std::ops::Range<u32>, next: Option<&str>) -> Page<u32> {
        Page {
            items: items.collect(),
            next_page_key: next.map(str::to_owned),
            total: None,
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = PageCursor {
            key: Some("40".into()),
            skip: 3,
        };
        assert_eq!(
            PageCursor::decode_cursor(&cursor.encode_cursor()).unwrap(),
            cursor
        );
        assert!(PageCursor::decode_cursor("!!").is_err());
        assert!(
            PageCursor::decode_cursor("e30").is_ok(),
            "{{}} is the first page"
        );
    }

    #[test]
    fn keyset_cursors_round_trip_to_the_microsecond() {
        let at: DateTime<Utc> = "2026-11-27T08:30:00.123456Z".parse().unwrap();
        let id = Uuid::now_v7();
        assert_eq!(decode_keyset(&encode_keyset(at, id)).unwrap(), (at, id));
        assert!(decode_keyset("e30").is_err());
        assert!(decode_keyset("!!").is_err());
    }

    #[test]
    fn last_edge_of_a_page_points_at_the_next_page() {
        let window = Window {
            first: 3,
            after: PageCursor::default(),
        };
        let (edges, more) = window.slice(page(0..3, Some("3")));
        assert!(more);
        assert_eq!(
            edges[2].0,
            PageCursor {
                key: Some("3".into()),
                skip: 0
            }
        );
        assert_eq!(edges[0].0, PageCursor { key: None, skip: 1 });
    }

    #[test]
    fn resuming_mid_page_skips_what_was_seen() {
        let window = Window {
            first: 2,
            after: PageCursor { key: None, skip: 1 },
        };
        assert_eq!(window.request().limit, 3);
        let (edges, more) = window.slice(page(0..3, None));
        assert_eq!(
            edges.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(!more);
    }
}
