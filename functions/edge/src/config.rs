//! The functions' configuration: the Spin variables of `functions/spin.toml`,
//! which the local host (`ourvidz up`) or the operator (`SPIN_VARIABLE_<NAME>`)
//! supplies. A missing or unusable one is a server fault (500, name logged),
//! never something the client can fix.
//!
//! Tokens are verified with the project's HS256 secret (`jwt_secret`) and the
//! public keys of its JWKS (`jwks`): the JWKS *document itself*, as JSON, not
//! its URL. A component is a fresh instance per request with no cache that
//! outlives it, so fetching the JWKS from `/auth/v1/.well-known/jwks.json` would
//! cost a round trip on every request; the document changes only when the
//! project adds a signing key, which is when the operator updates the variable
//! (Supabase publishes a standby key in the JWKS before it signs with it).

use crate::error::EdgeError;
use ourvidz_jwt::Verifier;

/// Base URL of the Supabase API gateway; Storage lives under `/storage/v1`.
pub const SUPABASE_URL: &str = "supabase_url";
/// Postgres connection string (URL or `key=value` form).
pub const SUPABASE_DB_URL: &str = "supabase_db_url";
/// The project's HS256 JWT secret.
pub const JWT_SECRET: &str = "jwt_secret";
/// The project's JWKS document (JSON); empty when it signs with HS256 only.
pub const JWKS: &str = "jwks";
/// The service role key, for Storage calls made on the project's behalf;
/// declared only for the components that make such calls.
pub const SERVICE_ROLE_KEY: &str = "service_role_key";

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Without a trailing slash.
    pub supabase_url: String,
    pub db_url: String,
    pub jwt_secret: String,
    pub jwks: Option<String>,
    service_role_key: Option<String>,
}

impl std::fmt::Debug for Config {
    /// Secrets stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").field("supabase_url", &self.supabase_url).finish_non_exhaustive()
    }
}

impl Config {
    /// Build from `(name, value)` lookups, which is how the Spin adapter reads
    /// its variables; `None` or an empty value is missing.
    pub fn from_values(values: impl IntoIterator<Item = (&'static str, Option<String>)>) -> Result<Config, EdgeError> {
        let mut supabase_url = None;
        let mut db_url = None;
        let mut jwt_secret = None;
        let mut jwks = None;
        let mut service_role_key = None;
        for (name, value) in values {
            let slot = match name {
                SUPABASE_URL => &mut supabase_url,
                SUPABASE_DB_URL => &mut db_url,
                JWT_SECRET => &mut jwt_secret,
                JWKS => &mut jwks,
                SERVICE_ROLE_KEY => &mut service_role_key,
                _ => continue,
            };
            *slot = value.filter(|value| !value.is_empty());
        }
        let require = |value: Option<String>, name: &str| {
            value.ok_or_else(|| EdgeError::internal(format!("Spin variable {name} is not set")))
        };
        Ok(Config {
            supabase_url: require(supabase_url, SUPABASE_URL)?.trim_end_matches('/').to_owned(),
            db_url: require(db_url, SUPABASE_DB_URL)?,
            jwt_secret: require(jwt_secret, JWT_SECRET)?,
            jwks,
            service_role_key,
        })
    }

    /// The names the adapter looks up.
    pub const VARIABLES: [&'static str; 5] = [SUPABASE_URL, SUPABASE_DB_URL, JWT_SECRET, JWKS, SERVICE_ROLE_KEY];

    /// What tokens are verified with: the secret, plus the JWKS's keys.
    pub fn verifier(&self) -> Result<Verifier, EdgeError> {
        let verifier = Verifier::hs256(self.jwt_secret.as_bytes());
        match &self.jwks {
            None => Ok(verifier),
            Some(jwks) => verifier
                .with_jwks(jwks)
                .map_err(|error| EdgeError::internal(format!("Spin variable {JWKS}: {error}"))),
        }
    }

    /// The service role key, for a component that declares it.
    pub fn service_role_key(&self) -> Result<&str, EdgeError> {
        self.service_role_key
            .as_deref()
            .ok_or_else(|| EdgeError::internal(format!("Spin variable {SERVICE_ROLE_KEY} is not set")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(url: &str) -> Vec<(&'static str, Option<String>)> {
        vec![
            (SUPABASE_URL, Some(url.into())),
            (SUPABASE_DB_URL, Some("postgres://db".into())),
            (JWT_SECRET, Some("secret".into())),
            (SERVICE_ROLE_KEY, Some("key".into())),
        ]
    }

    fn with(name: &'static str, value: Option<&str>) -> Config {
        let mut values = values("http://x");
        values.retain(|(known, _)| *known != name);
        values.push((name, value.map(str::to_owned)));
        Config::from_values(values).unwrap()
    }

    #[test]
    fn complete_values_build_a_config_without_trailing_slash() {
        let config = Config::from_values(values("http://127.0.0.1:54321/")).unwrap();
        assert_eq!(config.supabase_url, "http://127.0.0.1:54321");
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn a_missing_or_empty_variable_is_a_500() {
        let mut incomplete = values("http://x");
        incomplete[2].1 = Some(String::new());
        assert_eq!(Config::from_values(incomplete).unwrap_err().status(), 500);
        let mut incomplete = values("http://x");
        incomplete.remove(0);
        assert_eq!(Config::from_values(incomplete).unwrap_err().status(), 500);
    }

    #[test]
    fn service_role_key_is_needed_only_where_it_is_used() {
        assert_eq!(with(SERVICE_ROLE_KEY, Some("key")).service_role_key().unwrap(), "key");
        assert_eq!(with(SERVICE_ROLE_KEY, None).service_role_key().unwrap_err().status(), 500);
    }

    #[test]
    fn jwks_adds_asymmetric_keys_to_the_secret() {
        let key = ourvidz_jwt::SigningKey::es256_pem(include_bytes!("../../../crates/jwt/tests/keys/es256-a.pem")).unwrap();
        let jwks = serde_json::json!({"keys": [key.public_jwk().unwrap()]}).to_string();
        let claims = ourvidz_jwt::access_token_claims("service_role", None, 1_800_000_000, 60);
        let es256 = key.sign(&claims);
        let hs256 = ourvidz_jwt::sign(&claims, b"secret");

        let both = with(JWKS, Some(&jwks)).verifier().unwrap();
        assert!(both.verify(&es256, 1_800_000_000).is_ok());
        assert!(both.verify(&hs256, 1_800_000_000).is_ok());
        for secret_only in [with(JWKS, None), with(JWKS, Some(""))] {
            assert!(secret_only.verifier().unwrap().verify(&es256, 1_800_000_000).is_err());
        }
        assert_eq!(with(JWKS, Some("{not json")).verifier().unwrap_err().status(), 500);
    }
}
