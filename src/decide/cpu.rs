//! The container's CPUs: how many it may use at once, and which ones programs are shown.
//!
//! N = ceil(the smallest quota/period over the caller's cgroup and its visible ancestors),
//! clamped to [1, CPUs in the affinity mask]; with no quota anywhere, the affinity count (which
//! already reflects cpusets). Shares and weights say nothing about how many CPUs may run at once
//! and are ignored.
//!
//! The set S shown everywhere is N consecutive CPUs of the affinity mask, with their real
//! numbers, so that a program pinning to what it reads pins to CPUs it may use. Where the window
//! starts comes from the cgroup's identity ([`seed`]): every process of one cgroup agrees on S
//! for the cgroup's life, and containers on a large host spread over its CPUs instead of all
//! showing (and pinning to) CPUs 0..N-1.

use super::discover::{CgroupDir, Controller, Version, join};
use super::source::{Source, read_file};
use crate::buf::Buf;
use crate::read::cpulist::CpuSet;
use crate::read::lines::fields;
use crate::read::number::{Limit, parse_limit, parse_u64};

pub const CPU: Controller =
    Controller { v1_name: b"cpu", v1_probe: b"cpu.cfs_quota_us", v2_probe: b"cpu.max" };

/// A bandwidth limit: `quota` µs of CPU time per `period` µs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub quota: u64,
    pub period: u64,
}

impl Quota {
    /// CPUs that can run at once under this quota, rounded up (1.5 CPUs → 2).
    pub fn cpus(self) -> u64 {
        self.quota.div_ceil(self.period.max(1)).max(1)
    }

    fn tighter_than(self, other: Quota) -> bool {
        // Cross-multiplied in 128 bits: two u64 factors cannot overflow.
        u128::from(self.quota).saturating_mul(u128::from(other.period))
            < u128::from(other.quota).saturating_mul(u128::from(self.period))
    }
}

/// v2 `cpu.max`: `max 100000` (none) or `<quota> [<period>]` (period defaults to 100000).
pub fn parse_cpu_max(text: &[u8]) -> Option<Option<Quota>> {
    let mut f = fields(text);
    let quota = parse_limit(f.next()?)?;
    let period = match f.next() {
        Some(p) => parse_u64(p)?,
        None => 100_000,
    };
    match quota {
        Limit::Unlimited => Some(None),
        Limit::Bytes(q) if q > 0 && period > 0 => Some(Some(Quota { quota: q, period })),
        Limit::Bytes(_) => None,
    }
}

/// v1 `cpu.cfs_quota_us` (`-1` = none) and `cpu.cfs_period_us`.
pub fn parse_cfs(quota: &[u8], period: &[u8]) -> Option<Option<Quota>> {
    match parse_limit(quota)? {
        Limit::Unlimited => Some(None),
        Limit::Bytes(q) => {
            let p = parse_u64(period)?;
            (q > 0 && p > 0).then_some(Some(Quota { quota: q, period: p }))
        }
    }
}

/// A quota file that could not be read or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnreadableQuota;

/// The tightest quota over the cgroup and its visible ancestors, if any. A level whose files
/// cannot be parsed makes the whole answer unknown, so the caller passes through.
pub fn tightest_quota<S: Source>(src: &S, cg: &CgroupDir) -> Result<Option<Quota>, UnreadableQuota> {
    let mut best: Option<Quota> = None;
    let mut a = Buf::<64>::new();
    let mut b = Buf::<64>::new();
    for dir in cg.levels() {
        let quota = match cg.version {
            Version::V1 => {
                if read_file(src, join(dir, b"cpu.cfs_quota_us").as_bytes(), &mut a).is_none() {
                    continue;
                }
                read_file(src, join(dir, b"cpu.cfs_period_us").as_bytes(), &mut b).ok_or(UnreadableQuota)?;
                parse_cfs(a.as_bytes(), b.as_bytes()).ok_or(UnreadableQuota)?
            }
            Version::V2 => {
                if read_file(src, join(dir, b"cpu.max").as_bytes(), &mut a).is_none() {
                    continue;
                }
                parse_cpu_max(a.as_bytes()).ok_or(UnreadableQuota)?
            }
        };
        if let Some(q) = quota
            && best.is_none_or(|cur| q.tighter_than(cur))
        {
            best = Some(q);
        }
    }
    Ok(best)
}

/// The CPUs shown: N of `affinity`, N = the quota's CPUs clamped to [1, |affinity|], the window
/// starting at the `seed`-th CPU of the mask (wrapping round).
pub fn shown(affinity: &CpuSet, quota: Option<Quota>, seed: u64) -> CpuSet {
    match quota {
        Some(q) => affinity.window(q.cpus().min(affinity.count()).max(1), seed),
        None => *affinity,
    }
}

/// Where a cgroup's window of CPUs starts, from its directory's inode number and the number of
/// files in it. The kernel numbers the directory and the files of each new cgroup one after
/// the other, so sibling cgroups made in turn (containers started one after another) have
/// inodes one cgroup's worth of numbers apart: divided by that, consecutive siblings get
/// consecutive seeds and their windows take turns over the CPUs. 0 when the identity is unknown
/// (under a fixture root).
pub fn seed(identity: Option<DirIdentity>) -> u64 {
    identity.and_then(|id| id.inode.checked_div(id.files.saturating_add(1))).unwrap_or(0)
}

/// A directory's inode number and how many entries in it are not directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirIdentity {
    pub inode: u64,
    pub files: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quota_files() {
        assert_eq!(parse_cpu_max(b"max 100000\n"), Some(None));
        assert_eq!(parse_cpu_max(b"150000 100000\n"), Some(Some(Quota { quota: 150000, period: 100000 })));
        assert_eq!(parse_cpu_max(b"50000\n"), Some(Some(Quota { quota: 50000, period: 100000 })));
        assert_eq!(parse_cpu_max(b"50000 0\n"), None);
        assert_eq!(parse_cpu_max(b"lots 1\n"), None);
        assert_eq!(parse_cfs(b"-1\n", b"100000\n"), Some(None));
        assert_eq!(parse_cfs(b"50000\n", b"100000\n"), Some(Some(Quota { quota: 50000, period: 100000 })));
        assert_eq!(parse_cfs(b"50000\n", b"0\n"), None);
    }

    #[test]
    fn counts_round_up_and_clamp() {
        assert_eq!(Quota { quota: 50000, period: 100000 }.cpus(), 1);
        assert_eq!(Quota { quota: 150000, period: 100000 }.cpus(), 2);
        assert_eq!(Quota { quota: 300000, period: 100000 }.cpus(), 3);
        let aff = CpuSet::parse_list(b"2-5").unwrap();
        let q = |quota| Some(Quota { quota, period: 100000 });
        assert_eq!(shown(&aff, q(150000), 0), CpuSet::parse_list(b"2-3").unwrap());
        assert_eq!(shown(&aff, q(150000), 3), CpuSet::parse_list(b"2,5").unwrap());
        assert_eq!(shown(&aff, q(50000), 5), CpuSet::parse_list(b"3").unwrap());
        assert_eq!(shown(&aff, q(900000), 1), aff);
        assert_eq!(shown(&aff, None, 1), aff);
        assert!(Quota { quota: 50000, period: 100000 }.tighter_than(Quota { quota: 150000, period: 100000 }));
    }

    #[test]
    fn siblings_made_in_turn_take_turns() {
        // Cgroups of 13 files each, made one after another: inodes 14 apart.
        let seeds: Vec<u64> =
            (0..4).map(|i| seed(Some(DirIdentity { inode: 3349 + 14 * i, files: 13 }))).collect();
        assert_eq!(seeds.iter().map(|s| s % 2).collect::<Vec<_>>(), [1, 0, 1, 0]);
        assert_eq!(seed(None), 0);
    }
}
