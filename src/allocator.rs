//! The allocator's settings: mimalloc (the binary's global allocator) told to return
//! freed memory to the operating system, with the figures that chose each value.

/// mimalloc keeps freed pages for later (purged after a delay, and arenas committed
/// eagerly, which on Linux purges with `MADV_FREE`: the pages stay in the resident set
/// until the kernel needs them). Under warm batch100 over a 20,000-customer pool the
/// hub grew past 200 MB (216 MB after 40 s); with both set here, 193 MB, and the cold
/// benchmark's CPU did not move (docs/performance.md). Eager commit is also off by the
/// default compiled in (.cargo/config.toml), which reaches the arena mimalloc makes
/// before `main`; setting it here covers a build whose `CFLAGS` replaced that one. An
/// operator's `MIMALLOC_*` variables still win.
///
/// The purge delay is short rather than none: purging at every free returned pages one
/// `madvise` at a time, each a TLB flush on every core, 9 % of the workers' time under
/// warm batch100; 25 ms lets freed pages be reused first (batch100 warm +20 %, cold
/// +15 %) for about 3 MB more at the peak (docs/performance.md).
pub fn return_freed_memory() {
    // Positions in mimalloc 3's `mi_option_e` (include/mimalloc.h of the bundled
    // 3.3): libmimalloc-sys names only older options, so the linked version is checked.
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: plain calls into the linked allocator, which reads options at any time.
    let version = unsafe { libmimalloc_sys::mi_version() };
    if !(30_000..40_000).contains(&version) {
        return;
    }
    for (option, variable, value) in [
        (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
        (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 25),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: as above; the option exists in this version.
            unsafe { libmimalloc_sys::mi_option_set(option, value) };
        }
    }
}
