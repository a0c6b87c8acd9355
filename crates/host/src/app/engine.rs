//! The Wasmtime engine (pooling allocator, so per-request instantiation reuses memory slots) and the
//! on-disk cache of precompiled components, keyed by the component's content hash.

use anyhow::Context;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Concurrent instances the pool holds; requests beyond it wait for a slot to free up.
const MAX_INSTANCES: u32 = 1000;

/// Bytes of each memory and table reset in place when an instance ends, instead of being
/// returned to the kernel (an `madvise`, and on a multi-core machine a TLB shootdown of every
/// core, per instance) and faulted back in by the next one.
const KEEP_RESIDENT: usize = 2 << 20;
/// Slots whose remaining pages are returned to the kernel together, in one batch.
const DECOMMIT_BATCH: usize = 32;

pub fn new_engine() -> anyhow::Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(MAX_INSTANCES)
        // A composed component holds a few core modules (guest, adapters, dependencies).
        .max_core_instances_per_component(64)
        .total_core_instances(MAX_INSTANCES * 8)
        .max_memories_per_component(16)
        .total_memories(MAX_INSTANCES * 2)
        .max_tables_per_component(32)
        .total_tables(MAX_INSTANCES * 4)
        .table_elements(100_000)
        .max_memory_size(512 << 20)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto)
        .decommit_batch_size(DECOMMIT_BATCH);
    let mut config = Config::new();
    config.wasm_component_model(true);
    // wac-graph records which interface an instance implements; accept those annotations.
    config.wasm_component_model_implements(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Ok(Engine::new(&config)?)
}

/// Precompiled components on disk: `<dir>/<sha256 of wasm + engine settings>.cwasm`.
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn key(engine: &Engine, wasm: &[u8]) -> String {
        let mut settings = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut settings);
        let mut hasher = Sha256::new();
        hasher.update(wasm);
        hasher.update(settings.finish().to_le_bytes());
        hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Loads the precompiled form of `wasm`, compiling and storing it on a miss.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> anyhow::Result<Component> {
        let path = self.dir.join(format!("{}.cwasm", Self::key(engine, wasm)));
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an engine with the same
            // compatibility hash (part of the file name) and is only ever replaced atomically.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(error) => tracing::warn!(
                    "ignoring unusable cache entry {}: {error:#}",
                    path.display()
                ),
            }
        }
        let compiled = engine
            .precompile_component(wasm)
            .map_err(anyhow::Error::from)
            .context("compiling component")?;
        if let Err(error) = write_atomically(&self.dir, &path, &compiled) {
            tracing::warn!(
                "cannot cache compiled component in {}: {error:#}",
                self.dir.display()
            );
        }
        // SAFETY: `compiled` was produced just above by this engine.
        Ok(unsafe { Component::deserialize(engine, &compiled) }?)
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        std::process::id(),
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}
