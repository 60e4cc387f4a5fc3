//! The functions' configuration: four Spin variables, agreed with the owner
//! of `functions/spin.toml` and the local host. A missing one is a server
//! fault (500, name logged), never something the client can fix.

use crate::error::EdgeError;

/// Base URL of the Supabase API gateway; Storage lives under `/storage/v1`.
pub const SUPABASE_URL: &str = "supabase_url";
/// Postgres connection string (URL or `key=value` form).
pub const SUPABASE_DB_URL: &str = "supabase_db_url";
/// The project's HS256 JWT secret.
pub const JWT_SECRET: &str = "jwt_secret";
/// The service role key, for Storage calls made on the project's behalf.
pub const SERVICE_ROLE_KEY: &str = "service_role_key";

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// Without a trailing slash.
    pub supabase_url: String,
    pub db_url: String,
    pub jwt_secret: String,
    pub service_role_key: String,
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
        let mut service_role_key = None;
        for (name, value) in values {
            let slot = match name {
                SUPABASE_URL => &mut supabase_url,
                SUPABASE_DB_URL => &mut db_url,
                JWT_SECRET => &mut jwt_secret,
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
            service_role_key: require(service_role_key, SERVICE_ROLE_KEY)?,
        })
    }

    /// The names the adapter looks up.
    pub const VARIABLES: [&'static str; 4] = [SUPABASE_URL, SUPABASE_DB_URL, JWT_SECRET, SERVICE_ROLE_KEY];
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
        incomplete.pop();
        assert_eq!(Config::from_values(incomplete).unwrap_err().status(), 500);
    }
}
