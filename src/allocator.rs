//! The binary's global allocator, mimalloc, and its settings: told to return freed
//! memory to the operating system, with the figures that chose each value.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};

/// Every mimalloc block is at least word-aligned: blocks are whole words, and the first
/// block of a page is aligned to 16 bytes.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc as the global allocator, asked for a plain block whenever a plain block is
/// aligned enough. The `mimalloc` crate sends every allocation through
/// `mi_malloc_aligned`, whose extra checks, and whose generic path for every block over
/// 1 KiB, cost 39,000 instructions a cold `profile360` request under callgrind
/// (docs/performance.md). Nearly every Rust allocation asks for a word or less
/// (strings, vectors, boxes of plain structs); tokio's cache-padded task cells and the
/// like still take the aligned calls.
pub struct Mimalloc;

/// A block for `layout` from `plain` (size) when mimalloc's word alignment covers the
/// layout, else from `aligned` (size, alignment).
///
/// # Safety
/// As for [`GlobalAlloc::alloc`]: `layout` has a non-zero size.
#[inline]
unsafe fn block(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    // SAFETY: both are mimalloc's allocation calls, given a size and, for the aligned
    // one, a power-of-two alignment (every `Layout`'s is).
    unsafe {
        if layout.align() <= WORD {
            plain(layout.size()).cast()
        } else {
            aligned(layout.size(), layout.align()).cast()
        }
    }
}

// SAFETY: each method hands the layout's size and alignment to the mimalloc call that
// honours them (a plain call only when mimalloc's word alignment covers the layout);
// mimalloc frees and reallocates any of its blocks whatever call made it.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        unsafe { block(layout, mi_malloc, mi_malloc_aligned) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        unsafe { block(layout, mi_zalloc, mi_zalloc_aligned) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator.
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; the new block keeps its
        // alignment.
        unsafe {
            if layout.align() <= WORD {
                mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Layouts of every alignment from a byte to a page, small and over mimalloc's
    /// small-block limit: each block is aligned as asked, writable over its whole size,
    /// zeroed when asked, and keeps its bytes and alignment when it grows.
    #[test]
    fn blocks_are_aligned_as_asked_and_keep_their_bytes_through_realloc() {
        let allocator = Mimalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1, 3, 8, 24, 100, 1024, 1025, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).expect("layout");
                // SAFETY: non-zero sizes; every block is freed with its layout.
                unsafe {
                    let zeroed = allocator.alloc_zeroed(layout);
                    assert!(!zeroed.is_null());
                    assert_eq!(zeroed as usize % align, 0, "zeroed {size} at {align}");
                    let bytes = std::slice::from_raw_parts(zeroed, size);
                    assert!(bytes.iter().all(|b| *b == 0), "zeroed {size} at {align}");
                    allocator.dealloc(zeroed, layout);

                    let block = allocator.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "{size} at {align}");
                    for i in 0..size {
                        *block.add(i) = (i % 251) as u8;
                    }
                    let grown = allocator.realloc(block, layout, size * 3);
                    assert!(!grown.is_null());
                    assert_eq!(grown as usize % align, 0, "grown {size} at {align}");
                    for i in 0..size {
                        assert_eq!(*grown.add(i), (i % 251) as u8, "byte {i} of {size}");
                    }
                    let grown_layout = Layout::from_size_align(size * 3, align).expect("layout");
                    allocator.dealloc(grown, grown_layout);
                }
            }
        }
    }
}
