//! The fuzz targets' library: the harnesses (`harness.rs`, shared with the stable replay test
//! `dynamo-server/tests/fuzz_corpus.rs`) and what only the fuzz binaries need.

mod harness;

pub use harness::*;

/// The largest single allocation a fuzz target may make: an input of a few KiB that asks for
/// more is an allocation bomb, a finding. libFuzzer's own `-malloc_limit_mb` needs a
/// sanitizer's malloc hooks, and the campaign builds without one (`-s none`), so the targets
/// enforce it themselves: their global allocator aborts above this size, and libFuzzer keeps
/// the input as a crash. (Only the fuzz binaries have it; the stable replay test has not.)
pub const MAX_ALLOCATION: usize = 64 << 20;

mod allocation_limit {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::io::Write as _;

    /// The system allocator, refusing sizes above [`super::MAX_ALLOCATION`].
    struct Limited;

    #[global_allocator]
    static LIMITED: Limited = Limited;

    fn check(size: usize) {
        if size > super::MAX_ALLOCATION {
            // No allocation (and no panic, which an allocator must not do) from here.
            let _ = std::io::stderr().write_all(b"fuzz: an allocation above MAX_ALLOCATION\n");
            std::process::abort();
        }
    }

    // SAFETY: every call is forwarded unchanged to `System`; `check` only aborts.
    unsafe impl GlobalAlloc for Limited {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            check(layout.size());
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            check(layout.size());
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            check(new_size);
            // SAFETY: the caller's contract, passed on.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}
