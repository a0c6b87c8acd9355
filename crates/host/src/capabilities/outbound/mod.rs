//! Outbound network access: HTTP requests (`wasi:http/outgoing-handler`) and sockets
//! (`wasi:sockets`), both fenced by the component's `allowed_outbound_hosts`.

pub mod allowed_hosts;
pub mod http;
pub mod sockets;

use crate::app::manifest::Component;
use crate::capabilities::{AppContext, Capability, RequestScope, instance};
use allowed_hosts::AllowedHosts;
use anyhow::Context;
use http::{LocalEndpointSlot, OutboundHooks};
use std::sync::Arc;
use wasmtime::component::Linker;

pub struct Outbound;

/// Where a component may connect.
pub struct Grant {
    pub allowed: Arc<AllowedHosts>,
    local: LocalEndpointSlot,
}

impl Capability for Outbound {
    /// The embedded gateway's publish endpoint, once it serves: publishes skip the network.
    type AppState = LocalEndpointSlot;
    type Grant = Grant;
    type InstanceState = OutboundHooks;

    fn configure(context: &AppContext) -> anyhow::Result<Arc<LocalEndpointSlot>> {
        Ok(Arc::new(context.local_endpoint.clone()))
    }

    fn grant(
        app: &Arc<LocalEndpointSlot>,
        id: &str,
        component: &Component,
        context: &AppContext,
    ) -> anyhow::Result<Grant> {
        let hosts = (component.allowed_outbound_hosts.iter())
            .map(|template| context.variables.render(template))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::from)
            .and_then(|hosts| Ok(AllowedHosts::parse(hosts.iter().map(String::as_str))?))
            .with_context(|| format!("component `{id}`: allowed_outbound_hosts"))?;
        Ok(Grant {
            allowed: Arc::new(hosts),
            local: (**app).clone(),
        })
    }

    fn instance(grant: &Grant, request: &RequestScope) -> OutboundHooks {
        OutboundHooks {
            allowed: grant.allowed.clone(),
            local: grant.local.clone(),
            pending: request.pending.clone(),
        }
    }

    /// `wasi:http` (its types and the outgoing handler); sockets come with WASI itself
    /// (`instance`), fenced by the socket check each instance gets.
    fn add_to_linker(linker: &mut Linker<instance::InstanceState>) -> wasmtime::Result<()> {
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
    }
}
