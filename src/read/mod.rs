//! Parsers for kernel artefacts. Every parser takes bytes (never a path), does no I/O and returns
//! typed values; anything it does not understand comes back as `None` so the caller can fail open.

pub mod cpulist;
pub mod lines;
pub mod meminfo;
pub mod memory_stat;
pub mod mountinfo;
pub mod number;
pub mod pid_stat;
pub mod self_cgroup;
