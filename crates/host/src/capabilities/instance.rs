//! The store data of one request: WASI, WASI HTTP and each capability's per-instance state, built
//! cheaply from the per-component grants prepared once at startup.

use crate::capabilities::outbound::allowed_hosts::AllowedHosts;
use crate::capabilities::key_value::{self, KeyValueView};
use crate::capabilities::outbound::http::OutboundHooks;
use crate::capabilities::sqlite::{self, SqliteView};
use crate::capabilities::variables;
use std::collections::BTreeSet;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What one component may reach, resolved from its manifest entry at startup.
pub struct ComponentGrants {
    pub environment: Vec<(String, String)>,
    pub key_value: (Arc<key_value::AppState>, Arc<BTreeSet<String>>),
    pub sqlite: (Arc<sqlite::AppState>, Arc<BTreeSet<String>>),
    pub variables: Arc<variables::ComponentVariables>,
    pub outbound: Arc<AllowedHosts>,
    pub local_endpoint: crate::capabilities::outbound::http::LocalEndpointSlot,
}

pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: OutboundHooks,
    key_value: key_value::InstanceState,
    sqlite: sqlite::InstanceState,
    variables: variables::InstanceState,
}

impl InstanceState {
    pub fn new(grants: &ComponentGrants) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout()
            .inherit_stderr()
            .envs(&grants.environment)
            .allow_tcp(true)
            .allow_udp(true)
            .socket_addr_check(crate::capabilities::outbound::sockets::addr_check(grants.outbound.clone()));
        let pending = Arc::new(crate::durability::held_response::PendingSync::default());
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outbound: OutboundHooks {
                allowed: grants.outbound.clone(),
                local: grants.local_endpoint.clone(),
                pending: pending.clone(),
            },
            key_value: key_value::InstanceState {
                app: grants.key_value.0.clone(),
                allowed: grants.key_value.1.clone(),
            },
            sqlite: sqlite::InstanceState {
                app: grants.sqlite.0.clone(),
                allowed: grants.sqlite.1.clone(),
                pending,
            },
            variables: variables::InstanceState {
                variables: grants.variables.clone(),
            },
        }
    }

    pub fn key_value(&mut self) -> KeyValueView<'_> {
        KeyValueView {
            state: &self.key_value,
            table: &mut self.table,
        }
    }

    pub fn sqlite(&mut self) -> SqliteView<'_> {
        SqliteView {
            state: &self.sqlite,
            table: &mut self.table,
        }
    }

    /// The commits this request made; its response waits for them to reach the disk.
    pub fn pending_sync(&self) -> Arc<crate::durability::held_response::PendingSync> {
        self.sqlite.pending.clone()
    }

    pub fn variables(&mut self) -> &mut variables::InstanceState {
        &mut self.variables
    }
}

impl crate::capabilities::refusals::unavailable::OutboundGrant for InstanceState {
    fn allowed_outbound_hosts(&self) -> &AllowedHosts {
        &self.outbound.allowed
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
