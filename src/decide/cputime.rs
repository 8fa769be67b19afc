//! The container's own CPU time, for `/proc/stat`: what its cgroup used (user and system), what
//! its quota withheld (throttled time, shown as steal), and the rest of the shown CPUs' time
//! since the container started as idle.
//!
//! Per CPU of the shown set S: user and system are the CPU's own figures where the kernel keeps
//! them per CPU (v1 `cpuacct.usage_percpu_user`/`_sys`), plus an even share of what the cgroup
//! used on CPUs outside S (it runs wherever the scheduler puts it; S is what it is shown);
//! otherwise (v2, old v1 kernels) an even share of the totals. Throttled time is shared evenly.
//! Each CPU's steal is at most what its uptime leaves after use, and its idle is the remainder,
//! so user + system + idle + steal is that CPU's uptime: a busy loop under half a CPU reads as
//! half user, half steal; an idle container as all idle.

use super::discover::{CgroupDir, Version, join};
use super::source::{Source, for_each_field, for_each_line, read_file};
use crate::buf::Buf;
use crate::read::cpulist::{CpuSet, MAX_CPUS};
use crate::read::lines::fields;
use crate::read::number::parse_u64;

/// The fields of a `/proc/stat` CPU line: user nice system idle iowait irq softirq steal guest
/// guest_nice.
pub const FIELDS: usize = 10;
#[cfg(test)]
const USER: usize = 0;
#[cfg(test)]
const SYSTEM: usize = 2;
#[cfg(test)]
const IDLE: usize = 3;
#[cfg(test)]
const STEAL: usize = 7;

/// What the cgroup used and was refused, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub user_ns: u64,
    pub system_ns: u64,
    pub throttled_ns: u64,
}

/// Per-CPU user and system time of the cgroup, in nanoseconds, indexed by CPU number.
pub struct PerCpu {
    pub user: [u64; MAX_CPUS],
    pub system: [u64; MAX_CPUS],
}

impl PerCpu {
    pub const fn new() -> Self {
        Self { user: [0; MAX_CPUS], system: [0; MAX_CPUS] }
    }
}

impl Default for PerCpu {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads the cgroup's CPU time: `acct` is the directory that counts it (v1 `cpuacct`, v2 the
/// unified cgroup), `bandwidth` the one that throttles it (v1 `cpu`; on v2 the same). Fills
/// `per_cpu` and returns `true` with it when the kernel keeps per-CPU figures. `clk_tck` is the
/// unit of v1 `cpuacct.stat`. `None` when the cgroup's usage cannot be read.
pub fn read<S: Source>(
    src: &S,
    acct: &CgroupDir,
    bandwidth: Option<&CgroupDir>,
    clk_tck: u64,
    per_cpu: &mut PerCpu,
) -> Option<(Usage, bool)> {
    match acct.version {
        Version::V2 => {
            let mut usage = Usage::default();
            let mut seen = 0u32;
            for_each_line(src, join(acct.dir.as_bytes(), b"cpu.stat").as_bytes(), |line| {
                let mut f = fields(line);
                let slot = match f.next() {
                    Some(b"user_usec") => &mut usage.user_ns,
                    Some(b"system_usec") => &mut usage.system_ns,
                    Some(b"throttled_usec") => &mut usage.throttled_ns,
                    _ => return true,
                };
                *slot = f.next().and_then(parse_u64).unwrap_or(0).saturating_mul(1000);
                seen = seen.saturating_add(1);
                true
            })?;
            (seen >= 2).then_some((usage, false))
        }
        Version::V1 => {
            let dir = acct.dir.as_bytes();
            let mut usage = Usage::default();
            let per = read_usage_all(src, &join(dir, b"cpuacct.usage_all"), per_cpu).or_else(|| {
                read_per_cpu(src, &join(dir, b"cpuacct.usage_percpu_user"), &mut per_cpu.user)
                    .zip(read_per_cpu(src, &join(dir, b"cpuacct.usage_percpu_sys"), &mut per_cpu.system))
            });
            match per {
                Some((user, system)) => {
                    usage.user_ns = user;
                    usage.system_ns = system;
                }
                None => {
                    // Older kernels: totals in clock ticks.
                    let mut seen = 0u32;
                    for_each_line(src, join(dir, b"cpuacct.stat").as_bytes(), |line| {
                        let mut f = fields(line);
                        let slot = match f.next() {
                            Some(b"user") => &mut usage.user_ns,
                            Some(b"system") => &mut usage.system_ns,
                            _ => return true,
                        };
                        let ticks = f.next().and_then(parse_u64).unwrap_or(0);
                        *slot = ticks_to_ns(ticks, clk_tck);
                        seen = seen.saturating_add(1);
                        true
                    })?;
                    if seen < 2 {
                        return None;
                    }
                }
            }
            if let Some(cpu) = bandwidth {
                for_each_line(src, join(cpu.dir.as_bytes(), b"cpu.stat").as_bytes(), |line| {
                    let mut f = fields(line);
                    if f.next() == Some(b"throttled_time") {
                        usage.throttled_ns = f.next().and_then(parse_u64).unwrap_or(0);
                        return false;
                    }
                    true
                });
            }
            Some((usage, per.is_some()))
        }
    }
}

/// Reads v1 `cpuacct.usage_all` (`cpu user system` per CPU, in ns) into `per`: the sums of
/// user and system.
fn read_usage_all<S: Source, const N: usize>(src: &S, path: &Buf<N>, per: &mut PerCpu) -> Option<(u64, u64)> {
    per.user = [0; MAX_CPUS];
    per.system = [0; MAX_CPUS];
    let (mut user, mut system, mut rows) = (0u64, 0u64, 0u32);
    let mut ok = true;
    for_each_line(src, path.as_bytes(), |line| {
        let mut f = fields(line);
        let (Some(cpu), Some(u), Some(s)) = (f.next(), f.next(), f.next()) else { return true };
        if cpu == b"cpu" {
            return true; // the header
        }
        match (parse_u64(cpu).and_then(|c| usize::try_from(c).ok()), parse_u64(u), parse_u64(s)) {
            (Some(c), Some(u), Some(s)) => {
                if let (Some(pu), Some(ps)) = (per.user.get_mut(c), per.system.get_mut(c)) {
                    (*pu, *ps) = (u, s);
                }
                user = user.saturating_add(u);
                system = system.saturating_add(s);
                rows = rows.saturating_add(1);
                true
            }
            _ => {
                ok = false;
                false
            }
        }
    })?;
    (ok && rows > 0).then_some((user, system))
}

/// Reads a v1 per-CPU file (one number per possible CPU) into `out`; their sum.
fn read_per_cpu<S: Source, const N: usize>(src: &S, path: &Buf<N>, out: &mut [u64; MAX_CPUS]) -> Option<u64> {
    *out = [0; MAX_CPUS];
    let mut sum = 0u64;
    let mut ok = true;
    for_each_field(src, path.as_bytes(), |i, field| {
        match parse_u64(field) {
            Some(v) => {
                if let Some(slot) = out.get_mut(i) {
                    *slot = v;
                }
                sum = sum.saturating_add(v);
            }
            None => ok = false,
        }
        ok
    })?;
    ok.then_some(sum)
}

/// `ticks` of `clk_tck` per second, in nanoseconds.
pub fn ticks_to_ns(ticks: u64, clk_tck: u64) -> u64 {
    let ns = u128::from(ticks).saturating_mul(1_000_000_000).checked_div(u128::from(clk_tck)).unwrap_or(0);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// Nanoseconds in ticks of `clk_tck` per second (rounded down, as the kernel does).
pub fn ns_to_ticks(ns: u64, clk_tck: u64) -> u64 {
    let ticks = u128::from(ns).saturating_mul(u128::from(clk_tck)) / 1_000_000_000;
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

/// `total` shared over `k` parts: part `i`'s share (the remainder goes to the first parts).
fn share(total: u64, k: u64, i: u64) -> u64 {
    match (total.checked_div(k), total.checked_rem(k)) {
        (Some(base), Some(rem)) => base.saturating_add(u64::from(i < rem)),
        _ => 0,
    }
}

/// The cgroup's times shared over the shown set: [`Split::row`] gives one CPU's.
pub struct Split<'a> {
    set: &'a CpuSet,
    usage: Usage,
    per_cpu: Option<&'a PerCpu>,
    uptime_ns: u64,
    /// What the CPUs outside the set used, shared over the set.
    rest_user: u64,
    rest_system: u64,
}

impl<'a> Split<'a> {
    /// `per_cpu` holds the cgroup's per-CPU figures when the kernel keeps them; `uptime_ns` is
    /// each shown CPU's time since the container started.
    pub fn new(set: &'a CpuSet, usage: &Usage, per_cpu: Option<&'a PerCpu>, uptime_ns: u64) -> Self {
        let (own_user, own_system) = match per_cpu {
            Some(p) => set.iter().fold((0u64, 0u64), |(u, s), cpu| {
                (
                    u.saturating_add(p.user.get(cpu).copied().unwrap_or(0)),
                    s.saturating_add(p.system.get(cpu).copied().unwrap_or(0)),
                )
            }),
            None => (0, 0),
        };
        Self {
            set,
            usage: *usage,
            per_cpu,
            uptime_ns,
            rest_user: usage.user_ns.saturating_sub(own_user),
            rest_system: usage.system_ns.saturating_sub(own_system),
        }
    }

    /// The nanoseconds of `cpu` (a CPU of the set): user, system, idle and steal; the other
    /// fields are 0.
    pub fn row(&self, cpu: usize) -> [u64; FIELDS] {
        let k = self.set.count();
        let i = self.set.iter().take_while(|c| *c < cpu).count() as u64;
        let own = |v: &[u64; MAX_CPUS]| v.get(cpu).copied().unwrap_or(0);
        let user = share(self.rest_user, k, i).saturating_add(self.per_cpu.map_or(0, |p| own(&p.user)));
        let system = share(self.rest_system, k, i).saturating_add(self.per_cpu.map_or(0, |p| own(&p.system)));
        let used = user.saturating_add(system);
        let steal = share(self.usage.throttled_ns, k, i).min(self.uptime_ns.saturating_sub(used));
        let idle = self.uptime_ns.saturating_sub(used).saturating_sub(steal);
        // user nice system idle iowait irq softirq steal guest guest_nice
        [user, 0, system, idle, 0, 0, 0, steal, 0, 0]
    }
}

/// Reads a small counter file of one number (v1 `cpuacct.usage`), for callers that only need
/// the total.
pub fn read_number<S: Source>(src: &S, path: &[u8]) -> Option<u64> {
    let mut small = Buf::<64>::new();
    read_file(src, path, &mut small)?;
    parse_u64(small.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn collect(set: &str, usage: Usage, per: Option<&PerCpu>, up: u64) -> Vec<(usize, [u64; FIELDS])> {
        let set = CpuSet::parse_list(set.as_bytes()).unwrap();
        let split = Split::new(&set, &usage, per, up);
        set.iter().map(|c| (c, split.row(c))).collect()
    }

    #[test]
    fn half_a_cpu_busy_reads_half_user_half_steal() {
        let usage = Usage { user_ns: 5 * S, system_ns: 0, throttled_ns: 5 * S };
        let v = collect("1", usage, None, 10 * S);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, 1);
        assert_eq!(v[0].1, [5 * S, 0, 0, 0, 0, 0, 0, 5 * S, 0, 0]);
    }

    #[test]
    fn idle_is_what_use_and_steal_leave() {
        let usage = Usage { user_ns: 3 * S, system_ns: S, throttled_ns: 0 };
        let v = collect("0-1", usage, None, 10 * S);
        assert_eq!(v[0].1[USER] + v[1].1[USER], 3 * S);
        assert_eq!(v[0].1[SYSTEM], S / 2);
        assert_eq!(v[0].1[IDLE] + v[1].1[IDLE], 20 * S - 4 * S);
        // Throttled beyond what is left is capped: never more than the uptime in all.
        let usage = Usage { user_ns: 8 * S, system_ns: 0, throttled_ns: 40 * S };
        let v = collect("3", usage, None, 10 * S);
        assert_eq!(v[0].1[USER] + v[0].1[STEAL] + v[0].1[IDLE], 10 * S);
        assert_eq!(v[0].1[STEAL], 2 * S);
    }

    #[test]
    fn per_cpu_figures_plus_a_share_of_the_rest() {
        let mut p = PerCpu::new();
        p.user[0] = 4 * S;
        p.user[1] = S;
        p.user[2] = 2 * S;
        let usage = Usage { user_ns: 7 * S, system_ns: 0, throttled_ns: 0 };
        // S = {1, 2}: CPU 0's 4 s are shared between them.
        let v = collect("1-2", usage, Some(&p), 100 * S);
        assert_eq!(v[0], (1, [3 * S, 0, 0, 97 * S, 0, 0, 0, 0, 0, 0]));
        assert_eq!(v[1], (2, [4 * S, 0, 0, 96 * S, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn units() {
        assert_eq!(ns_to_ticks(1_234_567_890, 100), 123);
        assert_eq!(ticks_to_ns(123, 100), 1_230_000_000);
        assert_eq!(share(10, 3, 0), 4);
        assert_eq!(share(10, 3, 2), 3);
        assert_eq!(share(10, 0, 0), 0);
    }
}
