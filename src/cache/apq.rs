//! Automatic persisted queries (Apollo's protocol): a client sends the SHA-256 of a
//! document instead of the document, and the document only once. Documents are kept
//! in process, and in Redis when configured, so every instance knows them.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use sha2::{Digest, Sha256};

use super::redis::RedisTier;

/// Documents are small; 10,000 covers every screen of a front-office suite.
const MAX_LOCAL_DOCUMENTS: u64 = 10_000;
/// How long Redis keeps a document nobody sent again.
const REDIS_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct PersistedQueries {
    local: Cache<String, Arc<str>>,
    redis: Option<Arc<RedisTier>>,
}

/// Why a persisted-query request cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistedQueryError {
    /// The hash is unknown: the client should send the document with it.
    NotFound,
    /// The document does not hash to the hash sent.
    HashMismatch,
    /// Not a 64-character hex SHA-256, or an unsupported version.
    Invalid(&'static str),
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl PersistedQueries {
    pub fn new(redis: Option<Arc<RedisTier>>) -> PersistedQueries {
        PersistedQueries {
            local: Cache::new(MAX_LOCAL_DOCUMENTS),
            redis,
        }
    }

    /// Resolves the document of a request carrying `extensions.persistedQuery`.
    pub async fn resolve(
        &self,
        query: Option<String>,
        version: Option<i64>,
        hash: &str,
    ) -> Result<String, PersistedQueryError> {
        if version != Some(1) {
            return Err(PersistedQueryError::Invalid(
                "persistedQuery.version must be 1",
            ));
        }
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PersistedQueryError::Invalid(
                "persistedQuery.sha256Hash must be 64 hex characters",
            ));
        }
        match query {
            Some(query) => {
                if sha256_hex(&query) != hash {
                    return Err(PersistedQueryError::HashMismatch);
                }
                self.local.insert(hash.clone(), Arc::from(query.as_str()));
                if let Some(redis) = &self.redis {
                    redis
                        .set(&self.redis_key(redis, &hash), query.as_bytes(), REDIS_TTL)
                        .await;
                }
                Ok(query)
            }
            None => {
                if let Some(query) = self.local.get(&hash) {
                    return Ok(query.to_string());
                }
                if let Some(redis) = &self.redis {
                    if let Some(bytes) = redis.get(&self.redis_key(redis, &hash)).await {
                        if let Ok(query) = String::from_utf8(bytes) {
                            if sha256_hex(&query) == hash {
                                self.local.insert(hash, Arc::from(query.as_str()));
                                return Ok(query);
                            }
                        }
                    }
                }
                Err(PersistedQueryError::NotFound)
            }
        }
    }

    fn redis_key(&self, redis: &RedisTier, hash: &str) -> String {
        format!("{}apq:{hash}", redis.prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_document_is_registered_once_then_found_by_hash() {
        let apq = PersistedQueries::new(None);
        let query = "{ __typename }".to_owned();
        let hash = sha256_hex(&query);
        assert_eq!(
            apq.resolve(None, Some(1), &hash).await,
            Err(PersistedQueryError::NotFound)
        );
        assert_eq!(
            apq.resolve(Some(query.clone()), Some(1), &hash)
                .await
                .unwrap(),
            query
        );
        assert_eq!(apq.resolve(None, Some(1), &hash).await.unwrap(), query);
        assert_eq!(
            apq.resolve(Some("{ x }".into()), Some(1), &hash).await,
            Err(PersistedQueryError::HashMismatch)
        );
        assert!(matches!(
            apq.resolve(None, Some(2), &hash).await,
            Err(PersistedQueryError::Invalid(_))
        ));
    }
}
