use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auth")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn rsa_signer() -> EncodingKey {
    EncodingKey::from_rsa_pem(&read_fixture("rsa_private.pem")).unwrap()
}

fn ec_signer() -> EncodingKey {
    EncodingKey::from_ec_pem(&read_fixture("ec_private.pem")).unwrap()
}

fn now() -> i64 {
    unix_now() as i64
}

/// Claims of a valid staff token under the default issuer and audience.
fn claims() -> Value {
    json!({
        "iss": "c360-dev",
        "aud": "c360",
        "sub": "S001",
        "role": "teller",
        "staff_id": "S001",
        "branch_id": "B0101",
        "azp": "teller-desktop",
        "iat": now(),
        "exp": now() + 600,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let header = Header {
        kid: kid.map(str::to_owned),
        ..Header::new(alg)
    };
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, None, claims, &rsa_signer())
}

fn rsa_pem_config() -> AuthConfig {
    AuthConfig {
        public_key_file: Some(fixture("rsa_public.pem")),
        ..AuthConfig::default()
    }
}

fn rsa_verifier() -> Verifier {
    Verifier::new(&rsa_pem_config(), Profile::Production).unwrap()
}

async fn rejected(verifier: &Verifier, token: &str) -> TokenError {
    verifier.verify(token).await.unwrap_err()
}

#[tokio::test]
async fn an_rs256_token_from_the_pem_key_names_its_identity() {
    let claims = with(claims(), "cif", json!("1000000001"));
    let identity = rsa_verifier().verify(&rs256(&claims)).await.unwrap();
    assert_eq!(
        identity,
        Identity {
            subject: "S001".into(),
            role: "teller".into(),
            staff_id: Some("S001".into()),
            branch: Some("B0101".into()),
            customer: Some(Cif::parse("1000000001").unwrap()),
            client: Some("teller-desktop".into()),
        }
    );
}

#[tokio::test]
async fn an_es256_token_from_the_pem_key_is_accepted() {
    let config = AuthConfig {
        public_key_file: Some(fixture("ec_public.pem")),
        ..AuthConfig::default()
    };
    let verifier = Verifier::new(&config, Profile::Production).unwrap();
    let claims = with(without(claims(), "azp"), "client_id", json!("mobile-app"));
    let token = sign(Algorithm::ES256, None, &claims, &ec_signer());
    let identity = verifier.verify(&token).await.unwrap();
    assert_eq!(identity.role, "teller");
    assert_eq!(identity.client.as_deref(), Some("mobile-app"));
    // The P-256 key is no key for ES384 or RSA tokens.
    let es384 = format!(
        "{}.{}.AAAA",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"ES384"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert_eq!(
        rejected(&verifier, &es384).await,
        TokenError::AlgorithmNotAllowed(Algorithm::ES384)
    );
    assert_eq!(
        rejected(
            &verifier,
            &sign(Algorithm::RS256, None, &claims, &rsa_signer())
        )
        .await,
        TokenError::AlgorithmNotAllowed(Algorithm::RS256)
    );
}

#[tokio::test]
async fn other_rsa_algorithms_verify_with_the_rsa_key() {
    let verifier = rsa_verifier();
    for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
        let token = sign(alg, None, &claims(), &rsa_signer());
        assert!(verifier.verify(&token).await.is_ok(), "{alg:?}");
    }
}

#[tokio::test]
async fn expired_tokens_are_refused_after_the_leeway() {
    let verifier = rsa_verifier();
    let expired = with(claims(), "exp", json!(now() - 120));
    assert_eq!(
        rejected(&verifier, &rs256(&expired)).await,
        TokenError::Expired
    );
    let within_leeway = with(claims(), "exp", json!(now() - 10));
    assert!(verifier.verify(&rs256(&within_leeway)).await.is_ok());
}

#[tokio::test]
async fn a_token_taken_on_its_text_is_still_refused_once_it_expires() {
    let mut config = rsa_pem_config();
    config.leeway = Duration::ZERO;
    let verifier = Verifier::new(&config, Profile::Production).unwrap();
    let token = rs256(&with(claims(), "exp", json!(now() + 2)));
    let first = verifier
        .verify(&token)
        .await
        .expect("valid for two seconds");
    let again = verifier.verify(&token).await.expect("still valid");
    assert_eq!(first, again);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(rejected(&verifier, &token).await, TokenError::Expired);
}

#[tokio::test]
async fn tokens_not_valid_yet_are_refused() {
    let verifier = rsa_verifier();
    let early = with(claims(), "nbf", json!(now() + 300));
    assert_eq!(
        rejected(&verifier, &rs256(&early)).await,
        TokenError::NotYetValid
    );
    let skewed = with(claims(), "nbf", json!(now() + 10));
    assert!(verifier.verify(&rs256(&skewed)).await.is_ok());
}

#[tokio::test]
async fn a_tampered_payload_fails_the_signature() {
    let token = rs256(&claims());
    let (header, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged = URL_SAFE_NO_PAD.encode(with(claims(), "role", json!("admin")).to_string());
    let tampered = format!("{header}.{forged}.{signature}");
    assert_eq!(
        rejected(&rsa_verifier(), &tampered).await,
        TokenError::BadSignature
    );
}

#[tokio::test]
async fn a_token_signed_with_another_development_key_fails_the_signature() {
    let verifier = Verifier::new(&AuthConfig::default(), Profile::Demo).unwrap();
    let token = sign(
        Algorithm::HS256,
        None,
        &claims(),
        &EncodingKey::from_secret(b"somebody else's key"),
    );
    assert_eq!(rejected(&verifier, &token).await, TokenError::BadSignature);
}

#[tokio::test]
async fn issuer_and_audience_must_be_ours() {
    let verifier = rsa_verifier();
    let foreign = with(claims(), "iss", json!("https://other-idp"));
    assert_eq!(
        rejected(&verifier, &rs256(&foreign)).await,
        TokenError::WrongIssuer
    );
    assert_eq!(
        rejected(&verifier, &rs256(&without(claims(), "iss"))).await,
        TokenError::WrongIssuer
    );
    let issuers = with(claims(), "iss", json!(["c360-dev", "https://other-idp"]));
    assert_eq!(
        rejected(&verifier, &rs256(&issuers)).await,
        TokenError::WrongIssuer
    );
    let elsewhere = with(claims(), "aud", json!("loan-origination"));
    assert_eq!(
        rejected(&verifier, &rs256(&elsewhere)).await,
        TokenError::WrongAudience
    );
    assert_eq!(
        rejected(&verifier, &rs256(&without(claims(), "aud"))).await,
        TokenError::WrongAudience
    );
    let several = with(claims(), "aud", json!(["loan-origination", "c360"]));
    assert!(verifier.verify(&rs256(&several)).await.is_ok());
}

#[tokio::test]
async fn unsigned_tokens_are_refused() {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    let token = format!("{header}.{payload}.");
    // Even where a development key would accept HS256.
    let demo = Verifier::new(&AuthConfig::default(), Profile::Demo).unwrap();
    assert_eq!(rejected(&demo, &token).await, TokenError::Unsigned);
    assert_eq!(
        rejected(&rsa_verifier(), &token).await,
        TokenError::Unsigned
    );
    let shouting = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"NONE"}"#));
    assert_eq!(rejected(&demo, &shouting).await, TokenError::Unsigned);
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_rsa_public_key_is_refused() {
    // The key-confusion attack: the public key is public, so a verifier that let the
    // token choose HMAC would check this signature with the PEM bytes and accept it.
    let secret = EncodingKey::from_secret(&read_fixture("rsa_public.pem"));
    let token = sign(Algorithm::HS256, None, &claims(), &secret);
    assert_eq!(
        rejected(&rsa_verifier(), &token).await,
        TokenError::AlgorithmNotAllowed(Algorithm::HS256)
    );
    // In the demo profile too, when a real key is configured and no development key.
    let demo = Verifier::new(&rsa_pem_config(), Profile::Demo).unwrap();
    assert_eq!(
        rejected(&demo, &token).await,
        TokenError::AlgorithmNotAllowed(Algorithm::HS256)
    );
}

#[tokio::test]
async fn garbage_is_malformed() {
    let verifier = rsa_verifier();
    for garbage in [
        "",
        "not a token",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "e30.e30.",
        &"x".repeat(MAX_TOKEN_BYTES + 1),
    ] {
        assert_eq!(
            rejected(&verifier, garbage).await,
            TokenError::Malformed,
            "{garbage:.20}"
        );
    }
    let unknown = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"XS999"}"#),
        URL_SAFE_NO_PAD.encode("{}")
    );
    assert_eq!(
        rejected(&verifier, &unknown).await,
        TokenError::UnsupportedAlgorithm
    );
}

#[tokio::test]
async fn subject_role_and_expiry_are_required() {
    let verifier = rsa_verifier();
    assert_eq!(
        rejected(&verifier, &rs256(&without(claims(), "role"))).await,
        TokenError::MissingRole
    );
    assert_eq!(
        rejected(&verifier, &rs256(&with(claims(), "role", json!("")))).await,
        TokenError::MissingRole
    );
    assert_eq!(
        rejected(&verifier, &rs256(&without(claims(), "sub"))).await,
        TokenError::MissingSubject
    );
    assert_eq!(
        rejected(&verifier, &rs256(&without(claims(), "exp"))).await,
        TokenError::MissingExpiry
    );
    assert_eq!(
        rejected(&verifier, &rs256(&with(claims(), "exp", json!("tomorrow")))).await,
        TokenError::InvalidClaim("exp")
    );
    assert_eq!(
        rejected(
            &verifier,
            &rs256(&with(claims(), "role", json!(["teller"])))
        )
        .await,
        TokenError::InvalidClaim("role")
    );
}

#[tokio::test]
async fn the_cif_claim_must_be_a_cif() {
    let verifier = rsa_verifier();
    for cif in [json!("123"), json!("10000000x1"), json!(1000000001)] {
        assert_eq!(
            rejected(&verifier, &rs256(&with(claims(), "cif", cif))).await,
            TokenError::InvalidCustomer
        );
    }
}

#[tokio::test]
async fn rejections_never_repeat_the_token() {
    let token = rs256(&with(claims(), "exp", json!(now() - 3600)));
    let error = rejected(&rsa_verifier(), &token).await;
    assert_eq!(error.status(), http::StatusCode::UNAUTHORIZED);
    assert!(!error.to_string().contains(&token[..20]));
}

#[test]
fn development_keys_are_refused_outside_the_demo_profile() {
    let config = AuthConfig {
        dev_secret: Some("s3cret".into()),
        ..rsa_pem_config()
    };
    let error = Verifier::new(&config, Profile::Production).unwrap_err();
    assert!(
        matches!(error, AuthSetupError::DevSecretOutsideDemo { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("demo profile only"), "{error}");
    let config = AuthConfig {
        dev_secret_file: Some(fixture("README.md")),
        ..AuthConfig::default()
    };
    assert!(matches!(
        Verifier::new(&config, Profile::Production),
        Err(AuthSetupError::DevSecretOutsideDemo { .. })
    ));
}

#[test]
fn a_profile_other_than_demo_needs_a_real_key() {
    assert!(matches!(
        Verifier::new(&AuthConfig::default(), Profile::Production),
        Err(AuthSetupError::NoKeySource { .. })
    ));
}

#[test]
fn a_bad_pem_is_an_error_naming_the_file() {
    let config = AuthConfig {
        public_key_file: Some(fixture("README.md")),
        ..AuthConfig::default()
    };
    let error = Verifier::new(&config, Profile::Production).unwrap_err();
    assert!(
        matches!(error, AuthSetupError::InvalidPem { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("README.md"), "{error}");

    let config = AuthConfig {
        public_key_file: Some(fixture("rsa_private.pem")),
        ..AuthConfig::default()
    };
    let error = Verifier::new(&config, Profile::Production).unwrap_err();
    assert!(error.to_string().contains("private key"), "{error}");

    let config = AuthConfig {
        public_key_file: Some(fixture("missing.pem")),
        ..AuthConfig::default()
    };
    let error = Verifier::new(&config, Profile::Production).unwrap_err();
    assert!(matches!(error, AuthSetupError::ReadFile { .. }), "{error}");
    assert!(error.to_string().contains("missing.pem"), "{error}");
}

#[test]
fn the_jwks_url_must_be_https_or_on_this_machine() {
    for refused in ["file:///etc/jwks.json", "http://idp.bank.local/jwks.json"] {
        let config = AuthConfig {
            jwks_url: Some(refused.into()),
            ..AuthConfig::default()
        };
        match Verifier::new(&config, Profile::Production) {
            Err(error @ AuthSetupError::InvalidJwksUrl { .. }) => {
                assert!(error.to_string().contains("C360_AUTH__JWKS_URL"), "{error}")
            }
            Err(other) => panic!("{refused}: {other}"),
            Ok(_) => panic!("{refused} was accepted"),
        }
    }
    for accepted in [
        "https://idp.bank.local/jwks.json",
        "http://127.0.0.1:8080/jwks.json",
    ] {
        let config = AuthConfig {
            jwks_url: Some(accepted.into()),
            ..AuthConfig::default()
        };
        assert!(
            Verifier::new(&config, Profile::Production).is_ok(),
            "{accepted}"
        );
    }
}

#[test]
fn the_development_key_resolves_from_secret_file_or_built_in() {
    assert_eq!(
        dev_secret(&AuthConfig::default()).unwrap(),
        BUILT_IN_DEV_SECRET
    );
    let config = AuthConfig {
        dev_secret: Some("from-env".into()),
        ..AuthConfig::default()
    };
    assert_eq!(dev_secret(&config).unwrap(), "from-env");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dev-secret");
    std::fs::write(&file, "from-file\n").unwrap();
    let config = AuthConfig {
        dev_secret_file: Some(file.clone()),
        ..AuthConfig::default()
    };
    assert_eq!(dev_secret(&config).unwrap(), "from-file");

    let both = AuthConfig {
        dev_secret: Some("from-env".into()),
        dev_secret_file: Some(file),
        ..AuthConfig::default()
    };
    assert!(matches!(
        dev_secret(&both),
        Err(AuthSetupError::TwoDevSecrets)
    ));
    // With a real key configured there is no built-in fallback to mint with.
    assert!(matches!(
        dev_secret(&rsa_pem_config()),
        Err(AuthSetupError::NoDevKey)
    ));
}

#[test]
fn printing_the_config_hides_the_development_key() {
    let config = AuthConfig {
        dev_secret: Some("hunter2-dev-key".into()),
        ..AuthConfig::default()
    };
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");
    let verifier = Verifier::new(&config, Profile::Demo).unwrap();
    assert!(!format!("{verifier:?}").contains("hunter2"));
}

#[tokio::test]
async fn the_demo_accepts_its_own_development_tokens() {
    let config = Config {
        profile: Profile::Demo,
        ..Config::default()
    };
    let verifier = Verifier::new(&config.auth, config.profile).unwrap();
    let request = DevTokenRequest {
        role: "customer".into(),
        staff_id: None,
        branch: None,
        customer: Some("1000000042".into()),
        client: Some("mobile-app".into()),
        ttl: Duration::from_secs(3600),
    };
    let identity = verifier
        .verify(&dev_token(&config, &request).unwrap())
        .await
        .unwrap();
    assert_eq!(identity.subject, "1000000042");
    assert_eq!(identity.role, "customer");
    assert_eq!(identity.customer.unwrap().as_str(), "1000000042");
    assert_eq!(identity.client.as_deref(), Some("mobile-app"));

    let staff = DevTokenRequest {
        role: "relationship_manager".into(),
        staff_id: Some("S042".into()),
        branch: Some("B0101".into()),
        customer: None,
        client: None,
        ttl: Duration::from_secs(60),
    };
    let identity = verifier
        .verify(&dev_token(&config, &staff).unwrap())
        .await
        .unwrap();
    assert_eq!(identity.subject, "S042");
    assert_eq!(identity.branch.as_deref(), Some("B0101"));

    let auditor = DevTokenRequest {
        role: "auditor".into(),
        staff_id: None,
        customer: None,
        ..staff
    };
    let identity = verifier
        .verify(&dev_token(&config, &auditor).unwrap())
        .await
        .unwrap();
    assert_eq!(identity.subject, "auditor");
}

#[test]
fn development_tokens_are_refused_outside_the_demo() {
    let request = DevTokenRequest {
        role: "teller".into(),
        staff_id: None,
        branch: None,
        customer: None,
        client: None,
        ttl: Duration::from_secs(3600),
    };
    let production = Config {
        profile: Profile::Production,
        ..Config::default()
    };
    assert!(matches!(
        dev_token(&production, &request),
        Err(DevTokenError::NotDemo { .. })
    ));
    let bad_customer = DevTokenRequest {
        customer: Some("42".into()),
        ..request.clone()
    };
    let demo = Config {
        profile: Profile::Demo,
        ..Config::default()
    };
    let error = dev_token(&demo, &bad_customer).unwrap_err();
    assert!(matches!(error, DevTokenError::Customer(_)), "{error}");
    assert!(
        error.to_string().starts_with("--customer must be"),
        "{error}"
    );
    let no_role = DevTokenRequest {
        role: " ".into(),
        ..request
    };
    assert!(matches!(
        dev_token(&demo, &no_role),
        Err(DevTokenError::EmptyRole)
    ));
}

/// A JWKS endpoint whose key set and health the test controls, counting requests.
struct IdentityProvider {
    url: String,
    kids: Mutex<Vec<&'static str>>,
    failing: AtomicBool,
    requests: AtomicUsize,
}

impl IdentityProvider {
    async fn start(kids: &[&'static str]) -> Arc<IdentityProvider> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let idp = Arc::new(IdentityProvider {
            url: format!("http://{}/jwks.json", listener.local_addr().unwrap()),
            kids: Mutex::new(kids.to_vec()),
            failing: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/jwks.json", get(serve_jwks))
            .with_state(idp.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        idp
    }

    fn serve(&self, kids: &[&'static str]) {
        *self.kids.lock().unwrap() = kids.to_vec();
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn verifier(&self, min_refresh: Duration, refresh: Duration) -> Verifier {
        let config = AuthConfig {
            jwks_url: Some(self.url.clone()),
            jwks_min_refresh: min_refresh,
            jwks_refresh: refresh,
            ..AuthConfig::default()
        };
        Verifier::new(&config, Profile::Production).unwrap()
    }
}

async fn serve_jwks(State(idp): State<Arc<IdentityProvider>>) -> (http::StatusCode, Json<Value>) {
    idp.requests.fetch_add(1, Ordering::SeqCst);
    if idp.failing.load(Ordering::SeqCst) {
        return (
            http::StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "down"})),
        );
    }
    let all: Value = serde_json::from_slice(&read_fixture("jwks.json")).unwrap();
    let kids = idp.kids.lock().unwrap().clone();
    let keys: Vec<Value> = all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| kids.contains(&k["kid"].as_str().unwrap()))
        .cloned()
        .collect();
    (http::StatusCode::OK, Json(json!({ "keys": keys })))
}

const LONG: Duration = Duration::from_secs(600);

/// A token of its own on each call (its own `jti`, as identity providers issue), so
/// that each is checked against the key set rather than taken as already verified.
fn fresh_claims() -> Value {
    with(claims(), "jti", json!(uuid::Uuid::now_v7().to_string()))
}

fn rsa_token(kid: &str) -> String {
    sign(Algorithm::RS256, Some(kid), &fresh_claims(), &rsa_signer())
}

fn ec_token(kid: &str) -> String {
    sign(Algorithm::ES256, Some(kid), &fresh_claims(), &ec_signer())
}

#[tokio::test]
async fn jwks_keys_are_fetched_once_and_cached() {
    let idp = IdentityProvider::start(&["rsa-1", "ec-1"]).await;
    let verifier = idp.verifier(Duration::from_secs(30), LONG);
    assert_eq!(idp.requests(), 0, "fetched lazily, not at start");
    verifier.verify(&rsa_token("rsa-1")).await.unwrap();
    verifier.verify(&ec_token("ec-1")).await.unwrap();
    verifier.clone().verify(&rsa_token("rsa-1")).await.unwrap();
    assert_eq!(idp.requests(), 1);
}

#[tokio::test]
async fn a_key_published_by_rotation_is_accepted_after_a_refetch() {
    let min_refresh = Duration::from_millis(200);
    let idp = IdentityProvider::start(&["rsa-1"]).await;
    let verifier = idp.verifier(min_refresh, LONG);
    verifier.verify(&rsa_token("rsa-1")).await.unwrap();
    tokio::time::sleep(min_refresh + Duration::from_millis(50)).await;
    assert_eq!(
        rejected(&verifier, &ec_token("ec-1")).await,
        TokenError::UnknownKey
    );
    assert_eq!(idp.requests(), 2, "the unknown kid triggered a refetch");

    idp.serve(&["rsa-1", "ec-1"]);
    tokio::time::sleep(min_refresh + Duration::from_millis(50)).await;
    let identity = verifier.verify(&ec_token("ec-1")).await.unwrap();
    assert_eq!(identity.subject, "S001");
    assert_eq!(idp.requests(), 3);
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_min_refresh() {
    let min_refresh = Duration::from_secs(1);
    let idp = IdentityProvider::start(&["rsa-1"]).await;
    let verifier = idp.verifier(min_refresh, LONG);
    verifier.verify(&rsa_token("rsa-1")).await.unwrap();
    assert_eq!(
        rejected(&verifier, &rsa_token("garbage-0")).await,
        TokenError::UnknownKey
    );
    assert_eq!(idp.requests(), 1, "the first fetch was just now");

    tokio::time::sleep(min_refresh + Duration::from_millis(50)).await;
    assert_eq!(
        rejected(&verifier, &rsa_token("garbage-1")).await,
        TokenError::UnknownKey
    );
    assert_eq!(
        rejected(&verifier, &rsa_token("garbage-2")).await,
        TokenError::UnknownKey
    );
    let burst: Vec<_> = (3..13)
        .map(|i| {
            let verifier = verifier.clone();
            let token = rsa_token(&format!("garbage-{i}"));
            async move { verifier.verify(&token).await }
        })
        .collect();
    for result in futures::future::join_all(burst).await {
        assert_eq!(result.unwrap_err(), TokenError::UnknownKey);
    }
    assert_eq!(idp.requests(), 2, "one refetch for all the unknown kids");
}

#[tokio::test]
async fn a_jwks_key_only_verifies_its_own_algorithm() {
    let idp = IdentityProvider::start(&["rsa-1", "ec-1"]).await;
    let verifier = idp.verifier(Duration::from_secs(30), LONG);
    // An EC signature presented under the RSA key's id.
    let token = sign(Algorithm::ES256, Some("rsa-1"), &claims(), &ec_signer());
    assert_eq!(
        rejected(&verifier, &token).await,
        TokenError::AlgorithmMismatch(Algorithm::ES256)
    );
    // The JWK says RS256; a PS256 signature by the same key is still not accepted.
    let token = sign(Algorithm::PS256, Some("rsa-1"), &claims(), &rsa_signer());
    assert_eq!(
        rejected(&verifier, &token).await,
        TokenError::AlgorithmMismatch(Algorithm::PS256)
    );
    let hs = sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &claims(),
        &EncodingKey::from_secret(b"x"),
    );
    assert_eq!(
        rejected(&verifier, &hs).await,
        TokenError::AlgorithmNotAllowed(Algorithm::HS256)
    );
    // Without a kid, the only key that fits the algorithm is used.
    let token = sign(Algorithm::ES256, None, &claims(), &ec_signer());
    assert!(verifier.verify(&token).await.is_ok());
}

#[tokio::test]
async fn cached_keys_outlive_a_jwks_outage() {
    let idp = IdentityProvider::start(&["rsa-1"]).await;
    let verifier = idp.verifier(Duration::from_millis(50), Duration::from_millis(100));
    verifier.verify(&rsa_token("rsa-1")).await.unwrap();
    idp.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    for _ in 0..3 {
        verifier.verify(&rsa_token("rsa-1")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert!(
        idp.requests() > 1,
        "the stale set was refetched (and failed)"
    );
    assert_eq!(
        rejected(&verifier, &rsa_token("rsa-2")).await,
        TokenError::UnknownKey
    );
}

#[tokio::test]
async fn with_no_keys_ever_fetched_the_caller_is_told_to_retry() {
    let idp = IdentityProvider::start(&["rsa-1"]).await;
    idp.failing.store(true, Ordering::SeqCst);
    let verifier = idp.verifier(Duration::from_secs(30), LONG);
    let error = rejected(&verifier, &rsa_token("rsa-1")).await;
    assert_eq!(error, TokenError::KeysUnavailable);
    assert_eq!(error.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    // The failed attempt counts against the rate limit too.
    assert_eq!(
        rejected(&verifier, &rsa_token("rsa-1")).await,
        TokenError::KeysUnavailable
    );
    assert_eq!(idp.requests(), 1);
}
