//! The container's uptime: the time since the init process of the caller's PID namespace
//! started, and an idle time that fits it. Outside a PID namespace the host's `/proc/uptime`
//! stands (the library is not asked).

use super::discover::{CgroupDir, Controller, Version, join};
use super::source::{Source, for_each_line, read_file};
use crate::buf::Buf;
use crate::read::lines::fields;
use crate::read::number::parse_u64;

pub const NS_PER_SEC: u64 = 1_000_000_000;

/// The controller whose files count the CPU time of a cgroup (v1 `cpuacct`, v2 `cpu.stat`).
pub const CPUACCT: Controller =
    Controller { v1_name: b"cpuacct", v1_probe: b"cpuacct.usage", v2_probe: b"cpu.stat" };

/// Uptime in nanoseconds: now on the boot clock minus the init's start (`starttime` ticks of
/// `clk_tck` per second). `None` if the init seems to start in the future.
pub fn uptime_ns(boot_now_ns: u64, init_start_ticks: u64, clk_tck: u64) -> Option<u64> {
    let start_ns = init_start_ticks.checked_mul(NS_PER_SEC)?.checked_div(clk_tck)?;
    boot_now_ns.checked_sub(start_ns)
}

/// Idle time: the CPU time the container's CPUs could have used but did not, never negative and
/// never above uptime × CPUs. Unknown usage counts as none.
pub fn idle_ns(uptime_ns: u64, busy_ns: Option<u64>, cpus: u64) -> u64 {
    let capacity = uptime_ns.saturating_mul(cpus.max(1));
    capacity.saturating_sub(busy_ns.unwrap_or(0))
}

/// The CPU time used by the cgroup and its descendants, in nanoseconds.
pub fn busy_ns<S: Source>(src: &S, cg: &CgroupDir) -> Option<u64> {
    match cg.version {
        Version::V1 => {
            let mut small = Buf::<64>::new();
            read_file(src, join(cg.dir.as_bytes(), b"cpuacct.usage").as_bytes(), &mut small)?;
            parse_u64(small.as_bytes())
        }
        Version::V2 => {
            let mut usec = None;
            for_each_line(src, join(cg.dir.as_bytes(), b"cpu.stat").as_bytes(), |line| {
                let mut f = fields(line);
                if f.next() == Some(b"usage_usec") {
                    usec = f.next().and_then(parse_u64);
                }
                usec.is_none()
            })?;
            usec?.checked_mul(1000)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_and_idle() {
        assert_eq!(uptime_ns(100 * NS_PER_SEC, 2500, 100), Some(75 * NS_PER_SEC));
        assert_eq!(uptime_ns(10 * NS_PER_SEC, 2500, 100), None);
        assert_eq!(uptime_ns(10, 1, 0), None);
        assert_eq!(idle_ns(10 * NS_PER_SEC, Some(4 * NS_PER_SEC), 2), 16 * NS_PER_SEC);
        assert_eq!(idle_ns(10 * NS_PER_SEC, Some(40 * NS_PER_SEC), 2), 0);
        assert_eq!(idle_ns(10 * NS_PER_SEC, None, 0), 10 * NS_PER_SEC);
    }
}
