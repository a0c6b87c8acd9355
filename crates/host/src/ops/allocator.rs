//! The process's memory allocator: jemalloc. Every SQLite call hands its worker's role to another
//! thread (`blocking`), so hundreds of threads take turns allocating and freeing. Under glibc's
//! allocator their per-thread caches and arenas kept growing through a steady soak (anonymous
//! memory +3 MiB a minute, BENCHMARKS.md); jemalloc's stayed flat.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A C string pointer, as jemalloc reads its `malloc_conf` symbol.
#[repr(transparent)]
pub struct ConfString(*const std::ffi::c_char);

// SAFETY: it points to a string literal, which is immutable and lives for the whole process.
unsafe impl Sync for ConfString {}

/// Two arenas (this host runs on few cores; more arenas mostly hold more idle memory), and pages
/// nothing uses go back to the OS after a second rather than ten.
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: ConfString =
    ConfString(c"narenas:2,tcache:false,dirty_decay_ms:1000,muzzy_decay_ms:1000".as_ptr());
