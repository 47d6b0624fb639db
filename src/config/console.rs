//! `[console]`: the front-office console the hub serves on `/console`, and the
//! identity provider its staff sign in with.
//!
//! The console is a public client: it runs in the browser, so it can keep no secret.
//! It signs in with the authorization code flow and PKCE (RFC 7636) against the bank's
//! OpenID provider and sends the access token it gets to `/graphql`, where it is
//! checked like any other token (`[auth]`: issuer, audience, JWKS). No client secret
//! is configured here, and none may be.

use serde::{Deserialize, Serialize};

use super::{Config, Profile};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console. Unset: on in the demo profile, and in production once
    /// `console.issuer` is set (a console nobody can sign in to is no use).
    pub enabled: Option<bool>,
    /// The OpenID provider's issuer URL: the console reads
    /// `<issuer>/.well-known/openid-configuration` from the browser. `https://`, or
    /// `http://` on a loopback address (tests, a provider on the same host).
    pub issuer: Option<String>,
    /// The console's client id at that provider (a public client: no secret, PKCE).
    pub client_id: Option<String>,
    /// Scopes the console asks for, space-separated; `openid` at least.
    pub scopes: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: None,
            issuer: None,
            client_id: None,
            scopes: "openid profile".into(),
        }
    }
}

/// Why the console settings cannot work: each names its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleSettingError {
    #[error(
        "console.issuer (C360_CONSOLE__ISSUER) '{0}' is not an https:// URL (http:// is \
         accepted on a loopback address only): the sign-in would cross the network in clear"
    )]
    IssuerNotHttps(String),
    #[error("console.scopes (C360_CONSOLE__SCOPES) must include 'openid'")]
    NoOpenidScope,
}

impl Config {
    /// Whether `/console` is served: as configured, else in the demo profile or once
    /// an identity provider is named.
    pub fn console_enabled(&self) -> bool {
        self.console
            .enabled
            .unwrap_or(self.profile == Profile::Demo || self.console.issuer.is_some())
    }
}

impl ConsoleConfig {
    /// The settings' own consistency, whatever the profile; the production profile's
    /// refusal of a console without a provider is in `posture`.
    pub fn check(&self) -> Result<(), ConsoleSettingError> {
        if let Some(issuer) = &self.issuer {
            if !super::https_or_loopback(issuer) {
                return Err(ConsoleSettingError::IssuerNotHttps(issuer.clone()));
            }
        }
        if !self.scopes.split_ascii_whitespace().any(|s| s == "openid") {
            return Err(ConsoleSettingError::NoOpenidScope);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_must_be_https_except_on_loopback() {
        let mut console = ConsoleConfig::default();
        for ok in [
            "https://idp.bank.local/realms/staff",
            "http://127.0.0.1:8080",
            "http://localhost:9000/oidc",
        ] {
            console.issuer = Some(ok.into());
            assert_eq!(console.check(), Ok(()), "{ok}");
        }
        for bad in ["http://idp.bank.local", "ftp://idp", "idp.bank.local", ""] {
            console.issuer = Some(bad.into());
            assert_eq!(
                console.check(),
                Err(ConsoleSettingError::IssuerNotHttps(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn scopes_must_ask_for_openid() {
        let console = ConsoleConfig {
            scopes: "profile email".into(),
            ..ConsoleConfig::default()
        };
        assert_eq!(console.check(), Err(ConsoleSettingError::NoOpenidScope));
    }
}
