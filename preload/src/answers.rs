//! The answers: the container's memory view, swap, uptime, task count and CPU set, each from
//! the caches when fresh and from the kernel files otherwise, with the reason for every
//! pass-through in the debug log.
//!
//! A read that fails for want of a resource (EMFILE, ENOMEM, …) falls back on the last values
//! stored, whatever their age, and is never remembered as "no cgroup": what a process sees must
//! not flip to the host's values because it briefly ran out of fds.

use crate::cache;
use crate::kernel::Kind;
use crate::source::RawSource;
use crate::{log, sys};
use cgshim::buf::{Buf, Sink};
use cgshim::codes::Reason;
use cgshim::decide::cputime::{self, FIELDS, PerCpu, Usage};
use cgshim::decide::discover::{self, CgroupDir, MEMORY};
use cgshim::decide::discover::{Controller, Version, join};
use cgshim::decide::memory::Overcommit;
use cgshim::decide::memory::{self, HostMemory, LimitOrigin, MemoryView, NoView};
use cgshim::decide::snapshot::Snapshot;
use cgshim::decide::source::{Source, read_file};
use cgshim::decide::{cpu, tasks, uptime};
use cgshim::read::cpulist::CpuSet;
use core::sync::atomic::{AtomicU64, Ordering};

/// The cgroup and its limits: from the cache when fresh, else discovered and cached.
fn snapshot(src: &RawSource) -> Option<Snapshot> {
    if src.rooted() {
        return discover_memory(src);
    }
    if let Some(s) = cache::discovery(false) {
        return Some(s);
    }
    match discover_memory(src) {
        Some(s) if !src.transient() => {
            cache::store_discovery(&s);
            Some(s)
        }
        _ if src.transient() => cache::discovery(true),
        other => other,
    }
}

fn discover_memory(src: &RawSource) -> Option<Snapshot> {
    Some(match discover::find(src, &MEMORY) {
        Ok(cg) => match memory::read_limits(src, &cg) {
            Ok(limits) => Snapshot::Found { cg, limits },
            Err(_) => {
                log::say(&[b"memory: host values (unreadable limit in ", cg.dir.as_bytes(), b")"]);
                return None;
            }
        },
        Err(why) => Snapshot::NotFound(why),
    })
}

/// The host's memory from `sysinfo(2)` (no `MemAvailable` there).
pub fn host_from_sysinfo() -> Option<HostMemory> {
    // SAFETY: all-zero is a valid struct sysinfo.
    let mut info: libc::sysinfo = unsafe { core::mem::zeroed() };
    (sys::sysinfo(&mut info) == 0).then(|| host_from(&info))
}

/// The host's memory from a filled `struct sysinfo`.
pub fn host_from(info: &libc::sysinfo) -> HostMemory {
    let unit = u64::from(info.mem_unit.max(1));
    #[allow(clippy::unnecessary_cast)] // `c_ulong` is narrower than u64 on 32-bit targets.
    let total = (info.totalram as u64).saturating_mul(unit);
    #[allow(clippy::unnecessary_cast)] // `c_ulong` is narrower than u64 on 32-bit targets.
    let swap_total = (info.totalswap as u64).saturating_mul(unit);
    HostMemory { total, available: None, swap_total }
}

/// The container's memory view, or `None` (with the reason in the debug log) to pass through.
pub fn memory_view(src: &RawSource, host: HostMemory) -> Option<MemoryView> {
    memory_decision(src, host, &mut |_| {}).ok()
}

/// [`memory_view`] with the reason for the host's values, and the cgroup found (given to
/// `found` whenever discovery found one, also when the view is the host's).
pub fn memory_decision(
    src: &RawSource,
    host: HostMemory,
    found: &mut dyn FnMut(&CgroupDir),
) -> Result<MemoryView, Reason> {
    let (cg, limits) = match snapshot(src).ok_or(Reason::Unreadable)? {
        Snapshot::Found { cg, limits } => (cg, limits),
        Snapshot::NotFound(why) => {
            log::say(&[b"memory: host values (", why.describe().as_bytes(), b")"]);
            return Err(why.into());
        }
    };
    found(&cg);
    let samples = if !memory::is_limited(&limits, &host) {
        Err(NoView::Unlimited)
    } else if let Some(s) = cache::samples(false).filter(|_| !src.rooted()) {
        Ok(s)
    } else {
        match memory::read_samples(src, &cg, &limits, &host) {
            Ok(s) => {
                if !src.rooted() {
                    cache::store_samples(&s);
                }
                Ok(s)
            }
            Err(e) if src.transient() && !src.rooted() => cache::samples(true).ok_or(e),
            Err(e) => Err(e),
        }
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
            Ok(view)
        }
        Err(NoView::Unlimited) => {
            log::say(&[
                b"memory: host values (no limit below the host's memory in ",
                cg.dir.as_bytes(),
                b")",
            ]);
            Err(Reason::Unlimited)
        }
        Err(NoView::Unreadable) => {
            if !src.transient() {
                cache::clear_discovery();
            }
            log::say(&[b"memory: host values (unreadable usage in ", cg.dir.as_bytes(), b")"]);
            Err(Reason::Unreadable)
        }
    }
}

/// The init of the caller's PID namespace, as (in a namespace, start time in ticks). Cached: it
/// cannot change while the process lives, except through `setns`.
fn pid_namespace_init(src: &RawSource) -> Option<(bool, u64)> {
    if !src.rooted()
        && let Some(cached) = cache::pid_init(false)
    {
        return Some(cached);
    }
    let found = (|| {
        let mut link = [0u8; 64];
        let n = sys::readlink(c"/proc/self/ns/pid", &mut link)?;
        // The initial PID namespace has the fixed inode PROC_PID_INIT_INO.
        let in_namespace = link.get(..n)? != b"pid:[4026531836]";
        let mut stat = cgshim::buf::Buf::<1024>::new();
        cgshim::decide::source::read_file(src, b"/proc/1/stat", &mut stat)?;
        let start = cgshim::read::pid_stat::start_time_ticks(stat.as_bytes())?;
        Some((in_namespace, start))
    })();
    match found {
        Some((in_namespace, start)) if !src.rooted() => {
            cache::store_pid_init(in_namespace, start);
            found
        }
        None if src.transient() && !src.rooted() => cache::pid_init(true),
        other => other,
    }
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
/// its cgroup used and the time its quota withheld (as `/proc/stat` counts them, so the two
/// agree).
pub fn container_idle(src: &RawSource, uptime_ns: u64) -> u64 {
    let mut per = PerCpu::new();
    let busy = cgroup_usage(src, &mut per)
        .map(|(u, _)| u.user_ns.saturating_add(u.system_ns).saturating_add(u.throttled_ns));
    uptime::idle_ns(uptime_ns, busy, cpu_set(src).map_or(1, |s| s.count()))
}

/// [`cgroup_usage`] for the CPUs of `set`, kept for the value window (1 ms) like the memory
/// samples when `set` has at most [`cache::USAGE_CPUS`] CPUs: back-to-back reads of `/proc/stat`
/// read the cgroup once.
fn cached_usage(src: &RawSource, set: &CpuSet, per: &mut PerCpu) -> Option<(Usage, bool)> {
    let small = usize::try_from(set.count()).is_ok_and(|n| n <= cache::USAGE_CPUS);
    if small && !src.rooted() {
        if let Some(c) = cache::usage() {
            let cpus = c.cpus.get(..c.count).unwrap_or(&[]);
            if set.iter().eq(cpus.iter().map(|t| t.0 as usize)) {
                for &(cpu, u, s) in cpus {
                    let cpu = cpu as usize;
                    if let (Some(pu), Some(ps)) = (per.user.get_mut(cpu), per.system.get_mut(cpu)) {
                        (*pu, *ps) = (u, s);
                    }
                }
                return Some((c.usage, c.per_cpu));
            }
        }
    }
    let found = cgroup_usage(src, per)?;
    if small && !src.rooted() {
        let mut c = cache::CachedUsage {
            usage: found.0,
            per_cpu: found.1,
            cpus: [(0, 0, 0); cache::USAGE_CPUS],
            count: 0,
        };
        for (slot, cpu) in c.cpus.iter_mut().zip(set.iter()) {
            *slot = (
                cpu as u64,
                per.user.get(cpu).copied().unwrap_or(0),
                per.system.get(cpu).copied().unwrap_or(0),
            );
            c.count += 1;
        }
        cache::store_usage(&c);
    }
    Some(found)
}

/// The caller's cgroup's CPU time (see `cputime::read`): `per` gets the per-CPU figures when
/// the kernel keeps them (the flag says so).
fn cgroup_usage(src: &RawSource, per: &mut PerCpu) -> Option<(Usage, bool)> {
    let acct = controller_dir(src, &uptime::CPUACCT, cache::Dirs::Acct)?;
    if is_host_root(src, &acct) {
        // The machine's own time: not a container's.
        return None;
    }
    let bandwidth = match acct.version {
        Version::V1 => controller_dir(src, &cpu::CPU, cache::Dirs::Cpu),
        Version::V2 => None,
    };
    cputime::read(src, &acct, bandwidth.as_ref(), clk_tck(), per)
}

/// Whether `cg` is the root cgroup of the machine: the process sits at the root of a hierarchy
/// mounted whole, outside any cgroup namespace. (In a cgroup namespace, that root is the
/// container's own cgroup.)
fn is_host_root(src: &RawSource, cg: &CgroupDir) -> bool {
    use cgshim::decide::discover::Layout;
    if src.rooted() || cg.layout != Layout::MountRoot || cg.dir.len() > cg.mount_len {
        return false;
    }
    static NAMESPACED: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);
    match NAMESPACED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let mut link = [0u8; 64];
            // The initial cgroup namespace has the fixed inode CGROUP_NS_INIT_INO.
            let initial = sys::readlink(c"/proc/self/ns/cgroup", &mut link)
                .and_then(|n| link.get(..n))
                .is_some_and(|l| l == b"cgroup:[4026531835]");
            NAMESPACED.store(if initial { 1 } else { 2 }, Ordering::Relaxed);
            initial
        }
    }
}

fn clk_tck() -> u64 {
    // SAFETY: getauxval has no preconditions.
    match unsafe { libc::getauxval(libc::AT_CLKTCK) } {
        0 => 100,
        t => t,
    }
}

/// The time since boot, in nanoseconds.
fn boot_uptime_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return None;
    }
    Some(
        u64::try_from(ts.tv_sec)
            .ok()?
            .saturating_mul(uptime::NS_PER_SEC)
            .saturating_add(u64::try_from(ts.tv_nsec).ok()?),
    )
}

/// The last `/proc/stat` CPU counters this process was shown (the aggregate line, then CPUs
/// 0..255): no counter may go backwards between two reads.
static STAT_SHOWN: [AtomicU64; FIELDS * 257] = [const { AtomicU64::new(0) }; FIELDS * 257];

fn settle(cpu: Option<usize>, ticks: &mut [u64; FIELDS]) {
    let line = match cpu {
        None => Some(0),
        Some(c) => c.checked_add(1).filter(|l| *l < 257),
    };
    let Some(slots) = line.and_then(|l| STAT_SHOWN.get(l * FIELDS..(l + 1) * FIELDS)) else { return };
    for (v, slot) in ticks.iter_mut().zip(slots) {
        *v = (*v).max(slot.fetch_max(*v, Ordering::Relaxed));
    }
}

/// `/proc/stat` for the shown set `set`. From the container's own CPU time when the container
/// has a CPU limit (a quota, or S narrower than the host's online CPUs) or the caller is in its
/// own PID namespace; otherwise, or when the cgroup's CPU time cannot be read, the host's lines
/// of S.
pub fn stat(src: &RawSource, host: &[u8], set: &CpuSet, emit: &mut dyn FnMut(&[u8])) -> Option<()> {
    let in_namespace = container_uptime(src);
    let limited =
        *set != cgshim::show::cpu::stat_cpus(host) || cpu_quota(src).is_some_and(|(q, _)| q.is_some());
    let mut per = PerCpu::new();
    let usage = if limited || in_namespace.is_some() { cached_usage(src, set, &mut per) } else { None };
    let (Some((usage, has_per)), Some(up)) = (usage, in_namespace.or_else(boot_uptime_ns)) else {
        return cgshim::show::cpu::stat(host, set, emit);
    };
    let split = cputime::Split::new(set, &usage, has_per.then_some(&per), up);
    let mut settle_fn = |cpu: Option<usize>, t: &mut [u64; FIELDS]| {
        if !src.rooted() {
            settle(cpu, t);
        }
    };
    cgshim::show::cpu::stat_container(
        host,
        set,
        clk_tck(),
        &mut |cpu, f| *f = split.row(cpu),
        &mut settle_fn,
        emit,
    )
}

/// The pressure file of `kind` from the caller's cgroup v2 (`cpu.pressure`…); `None` (the
/// host's file) on v1 or where the cgroup has none.
pub fn pressure<S: Sink>(src: &RawSource, kind: Kind, out: &mut S) -> Option<()> {
    let file: &'static [u8] = match kind {
        Kind::PressureCpu => b"cpu.pressure",
        Kind::PressureMemory => b"memory.pressure",
        Kind::PressureIo => b"io.pressure",
        _ => return None,
    };
    // No v1 hierarchy carries pressure files: the unified one (v2 or hybrid) is found.
    let controller = Controller { v1_name: b"\0", v1_probe: b"", v2_probe: file };
    let cg = discover::find(src, &controller).ok()?;
    let mut text = Buf::<1024>::new();
    read_file(src, join(cg.dir.as_bytes(), file).as_bytes(), &mut text)?;
    out.push(text.as_bytes());
    Some(())
}

/// The host's overcommit settings, for `CommitLimit` (kept for a second like the limits).
pub fn overcommit(src: &RawSource) -> Option<Overcommit> {
    if !src.rooted()
        && let Some(o) = cache::overcommit(false)
    {
        return Some(o);
    }
    let mut ratio = Buf::<32>::new();
    let mut kbytes = Buf::<32>::new();
    let found = read_file(src, b"/proc/sys/vm/overcommit_ratio", &mut ratio)
        .and_then(|()| read_file(src, b"/proc/sys/vm/overcommit_kbytes", &mut kbytes))
        .and_then(|()| Overcommit::parse(ratio.as_bytes(), kbytes.as_bytes()));
    match found {
        Some(o) if !src.rooted() => {
            cache::store_overcommit(o);
            Some(o)
        }
        None if src.transient() && !src.rooted() => cache::overcommit(true),
        other => other,
    }
}

/// A controller's directory, cached like the memory controller's.
fn controller_dir(src: &RawSource, controller: &Controller, which: cache::Dirs) -> Option<CgroupDir> {
    if !src.rooted()
        && let Some(cached) = cache::dir_discovery(which, false)
    {
        return match cached {
            Snapshot::Found { cg, .. } => Some(cg),
            Snapshot::NotFound(_) => None,
        };
    }
    let found = discover::find(src, controller);
    if src.transient() && !src.rooted() {
        return match cache::dir_discovery(which, true)? {
            Snapshot::Found { cg, .. } => Some(cg),
            Snapshot::NotFound(_) => None,
        };
    }
    if !src.rooted() {
        let snapshot = match &found {
            Ok(cg) => Snapshot::Found { cg: cg.clone(), limits: memory::Limits::default() },
            Err(why) => Snapshot::NotFound(*why),
        };
        cache::store_dir_discovery(which, &snapshot);
    }
    found.ok()
}

/// The pids controller's directory, cached like the memory controller's.
fn pids_dir(src: &RawSource) -> Option<CgroupDir> {
    if !src.rooted()
        && let Some(cached) = cache::pids_discovery(false)
    {
        return match cached {
            Snapshot::Found { cg, .. } => Some(cg),
            Snapshot::NotFound(_) => None,
        };
    }
    let found = discover::find(src, &tasks::PIDS);
    if src.transient() && !src.rooted() {
        return match cache::pids_discovery(true)? {
            Snapshot::Found { cg, .. } => Some(cg),
            Snapshot::NotFound(_) => None,
        };
    }
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
        && let Some(n) = cache::procs(false)
    {
        return Some(n);
    }
    match tasks::count(src, &pids_dir(src)?) {
        Some(n) => {
            if !src.rooted() {
                cache::store_procs(n);
            }
            Some(n)
        }
        None if src.transient() && !src.rooted() => cache::procs(true),
        None => None,
    }
}

/// The CPU set shown to the calling thread: N CPUs of its affinity mask, N from the tightest
/// CPU quota over its cgroup and visible ancestors, the window placed by the cgroup's seed.
/// `None` (pass through) when the affinity cannot be read or a quota file does not parse.
pub fn cpu_set(src: &RawSource) -> Option<CpuSet> {
    let affinity = sys::affinity()?;
    let (quota, seed) = cpu_quota(src)?;
    Some(cpu::shown(&affinity, quota, seed))
}

/// The CPU view for the affinity mask `affinity`: the shown set, the tightest quota and the
/// version of the cpu controller's cgroup (given to `found` when one was found). `None` when a
/// quota file does not parse (the kernel's CPUs are served).
pub fn cpu_view(
    src: &RawSource,
    affinity: &CpuSet,
    found: impl FnOnce(&CgroupDir),
) -> Option<(CpuSet, Option<cpu::Quota>, Option<Version>)> {
    let (quota, seed) = cpu_quota(src)?;
    let cg = controller_dir(src, &cpu::CPU, cache::Dirs::Cpu);
    if let Some(cg) = &cg {
        found(cg);
    }
    Some((cpu::shown(affinity, quota, seed), quota, cg.map(|c| c.version)))
}

/// The shown set of another affinity mask of the caller's (a thread's, as
/// `sched_getaffinity` returns it).
pub fn shown_of(src: &RawSource, mask: &CpuSet) -> Option<CpuSet> {
    let (quota, seed) = cpu_quota(src)?;
    Some(cpu::shown(mask, quota, seed))
}

fn cpu_quota(src: &RawSource) -> Option<(Option<cpu::Quota>, u64)> {
    if !src.rooted()
        && let Some(q) = cache::cpu_quota(false)
    {
        return Some(q);
    }
    let found = match discover::find(src, &cpu::CPU) {
        Ok(cg) => match cpu::tightest_quota(src, &cg) {
            Ok(q) => (q, cpu::seed(src.dir_identity(cg.dir.as_bytes()))),
            Err(cpu::UnreadableQuota) if src.transient() && !src.rooted() => return cache::cpu_quota(true),
            Err(cpu::UnreadableQuota) => {
                log::say(&[b"cpu: host values (unreadable quota in ", cg.dir.as_bytes(), b")"]);
                return None;
            }
        },
        Err(_) if src.transient() && !src.rooted() => return cache::cpu_quota(true),
        Err(_) => (None, 0),
    };
    if !src.rooted() {
        cache::store_cpu_quota(found.0, found.1);
    }
    Some(found)
}
