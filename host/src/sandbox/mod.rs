//! The sandbox engine: compiles components once, then runs every tool call
//! in a fresh `Store`, instantiated from a cached `InstancePre` in the
//! pooling allocator, under per-call limits.
//!
//! A call is bounded in memory (a [`StoreLimits`](wasmtime::StoreLimits)
//! ceiling per linear memory), CPU (fuel), wall-clock time (epoch
//! interruption, plus a timer around the whole call for time spent blocked
//! in host calls), stack (engine-wide), output and log size. Whatever
//! happens inside, the host gets back a [`CallError`] and keeps serving.

mod cache;
mod error;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentType, InstancePre, Lift, Linker, Type,
};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};

use crate::caps::log::{LogLimitExceeded, LogRecord};
use crate::caps::{self, CallCaps};
use crate::config::SandboxConfig;
use crate::vocab::{Deadline, Limits, truncate};

pub(crate) use cache::sha256_hex;
pub use error::{CallError, CallErrorKind};
pub(crate) use state::CallState;

use error::DeadlineExceeded;

/// The interface every skill exports.
pub(crate) const TOOLS_INTERFACE: &str = "skillbox:skill/tools@0.1.0";

/// How often the epoch advances: the granularity of deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Longest tool error message kept from a guest.
const MAX_ERROR_MESSAGE: usize = 4096;

/// Core instances, memories and tables one component may use; generous, as
/// components from some languages bundle several modules.
const CORE_INSTANCES_PER_CALL: u32 = 32;
const MEMORIES_PER_CALL: u32 = 4;
const TABLES_PER_CALL: u32 = 8;

/// Most elements in one table: far above what compilers emit, and the size
/// of a table slot in the pool.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Bytes of a slot kept mapped between calls and reset in place.
const KEEP_RESIDENT_MEMORY: usize = 4 << 20;
const KEEP_RESIDENT_TABLE: usize = 64 << 10;
const KEEP_RESIDENT_STACK: usize = 32 << 10;

pub struct Sandbox {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<cache::CompileCache>,
    slots: Semaphore,
    stores_created: AtomicU64,
    _ticker: EpochTicker,
}

/// A loaded component, ready to instantiate for each call.
pub struct Prepared {
    pre: InstancePre<CallState>,
    call: ComponentExportIndex,
    digest: String,
}

impl Prepared {
    pub fn component(&self) -> &Component {
        self.pre.component()
    }

    /// SHA-256 of the component file.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// The sandbox engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the sandbox settings are out of range: {0}")]
    Settings(String),
    #[error("cannot start the sandbox engine: {0:#}")]
    Engine(wasmtime::Error),
    #[error("cannot open the component cache {}: {error}", dir.display())]
    Cache { dir: PathBuf, error: std::io::Error },
}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("cannot read component {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Compile { path: PathBuf, reason: String },
    #[error("{path} does not implement skillbox:skill@0.1.0: {reason}")]
    NotASkill { path: PathBuf, reason: String },
}

/// One tool call to run.
pub struct Call<'a> {
    pub skill: &'a str,
    pub tool: &'a str,
    /// The JSON input, already validated against the tool's schema.
    pub input: &'a str,
    pub limits: Limits,
    pub caps: CallCaps,
    /// Set when the call started; prompts push it back.
    pub deadline: Deadline,
    /// The calling agent's share of the pool, taken before a slot.
    pub share: Arc<tokio::sync::Semaphore>,
}

/// What a call produced: its output or error, and everything it logged.
#[derive(Debug)]
pub struct CallReport {
    pub result: Result<String, CallError>,
    pub logs: Vec<LogRecord>,
}

/// `tools.tool-error`.
#[derive(ComponentType, Lift)]
#[component(variant)]
enum GuestToolError {
    #[component(name = "invalid-input")]
    InvalidInput(String),
    #[component(name = "denied")]
    Denied(String),
    #[component(name = "failed")]
    Failed(String),
}

/// The result is copied out as it is lifted: wasmtime runs the guest's
/// post-return (which frees it) before `call_async` returns.
type CallFunc = (Result<String, GuestToolError>,);

impl Sandbox {
    pub fn new(config: &SandboxConfig) -> Result<Sandbox, SandboxError> {
        let slots = config.max_concurrent_calls.max(1);
        let stack = usize::try_from(config.max_wasm_stack.as_u64())
            .map_err(|_| SandboxError::Settings("max_wasm_stack".into()))?;
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(true)
            .max_wasm_stack(stack)
            // Host functions run on the same fiber stack as the guest.
            .async_stack_size(stack + (1 << 20))
            // Stacks are reused across calls of different agents.
            .async_stack_zeroing(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_allocator(
                config,
            )?));
        let engine = Engine::new(&wasm).map_err(SandboxError::Engine)?;

        let mut linker = Linker::new(&engine);
        caps::add_to_linker(&mut linker).map_err(SandboxError::Engine)?;

        let cache = match &config.cache_dir {
            Some(dir) => Some(cache::CompileCache::open(dir, &engine).map_err(|error| {
                SandboxError::Cache {
                    dir: dir.clone(),
                    error,
                }
            })?),
            None => None,
        };
        Ok(Sandbox {
            _ticker: EpochTicker::start(engine.clone()),
            engine,
            linker,
            cache,
            slots: Semaphore::new(slots as usize),
            stores_created: AtomicU64::new(0),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How many sandboxes (stores) were created so far.
    pub fn stores_created(&self) -> u64 {
        self.stores_created.load(Ordering::Relaxed)
    }

    /// Compile (or load from the cache) the component at `path` and check
    /// that it implements the skill world with imports the host provides.
    pub fn prepare(&self, path: &Path) -> Result<Prepared, PrepareError> {
        let bytes = std::fs::read(path).map_err(|error| PrepareError::Read {
            path: path.to_owned(),
            error,
        })?;
        let digest = sha256_hex(&bytes);
        let compiled = match &self.cache {
            Some(cache) => cache.load(&self.engine, &digest, &bytes),
            None => Component::new(&self.engine, &bytes),
        };
        let component = compiled.map_err(|e| PrepareError::Compile {
            path: path.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let not_a_skill = |reason: String| PrepareError::NotASkill {
            path: path.to_owned(),
            reason,
        };

        let Some(tools) = component.get_export_index(None, TOOLS_INTERFACE) else {
            let exports: Vec<_> = component
                .component_type()
                .exports(&self.engine)
                .map(|(name, _)| name.to_owned())
                .collect();
            return Err(not_a_skill(format!(
                "it does not export {TOOLS_INTERFACE} (its exports: {})",
                if exports.is_empty() {
                    "none".into()
                } else {
                    exports.join(", ")
                }
            )));
        };
        let Some((item, call)) = component.get_export(Some(&tools), "call") else {
            return Err(not_a_skill(format!(
                "its {TOOLS_INTERFACE} has no function 'call'"
            )));
        };
        check_call_signature(&item).map_err(not_a_skill)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| not_a_skill(format!("{e:#}")))?;
        Ok(Prepared { pre, call, digest })
    }

    /// Run one tool call in a fresh store. Never panics on guest behaviour;
    /// every failure is a [`CallError`].
    pub async fn run(&self, prepared: &Prepared, call: Call<'_>) -> CallReport {
        let log = call.caps.log.clone();
        let (skill, tool, limits) = (call.skill, call.tool, call.limits);
        // One deadline for all of it: waiting for a slot, instantiating,
        // running, and host calls, which epochs cannot interrupt.
        let deadline = call.deadline.clone();
        let run = self.run_in_store(prepared, call);
        tokio::pin!(run);
        let result = loop {
            tokio::select! {
                // The call first: a call that finishes at once never
                // registers a timer.
                biased;
                result = &mut run => break result,
                () = tokio::time::sleep_until(deadline.instant().into()) => {
                    if deadline.has_passed() {
                        break Err(CallErrorKind::Deadline(limits.timeout));
                    }
                }
            }
        };
        let result = result.map_err(|kind| {
            let kind = match kind {
                CallErrorKind::Crashed(trap) => CallErrorKind::Crashed(match log.stderr_tail() {
                    Some(stderr) => format!("{stderr} ({trap})"),
                    None => trap,
                }),
                other => other,
            };
            CallError {
                skill: skill.to_owned(),
                tool: tool.to_owned(),
                kind,
            }
        });
        CallReport {
            result,
            logs: log.finish(),
        }
    }

    async fn run_in_store(
        &self,
        prepared: &Prepared,
        call: Call<'_>,
    ) -> Result<String, CallErrorKind> {
        let deadline = call.deadline.clone();
        // The agent's share first: an agent past it waits behind its own
        // calls, and the pool stays open to the others.
        let _share = call
            .share
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let limits = call.limits;

        let budget = call.caps.budget.clone();
        let mut store = Store::new(&self.engine, CallState::new(call.caps, budget));
        self.stores_created.fetch_add(1, Ordering::Relaxed);
        store.limiter(|state| &mut state.limiter);
        store
            .set_fuel(limits.fuel)
            .expect("fuel is enabled in the engine config");
        // Bound what one import call (or the result) may copy out of the guest
        // by the guest's own memory ceiling: the host never holds more for a
        // call than the call itself was allowed.
        store.set_hostcall_fuel(usize::try_from(limits.memory.as_u64()).unwrap_or(usize::MAX));
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if deadline.has_passed() {
                Err(DeadlineExceeded.into())
            } else {
                // Let other tasks run between slices of a long call.
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let instance = loop {
            match prepared.pre.instantiate_async(&mut store).await {
                Ok(instance) => break instance,
                // The slot this call holds is free in the pool's count, but
                // the allocator may not have it back yet (another thread can
                // be flushing its decommit queue): wait, within the deadline.
                Err(e) if e.is::<wasmtime::PoolConcurrencyLimitError>() => {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err(e) => return Err(classify(e, &store, &limits)),
            }
        };
        let func = instance
            .get_typed_func::<(&str, &str), CallFunc>(&mut store, &prepared.call)
            .map_err(|e| CallErrorKind::NotASkill(format!("{e:#}")))?;
        let (returned,) = func
            .call_async(&mut store, (call.tool, call.input))
            .await
            .map_err(|e| classify(e, &store, &limits))?;

        let message = |text: String| truncate(&text, MAX_ERROR_MESSAGE);
        match returned {
            Ok(output) => {
                if output.len() as u64 > limits.output.as_u64() {
                    return Err(CallErrorKind::OutputTooLarge {
                        size: output.len(),
                        limit: limits.output,
                    });
                }
                Ok(output)
            }
            Err(GuestToolError::InvalidInput(m)) => Err(CallErrorKind::InvalidInput(message(m))),
            Err(GuestToolError::Denied(m)) => Err(CallErrorKind::Denied(message(m))),
            Err(GuestToolError::Failed(m)) => Err(CallErrorKind::Failed(message(m))),
        }
    }
}

/// The instance pool: sized for `max_concurrent_calls` calls, each with room
/// for components that bundle several modules.
pub fn pooling_allocator(config: &SandboxConfig) -> Result<PoolingAllocationConfig, SandboxError> {
    let slots = config.max_concurrent_calls.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots * CORE_INSTANCES_PER_CALL)
        .total_memories(slots * MEMORIES_PER_CALL)
        .total_tables(slots * TABLES_PER_CALL)
        .total_stacks(slots)
        .max_memories_per_component(MEMORIES_PER_CALL)
        .max_tables_per_component(TABLES_PER_CALL)
        .max_core_instances_per_component(CORE_INSTANCES_PER_CALL)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_memory_size(
            usize::try_from(config.max_memory.as_u64())
                .map_err(|_| SandboxError::Settings("maxima.memory".into()))?,
        )
        // Reset a slot's memory, tables and stack by rewriting what was
        // touched rather than unmapping it: unmapping shoots down TLBs on
        // every core, which made two threads slower than one.
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        .async_stack_keep_resident(KEEP_RESIDENT_STACK)
        .pagemap_scan(Enabled::Auto)
        // What must be unmapped still is, 16 slots at a time.
        .decommit_batch_size(16);
    Ok(pool)
}

/// `call: func(tool: string, input: string) -> result<string, tool-error>`,
/// as far as it can be told before instantiation; the error variant's cases
/// are checked when the function is first looked up in an instance.
fn check_call_signature(item: &ComponentItem) -> Result<(), String> {
    let ComponentItem::ComponentFunc(func) = item else {
        return Err(format!("its {TOOLS_INTERFACE}#call is not a function"));
    };
    let params: Vec<_> = func.params().map(|(_, ty)| ty).collect();
    let results: Vec<_> = func.results().collect();
    let expected = matches!(params.as_slice(), [Type::String, Type::String])
        && matches!(results.as_slice(), [Type::Result(r)] if r.ok() == Some(Type::String));
    if expected {
        Ok(())
    } else {
        Err(format!(
            "its {TOOLS_INTERFACE}#call has the wrong signature; expected \
             func(tool: string, input: string) -> result<string, tool-error>"
        ))
    }
}

/// Name the limit behind a trap, or describe the crash.
fn classify(error: wasmtime::Error, store: &Store<CallState>, limits: &Limits) -> CallErrorKind {
    if error.is::<DeadlineExceeded>() {
        return CallErrorKind::Deadline(limits.timeout);
    }
    if error.is::<LogLimitExceeded>() {
        return CallErrorKind::LogLimit(limits.log);
    }
    // Lifting the result found a string that is not UTF-8.
    if let Some(invalid) = error.downcast_ref::<std::str::Utf8Error>() {
        return CallErrorKind::InvalidOutput(invalid.to_string());
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => return CallErrorKind::OutOfFuel(limits.fuel),
        Some(Trap::StackOverflow) => return CallErrorKind::StackOverflow,
        _ => {}
    }
    // A refused growth usually ends in an abort; either way it is why.
    let limiter = &store.data().limiter;
    if limiter.memory_refused {
        return CallErrorKind::Memory(limits.memory);
    }
    if limiter.table_refused {
        return CallErrorKind::TableLimit(MAX_TABLE_ELEMENTS);
    }
    match error.downcast_ref::<Trap>() {
        Some(trap) => CallErrorKind::Crashed(trap.to_string()),
        None => CallErrorKind::Crashed(format!("{error:#}")),
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on its own thread, so
/// that deadlines fire even when every async worker is busy running guests.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("skillbox-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch thread");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
