//! Keeps large freed buffers in the process instead of returning them to the
//! operating system.
//!
//! A forward pass over a 512-token batch allocates tens of megabytes per layer
//! (projections, the feed-forward's 18 MB intermediates on a 1.5B model) and frees
//! them at the end of the layer. glibc serves allocations above its mmap threshold
//! with fresh mappings and unmaps them on free, so every layer faults and zeroes the
//! same pages again: on the default model that was a sixth of a prompt's time.
//! Raising the threshold to its maximum (32 MiB) and the trim threshold with it puts
//! those buffers on the heap, where the next layer reuses them.
//!
//! The settings are process-wide and are applied once, when the first model loads;
//! on other C libraries this does nothing.

/// Applies the allocator settings (once per process).
pub fn keep_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator parameters; it is thread-safe, and a
        // rejected value leaves the defaults in place.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    });
}
