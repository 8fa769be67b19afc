//! The number of tasks in the caller's cgroup, for `sysinfo.procs`: the pids controller's
//! `pids.current` (tasks of the cgroup and its descendants), the same on v1 and v2.

use super::discover::{CgroupDir, Controller, join};
use super::source::{Source, read_file};
use crate::buf::Buf;
use crate::read::number::parse_u64;

pub const PIDS: Controller =
    Controller { v1_name: b"pids", v1_probe: b"pids.current", v2_probe: b"pids.current" };

/// `pids.current`, at least 1 (the caller itself is in the cgroup).
pub fn count<S: Source>(src: &S, cg: &CgroupDir) -> Option<u64> {
    let mut small = Buf::<64>::new();
    read_file(src, join(cg.dir.as_bytes(), b"pids.current").as_bytes(), &mut small)?;
    parse_u64(small.as_bytes()).map(|n| n.max(1))
}
