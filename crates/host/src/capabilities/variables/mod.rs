//! `fermyon:spin/variables`: application variables (manifest default, overridden by the
//! `SPIN_VARIABLE_<NAME>` environment variable, as Spin's environment provider does) rendered
//! into each component's `{{ name }}` templates once at startup.
//!
//! Values are secrets as often as not: nothing here logs one.

use crate::app::manifest::Component;
use crate::app::manifest::Manifest;
use crate::capabilities::bindings::fermyon::spin::variables::{Error, Host};
use crate::capabilities::{AppContext, Capability, RequestScope, instance};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

#[derive(Debug, thiserror::Error)]
pub enum VariablesError {
    #[error("variable `{name}` is required but has no value: set the environment variable {env}")]
    MissingRequired { name: String, env: String },
    #[error("component `{component}` variable `{variable}`: {source}")]
    Template {
        component: String,
        variable: String,
        source: TemplateError,
    },
}

/// A `{{ name }}` template that cannot be rendered.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed `{{{{` in `{0}`")]
    Unclosed(String),
    #[error("empty `{{{{ }}}}` in `{0}`")]
    Empty(String),
    #[error("no application variable `{0}`")]
    Unknown(String),
}

/// The environment variable Spin reads an application variable from.
pub fn env_name(variable: &str) -> String {
    format!("SPIN_VARIABLE_{}", variable.to_ascii_uppercase())
}

/// One application variable resolved as [`AppState::resolve`] resolves it (`lookup` of its
/// environment name, else the manifest's default), for a setting needed before the app loads.
pub fn application_value(
    manifest: &Manifest,
    name: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let decl = manifest.variables.get(name)?;
    lookup(&env_name(name)).or_else(|| decl.default.clone())
}

/// Per-app state: every component's variables, resolved.
#[derive(Debug, Default)]
pub struct AppState {
    components: HashMap<String, Arc<ComponentVariables>>,
    application: HashMap<String, String>,
}

/// One component's resolved variables.
#[derive(Debug, Default)]
pub struct ComponentVariables(BTreeMap<String, String>);

impl AppState {
    /// Resolves every application variable and renders every component's templates, so a
    /// missing required value stops startup rather than failing the first request.
    pub fn resolve(
        manifest: &Manifest,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, VariablesError> {
        let mut application = HashMap::new();
        for (name, decl) in &manifest.variables {
            let env = env_name(name);
            let value = lookup(&env).or_else(|| decl.default.clone());
            match value {
                Some(value) => {
                    application.insert(name.clone(), value);
                }
                None => {
                    return Err(VariablesError::MissingRequired {
                        name: name.clone(),
                        env,
                    });
                }
            }
        }
        let mut components = HashMap::new();
        for (id, component) in &manifest.components {
            let mut rendered = BTreeMap::new();
            for (variable, template) in &component.variables {
                let value =
                    render(template, &application).map_err(|source| VariablesError::Template {
                        component: id.clone(),
                        variable: variable.clone(),
                        source,
                    })?;
                rendered.insert(variable.clone(), value);
            }
            components.insert(id.clone(), Arc::new(ComponentVariables(rendered)));
        }
        Ok(Self {
            components,
            application,
        })
    }

    pub fn component(&self, id: &str) -> Arc<ComponentVariables> {
        self.components.get(id).cloned().unwrap_or_default()
    }

    /// An application variable's resolved value.
    pub fn application(&self, name: &str) -> Option<&str> {
        self.application.get(name).map(String::as_str)
    }

    /// Renders a template against application variables (for `allowed_outbound_hosts`).
    pub fn render(&self, template: &str) -> Result<String, TemplateError> {
        render(template, &self.application)
    }
}

/// A template split into literal text and `{{ name }}` references.
enum Part<'a> {
    Literal(&'a str),
    Reference(&'a str),
}

fn parse_template(template: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        parts.push(Part::Literal(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| TemplateError::Unclosed(template.to_string()))?;
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(TemplateError::Empty(template.to_string()));
        }
        parts.push(Part::Reference(name));
        rest = &after[end + 2..];
    }
    parts.push(Part::Literal(rest));
    Ok(parts)
}

/// The names a template refers to, e.g. `["host"]` for `https://{{ host }}/x`.
pub fn template_references(template: &str) -> Result<Vec<&str>, TemplateError> {
    Ok(parse_template(template)?
        .into_iter()
        .filter_map(|part| match part {
            Part::Reference(name) => Some(name),
            Part::Literal(_) => None,
        })
        .collect())
}

fn render(template: &str, values: &HashMap<String, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for part in parse_template(template)? {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Reference(name) => out.push_str(
                values
                    .get(name)
                    .ok_or_else(|| TemplateError::Unknown(name.to_string()))?,
            ),
        }
    }
    Ok(out)
}

/// Per-instance state: the calling component's variables.
pub struct InstanceState {
    pub variables: Arc<ComponentVariables>,
}

pub struct Variables;

impl HasData for Variables {
    type Data<'a> = &'a mut InstanceState;
}

impl Capability for Variables {
    type AppState = AppState;
    type Grant = Arc<ComponentVariables>;
    type InstanceState = InstanceState;

    /// Resolved by the app before anything else is configured (see [`AppContext::variables`]).
    fn configure(context: &AppContext) -> anyhow::Result<Arc<AppState>> {
        Ok(context.variables.clone())
    }

    fn grant(
        app: &Arc<AppState>,
        id: &str,
        _component: &Component,
        _context: &AppContext,
    ) -> anyhow::Result<Arc<ComponentVariables>> {
        Ok(app.component(id))
    }

    fn instance(grant: &Arc<ComponentVariables>, _request: &RequestScope) -> InstanceState {
        InstanceState {
            variables: grant.clone(),
        }
    }

    fn add_to_linker(linker: &mut Linker<instance::InstanceState>) -> wasmtime::Result<()> {
        crate::capabilities::bindings::fermyon::spin::variables::add_to_linker::<_, Variables>(
            linker,
            instance::InstanceState::variables,
        )
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl InstanceState {
    fn lookup(&self, name: &str) -> Result<String, Error> {
        if !is_valid_name(name) {
            return Err(Error::InvalidName(format!(
                "`{name}` is not a lower_snake_case variable name"
            )));
        }
        self.variables
            .0
            .get(name)
            .cloned()
            .ok_or(Error::Undefined(format!("no variable `{name}`")))
    }
}

impl Host for InstanceState {
    fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.lookup(&name))
    }
}

#[cfg(test)]
mod tests;
