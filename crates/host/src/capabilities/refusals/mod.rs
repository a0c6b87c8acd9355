//! Linking an imported interface whose every function answers with the interface's own error
//! instead of doing anything: what the host links for a capability a dependency does not inherit
//! (`deny`) and for a Spin interface this host does not provide (`unavailable`). The guest sees a
//! typed error it can handle, never a trap, and a component importing such an interface still
//! instantiates.
//!
//! Functions are linked dynamically from the component's own import types, so one mechanism serves
//! every interface and version. A [`Precheck`] may answer a call first with an error of its own
//! choosing (the permission check Spin makes before an interface would do anything).

pub mod deny;
pub mod unavailable;

use anyhow::{Context, bail};
use wasmtime::component::types::{ComponentFunc, ComponentInstance, ComponentItem};
use wasmtime::component::{Component, Linker, ResourceType, Type, Val};
use wasmtime::{Engine, StoreContextMut};

/// The resource type behind refused constructors (`open`); none is ever created.
struct Refused;

/// Which error a refused function answers with.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// A capability the caller is not granted: `access-denied` where the interface has it.
    Denied,
    /// An interface the host does not implement: its connection or runtime failure case.
    Unavailable,
}

impl Refusal {
    /// Error cases without payload to answer with, in order of preference.
    fn plain_cases(self) -> &'static [&'static str] {
        match self {
            Refusal::Denied => &["access-denied", "HTTP-request-denied"],
            Refusal::Unavailable => &[],
        }
    }

    /// Error cases carrying a message, in order of preference.
    fn message_cases(self) -> &'static [&'static str] {
        match self {
            Refusal::Denied => &["other"],
            Refusal::Unavailable => &["connection-failed", "runtime-error", "other"],
        }
    }

    fn message(self, interface: &str) -> String {
        match self {
            Refusal::Denied => "access denied: this dependency does not inherit this capability (set dependencies_inherit_configuration)".to_string(),
            Refusal::Unavailable => format!(
                "{interface} is not provided by sync-host; run the app on Spin to use it"
            ),
        }
    }
}

/// An error case of the interface's error variant, chosen by a [`Precheck`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCase {
    pub case: &'static str,
    pub message: Option<String>,
}

/// Looks at a call about to be refused (the caller's store data, the interface, the function's
/// export name and the arguments) and may answer it with an earlier error instead.
pub type Precheck<T> = fn(&T, &str, &str, &[Val]) -> Option<ErrorCase>;

/// The imports of `component`, with their types.
pub fn imports(engine: &Engine, component: &Component) -> Vec<(String, ComponentItem)> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, item)| (name.to_string(), item.ty))
        .collect()
}

/// Resources exported by `item` if it is an instance.
pub fn instance_resources(engine: &Engine, item: &ComponentItem) -> Vec<ResourceType> {
    let ComponentItem::ComponentInstance(instance) = item else {
        return Vec::new();
    };
    instance
        .exports(engine)
        .filter_map(|(_, item)| match item.ty {
            ComponentItem::Resource(resource) => Some(resource),
            _ => None,
        })
        .collect()
}

/// Links the import `name` (an interface of type `instance`) so that every function answers
/// `refusal`, unless `precheck` answers first. Resources in `foreign_resources` belong to another
/// import that really provides them (e.g. `wasi:http/types`) and are only aliased here, so they
/// are not redefined.
pub fn link_instance<T: 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    name: &str,
    instance: &ComponentInstance,
    foreign_resources: &[ResourceType],
    refusal: Refusal,
    precheck: Option<Precheck<T>>,
) -> anyhow::Result<()> {
    let mut linked = linker.instance(name)?;
    for (export, export_item) in instance.exports(engine) {
        match export_item.ty {
            ComponentItem::ComponentFunc(_) => {
                let call = Call {
                    interface: name.to_string(),
                    export: export.to_string(),
                    refusal,
                };
                linked.func_new(export, move |store, ty, params, results| {
                    refuse(store, &call, precheck, ty, params, results)
                        .map_err(wasmtime::Error::from_anyhow)
                })?;
            }
            ComponentItem::Resource(resource) if !foreign_resources.contains(&resource) => {
                linked.resource(export, ResourceType::host::<Refused>(), |_, _| Ok(()))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Links every import of `component` that `select` picks, answering `refusal` (after `precheck`).
pub fn link_imports<T: 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
    select: impl Fn(&str) -> bool,
    refusal: Refusal,
    precheck: Option<Precheck<T>>,
) -> anyhow::Result<()> {
    let imports = imports(engine, component);
    let foreign_resources: Vec<ResourceType> = imports
        .iter()
        .filter(|(name, _)| !select(name))
        .flat_map(|(_, item)| instance_resources(engine, item))
        .collect();
    for (name, item) in &imports {
        if !select(name) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item else {
            bail!("import `{name}` is not an interface");
        };
        link_instance(
            linker,
            engine,
            name,
            instance,
            &foreign_resources,
            refusal,
            precheck,
        )?;
    }
    Ok(())
}

/// One refused function: where it is and how it is refused.
struct Call {
    interface: String,
    export: String,
    refusal: Refusal,
}

impl Call {
    fn function(&self) -> String {
        format!("{}#{}", self.interface, self.export)
    }
}

fn refuse<T>(
    mut store: StoreContextMut<'_, T>,
    call: &Call,
    precheck: Option<Precheck<T>>,
    ty: ComponentFunc,
    params: &[Val],
    results: &mut [Val],
) -> anyhow::Result<()> {
    for param in params {
        if let Val::Resource(resource) = param
            && resource.owned()
        {
            resource.resource_drop(&mut store)?;
        }
    }
    let function = call.function();
    let Some(Type::Result(result)) = ty.results().next() else {
        bail!("{function} is refused and has no error result to report it with");
    };
    let error = result
        .err()
        .with_context(|| format!("{function} is refused and has no error type"))?;
    let earlier =
        precheck.and_then(|check| check(store.data(), &call.interface, &call.export, params));
    let value = match earlier {
        Some(case) => case_value(&function, case, &error)?,
        None => error_value(&function, &call.interface, call.refusal, &error)?,
    };
    results[0] = Val::Result(Err(Some(Box::new(value))));
    Ok(())
}

/// `case` as a value of the error type, which must have that case with (or without) a payload.
fn case_value(function: &str, case: ErrorCase, error: &Type) -> anyhow::Result<Val> {
    if let Type::Variant(variant) = error
        && variant
            .cases()
            .any(|c| c.name == case.case && c.ty.is_some() == case.message.is_some())
    {
        return Ok(Val::Variant(
            case.case.to_string(),
            case.message.map(|m| Box::new(Val::String(m))),
        ));
    }
    bail!(
        "{function}: its error type has no case `{}` to answer with",
        case.case
    )
}

fn error_value(
    function: &str,
    interface: &str,
    refusal: Refusal,
    error: &Type,
) -> anyhow::Result<Val> {
    match error {
        // e.g. wasi:sockets' `error-code`.
        Type::Enum(cases) => {
            let names: Vec<&str> = cases.names().collect();
            if let Some(case) = refusal.plain_cases().iter().find(|c| names.contains(c)) {
                return Ok(Val::Enum(case.to_string()));
            }
        }
        Type::Variant(variant) => {
            let cases: Vec<(String, bool)> = variant
                .cases()
                .map(|c| (c.name.to_string(), c.ty.is_some()))
                .collect();
            let has =
                |name: &str, payload: bool| cases.iter().any(|(n, p)| n == name && *p == payload);
            if let Some(case) = refusal.plain_cases().iter().find(|c| has(c, false)) {
                return Ok(Val::Variant(case.to_string(), None));
            }
            if let Some(case) = refusal.message_cases().iter().find(|c| has(c, true)) {
                return Ok(Val::Variant(
                    case.to_string(),
                    Some(Box::new(Val::String(refusal.message(interface)))),
                ));
            }
        }
        _ => {}
    }
    bail!("{function} is refused and its error type has no way to say so")
}
