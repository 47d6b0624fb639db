//! What the configuration relaxes, and which of it the production profile refuses.
//!
//! The demo profile trades safety for a hub that runs with no setup at all: a
//! development key that is public, GraphiQL, introspection for anyone. Each of those is
//! a door around the token check if it reaches a bank's network, so the production
//! profile refuses to start with any of them, and names every setting to fix at once
//! (an operator who fixes one problem per restart learns to distrust the checks).
//!
//! [`RULES`] is the one list: a new relaxation, or a secret production requires, is one
//! more function in it, and `c360 check`, `c360 serve` and [`crate::App::build`] all
//! follow.

use super::{Config, Profile};

/// One relaxed setting: a demo convenience that is on, or a safeguard that is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relaxed {
    /// The settings that change it, as file keys (`auth.jwks_url`); either one does.
    pub keys: &'static [&'static str],
    /// What is relaxed, and what it exposes.
    pub what: &'static str,
    /// Whether the production profile refuses to start with it (otherwise `c360
    /// check` reports it and the hub starts).
    pub refused_in_production: bool,
}

impl Relaxed {
    /// The environment variable that sets `key`: `auth.jwks_url` is
    /// `C360_AUTH__JWKS_URL`.
    pub fn env_var(key: &str) -> String {
        format!("C360_{}", key.to_ascii_uppercase().replace('.', "__"))
    }
}

/// `auth.jwks_url (C360_AUTH__JWKS_URL) or …: what`.
impl std::fmt::Display for Relaxed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{key} ({})", Relaxed::env_var(key))?;
        }
        write!(f, ": {}", self.what)
    }
}

/// Why a production hub will not start: every refused setting, each once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the production profile refuses to start:\n{}\n(for a local demo, run `c360 demo` or set C360_PROFILE=demo)",
    list(.0)
)]
pub struct UnsafeForProduction(pub Vec<Relaxed>);

fn list(problems: &[Relaxed]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

type Rule = fn(&Config) -> Option<Relaxed>;

/// Every relaxation the configuration can hold, in the order they are reported.
const RULES: &[Rule] = &[
    no_key_source,
    dev_secret,
    dev_secret_file,
    graphiql,
    open_introspection,
    no_audit_chain_key,
    no_pseudonym_key,
    cache_in_clear,
    no_subject_rate_limit,
    no_client_rate_limit,
    console_without_provider,
];

fn no_key_source(config: &Config) -> Option<Relaxed> {
    let auth = &config.auth;
    let no_real_key = auth.jwks_url.is_none() && auth.public_key_file.is_none();
    let no_dev_key = auth.dev_secret.is_none() && auth.dev_secret_file.is_none();
    no_real_key.then_some(Relaxed {
        keys: &["auth.jwks_url", "auth.public_key_file"],
        what: if no_dev_key && config.profile == Profile::Demo {
            "no identity-provider key; tokens are signed with the built-in development \
             key, which is public (it is in c360's source), so anyone can mint any role"
        } else {
            "no identity-provider key: tokens can be verified only against a development \
             key; set the identity provider's JWKS URL or a PEM public key (RS256/ES256)"
        },
        refused_in_production: true,
    })
}

fn dev_secret(config: &Config) -> Option<Relaxed> {
    config.auth.dev_secret.is_some().then_some(Relaxed {
        keys: &["auth.dev_secret"],
        what: "an HS256 shared-secret development key: whoever holds it can mint a \
               token for any role",
        refused_in_production: true,
    })
}

fn dev_secret_file(config: &Config) -> Option<Relaxed> {
    config.auth.dev_secret_file.is_some().then_some(Relaxed {
        keys: &["auth.dev_secret_file"],
        what: "an HS256 shared-secret development key from a file: whoever can read it \
               can mint a token for any role",
        refused_in_production: true,
    })
}

fn graphiql(config: &Config) -> Option<Relaxed> {
    config.graphiql().then_some(Relaxed {
        keys: &["graphql.graphiql"],
        what: "GraphiQL is served on GET /graphql: an IDE for exploring the bank's \
               schema from any browser that reaches the hub",
        refused_in_production: true,
    })
}

fn open_introspection(config: &Config) -> Option<Relaxed> {
    config.open_introspection().then_some(Relaxed {
        keys: &["graphql.introspection"],
        what: "schema introspection is open to every role, not only those with the \
               introspect capability",
        refused_in_production: true,
    })
}

fn no_audit_chain_key(config: &Config) -> Option<Relaxed> {
    let access = &config.access;
    let current = access.audit_chain_key_id.trim();
    let configured = access.audit_chain_keys.iter().any(|(id, _)| id == current);
    (!configured).then_some(Relaxed {
        keys: &["access.audit_chain_keys"],
        what: "no key for the access audit's hash chain under access.audit_chain_key_id \
               (set it as access.audit_chain_keys.<id>, e.g. \
               C360_ACCESS__AUDIT_CHAIN_KEYS__K1): rows would be sealed with a public \
               development key, so whoever can write the table could rewrite its history",
        refused_in_production: true,
    })
}

fn no_pseudonym_key(config: &Config) -> Option<Relaxed> {
    config.bi.pseudonym_key.is_none().then_some(Relaxed {
        keys: &["bi.pseudonym_key"],
        what: "no key for the pseudonyms de-identified roles see: they would be made \
               with a public development key, so anyone could turn a CIF into its \
               pseudonym and re-identify a BI extract",
        refused_in_production: true,
    })
}

fn cache_in_clear(config: &Config) -> Option<Relaxed> {
    (config.redis.url.is_some() && config.cache.encryption_key.is_none()).then_some(Relaxed {
        keys: &["cache.encryption_key"],
        what: "customer data cached in Redis is stored in clear",
        refused_in_production: false,
    })
}

fn no_subject_rate_limit(config: &Config) -> Option<Relaxed> {
    (config.access.subject_rate == 0).then_some(Relaxed {
        keys: &["access.subject_rate"],
        what: "no per-user request rate limit",
        refused_in_production: false,
    })
}

fn no_client_rate_limit(config: &Config) -> Option<Relaxed> {
    (config.access.client_rate == 0).then_some(Relaxed {
        keys: &["access.client_rate"],
        what: "no per-application request rate limit",
        refused_in_production: false,
    })
}

fn console_without_provider(config: &Config) -> Option<Relaxed> {
    let console = &config.console;
    let unnamed = console.issuer.is_none() || console.client_id.is_none();
    (config.console_enabled() && unnamed).then_some(Relaxed {
        keys: &["console.issuer", "console.client_id"],
        what: "the console is served but names no identity provider or no client id: \
               staff could sign in only with development tokens",
        refused_in_production: true,
    })
}

impl Config {
    /// Whether GraphiQL is served: as configured, else in the demo profile only.
    pub fn graphiql(&self) -> bool {
        self.graphql
            .graphiql
            .unwrap_or(self.profile == Profile::Demo)
    }

    /// Whether every caller may introspect the schema: as configured, else in the
    /// demo profile only.
    pub fn open_introspection(&self) -> bool {
        self.graphql
            .introspection
            .unwrap_or(self.profile == Profile::Demo)
    }

    /// Every relaxed setting of this configuration, whatever the profile.
    pub fn relaxed(&self) -> Vec<Relaxed> {
        RULES.iter().filter_map(|rule| rule(self)).collect()
    }

    /// In the production profile, every relaxed setting it refuses to start with;
    /// in the demo profile, nothing.
    pub fn unsafe_for_production(&self) -> Result<(), UnsafeForProduction> {
        if self.profile != Profile::Production {
            return Ok(());
        }
        let problems: Vec<Relaxed> = self
            .relaxed()
            .into_iter()
            .filter(|r| r.refused_in_production)
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(UnsafeForProduction(problems))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A production configuration with the secrets other tests do not look at.
    fn production() -> Config {
        let mut config = Config {
            profile: Profile::Production,
            ..Config::default()
        };
        config
            .access
            .audit_chain_keys
            .0
            .insert("k1".into(), "a".repeat(44));
        config.bi.pseudonym_key = Some("b".repeat(44));
        config
    }

    fn keys(problems: &[Relaxed]) -> Vec<&'static str> {
        problems
            .iter()
            .flat_map(|p| p.keys.iter().copied())
            .collect()
    }

    #[test]
    fn the_built_in_configuration_is_production_and_refuses_to_start_without_a_key() {
        let config = Config::default();
        assert_eq!(config.profile, Profile::Production);
        assert!(!config.graphiql());
        assert!(!config.open_introspection());
        let refused = config.unsafe_for_production().unwrap_err();
        assert_eq!(
            keys(&refused.0),
            [
                "auth.jwks_url",
                "auth.public_key_file",
                "access.audit_chain_keys",
                "bi.pseudonym_key"
            ]
        );
        let message = refused.to_string();
        assert!(
            message.contains("auth.jwks_url (C360_AUTH__JWKS_URL) or auth.public_key_file (C360_AUTH__PUBLIC_KEY_FILE)"),
            "{message}"
        );
        assert!(message.contains("C360_PROFILE=demo"), "{message}");
    }

    #[test]
    fn every_refused_setting_is_named_once() {
        let mut config = production();
        config.auth.dev_secret = Some("team-key".into());
        config.auth.dev_secret_file = Some("data/dev-secret".into());
        config.graphql.graphiql = Some(true);
        config.graphql.introspection = Some(true);
        let refused = config.unsafe_for_production().unwrap_err();
        assert_eq!(
            keys(&refused.0),
            [
                "auth.jwks_url",
                "auth.public_key_file",
                "auth.dev_secret",
                "auth.dev_secret_file",
                "graphql.graphiql",
                "graphql.introspection"
            ]
        );
        let message = refused.to_string();
        for env in [
            "C360_AUTH__DEV_SECRET",
            "C360_AUTH__DEV_SECRET_FILE",
            "C360_GRAPHQL__GRAPHIQL",
            "C360_GRAPHQL__INTROSPECTION",
        ] {
            assert_eq!(message.matches(&format!("({env})")).count(), 1, "{message}");
        }
    }

    #[test]
    fn a_pem_key_is_enough_and_reported_relaxations_do_not_stop_production() {
        let mut config = production();
        config.auth.public_key_file = Some("/etc/c360/token-signing-key.pem".into());
        config.redis.url = Some("redis://cache:6379".into());
        config.access.subject_rate = 0;
        assert_eq!(config.unsafe_for_production(), Ok(()));
        assert_eq!(
            keys(&config.relaxed()),
            ["cache.encryption_key", "access.subject_rate"]
        );
    }

    #[test]
    fn the_demo_lists_its_conveniences_and_starts() {
        let config = Config {
            profile: Profile::Demo,
            ..Config::default()
        };
        assert_eq!(config.unsafe_for_production(), Ok(()));
        let relaxed = config.relaxed();
        assert_eq!(
            keys(&relaxed),
            [
                "auth.jwks_url",
                "auth.public_key_file",
                "graphql.graphiql",
                "graphql.introspection",
                "access.audit_chain_keys",
                "bi.pseudonym_key",
                "console.issuer",
                "console.client_id"
            ]
        );
        assert!(relaxed[0].what.contains("built-in development key"));
        let mut closed = config;
        closed.graphql.graphiql = Some(false);
        closed.graphql.introspection = Some(false);
        assert!(!closed.graphiql());
        assert!(!closed.open_introspection());
    }

    #[test]
    fn a_production_console_needs_its_identity_provider_named() {
        let mut config = production();
        config.auth.jwks_url = Some("https://idp.bank.local/jwks".into());
        assert!(!config.console_enabled(), "off until a provider is named");
        assert_eq!(config.unsafe_for_production(), Ok(()));

        config.console.enabled = Some(true);
        let refused = config.unsafe_for_production().unwrap_err();
        assert_eq!(keys(&refused.0), ["console.issuer", "console.client_id"]);
        assert!(refused.to_string().contains("C360_CONSOLE__CLIENT_ID"));

        config.console.enabled = None;
        config.console.issuer = Some("https://idp.bank.local".into());
        assert!(config.console_enabled(), "on once a provider is named");
        assert!(config.unsafe_for_production().is_err(), "no client id yet");
        config.console.client_id = Some("c360-console".into());
        assert_eq!(config.unsafe_for_production(), Ok(()));
    }
}
