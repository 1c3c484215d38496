//! glibc malloc settings for a process that handles one batch after another.
//!
//! By default glibc adapts two thresholds as a process runs: allocations above the mmap
//! threshold get pages of their own (fresh, zeroed pages every time), and free memory at
//! the top of the heap beyond the trim threshold goes back to the kernel. For a Lambda
//! handler both work against it: each invocation allocates and frees megabytes of similar
//! buffers, so the heap is trimmed after one batch and faulted back in by the next — a
//! 1 MB Firehose batch took ~550 page faults per invocation, ~35% of its time
//! (`docs/benchmarks.md`). Fixing the thresholds at the values glibc's own adaptation
//! grows towards (mmap 32 MiB, trim twice that) keeps the heap between invocations. The
//! process's peak memory is unchanged: only memory it already used is kept.

/// Allocations below this come from the heap (glibc's adaptive maximum on 64-bit).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free memory kept at the top of the heap.
pub const TRIM_THRESHOLD: usize = 2 * MMAP_THRESHOLD;

/// Apply the settings (once per process, before the first invocation). Returns whether
/// they took effect: `false` on targets without glibc malloc, where this does nothing.
pub fn keep_between_invocations() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is thread-safe in glibc and
        // both values are in range for a C int.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_thresholds() {
        assert!(keep_between_invocations());
    }
}
