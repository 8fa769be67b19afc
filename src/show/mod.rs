//! Rendering one view into each place programs read it, so they always agree: `/proc/meminfo`
//! text in the host's layout, the memory fields of `struct sysinfo`, and `sysconf` page counts.

pub mod cpu;
pub mod meminfo;
pub mod swaps;
pub mod sysinfo;
pub mod uptime;
pub mod vmstat;
