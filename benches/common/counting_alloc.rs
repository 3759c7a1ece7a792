//! A global allocator that counts every allocation, for the two places that
//! check a training step allocates nothing: `benches/step.rs` (prints the
//! count) and `tests/alloc_free_step.rs` (asserts it). Each declares it as
//! its `#[global_allocator]`. While tracing is on, every allocation also
//! prints a backtrace on stderr, to find where it comes from.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The counting allocator; see the module doc.
pub struct CountingAlloc;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static TRACE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Set while this thread prints a backtrace (which allocates itself).
    static TRACING: Cell<bool> = const { Cell::new(false) };
}

/// Allocations so far, on every thread.
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// Turns the backtrace of every allocation on or off.
pub fn set_tracing(on: bool) {
    TRACE.store(on, Ordering::Relaxed);
}

/// Prints a backtrace of the allocation being made, unless this thread is
/// already printing one.
fn trace_alloc(size: usize) {
    let _ = TRACING.try_with(|busy| {
        if !busy.replace(true) {
            let trace = std::backtrace::Backtrace::force_capture();
            eprintln!("# allocation of {size} bytes at\n{trace}");
            busy.set(false);
        }
    });
}

// SAFETY: forwards every call to the system allocator unchanged; the
// counter is a relaxed atomic, the tracer only prints.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        if TRACE.load(Ordering::Relaxed) {
            trace_alloc(layout.size());
        }
        // SAFETY: our caller upholds `alloc`'s contract for `layout`; it is
        // passed to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, that is from the system
        // allocator, with this `layout` (our caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }
}
