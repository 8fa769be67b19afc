//! cgshim's pure core: it turns kernel files (bytes) into the container's view of memory and
//! renders that view as the kernel would (`/proc/meminfo` text, `struct sysinfo` fields,
//! `sysconf` answers).
//!
//! The crate is split the way data flows: [`read`] parses kernel artefacts (bytes in, typed values
//! out, no I/O), [`decide`] finds the caller's cgroup and applies the rules (effective limit over
//! ancestors, headroom, unlimited sentinels) through a [`decide::source::Source`] seam, and
//! [`show`] renders one [`decide::memory::MemoryView`] into every output so they never disagree.
//!
//! It is `no_std`, allocation-free and panic-free by construction, because the same code runs
//! inside every process that preloads `libcgshim.so`. The `cgshim` command (`cli/`) and the tests
//! read through a `std::fs` source of their own (`cli/src/std_source.rs`).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
// Panic-free by construction outside the unit tests (which may index and unwrap freely).
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]

pub mod buf;
pub mod codes;
pub mod config;
pub mod decide;
pub mod read;
pub mod show;
