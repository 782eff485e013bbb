//! Software prefetching for the passes over memory: each pass asks for
//! its streams a fixed distance ahead, so that more lines are in flight
//! than the hardware prefetchers alone request (on a machine whose single
//! stream is latency-bound, see `docs/benchmarks.md`).

/// How far ahead the sums passes prefetch each stream.
const SUMS_AHEAD: usize = 1024;

/// How far ahead the update pass prefetches each stream.
const UPDATE_AHEAD: usize = 1024;

/// Asks for the memory `SUMS_AHEAD` bytes past the start of `tile`.
#[inline(always)]
pub(super) fn prefetch<T>(tile: &[T]) {
    prefetch_at(tile, SUMS_AHEAD);
}

/// Asks for the memory `UPDATE_AHEAD` bytes past the start of `tile`.
#[inline(always)]
pub(super) fn prefetch_update<T>(tile: &[T]) {
    prefetch_at(tile, UPDATE_AHEAD);
}

/// A hint only: it never faults, and the address may lie past the slice.
#[inline(always)]
fn prefetch_at<T>(tile: &[T], ahead: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = tile.as_ptr().cast::<i8>().wrapping_add(ahead);
        for line in (0..core::mem::size_of_val(tile)).step_by(64) {
            // SAFETY: prefetching is a hint that never dereferences or
            // faults, whatever the address.
            #[allow(unsafe_code)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(line));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (tile, ahead);
}
