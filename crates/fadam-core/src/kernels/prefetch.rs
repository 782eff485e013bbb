//! Software prefetching for the sums pass.

/// Asks for the memory `PREFETCH_BYTES` past the start of `tile`, so that
/// the sums pass (arithmetic-heavy, three streams) overlaps its loads with
/// its arithmetic. A hint only: it never faults, and the address may lie
/// past the slice.
#[inline(always)]
pub(super) fn prefetch<T>(tile: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = tile.as_ptr().cast::<i8>().wrapping_add(PREFETCH_BYTES);
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
    let _ = tile;
}

/// How far ahead the sums pass prefetches.
#[cfg(target_arch = "x86_64")]
const PREFETCH_BYTES: usize = 1024;
