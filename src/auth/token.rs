//! Bearer JWTs: which keys are trusted, and what a token must say before its claims
//! become an [`Identity`].
//!
//! Keys come from the identity provider's JWKS, from one PEM public key, or (demo
//! profile only) from an HS256 development key. The algorithm a token names is a claim
//! to check against the key it is verified with, never an instruction: that is what
//! defeats `alg: none` and the RSA/HMAC key confusion attack. Keys offered by the token
//! itself (`jwk`, `jku`, `x5u` headers) are never used, for the same reason.
//!
//! The signature and the registered claims (`exp`, `nbf`, `iss`, `aud`, with the
//! configured leeway) are checked by `jsonwebtoken`'s [`Validation`]; this module checks
//! the header policy above and our own claims (`sub`, `role`, `cif`, `azp`...).
//!
//! Every rejection is a [`TokenError`] whose message is short enough for a 401 body and
//! never repeats the token.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::Identity;
use crate::config::{AuthConfig, Profile};
use crate::domain::Cif;
// Minting development tokens: the `demo` feature only.
#[cfg(feature = "demo")]
use crate::config::Config;
#[cfg(feature = "demo")]
use crate::domain::IdError;
#[cfg(feature = "demo")]
use jsonwebtoken::{EncodingKey, Header};
#[cfg(feature = "demo")]
use serde_json::json;

/// The demo profile's development key when none is configured, so that `c360 demo`
/// and `c360 token` work out of the box. It is public (it is in this source file), so
/// [`Verifier::new`] accepts it in the demo profile only, and a production build
/// (without the `demo` feature) does not contain it at all.
#[cfg(feature = "demo")]
const BUILT_IN_DEV_SECRET: &str = "c360-demo-development-key-public-never-use-outside-demo";

/// An identity provider that takes longer than this to serve its keys is treated as
/// down; cached keys keep working meanwhile.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Real tokens are a few kilobytes at most; anything larger is refused before it is
/// decoded, so that nobody makes us parse megabytes of base64.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a bearer token was refused. Messages are short and safe for a 401 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    #[error("unsigned tokens (alg \"none\") are not accepted")]
    Unsigned,
    #[error("the token's signing algorithm is not supported")]
    UnsupportedAlgorithm,
    /// The algorithm exists but no configured key may sign with it: an HS256 token
    /// where only RSA or EC keys are trusted is the key-confusion attack.
    #[error("tokens signed with {0:?} are not accepted")]
    AlgorithmNotAllowed(Algorithm),
    #[error("the token's algorithm {0:?} does not match its signing key")]
    AlgorithmMismatch(Algorithm),
    #[error("the token's signing key is not known")]
    UnknownKey,
    /// The JWKS could not be fetched and no keys are cached: the caller may retry.
    #[error("the signing keys cannot be fetched right now; try again later")]
    KeysUnavailable,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has no expiry (exp)")]
    MissingExpiry,
    #[error("the token was not issued by a trusted issuer")]
    WrongIssuer,
    #[error("the token is not meant for this service (aud)")]
    WrongAudience,
    #[error("the token names no subject (sub)")]
    MissingSubject,
    #[error("the token names no role")]
    MissingRole,
    #[error("the token's cif is not a 10-digit CIF number")]
    InvalidCustomer,
    #[error("the token's {0} claim has the wrong type")]
    InvalidClaim(&'static str),
}

impl TokenError {
    /// 503 when our key source is down (the token may be fine), 401 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            TokenError::KeysUnavailable => http::StatusCode::SERVICE_UNAVAILABLE,
            _ => http::StatusCode::UNAUTHORIZED,
        }
    }
}

/// Why the token verifier could not be built from the configuration. Messages name
/// their cause, so no variant returns it again from `source()`.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(
        "auth.dev_secret and auth.dev_secret_file are accepted in the demo profile only \
         (the profile is '{profile}'): anyone holding a development key can mint any role. \
         Configure auth.jwks_url or auth.public_key_file instead"
    )]
    DevSecretOutsideDemo { profile: Profile },
    #[error("set one of auth.dev_secret and auth.dev_secret_file, not both")]
    TwoDevSecrets,
    #[error("{key} is empty")]
    EmptyDevSecret { key: &'static str },
    #[error(
        "no token signing key is configured for the '{profile}' profile: \
         set auth.jwks_url or auth.public_key_file"
    )]
    NoKeySource { profile: Profile },
    #[error(
        "no development key: auth.jwks_url or auth.public_key_file is set, so development \
         tokens need auth.dev_secret (or auth.dev_secret_file) too"
    )]
    NoDevKey,
    #[error("cannot read {key} {}: {error}", path.display())]
    ReadFile {
        key: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("auth.public_key_file {}: {reason}", path.display())]
    InvalidPem { path: PathBuf, reason: String },
    #[error("auth.jwks_url (C360_AUTH__JWKS_URL) '{url}' is not usable: {reason}")]
    InvalidJwksUrl { url: String, reason: String },
    #[error("HTTP client for auth.jwks_url: {0}")]
    HttpClient(reqwest::Error),
}

/// Why `c360 token` could not mint a development token.
#[cfg(feature = "demo")]
#[derive(Debug, thiserror::Error)]
pub enum DevTokenError {
    #[error(
        "development tokens are for the demo profile only (the profile is '{profile}'; \
         set C360_PROFILE=demo against a demo hub); tokens for other profiles come from \
         the identity provider"
    )]
    NotDemo { profile: Profile },
    #[error("--role must not be empty")]
    EmptyRole,
    #[error("--customer {0}")]
    Customer(IdError),
    #[error(transparent)]
    Setup(#[from] AuthSetupError),
}

/// What `c360 token` is asked to put in a development token.
#[cfg(feature = "demo")]
#[derive(Debug, Clone)]
pub struct DevTokenRequest {
    pub role: String,
    pub staff_id: Option<String>,
    pub branch: Option<String>,
    /// A CIF, for customer (internet-banking) tokens.
    pub customer: Option<String>,
    pub client: Option<String>,
    pub ttl: Duration,
}

/// The development key: `auth.dev_secret`, else the contents of `auth.dev_secret_file`,
/// else, when no other key source is configured, the built-in demo key. Whether the
/// profile allows development keys is the caller's check ([`Verifier::new`],
/// [`dev_token`]).
#[cfg(feature = "demo")]
pub fn dev_secret(config: &AuthConfig) -> Result<String, AuthSetupError> {
    if let Some(secret) = configured_dev_secret(config)? {
        return Ok(secret);
    }
    if config.jwks_url.is_none() && config.public_key_file.is_none() {
        Ok(BUILT_IN_DEV_SECRET.to_owned())
    } else {
        Err(AuthSetupError::NoDevKey)
    }
}

/// An HS256 token for `identity`, valid for `ttl`, in the claims [`Verifier::verify`]
/// reads. For development and tests: production tokens come from the identity provider.
#[cfg(feature = "demo")]
pub fn mint_dev_token(
    secret: &str,
    issuer: &str,
    audience: &str,
    identity: &Identity,
    ttl: Duration,
) -> String {
    let now = unix_now() as u64;
    let mut claims = json!({
        "iss": issuer,
        "aud": audience,
        "sub": identity.subject,
        "role": identity.role,
        "iat": now,
        "exp": now + ttl.as_secs(),
    });
    let optional = [
        ("staff_id", identity.staff_id.clone()),
        ("branch_id", identity.branch.clone()),
        (
            "cif",
            identity.customer.as_ref().map(|c| c.as_str().to_owned()),
        ),
        ("azp", identity.client.clone()),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            claims[name] = Value::String(value);
        }
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 over a JSON object cannot fail")
}

/// `c360 token`: a development token with the configured issuer, audience and
/// development key, refused outside the demo profile. The subject is the staff id,
/// else the customer's CIF, else the role name.
#[cfg(feature = "demo")]
pub fn dev_token(config: &Config, request: &DevTokenRequest) -> Result<String, DevTokenError> {
    if config.profile != Profile::Demo {
        return Err(DevTokenError::NotDemo {
            profile: config.profile,
        });
    }
    let role = request.role.trim();
    if role.is_empty() {
        return Err(DevTokenError::EmptyRole);
    }
    let customer = request
        .customer
        .as_deref()
        .map(Cif::parse)
        .transpose()
        .map_err(DevTokenError::Customer)?;
    let subject = request
        .staff_id
        .clone()
        .or_else(|| customer.as_ref().map(|c| c.as_str().to_owned()))
        .unwrap_or_else(|| role.to_owned());
    let identity = Identity {
        subject,
        role: role.to_owned(),
        staff_id: request.staff_id.clone(),
        branch: request.branch.clone(),
        customer,
        client: request.client.clone(),
    };
    let secret = dev_secret(&config.auth)?;
    Ok(mint_dev_token(
        &secret,
        &config.auth.issuer,
        &config.auth.audience,
        &identity,
        request.ttl,
    ))
}

/// `auth.dev_secret` or the contents of `auth.dev_secret_file`, if either is set.
fn configured_dev_secret(config: &AuthConfig) -> Result<Option<String>, AuthSetupError> {
    let secret = match (&config.dev_secret, &config.dev_secret_file) {
        (Some(_), Some(_)) => return Err(AuthSetupError::TwoDevSecrets),
        (Some(secret), None) => {
            if secret.is_empty() {
                return Err(AuthSetupError::EmptyDevSecret {
                    key: "auth.dev_secret",
                });
            }
            secret.clone()
        }
        (None, Some(path)) => {
            let text = read_file("auth.dev_secret_file", path)?;
            // Editors end files with a newline that is not part of the key.
            let secret = text.trim_end_matches(['\r', '\n']);
            if secret.is_empty() {
                return Err(AuthSetupError::EmptyDevSecret {
                    key: "auth.dev_secret_file",
                });
            }
            secret.to_owned()
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(secret))
}

/// The built-in development key, which only a build with the `demo` feature has.
#[cfg(feature = "demo")]
fn built_in_dev_secret() -> Option<String> {
    tracing::info!("auth: demo profile with the built-in development key");
    Some(BUILT_IN_DEV_SECRET.to_owned())
}

#[cfg(not(feature = "demo"))]
fn built_in_dev_secret() -> Option<String> {
    None
}

fn read_file(key: &'static str, path: &Path) -> Result<String, AuthSetupError> {
    std::fs::read_to_string(path).map_err(|error| AuthSetupError::ReadFile {
        key,
        path: path.to_owned(),
        error,
    })
}

/// Checks bearer tokens against the configured keys. Cheap to clone: every clone shares
/// one key set, so a JWKS fetched for one request serves all.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: String,
    /// Issuer, audience, leeway and required claims; each token's algorithm is set on
    /// a copy once the key it names has been found.
    validation: Validation,
    public_key: Option<Arc<Key>>,
    dev_key: Option<Arc<Key>>,
    jwks: Option<Arc<JwksCache>>,
    verified: moka::sync::Cache<String, Arc<Verified>>,
}

/// How long a token, once verified, is taken on its text alone (its times are still
/// checked on every use). Decoding and checking a token was a tenth of the hub's CPU
/// on answers from the response tier: a client sends the same token with every
/// request. The bound is what a key withdrawn from the JWKS may go on being honoured
/// for, on top of `jwks_refresh`.
const VERIFIED_FOR: Duration = Duration::from_secs(30);

/// Memory for verified tokens: their text and their identity, a few hundred bytes
/// each, so some ten thousand callers at once.
const VERIFIED_BYTES: u64 = 4 << 20;

/// A token whose signature, issuer and audience were checked.
struct Verified {
    identity: Identity,
    times: Validity,
}

/// A token's `exp` and `nbf`, in seconds since the epoch.
#[derive(Clone, Copy)]
struct Validity {
    expires: f64,
    not_before: Option<f64>,
}

impl Validity {
    /// The time check for a token taken from the cache of verified tokens: those skip
    /// `jsonwebtoken::decode`, and with it the [`Validation`] that checked their times
    /// the first time, yet a token must stop working the moment it expires.
    fn check(self, now: f64, leeway: f64) -> Result<(), TokenError> {
        if now >= self.expires + leeway {
            return Err(TokenError::Expired);
        }
        if self.not_before.is_some_and(|nbf| now + leeway < nbf) {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }

    /// The first moment [`Validity::check`] refuses the token as expired.
    fn until(self, leeway: f64) -> SystemTime {
        let seconds = (self.expires + leeway).max(0.0);
        UNIX_EPOCH
            .checked_add(Duration::from_secs_f64(seconds.min(u32::MAX as f64)))
            .unwrap_or(UNIX_EPOCH)
    }
}

/// Lists key sources, never key material.
impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("jwks_url", &self.inner.jwks.as_ref().map(|j| &j.url))
            .field(
                "public_key",
                &self.inner.public_key.as_ref().map(|k| k.kind),
            )
            .field("dev_key", &self.inner.dev_key.is_some())
            .finish()
    }
}

impl Verifier {
    /// Reads the key files and checks the key sources against the profile: development
    /// keys in the demo profile only, and at least one key in every profile (a hub that
    /// can verify no token is a misconfiguration, not a locked door). The JWKS is
    /// fetched on first use, so that an identity provider that is down does not stop
    /// the hub from starting.
    pub fn new(config: &AuthConfig, profile: Profile) -> Result<Verifier, AuthSetupError> {
        // Development keys are accepted in the demo profile only.
        let demo = profile == Profile::Demo;
        let has_dev_secret = config.dev_secret.is_some() || config.dev_secret_file.is_some();
        if has_dev_secret && !demo {
            return Err(AuthSetupError::DevSecretOutsideDemo { profile });
        }
        let public_key = config
            .public_key_file
            .as_deref()
            .map(load_public_key)
            .transpose()?
            .map(Arc::new);
        let jwks = config
            .jwks_url
            .as_deref()
            .map(|url| JwksCache::new(url, config).map(Arc::new))
            .transpose()?;
        let dev_key = if demo {
            let secret = match configured_dev_secret(config)? {
                Some(secret) => Some(secret),
                None if public_key.is_none() && jwks.is_none() => built_in_dev_secret(),
                None => None,
            };
            secret.map(|secret| {
                Arc::new(Key {
                    kind: KeyKind::Hmac,
                    kid: None,
                    pinned: None,
                    key: DecodingKey::from_secret(secret.as_bytes()),
                })
            })
        } else {
            None
        };
        if public_key.is_none() && jwks.is_none() && dev_key.is_none() {
            return Err(AuthSetupError::NoKeySource { profile });
        }
        // The algorithm is replaced per token, by the one its key fits.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        Ok(Verifier {
            inner: Arc::new(Inner {
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                validation,
                public_key,
                dev_key,
                jwks,
                verified: moka::sync::Cache::builder()
                    .max_capacity(VERIFIED_BYTES)
                    .weigher(|token: &String, _| (token.len() + 512).min(u32::MAX as usize) as u32)
                    .time_to_live(VERIFIED_FOR)
                    .build(),
            }),
        })
    }

    /// The identity a token names, once its signature, algorithm, times, issuer and
    /// audience have been checked.
    pub async fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        self.verify_until(token).await.map(|(identity, _)| identity)
    }

    /// [`Verifier::verify`], with the moment the token stops being accepted (`exp`
    /// plus the leeway): a WebSocket session authenticated once by the token must end
    /// then, as every HTTP request would start being refused.
    pub async fn verify_until(&self, token: &str) -> Result<(Identity, SystemTime), TokenError> {
        let text = token.trim();
        if let Some(known) = self.inner.verified.get(text) {
            known.times.check(unix_now(), self.leeway())?;
            return Ok((known.identity.clone(), known.times.until(self.leeway())));
        }
        let token = Compact::split(text)?;
        let header = decode_object(token.header)?;
        // Extensions we would have to understand to verify safely (RFC 7515 4.1.11).
        if header.contains_key("crit") {
            return Err(TokenError::Malformed);
        }
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => alg.as_str(),
            _ => return Err(TokenError::Malformed),
        };
        if alg.eq_ignore_ascii_case("none") {
            return Err(TokenError::Unsigned);
        }
        let alg: Algorithm = alg.parse().map_err(|_| TokenError::UnsupportedAlgorithm)?;
        if !self.allows(alg) {
            return Err(TokenError::AlgorithmNotAllowed(alg));
        }
        let kid = match header.get("kid") {
            None | Some(Value::Null) => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenError::Malformed),
        };
        let key = self.key_for(alg, kid).await?;
        if !key.fits(alg) {
            return Err(TokenError::AlgorithmMismatch(alg));
        }
        let mut validation = self.inner.validation.clone();
        validation.algorithms = vec![alg];
        let claims = jsonwebtoken::decode::<Map<String, Value>>(text, &key.key, &validation)
            .map_err(|error| rejection(error.kind(), alg, token.payload))?
            .claims;
        let (identity, times) = self.identity(&claims)?;
        self.inner.verified.insert(
            text.to_owned(),
            Arc::new(Verified {
                identity: identity.clone(),
                times,
            }),
        );
        Ok((identity, times.until(self.leeway())))
    }

    /// Whether any configured key source could ever accept `alg`. JWKS keys are not
    /// known before the first fetch, so a JWKS admits every RSA and EC algorithm here
    /// and the key the token names decides.
    fn allows(&self, alg: Algorithm) -> bool {
        let inner = &self.inner;
        inner.dev_key.as_ref().is_some_and(|k| k.kind.accepts(alg))
            || inner
                .public_key
                .as_ref()
                .is_some_and(|k| k.kind.accepts(alg))
            || (inner.jwks.is_some()
                && [KeyKind::Rsa, KeyKind::P256, KeyKind::P384]
                    .iter()
                    .any(|kind| kind.accepts(alg)))
    }

    /// The key to verify with. The JWKS is asked first (it knows key ids); the PEM key
    /// serves tokens whose key id the JWKS does not know, so that both can be trusted
    /// during a migration from one to the other.
    async fn key_for(&self, alg: Algorithm, kid: Option<&str>) -> Result<Arc<Key>, TokenError> {
        let inner = &self.inner;
        if alg == Algorithm::HS256 {
            return inner
                .dev_key
                .clone()
                .ok_or(TokenError::AlgorithmNotAllowed(alg));
        }
        let mut unavailable = false;
        if let Some(jwks) = &inner.jwks {
            match jwks.find(kid, alg).await {
                Lookup::Found(key) => return Ok(key),
                Lookup::NotFound => {}
                Lookup::Unavailable => unavailable = true,
            }
        }
        match &inner.public_key {
            Some(key) => Ok(key.clone()),
            None if unavailable => Err(TokenError::KeysUnavailable),
            None => Err(TokenError::UnknownKey),
        }
    }

    /// The leeway the [`Validation`] applies, for the same check on cached tokens.
    fn leeway(&self) -> f64 {
        self.inner.validation.leeway as f64
    }

    /// Our claims, from a token whose registered claims the [`Validation`] has passed.
    fn identity(&self, claims: &Map<String, Value>) -> Result<(Identity, Validity), TokenError> {
        // Read again, for the check on each later use of the cached token; the types of
        // `nbf` and `iat` are ours to check (`jsonwebtoken` ignores an `nbf` it cannot
        // parse and never reads `iat`).
        let times = Validity {
            expires: numeric_date(claims, "exp")?.ok_or(TokenError::MissingExpiry)?,
            not_before: numeric_date(claims, "nbf")?,
        };
        numeric_date(claims, "iat")?;
        // RFC 7519 4.1.1: one issuer. `set_issuer` would also take an array naming ours.
        if !matches!(claims.get("iss"), Some(Value::String(_))) {
            return Err(TokenError::WrongIssuer);
        }
        let subject = text_claim(claims, "sub")?.ok_or(TokenError::MissingSubject)?;
        let role = text_claim(claims, "role")?.ok_or(TokenError::MissingRole)?;
        let customer = match claims.get("cif") {
            None | Some(Value::Null) => None,
            Some(Value::String(cif)) => {
                Some(Cif::parse(cif).map_err(|_| TokenError::InvalidCustomer)?)
            }
            Some(_) => return Err(TokenError::InvalidCustomer),
        };
        let client = match text_claim(claims, "azp")? {
            Some(azp) => Some(azp),
            None => text_claim(claims, "client_id")?,
        };
        let identity = Identity {
            subject,
            role,
            staff_id: text_claim(claims, "staff_id")?,
            branch: text_claim(claims, "branch_id")?,
            customer,
            client,
        };
        Ok((identity, times))
    }
}

/// Why `jsonwebtoken` refused a token, as one of ours. `payload` tells a missing `exp`
/// from one of the wrong type, which the crate reports alike.
fn rejection(kind: &ErrorKind, alg: Algorithm, payload: &str) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::InvalidAlgorithm => TokenError::AlgorithmMismatch(alg),
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "iss" => TokenError::WrongIssuer,
            "aud" => TokenError::WrongAudience,
            // `exp`, the one other required claim: absent, or not a NumericDate.
            _ => match decode_object(payload).map(|claims| numeric_date(&claims, "exp")) {
                Ok(Ok(None)) => TokenError::MissingExpiry,
                _ => TokenError::InvalidClaim("exp"),
            },
        },
        _ => TokenError::Malformed,
    }
}

/// The parts of a compact JWS we read before `jsonwebtoken` does.
struct Compact<'a> {
    header: &'a str,
    payload: &'a str,
}

impl<'a> Compact<'a> {
    fn split(token: &'a str) -> Result<Compact<'a>, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let (signed, _) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = signed.split_once('.').ok_or(TokenError::Malformed)?;
        if payload.contains('.') {
            return Err(TokenError::Malformed);
        }
        Ok(Compact { header, payload })
    }
}

fn decode_object(part: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(TokenError::Malformed),
    }
}

/// A NumericDate claim (seconds since the epoch, fractions allowed).
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or(TokenError::InvalidClaim(name)),
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}

/// An optional string claim; empty counts as absent.
fn text_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, TokenError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::InvalidClaim(name)),
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What a key can verify. Tracked here rather than trusted from the token, since the
/// token's `alg` is attacker-chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Hmac,
}

impl KeyKind {
    fn accepts(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, alg),
            (KeyKind::Rsa, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
                | (KeyKind::P256, ES256)
                | (KeyKind::P384, ES384)
                | (KeyKind::Hmac, HS256)
        )
    }
}

struct Key {
    kind: KeyKind,
    /// `kid` of a JWKS key.
    kid: Option<String>,
    /// The `alg` a JWKS key is published for, when it says.
    pinned: Option<Algorithm>,
    key: DecodingKey,
}

impl Key {
    fn fits(&self, alg: Algorithm) -> bool {
        self.kind.accepts(alg) && self.pinned.is_none_or(|pinned| pinned == alg)
    }
}

/// Loads `auth.public_key_file`: an RSA or EC (P-256, P-384) public key in PEM.
fn load_public_key(path: &Path) -> Result<Key, AuthSetupError> {
    let pem = read_file("auth.public_key_file", path)?;
    let invalid = |reason: &str| AuthSetupError::InvalidPem {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    // A private key has no business on a hub that only verifies.
    if pem.contains("PRIVATE KEY-----") {
        return Err(invalid(
            "holds a private key; give the public key (openssl pkey -pubout)",
        ));
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
        return Ok(Key {
            kind: KeyKind::Rsa,
            kid: None,
            pinned: None,
            key,
        });
    }
    let key = DecodingKey::from_ec_pem(pem.as_bytes())
        .map_err(|_| invalid("not a PEM RSA or EC public key"))?;
    let kind = match pem_ec_curve(&pem) {
        Some(kind) => kind,
        None => return Err(invalid("EC keys must be on P-256 or P-384")),
    };
    Ok(Key {
        kind,
        kid: None,
        pinned: None,
        key,
    })
}

/// The curve of a PEM EC public key, from the named-curve OID in its DER, so that an
/// ES384 token is never checked against a P-256 key (or the reverse).
fn pem_ec_curve(pem: &str) -> Option<KeyKind> {
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    let der = STANDARD.decode(body.trim()).ok()?;
    let has = |oid: &[u8]| der.windows(oid.len()).any(|w| w == oid);
    if has(P256) {
        Some(KeyKind::P256)
    } else if has(P384) {
        Some(KeyKind::P384)
    } else {
        None
    }
}

/// The outcome of asking the JWKS for a key.
enum Lookup {
    Found(Arc<Key>),
    NotFound,
    /// Never fetched successfully: nothing to verify with.
    Unavailable,
}

/// Why a fetch is considered.
#[derive(Clone, Copy)]
enum Need {
    /// Nothing cached yet.
    First,
    /// The cached set is older than `jwks_refresh`.
    Periodic,
    /// A token names a key id the cached set lacks: perhaps a rotation.
    UnknownKid,
}

/// The identity provider's keys, fetched lazily and shared by every request.
struct JwksCache {
    url: String,
    http: reqwest::Client,
    max_age: Duration,
    min_interval: Duration,
    state: RwLock<JwksState>,
    /// Held while fetching, so that a burst of requests makes one fetch.
    fetching: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct JwksState {
    keys: Arc<Vec<Arc<Key>>>,
    /// Last successful fetch.
    fetched: Option<Instant>,
    /// Last fetch, successful or not: the rate limit counts failures too.
    attempted: Option<Instant>,
}

impl JwksCache {
    fn new(url: &str, config: &AuthConfig) -> Result<JwksCache, AuthSetupError> {
        let invalid = |reason: String| AuthSetupError::InvalidJwksUrl {
            url: url.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid(format!("scheme '{}'", parsed.scheme())));
        }
        if !crate::config::https_or_loopback(url) {
            return Err(invalid(
                "plain http to another host: the keys every token is checked against \
                 would cross the network unauthenticated; use https (http is accepted \
                 on a loopback address only)"
                    .into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(JWKS_FETCH_TIMEOUT)
            .build()
            .map_err(AuthSetupError::HttpClient)?;
        Ok(JwksCache {
            url: url.to_owned(),
            http,
            max_age: config.jwks_refresh,
            min_interval: config.jwks_min_refresh,
            state: RwLock::new(JwksState::default()),
            fetching: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    fn snapshot(&self) -> (Arc<Vec<Arc<Key>>>, Option<Instant>) {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        (state.keys.clone(), state.fetched)
    }

    /// The key a token names: by `kid`, or without one the only key that fits `alg`.
    async fn find(self: &Arc<Self>, kid: Option<&str>, alg: Algorithm) -> Lookup {
        match self.snapshot().1 {
            None => self.refresh(Need::First).await,
            Some(fetched) if fetched.elapsed() >= self.max_age => self.refresh_in_background(),
            Some(_) => {}
        }
        let (keys, fetched) = self.snapshot();
        if fetched.is_none() {
            return Lookup::Unavailable;
        }
        if let Some(key) = select(&keys, kid, alg) {
            return Lookup::Found(key);
        }
        if kid.is_none() {
            return Lookup::NotFound;
        }
        self.refresh(Need::UnknownKid).await;
        match select(&self.snapshot().0, kid, alg) {
            Some(key) => Lookup::Found(key),
            None => Lookup::NotFound,
        }
    }

    /// Serves the request with the cached keys while a fresh set is fetched.
    fn refresh_in_background(self: &Arc<Self>) {
        if let Ok(guard) = self.fetching.clone().try_lock_owned() {
            let cache = self.clone();
            tokio::spawn(async move {
                cache.fetch_if(Need::Periodic).await;
                drop(guard);
            });
        }
    }

    async fn refresh(&self, need: Need) {
        let _guard = self.fetching.lock().await;
        self.fetch_if(need).await;
    }

    /// Fetches when `need` still holds (another request may have fetched while this
    /// one waited) and the last attempt is at least `jwks_min_refresh` old. Call with
    /// `fetching` held. A failed fetch keeps the cached keys.
    async fn fetch_if(&self, need: Need) {
        {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            let needed = match need {
                Need::First => state.fetched.is_none(),
                Need::Periodic => state.fetched.is_none_or(|t| t.elapsed() >= self.max_age),
                Need::UnknownKid => true,
            };
            let allowed = state
                .attempted
                .is_none_or(|t| t.elapsed() >= self.min_interval);
            if !needed || !allowed {
                return;
            }
        }
        let result = self.fetch().await;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        state.attempted = Some(now);
        match result {
            Ok(keys) => {
                tracing::info!(url = %self.url, keys = keys.len(), "auth: JWKS fetched");
                state.keys = Arc::new(keys);
                state.fetched = Some(now);
            }
            Err(error) => {
                tracing::warn!(
                    url = %self.url,
                    %error,
                    cached = state.keys.len(),
                    "auth: JWKS fetch failed; keeping the cached keys"
                );
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<Arc<Key>>, String> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?;
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        let Some(Value::Array(entries)) = body.get("keys") else {
            return Err("the response has no \"keys\" array".to_owned());
        };
        // One key we cannot use (an encryption key, an unknown type) must not cost us
        // the others.
        Ok(entries
            .iter()
            .filter_map(|entry| serde_json::from_value::<Jwk>(entry.clone()).ok())
            .filter_map(|jwk| jwk_key(&jwk))
            .map(Arc::new)
            .collect())
    }
}

/// A signature key from a JWK; `None` for encryption keys, symmetric keys (a JWKS is
/// public, so an `oct` key in it would let anyone sign) and curves we do not verify.
fn jwk_key(jwk: &Jwk) -> Option<Key> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyKind::P256,
            EllipticCurve::P384 => KeyKind::P384,
            _ => return None,
        },
        AlgorithmParameters::OctetKey(_) | AlgorithmParameters::OctetKeyPair(_) => return None,
    };
    let pinned = match jwk.common.key_algorithm {
        Some(alg) => match alg.to_string().parse::<Algorithm>() {
            Ok(alg) if kind.accepts(alg) => Some(alg),
            _ => return None,
        },
        None => None,
    };
    Some(Key {
        kind,
        kid: jwk.common.key_id.clone(),
        pinned,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

fn select(keys: &[Arc<Key>], kid: Option<&str>, alg: Algorithm) -> Option<Arc<Key>> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
        None => {
            let mut fitting = keys.iter().filter(|k| k.fits(alg));
            let only = fitting.next()?;
            fitting.next().is_none().then(|| only.clone())
        }
    }
}

#[cfg(test)]
mod tests;
