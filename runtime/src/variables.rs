//! Application and component variables, resolved as `spin up` resolves them
//! with its default providers: an application variable takes its value from
//! the environment variable `SPIN_VARIABLE_<NAME>` (upper-cased), else from
//! its manifest `default`; a `required` variable with neither is a startup
//! error. Component variables and `allowed_outbound_hosts` entries are
//! templates over application variables (`{{ name }}`), expanded once at
//! startup. Also the host side of `spin:variables/variables@3.0.0`.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{Accessor, HasData};

use crate::bindings::spin::variables::variables as wit;
use crate::manifest::Manifest;

/// Why the variables of a manifest cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum VariableError {
    #[error("application variable {0:?} is required: set SPIN_VARIABLE_{upper}", upper = .0.to_uppercase())]
    Missing(String),
    #[error("{context}: template {template:?} refers to undeclared application variable {name:?}")]
    Undeclared { context: String, template: String, name: String },
    #[error("{context}: template {template:?} is malformed")]
    Malformed { context: String, template: String },
}

/// The resolved application variables.
#[derive(Debug, Clone)]
pub struct AppVariables(BTreeMap<String, String>);

impl AppVariables {
    /// Resolve every application variable of `manifest` from `lookup`
    /// (the process environment in production).
    pub fn resolve(manifest: &Manifest, lookup: impl Fn(&str) -> Option<String>) -> Result<AppVariables, VariableError> {
        let mut values = BTreeMap::new();
        for (name, variable) in &manifest.variables {
            let value = lookup(&format!("SPIN_VARIABLE_{}", name.to_uppercase()))
                .or_else(|| variable.default.clone())
                .ok_or_else(|| VariableError::Missing(name.clone()))?;
            values.insert(name.clone(), value);
        }
        Ok(AppVariables(values))
    }

    /// Expand `{{ name }}` references in `template`.
    pub fn expand(&self, template: &str, context: &str) -> Result<String, VariableError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| VariableError::Malformed {
                context: context.to_owned(),
                template: template.to_owned(),
            })?;
            let name = after[..end].trim();
            let value = self.0.get(name).ok_or_else(|| VariableError::Undeclared {
                context: context.to_owned(),
                template: template.to_owned(),
                name: name.to_owned(),
            })?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The variables one component sees through `spin:variables`.
#[derive(Debug, Clone, Default)]
pub struct ComponentVariables(Arc<BTreeMap<String, String>>);

impl ComponentVariables {
    pub fn new(templates: &BTreeMap<String, String>, app: &AppVariables, component: &str) -> Result<Self, VariableError> {
        let mut values = BTreeMap::new();
        for (name, template) in templates {
            let context = format!("component {component:?} variable {name:?}");
            values.insert(name.clone(), app.expand(template, &context)?);
        }
        Ok(ComponentVariables(Arc::new(values)))
    }

    fn get(&self, name: &str) -> Result<String, wit::Error> {
        let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(wit::Error::InvalidName(name.to_owned()));
        }
        self.0.get(name).cloned().ok_or_else(|| wit::Error::Undefined(name.to_owned()))
    }
}

/// `HasData` marker for linking `spin:variables` against a store's
/// [`ComponentVariables`].
pub struct Variables;

impl HasData for Variables {
    type Data<'a> = &'a ComponentVariables;
}

impl wit::Host for &ComponentVariables {}

impl<T> wit::HostWithStore<T> for Variables {
    async fn get(accessor: &Accessor<T, Self>, name: String) -> wasmtime::Result<Result<String, wit::Error>> {
        Ok(accessor.with(|mut access| access.get().get(&name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest(test: &str) -> Manifest {
        let dir = std::env::temp_dir().join(format!("ourvidz-vars-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spin.toml");
        std::fs::write(
            &path,
            r#"
            spin_manifest_version = 2
            [application]
            name = "t"
            [variables]
            host = { default = "127.0.0.1:54321" }
            secret = { required = true, secret = true }
            "#,
        )
        .unwrap();
        Manifest::load(Path::new(&path)).unwrap()
    }

    #[test]
    fn environment_overrides_default_and_required_must_be_set() {
        let m = manifest("env");
        let missing = AppVariables::resolve(&m, |_| None).unwrap_err();
        assert!(matches!(missing, VariableError::Missing(ref n) if n == "secret"));
        let app = AppVariables::resolve(&m, |k| match k {
            "SPIN_VARIABLE_SECRET" => Some("s3cret".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(app.expand("http://{{ host }}/x/{{secret}}", "t").unwrap(), "http://127.0.0.1:54321/x/s3cret");
        let app = AppVariables::resolve(&m, |k| Some(format!("env:{k}"))).unwrap();
        assert_eq!(app.expand("{{host}}", "t").unwrap(), "env:SPIN_VARIABLE_HOST");
    }

    #[test]
    fn templates_refer_only_to_declared_variables() {
        let app = AppVariables::resolve(&manifest("templates"), |_| Some("v".into())).unwrap();
        assert!(matches!(app.expand("{{ nope }}", "t"), Err(VariableError::Undeclared { .. })));
        assert!(matches!(app.expand("{{ host", "t"), Err(VariableError::Malformed { .. })));
        let vars = ComponentVariables::new(&BTreeMap::from([("url".to_owned(), "x{{host}}".to_owned())]), &app, "c").unwrap();
        assert_eq!(vars.get("url").unwrap(), "xv");
        assert!(matches!(vars.get("other"), Err(wit::Error::Undefined(_))));
        assert!(matches!(vars.get("Bad-Name"), Err(wit::Error::InvalidName(_))));
    }
}
