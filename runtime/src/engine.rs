//! The wasmtime side of the runtime: one engine, every component of the
//! manifest compiled once (and cached on disk across runs) and
//! pre-instantiated once (`instantiate_pre`), and a fresh store and instance
//! per request, like `spin up`.
//!
//! Instances come from wasmtime's pooling allocator, whose size bounds how
//! many requests run at once; past it instantiation fails and the gateway
//! answers 503. A slot keeps its memory mapped between instances and resets
//! only the pages the last guest wrote, so a fresh instance per request costs
//! little more than reusing one (see [`KEEP_RESIDENT`]). Guest code is
//! interrupted by epochs (a ticker advances the engine epoch every
//! [`EPOCH_TICK`]) and yields to tokio at each tick, so a busy guest cannot
//! starve other requests and a request timeout can always cancel it. Each store links WASI 0.2 (what Rust std imports), WASI 0.3
//! with `wasi:http` (what spin-sdk 7 imports), `spin:postgres` and
//! `spin:variables`. Outbound HTTP is checked against the component's
//! `allowed_outbound_hosts`; raw sockets are denied.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::manifest::Manifest;
use crate::outbound::{AllowedHostError, AllowedHosts};
use crate::outbound_http::OutboundHttp;
use crate::pg::pool::PgPools;
use crate::pg::{PgState, Postgres};
use crate::variables::{AppVariables, ComponentVariables, VariableError, Variables};

/// How often guest code yields to the async executor.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest linear memory one guest instance may grow to.
const MAX_GUEST_MEMORY: usize = 256 << 20;

/// How much of a linear memory (and of a table) a freed instance slot keeps
/// mapped: the pages the guest wrote, up to this much, are copied back from
/// the module's image instead of being unmapped, so the next instance in the
/// slot starts from pristine memory without page faults, and no slot's reset
/// stops the other threads to flush their TLBs (`madvise` would). Measured
/// on the echo component: 2.6× the requests/s at 16 connections.
const KEEP_RESIDENT: usize = 4 << 20;

/// Why the runtime cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("wasmtime: {0:#}")]
    Wasmtime(wasmtime::Error),
    #[error("component {component:?}: cannot load {path}: {error:#}")]
    Load { component: String, path: String, error: wasmtime::Error },
    #[error("component {component:?} cannot be linked: {error:#}")]
    Link { component: String, error: wasmtime::Error },
    #[error(transparent)]
    Variables(#[from] VariableError),
    #[error(transparent)]
    AllowedHosts(#[from] AllowedHostError),
}

/// Why one request did not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No instance could be created (instance pool full, start trap).
    #[error("instantiation failed: {0:#}")]
    Instantiate(wasmtime::Error),
    /// The guest trapped (panic, out of bounds, host error).
    #[error("guest trapped: {0:#}")]
    Trap(wasmtime::Error),
    /// The handler returned a `wasi:http` error code instead of a response.
    #[error("handler returned an error: {0:?}")]
    Handler(ErrorCode),
}

/// Sizing of the engine, from the CLI.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Most instances alive at once (concurrent requests).
    pub max_instances: u32,
    /// Where compiled components are cached across runs.
    pub cache_dir: PathBuf,
}

/// Everything a store holds for one request.
pub struct HostState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHttp,
    pg: PgState,
    variables: ComponentVariables,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// One compiled, linked component and what each of its stores needs.
struct LoadedComponent {
    pre: ServicePre<HostState>,
    environment: Vec<(String, String)>,
    variables: ComponentVariables,
    allowed: Arc<AllowedHosts>,
}

/// The engine and every component, shared by all requests.
pub struct Runtime {
    engine: wasmtime::Engine,
    components: HashMap<String, LoadedComponent>,
    pools: Arc<PgPools>,
}

impl Runtime {
    /// Compile and link every component of `manifest`.
    pub fn new(
        manifest: &Manifest,
        app_variables: &AppVariables,
        settings: EngineSettings,
        pools: Arc<PgPools>,
    ) -> Result<Runtime, EngineError> {
        let engine = wasmtime::Engine::new(&engine_config(&settings)?).map_err(EngineError::Wasmtime)?;
        let linker = linker(&engine).map_err(EngineError::Wasmtime)?;
        let mut compiled: HashMap<&PathBuf, Component> = HashMap::new();
        let mut components = HashMap::new();
        for (id, c) in &manifest.components {
            let load_error = |error| EngineError::Load { component: id.clone(), path: c.source.display().to_string(), error };
            let component = match compiled.get(&c.source) {
                Some(component) => component.clone(),
                None => {
                    let component = Component::from_file(&engine, &c.source).map_err(load_error)?;
                    compiled.insert(&c.source, component.clone());
                    component
                }
            };
            let link_error = |error| EngineError::Link { component: id.clone(), error };
            let pre = linker.instantiate_pre(&component).map_err(link_error)?;
            let pre = ServicePre::new(pre).map_err(link_error)?;
            let allowed = c
                .allowed_outbound_hosts
                .iter()
                .map(|h| app_variables.expand(h, &format!("component {id:?} allowed_outbound_hosts")))
                .collect::<Result<Vec<_>, _>>()?;
            components.insert(
                id.clone(),
                LoadedComponent {
                    pre,
                    environment: c.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    variables: ComponentVariables::new(&c.variables, app_variables, id)?,
                    allowed: Arc::new(AllowedHosts::parse(id, &allowed)?),
                },
            );
        }
        let ticker = engine.weak();
        std::thread::spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
        Ok(Runtime { engine, components, pools })
    }

    /// Run `component` on one request and collect its whole response.
    pub async fn handle(
        &self,
        component: &str,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Bytes>, InvokeError> {
        let loaded = self
            .components
            .get(component)
            .ok_or_else(|| InvokeError::Instantiate(wasmtime::format_err!("no component {component:?}")))?;
        // Guest output goes to stderr: stdout carries the request log.
        let wasi = WasiCtx::builder()
            .envs(&loaded.environment)
            .stdout(wasmtime_wasi::cli::stderr())
            .inherit_stderr()
            .build();
        let state = HostState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutboundHttp::new(loaded.allowed.clone()),
            pg: PgState::new(self.pools.clone(), loaded.allowed.clone()),
            variables: loaded.variables.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        let service = loaded.pre.instantiate_async(&mut store).await.map_err(InvokeError::Instantiate)?;
        let (request, _body_result) = wasmtime_wasi_http::p3::Request::from_http(&mut store.data_mut().hooks, request);
        let outcome = store
            .run_concurrent(async move |store| {
                let response = match service.handle(store, request).await? {
                    Ok(response) => response,
                    Err(code) => return Ok(Err(code)),
                };
                let response = store.with(|store| response.into_http(store, async { Ok(()) }))?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await.map_err(|e| wasmtime::format_err!("response body: {e:?}"))?;
                wasmtime::Result::Ok(Ok(http::Response::from_parts(parts, body.to_bytes())))
            })
            .await;
        match outcome {
            Ok(Ok(Ok(response))) => Ok(response),
            Ok(Ok(Err(code))) => Err(InvokeError::Handler(code)),
            Ok(Err(e)) | Err(e) => Err(InvokeError::Trap(e)),
        }
    }
}

fn engine_config(settings: &EngineSettings) -> Result<Config, EngineError> {
    let mut config = Config::new();
    config.wasm_component_model_async(true);
    config.epoch_interruption(true);
    let mut cache = wasmtime::CacheConfig::new();
    cache.with_directory(&settings.cache_dir);
    config.cache(Some(wasmtime::Cache::new(cache).map_err(EngineError::Wasmtime)?));
    let n = settings.max_instances;
    let mut pooling = PoolingAllocationConfig::new();
    pooling
        .total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .total_stacks(n.saturating_mul(2))
        .max_memory_size(MAX_GUEST_MEMORY)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        // find the written pages with PAGEMAP_SCAN (Linux 6.7+) instead of
        // copying back all KEEP_RESIDENT bytes
        .pagemap_scan(Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Ok(config)
}

fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    crate::bindings::spin::postgres::postgres::add_to_linker::<HostState, Postgres>(&mut linker, |s| &mut s.pg)?;
    crate::bindings::spin::variables::variables::add_to_linker::<HostState, Variables>(&mut linker, |s| &s.variables)?;
    Ok(linker)
}
