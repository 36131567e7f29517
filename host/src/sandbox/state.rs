//! The data of one call's `Store`: created when the call starts, dropped when
//! it ends. Nothing in it outlives the call.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::MAX_TABLE_ELEMENTS;
use crate::caps::consent::{ConsentCap, ConsentView};
use crate::caps::fs::{FsCap, FsView};
use crate::caps::inference::{InferenceCap, InferenceView};
use crate::caps::log::{LogCap, LogView, Source};
use crate::caps::memory::{MemoryCap, MemoryView};
use crate::caps::{CallCaps, CallView, types};
use crate::vocab::{FIELD_MAP_BYTES, MemoryBudget};

pub(crate) struct CallState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    pub(crate) caps: CallCaps,
}

impl CallState {
    /// The state of a call within `budget`, which bounds the guest's memory
    /// and what the host holds for it alike.
    pub(crate) fn new(caps: CallCaps, budget: Arc<MemoryBudget>) -> Self {
        // WasiCtxBuilder denies by default: no env, args or preopens. Name
        // lookups and sockets are turned off explicitly all the same.
        let mut wasi = WasiCtx::builder();
        wasi.stdout(caps.log.pipe(Source::Stdout))
            .stderr(caps.log.pipe(Source::Stderr))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let mut wasi = wasi.build();
        caps.fs.install(&mut wasi);
        // Every handle may stand for a header set at its limit: the budget
        // has a reserve for as many as the table holds.
        let mut table = ResourceTable::new();
        table.set_max_capacity(budget.handles());
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(FIELD_MAP_BYTES);
        Self {
            wasi,
            http,
            table,
            limiter: CallLimiter::new(budget),
            caps,
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.caps.http,
        }
    }
}

impl LogView for CallState {
    fn log(&mut self) -> &mut LogCap {
        &mut self.caps.log
    }
}

impl MemoryView for CallState {
    fn memory(&mut self) -> &mut MemoryCap {
        &mut self.caps.memory
    }
}

impl InferenceView for CallState {
    fn inference(&mut self) -> &mut InferenceCap {
        &mut self.caps.inference
    }
}

impl ConsentView for CallState {
    fn consent(&mut self) -> &mut ConsentCap {
        &mut self.caps.consent
    }
}

impl FsView for CallState {
    fn fs(&self) -> &FsCap {
        &self.caps.fs
    }
}

impl types::Host for CallState {}

impl CallView for CallState {}

/// Wasmtime's [`StoreLimits`] for tables, and the call's memory budget for
/// linear memory, remembering a refused growth so that the trap it usually
/// leads to is reported as what it is.
pub(crate) struct CallLimiter {
    limits: StoreLimits,
    budget: Arc<MemoryBudget>,
    pub(crate) memory_refused: bool,
    pub(crate) table_refused: bool,
}

impl CallLimiter {
    fn new(budget: Arc<MemoryBudget>) -> Self {
        Self {
            limits: StoreLimitsBuilder::new()
                .table_elements(MAX_TABLE_ELEMENTS)
                .build(),
            budget,
            memory_refused: false,
            table_refused: false,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = maximum.is_none_or(|max| desired <= max)
            && self.budget.take(desired.saturating_sub(current) as u64);
        self.memory_refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.table_growing(current, desired, maximum)?;
        self.table_refused |= !allowed;
        Ok(allowed)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}
