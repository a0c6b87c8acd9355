//! Deny-all adapters for the `deny-…` imports that composition gives a dependency for each
//! capability it does not inherit. Every function answers its interface's own refusal
//! (`access-denied`, `HTTP-request-denied`, or `other("access denied …")`), so a dependency
//! sees the same typed errors as a component without the grant, never a trap.

use crate::compose::DENY_PREFIX;
use anyhow::{Context, bail};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Linker, ResourceType, Type, Val};
use wasmtime::{Engine, StoreContextMut};

/// The resource type behind denied `open` functions; none is ever created.
struct Denied;

/// Links every `deny-…` import of `component` into `linker`.
pub fn link_denied_imports<T: 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &Component,
) -> anyhow::Result<()> {
    let imports: Vec<(String, ComponentItem)> = component
        .component_type()
        .imports(engine)
        .map(|(name, item)| (name.to_string(), item.ty))
        .collect();
    // Resources that really belong to another import (e.g. wasi:http/types) are only aliased by a
    // denied interface; they must not be redefined.
    let foreign_resources: Vec<ResourceType> = imports
        .iter()
        .filter(|(name, _)| !name.starts_with(DENY_PREFIX))
        .flat_map(|(_, item)| instance_resources(engine, item))
        .collect();
    for (name, item) in &imports {
        if !name.starts_with(DENY_PREFIX) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item else {
            bail!("import `{name}` is not an interface");
        };
        let mut linked = linker.instance(name)?;
        for (export, export_item) in instance.exports(engine) {
            match export_item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let function = format!("{name}#{export}");
                    linked.func_new(export, move |store, ty, params, results| {
                        deny(store, &function, ty, params, results)
                            .map_err(wasmtime::Error::from_anyhow)
                    })?;
                }
                ComponentItem::Resource(resource) if !foreign_resources.contains(&resource) => {
                    linked.resource(export, ResourceType::host::<Denied>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn instance_resources(engine: &Engine, item: &ComponentItem) -> Vec<ResourceType> {
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

fn deny<T>(
    mut store: StoreContextMut<'_, T>,
    function: &str,
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
    let Some(Type::Result(result)) = ty.results().next() else {
        bail!("{function} was denied and has no error result to report it with");
    };
    let error = result
        .err()
        .with_context(|| format!("{function} was denied and has no error type"))?;
    results[0] = Val::Result(Err(Some(Box::new(denied_value(function, &error)?))));
    Ok(())
}

fn denied_value(function: &str, error: &Type) -> anyhow::Result<Val> {
    let Type::Variant(variant) = error else {
        bail!("{function} was denied and its error type is not a variant");
    };
    let cases: Vec<(String, bool)> = variant
        .cases()
        .map(|c| (c.name.to_string(), c.ty.is_some()))
        .collect();
    for refusal in ["access-denied", "HTTP-request-denied"] {
        if cases
            .iter()
            .any(|(name, payload)| name == refusal && !payload)
        {
            return Ok(Val::Variant(refusal.to_string(), None));
        }
    }
    if cases
        .iter()
        .any(|(name, payload)| name == "other" && *payload)
    {
        let message = "access denied: this dependency does not inherit this capability (set inherit_configuration)";
        return Ok(Val::Variant(
            "other".into(),
            Some(Box::new(Val::String(message.into()))),
        ));
    }
    bail!("{function} was denied and its error type has no way to say so")
}
