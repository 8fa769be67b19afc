//! The answers: the container's memory view, swap, uptime and task count, each from the
//! caches when fresh and from the kernel files otherwise, with the reason for every pass-through
//! in the debug log.

use crate::cache;
use crate::source::RawSource;
use crate::{log, sys};
use cgshim::decide::discover::{self, CgroupDir, MEMORY};
use cgshim::decide::memory::{self, HostMemory, LimitOrigin, MemoryView, NoView};
use cgshim::decide::snapshot::Snapshot;
use cgshim::decide::{cpu, tasks, uptime};
use cgshim::read::cpulist::CpuSet;

/// The cgroup and its limits: from the cache when fresh, else discovered and cached.
fn snapshot(src: &RawSource) -> Option<Snapshot> {
    if !src.rooted()
        && let Some(s) = cache::discovery()
    {
        return Some(s);
    }
    let s = match discover::find(src, &MEMORY) {
        Ok(cg) => match memory::read_limits(src, &cg) {
            Ok(limits) => Snapshot::Found { cg, limits },
            Err(_) => {
                log::say(&[b"memory: host values (unreadable limit in ", cg.dir.as_bytes(), b")"]);
                return None;
            }
        },
        Err(why) => Snapshot::NotFound(why),
    };
    if !src.rooted() {
        cache::store_discovery(&s);
    }
    Some(s)
}

/// The container's memory view, or `None` (with the reason in the debug log) to pass through.
pub fn memory_view(src: &RawSource, host: HostMemory) -> Option<MemoryView> {
    let (cg, limits) = match snapshot(src)? {
        Snapshot::Found { cg, limits } => (cg, limits),
        Snapshot::NotFound(why) => {
            log::say(&[b"memory: host values (", why.describe().as_bytes(), b")"]);
            return None;
        }
    };
    let samples = if !memory::is_limited(&limits, &host) {
        Err(NoView::Unlimited)
    } else if let Some(s) = cache::samples().filter(|_| !src.rooted()) {
        Ok(s)
    } else {
        let fresh = memory::read_samples(src, &cg, &limits, &host);
        if let (Ok(s), false) = (&fresh, src.rooted()) {
            cache::store_samples(s);
        }
        fresh
    };
    match samples.and_then(|s| memory::view_from(cg.version, &limits, &s, host)) {
        Ok(view) => {
            if log::enabled() {
                let origin: &[u8] = match view.origin {
                    LimitOrigin::Level(0) => b"its own limit",
                    LimitOrigin::Level(_) => b"an ancestor's limit",
                    LimitOrigin::Hierarchical => b"hierarchical_memory_limit",
                };
                log::say(&[
                    b"memory: cgroup ",
                    cg.version.name().as_bytes(),
                    b" ",
                    cg.dir.as_bytes(),
                    b" (",
                    cg.layout.name().as_bytes(),
                    b"): limit ",
                    log::num(view.limit).as_bytes(),
                    b" from ",
                    origin,
                    b", free ",
                    log::num(view.free).as_bytes(),
                ]);
            }
            Some(view)
        }
        Err(NoView::Unlimited) => {
            log::say(&[
                b"memory: host values (no limit below the host's memory in ",
                cg.dir.as_bytes(),
                b")",
            ]);
            None
        }
        Err(NoView::Unreadable) => {
            cache::clear_discovery();
            log::say(&[b"memory: host values (unreadable usage in ", cg.dir.as_bytes(), b")"]);
            None
        }
    }
}

/// Host memory from the kernel's `sysinfo`, for the paths that do not read `/proc/meminfo`.
pub fn memory_view_from_sysinfo(info: &libc::sysinfo) -> Option<MemoryView> {
    let unit = u64::from(info.mem_unit.max(1));
    #[allow(clippy::unnecessary_cast)] // `c_ulong` is narrower than u64 on 32-bit targets.
    let total = (info.totalram as u64).saturating_mul(unit);
    #[allow(clippy::unnecessary_cast)] // `c_ulong` is narrower than u64 on 32-bit targets.
    let swap_total = (info.totalswap as u64).saturating_mul(unit);
    let host = HostMemory { total, available: None, swap_total };
    memory_view(&RawSource::new(), host)
}

/// The init of the caller's PID namespace, as (in a namespace, start time in ticks). Cached: it
/// cannot change while the process lives, except through `setns`.
fn pid_namespace_init(src: &RawSource) -> Option<(bool, u64)> {
    if !src.rooted()
        && let Some(cached) = cache::pid_init()
    {
        return Some(cached);
    }
    let mut link = [0u8; 64];
    let n = sys::readlink(c"/proc/self/ns/pid", &mut link)?;
    // The initial PID namespace has the fixed inode PROC_PID_INIT_INO.
    let in_namespace = link.get(..n)? != b"pid:[4026531836]";
    let mut stat = cgshim::buf::Buf::<1024>::new();
    cgshim::decide::source::read_file(src, b"/proc/1/stat", &mut stat)?;
    let start = cgshim::read::pid_stat::start_time_ticks(stat.as_bytes())?;
    if !src.rooted() {
        cache::store_pid_init(in_namespace, start);
    }
    Some((in_namespace, start))
}

/// The container's uptime in nanoseconds, or `None` outside a PID namespace (the host's uptime
/// is the right answer there) or on any error.
pub fn container_uptime(src: &RawSource) -> Option<u64> {
    let (in_namespace, start) = pid_namespace_init(src)?;
    if !in_namespace {
        return None;
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec; the boot clock is what /proc/uptime and process start times use.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return None;
    }
    let now = (ts.tv_sec as u64).saturating_mul(uptime::NS_PER_SEC).saturating_add(ts.tv_nsec as u64);
    // SAFETY: getauxval has no preconditions.
    let clk_tck = match unsafe { libc::getauxval(libc::AT_CLKTCK) } {
        0 => 100,
        t => t,
    };
    let up = uptime::uptime_ns(now, start, clk_tck);
    if up.is_none() {
        log::say(&[b"uptime: host value (the PID namespace's init starts in the future)"]);
    }
    up
}

/// The idle time to show next to `uptime_ns`: the container's CPUs' capacity minus the CPU time
/// its cgroup used.
pub fn container_idle(src: &RawSource, uptime_ns: u64) -> u64 {
    let busy = discover::find(src, &uptime::CPUACCT).ok().and_then(|cg| uptime::busy_ns(src, &cg));
    uptime::idle_ns(uptime_ns, busy, cpu_set(src).map_or(1, |s| s.count()))
}

/// The pids controller's directory, cached like the memory controller's.
fn pids_dir(src: &RawSource) -> Option<CgroupDir> {
    if !src.rooted()
        && let Some(cached) = cache::pids_discovery()
    {
        return match cached {
            Snapshot::Found { cg, .. } => Some(cg),
            Snapshot::NotFound(_) => None,
        };
    }
    let found = discover::find(src, &tasks::PIDS);
    let snapshot = match &found {
        Ok(cg) => Snapshot::Found { cg: cg.clone(), limits: memory::Limits::default() },
        Err(why) => Snapshot::NotFound(*why),
    };
    if !src.rooted() {
        cache::store_pids_discovery(&snapshot);
    }
    found.ok()
}

/// `sysinfo.procs`: the tasks in the caller's pids cgroup, or `None` (host value) when there is
/// no such cgroup below the root.
pub fn procs(src: &RawSource) -> Option<u64> {
    if !src.rooted()
        && let Some(n) = cache::procs()
    {
        return Some(n);
    }
    let n = tasks::count(src, &pids_dir(src)?)?;
    if !src.rooted() {
        cache::store_procs(n);
    }
    Some(n)
}

/// The CPU set shown to the calling thread: the first N CPUs of its affinity mask, N from the
/// tightest CPU quota over its cgroup and visible ancestors. `None` (pass through) when the
/// affinity cannot be read or a quota file does not parse.
pub fn cpu_set(src: &RawSource) -> Option<CpuSet> {
    let affinity = sys::affinity()?;
    let quota = match (!src.rooted()).then(cache::cpu_quota).flatten() {
        Some(q) => q,
        None => {
            let q = match discover::find(src, &cpu::CPU) {
                Ok(cg) => match cpu::tightest_quota(src, &cg) {
                    Ok(q) => q,
                    Err(cpu::UnreadableQuota) => {
                        log::say(&[b"cpu: host values (unreadable quota in ", cg.dir.as_bytes(), b")"]);
                        return None;
                    }
                },
                Err(_) => None,
            };
            if !src.rooted() {
                cache::store_cpu_quota(q);
            }
            q
        }
    };
    Some(cpu::shown(&affinity, quota))
}
