//! The data of one call's `Store`: created when the call starts, dropped when
//! it ends. Nothing in it outlives the call.

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::MAX_TABLE_ELEMENTS;
use crate::caps::consent::{ConsentCap, ConsentView};
use crate::caps::inference::{InferenceCap, InferenceView};
use crate::caps::log::{LogCap, LogView, Source};
use crate::caps::memory::{MemoryCap, MemoryView};
use crate::caps::{CallCaps, CallView, types};
use crate::vocab::Limits;

/// Most resource handles (streams, requests, files) a call may hold at once.
const MAX_HANDLES: usize = 10_000;

pub(crate) struct CallState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    pub(crate) caps: CallCaps,
}

impl CallState {
    pub(crate) fn new(caps: CallCaps, limits: &Limits) -> Self {
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
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_HANDLES);
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table,
            limiter: CallLimiter::new(limits.memory.as_u64()),
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

impl types::Host for CallState {}

impl CallView for CallState {}

/// Wasmtime's [`StoreLimits`], remembering a refused growth so that the trap
/// it usually leads to is reported as what it is.
pub(crate) struct CallLimiter {
    limits: StoreLimits,
    pub(crate) memory_refused: bool,
    pub(crate) table_refused: bool,
}

impl CallLimiter {
    fn new(memory: u64) -> Self {
        Self {
            limits: StoreLimitsBuilder::new()
                .memory_size(usize::try_from(memory).unwrap_or(usize::MAX))
                .table_elements(MAX_TABLE_ELEMENTS)
                .build(),
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
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
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
