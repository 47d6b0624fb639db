//! One page of an upstream list, whatever paging style the upstream uses.

/// Items plus the opaque key that fetches the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_key: Option<String>,
    /// Total across all pages, where the upstream says.
    pub total: Option<u64>,
}
