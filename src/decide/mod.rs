//! The rules: which cgroup is the caller's, what its effective limits are, and what the
//! container's memory looks like. Everything is read through a [`source::Source`], so every
//! rule runs on fixture trees in tests exactly as on the live kernel in the library.

pub mod cpu;
pub mod cputime;
pub mod discover;
pub mod memory;
pub mod rlimit;
pub mod snapshot;
pub mod source;
pub mod tasks;
pub mod uptime;
