//! The Spin application manifest (`spin.toml`, manifest version 2), read the
//! way Spin 4 reads it, restricted to what the local runtime serves: HTTP
//! triggers with exact or trailing-wildcard (`/...`) routes, components with a
//! local `source`, `environment`, `variables` (templates over application
//! variables), `allowed_outbound_hosts` and `build`. Anything Spin would
//! accept but this runtime cannot honour (remote sources, named route
//! parameters, other trigger types) is refused at load time with a clear
//! error rather than silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a manifest cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid Spin manifest: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<RawHttpTrigger>>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: Option<String>,
    component: Option<String>,
}

#[derive(Deserialize)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    build: Option<Build>,
}

/// An application variable (`[variables]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
    /// Accepted as Spin accepts it; the runtime shows no variable values.
    #[serde(default, rename = "secret")]
    _secret: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "description")]
    _description: Option<serde::de::IgnoredAny>,
}

/// `[component.<id>.build]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Build {
    pub command: Commands,
    #[serde(default)]
    pub workdir: Option<String>,
}

/// One build command or several run in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Commands {
    Single(String),
    Multiple(Vec<String>),
}

impl Commands {
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        match self {
            Commands::Single(c) => std::slice::from_ref(c).iter(),
            Commands::Multiple(cs) => cs.iter(),
        }
    }
}

/// A route as Spin matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/a/b`: only that path.
    Exact(String),
    /// `/a/...`: `/a` and everything below it; the value is the prefix `/a`
    /// (empty for `/...`).
    Wildcard(String),
}

impl Route {
    fn parse(route: &str) -> Result<Route, String> {
        if !route.starts_with('/') {
            return Err(format!("route {route:?} must start with '/'"));
        }
        if route.split('/').any(|s| s.starts_with(':')) {
            return Err(format!("route {route:?}: named route parameters are not supported by this runtime"));
        }
        let trimmed = route.trim_end_matches('/');
        if let Some(prefix) = trimmed.strip_suffix("/...") {
            return Ok(Route::Wildcard(prefix.to_owned()));
        }
        if trimmed == "..." {
            return Ok(Route::Wildcard(String::new()));
        }
        if trimmed.contains("...") {
            return Err(format!("route {route:?}: '...' is only allowed as the last segment"));
        }
        Ok(Route::Exact(if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() }))
    }

    /// If `path` matches, the part of it below the route (`spin-path-info`).
    pub fn path_info<'p>(&self, path: &'p str) -> Option<&'p str> {
        match self {
            Route::Exact(exact) => (path.trim_end_matches('/') == exact.as_str()
                || (exact == "/" && path == "/"))
                .then_some(""),
            Route::Wildcard(prefix) => {
                let rest = path.strip_prefix(prefix.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then_some(rest)
            }
        }
    }

    /// The route without its wildcard (`spin-component-route`).
    pub fn base(&self) -> &str {
        match self {
            Route::Exact(p) | Route::Wildcard(p) => p,
        }
    }
}

/// One `[[trigger.http]]`.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The route as written in the manifest (`spin-matched-route`).
    pub raw_route: String,
    pub route: Route,
    pub component: String,
}

/// One `[component.<id>]`.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    /// Absolute path of the Wasm file.
    pub source: PathBuf,
    pub environment: BTreeMap<String, String>,
    /// Component variables, still templates over application variables.
    pub variables: BTreeMap<String, String>,
    /// Still templates over application variables.
    pub allowed_outbound_hosts: Vec<String>,
    pub build: Option<Build>,
}

/// A loaded manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    /// The directory holding `spin.toml`: relative paths start here.
    pub dir: PathBuf,
    pub variables: BTreeMap<String, Variable>,
    pub triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, Component>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
        let raw: RawManifest = toml::from_str(&text)
            .map_err(|source| ManifestError::Parse { path: path.to_owned(), source })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
            .canonicalize()
            .map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
        Manifest::from_raw(raw, dir)
    }

    fn from_raw(raw: RawManifest, dir: PathBuf) -> Result<Manifest, ManifestError> {
        let invalid = |m: String| ManifestError::Invalid(m);
        if raw.spin_manifest_version != 2 {
            return Err(invalid(format!(
                "spin_manifest_version {} is not supported (only 2)",
                raw.spin_manifest_version
            )));
        }
        for (name, variable) in &raw.variables {
            if !is_lower_snake(name) {
                return Err(invalid(format!("variable name {name:?} must be lower_snake_case")));
            }
            if variable.required == variable.default.is_some() {
                return Err(invalid(format!(
                    "variable {name:?} must have exactly one of `required = true` or `default`"
                )));
            }
        }
        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            if !is_kebab(&id) {
                return Err(invalid(format!("component id {id:?} must be kebab-case")));
            }
            let source = match &c.source {
                toml::Value::String(s) => dir.join(s),
                _ => return Err(invalid(format!("component {id:?}: only local file sources are supported"))),
            };
            for name in c.variables.keys() {
                if !is_lower_snake(name) {
                    return Err(invalid(format!("component {id:?}: variable name {name:?} must be lower_snake_case")));
                }
            }
            components.insert(
                id.clone(),
                Component {
                    id,
                    source,
                    environment: c.environment,
                    variables: c.variables,
                    allowed_outbound_hosts: c.allowed_outbound_hosts,
                    build: c.build,
                },
            );
        }
        let mut triggers = Vec::new();
        for (kind, list) in raw.trigger {
            if kind != "http" {
                return Err(invalid(format!("trigger type {kind:?} is not supported (only http)")));
            }
            for t in list {
                let raw_route = t.route.ok_or_else(|| invalid("an http trigger has no route".into()))?;
                let component = t
                    .component
                    .ok_or_else(|| invalid(format!("http trigger {raw_route:?} names no component")))?;
                if !components.contains_key(&component) {
                    return Err(invalid(format!("http trigger {raw_route:?} names unknown component {component:?}")));
                }
                let route = Route::parse(&raw_route).map_err(invalid)?;
                if triggers.iter().any(|t: &HttpTrigger| t.route == route) {
                    return Err(invalid(format!("route {raw_route:?} is declared twice")));
                }
                triggers.push(HttpTrigger { raw_route, route, component });
            }
        }
        Ok(Manifest { name: raw.application.name, dir, variables: raw.variables, triggers, components })
    }

    /// The trigger serving `path`, as Spin picks it: an exact route first,
    /// then the wildcard with the longest prefix.
    pub fn route<'m>(&'m self, path: &str) -> Option<(&'m HttpTrigger, String)> {
        if let Some(t) = self.triggers.iter().find(|t| matches!(t.route, Route::Exact(_)) && t.route.path_info(path).is_some()) {
            return Some((t, String::new()));
        }
        self.triggers
            .iter()
            .filter_map(|t| match &t.route {
                Route::Wildcard(prefix) => t.route.path_info(path).map(|info| (t, prefix.len(), info)),
                Route::Exact(_) => None,
            })
            .max_by_key(|(_, len, _)| *len)
            .map(|(t, _, info)| (t, info.to_owned()))
    }
}

fn is_lower_snake(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_kebab(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.ends_with('-')
        && !s.contains("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::from_raw(toml::from_str(text).unwrap(), PathBuf::from("/app"))
    }

    const APP: &str = r#"
        spin_manifest_version = 2
        [application]
        name = "t"
        [[trigger.http]]
        route = "/functions/v1/a/..."
        component = "a"
        [[trigger.http]]
        route = "/functions/v1/a/special"
        component = "b"
        [[trigger.http]]
        route = "/..."
        component = "b"
        [component.a]
        source = "a.wasm"
        [component.b]
        source = "b.wasm"
    "#;

    #[test]
    fn exact_route_wins_over_wildcards_and_longest_wildcard_wins() {
        let m = manifest(APP).unwrap();
        let (t, info) = m.route("/functions/v1/a/special").unwrap();
        assert_eq!((t.component.as_str(), info.as_str()), ("b", ""));
        let (t, info) = m.route("/functions/v1/a/x/y").unwrap();
        assert_eq!((t.component.as_str(), info.as_str()), ("a", "/x/y"));
        let (t, info) = m.route("/functions/v1/a").unwrap();
        assert_eq!((t.component.as_str(), info.as_str()), ("a", ""));
        let (t, info) = m.route("/functions/v1/ab").unwrap();
        assert_eq!((t.component.as_str(), info.as_str()), ("b", "/functions/v1/ab"));
        assert_eq!(m.components["a"].source, PathBuf::from("/app/a.wasm"));
    }

    #[test]
    fn exact_route_does_not_match_below_it() {
        let m = manifest(&APP.replace("route = \"/...\"", "route = \"/other\"")).unwrap();
        assert!(m.route("/functions/v1/a/special/x").map(|(t, _)| t.component.as_str()) == Some("a"));
        assert!(m.route("/other/x").is_none());
        assert!(m.route("/other/").is_some());
    }

    #[test]
    fn variables_need_exactly_one_of_required_or_default() {
        let both = format!("{APP}\n[variables]\nx = {{ required = true, default = \"d\" }}");
        assert!(matches!(manifest(&both), Err(ManifestError::Invalid(_))));
        let neither = format!("{APP}\n[variables]\nx = {{ secret = true }}");
        assert!(matches!(manifest(&neither), Err(ManifestError::Invalid(_))));
    }

    #[test]
    fn unknown_component_and_named_parameters_are_refused() {
        assert!(manifest(&APP.replace("component = \"b\"", "component = \"zz\"")).is_err());
        assert!(manifest(&APP.replace("/functions/v1/a/special", "/users/:id")).is_err());
    }
}
