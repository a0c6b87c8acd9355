//! The capabilities assembled: their app states (configured once), each component's grants
//! (resolved once) and the store data of one request (built from the grants per request), plus
//! WASI itself. A new capability is one field in each of the three structs below.

use crate::app::manifest::Component;
use crate::capabilities::key_value::{KeyValue, KeyValueView};
use crate::capabilities::outbound::Outbound;
use crate::capabilities::sqlite::{Sqlite, SqliteView};
use crate::capabilities::variables::{self, Variables};
use crate::capabilities::{AppContext, Capability, RequestScope, key_value, sqlite};
use crate::durability::held_response::PendingSync;
use std::sync::Arc;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Every capability's state for the app.
pub struct AppStates {
    key_value: Arc<key_value::AppState>,
    sqlite: Arc<sqlite::AppState>,
    variables: Arc<variables::AppState>,
    outbound: Arc<<Outbound as Capability>::AppState>,
}

impl AppStates {
    pub fn configure(context: &AppContext) -> anyhow::Result<Self> {
        Ok(Self {
            key_value: KeyValue::configure(context)?,
            sqlite: Sqlite::configure(context)?,
            variables: Variables::configure(context)?,
            outbound: Outbound::configure(context)?,
        })
    }

    /// Every capability's host implementation, and WASI's.
    pub fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<InstanceState>> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        KeyValue::add_to_linker(&mut linker)?;
        Sqlite::add_to_linker(&mut linker)?;
        Variables::add_to_linker(&mut linker)?;
        Outbound::add_to_linker(&mut linker)?;
        Ok(linker)
    }
}

/// What one component may reach, resolved from its manifest entry at startup.
pub struct ComponentGrants {
    environment: Vec<(String, String)>,
    key_value: <KeyValue as Capability>::Grant,
    sqlite: <Sqlite as Capability>::Grant,
    variables: <Variables as Capability>::Grant,
    outbound: <Outbound as Capability>::Grant,
}

impl ComponentGrants {
    pub fn resolve(
        apps: &AppStates,
        id: &str,
        component: &Component,
        context: &AppContext,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            environment: component.environment.clone().into_iter().collect(),
            key_value: KeyValue::grant(&apps.key_value, id, component, context)?,
            sqlite: Sqlite::grant(&apps.sqlite, id, component, context)?,
            variables: Variables::grant(&apps.variables, id, component, context)?,
            outbound: Outbound::grant(&apps.outbound, id, component, context)?,
        })
    }
}

/// The store data of one request.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pending: Arc<PendingSync>,
    key_value: <KeyValue as Capability>::InstanceState,
    sqlite: <Sqlite as Capability>::InstanceState,
    variables: <Variables as Capability>::InstanceState,
    outbound: <Outbound as Capability>::InstanceState,
}

impl InstanceState {
    pub fn new(grants: &ComponentGrants) -> Self {
        let request = RequestScope {
            pending: Arc::default(),
        };
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout()
            .inherit_stderr()
            .envs(&grants.environment)
            .allow_tcp(true)
            .allow_udp(true)
            .socket_addr_check(crate::capabilities::outbound::sockets::addr_check(
                grants.outbound.allowed.clone(),
            ));
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            key_value: KeyValue::instance(&grants.key_value, &request),
            sqlite: Sqlite::instance(&grants.sqlite, &request),
            variables: Variables::instance(&grants.variables, &request),
            outbound: Outbound::instance(&grants.outbound, &request),
            pending: request.pending,
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

    pub fn variables(&mut self) -> &mut variables::InstanceState {
        &mut self.variables
    }

    /// The commits this request made; its response waits for them to reach the disk.
    pub fn pending_sync(&self) -> Arc<PendingSync> {
        self.pending.clone()
    }
}

impl crate::capabilities::refusals::unavailable::OutboundGrant for InstanceState {
    fn allowed_outbound_hosts(
        &self,
    ) -> &crate::capabilities::outbound::allowed_hosts::AllowedHosts {
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
