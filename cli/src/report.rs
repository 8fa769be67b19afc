//! What a process here sees with `libcgshim.so`, and why: every decision the library makes,
//! taken with the library's own functions from the pure core, in the library's order, plus the
//! files each number came from. `cgshim show` renders it as text or as one JSON object.
//!
//! Kernel files are read through a [`Source`] (raw system calls on the live system, a directory
//! tree under `--root`), exactly as the library reads them. The facts the library takes from
//! system calls rather than files (the affinity mask, the PID namespace, `sysinfo(2)`, the boot
//! clock) are always the live ones, as in the library under `CGSHIM_SYSROOT`.

use crate::raw;
use cgshim::buf::Buf;
use cgshim::codes::{Origin, Reason as Code};
use cgshim::config::{Config, Feature};
use cgshim::decide::cpu::{self, CPU, Quota};
use cgshim::decide::discover::{self, CgroupDir, Controller, Layout, MEMORY, NotFound, Version, join};
use cgshim::decide::memory::{self, HostMemory, LimitOrigin, Limits, MemoryView, NoView, Samples};
use cgshim::decide::source::{Source, read_file};
use cgshim::decide::{rlimit, tasks, uptime};
use cgshim::read::cpulist::CpuSet;
use cgshim::read::lines::trim;
use cgshim::read::number::{parse_limit, parse_u64};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why the library passes the kernel's values through: a stable code and a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub code: &'static str,
    pub message: String,
}

impl Reason {
    fn new(code: &'static str, message: impl Into<String>) -> Reason {
        Reason { code, message: message.into() }
    }

    pub fn not_found(why: NotFound, what: &str) -> Reason {
        Reason::new(Code::from(why).name(), format!("{what}: {}", why.describe()))
    }

    fn disabled(feature: Feature) -> Reason {
        Reason::new(Code::Disabled.name(), format!("switched off by CGSHIM_DISABLE ({})", feature.name()))
    }
}

/// One cgroup interface file as read: its path, its trimmed text (`None`: missing or
/// unreadable) and the number it holds (`None`: `max`, `-1`, malformed or missing).
#[derive(Clone, Debug)]
pub struct Reading {
    pub file: Vec<u8>,
    pub text: Option<String>,
    pub bytes: Option<u64>,
}

impl Reading {
    fn read<S: Source>(src: &S, dir: &[u8], name: &[u8]) -> Reading {
        let file = join(dir, name).as_bytes().to_vec();
        let mut buf = Buf::<256>::new();
        let text = read_file(src, &file, &mut buf)
            .map(|()| String::from_utf8_lossy(trim(buf.as_bytes())).into_owned());
        let bytes = text.as_deref().and_then(|t| parse_u64(t.as_bytes()));
        Reading { file, text, bytes }
    }

    fn number(file: Vec<u8>, value: u64) -> Reading {
        Reading { file, text: Some(value.to_string()), bytes: Some(value) }
    }

    /// Why this file would make the library give up, if it would: missing, or not a limit.
    fn fault(&self, limit: bool) -> Option<String> {
        let file = String::from_utf8_lossy(&self.file);
        match &self.text {
            None => Some(format!("{file} cannot be read")),
            Some(t) if limit && parse_limit(t.as_bytes()).is_none() => {
                Some(format!("{file} holds {t:?}, which is not a limit"))
            }
            Some(t) if !limit && self.bytes.is_none() => {
                Some(format!("{file} holds {t:?}, which is not a number"))
            }
            Some(_) => None,
        }
    }
}

/// The cgroup directory found for one controller.
#[derive(Clone, Debug)]
pub struct Cgroup {
    pub version: Version,
    pub layout: Layout,
    pub dir: Vec<u8>,
    pub mountpoint: Vec<u8>,
}

impl Cgroup {
    fn from(cg: &CgroupDir) -> Cgroup {
        Cgroup {
            version: cg.version,
            layout: cg.layout,
            dir: cg.dir.as_bytes().to_vec(),
            mountpoint: cg.mountpoint().to_vec(),
        }
    }
}

fn find<S: Source>(
    src: &S,
    controller: &Controller,
) -> (Result<CgroupDir, NotFound>, Result<Cgroup, NotFound>) {
    let found = discover::find(src, controller);
    let shown = found.as_ref().map(Cgroup::from).map_err(|e| *e);
    (found, shown)
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// The `CGSHIM_*` variables the library reads, as found in the environment.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub disable: Option<Vec<u8>>,
    pub cpu_affinity: Option<Vec<u8>>,
    pub debug: Option<Vec<u8>>,
    /// `LD_PRELOAD`, to name the libraries a process here loads.
    pub preload: Option<Vec<u8>>,
}

impl Env {
    pub fn from_process() -> Env {
        use std::os::unix::ffi::OsStringExt;
        let var = |name: &str| std::env::var_os(name).map(|v| v.into_vec());
        Env {
            disable: var("CGSHIM_DISABLE"),
            cpu_affinity: var("CGSHIM_CPU_AFFINITY"),
            debug: var("CGSHIM_DEBUG"),
            preload: var("LD_PRELOAD"),
        }
    }

    pub fn config(&self) -> Config {
        Config::default()
            .with_disable(self.disable.as_deref().unwrap_or(b""))
            .with_debug(self.debug.as_deref().unwrap_or(b""))
            .with_cpu_affinity(self.cpu_affinity.as_deref().unwrap_or(b""))
    }

    pub fn unknown_disable_names(&self) -> Vec<String> {
        Config::unknown_disable_names(self.disable.as_deref().unwrap_or(b""))
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/// One visible level of the memory hierarchy, innermost first.
#[derive(Clone, Debug)]
pub struct MemLevel {
    pub dir: Vec<u8>,
    /// The level has the controller's files (the v2 root has none).
    pub present: bool,
    pub limit: Reading,
    /// v2 `memory.high` (v1 has no such file).
    pub high: Option<Reading>,
    pub usage: Reading,
    /// v1 `memory.memsw.limit_in_bytes` (memory + swap), v2 `memory.swap.max` (swap alone).
    pub swap_limit: Reading,
    /// The limit is below the host's memory, so it counts.
    pub limit_counts: bool,
    /// `min(limit, high) − usage` where the level bounds memory (counted limits only).
    pub headroom: Option<u64>,
}

/// The memory decision.
pub struct MemoryReport {
    pub cgroup: Result<Cgroup, NotFound>,
    pub levels: Vec<MemLevel>,
    /// v1 `hierarchical_memory_limit` from the innermost `memory.stat`.
    pub hierarchical: Option<Reading>,
    /// The host's figures from its `/proc/meminfo`.
    pub host: Option<HostMemory>,
    /// The view behind `/proc/meminfo`, `/proc/swaps` and `/proc/vmstat` (host figures from the
    /// host's meminfo).
    pub view: Result<MemoryView, Reason>,
    /// The view behind `sysinfo` and `sysconf` (host figures from the kernel's `sysinfo`).
    pub sysinfo_view: Result<MemoryView, Reason>,
    /// The file that set the effective limit, and its level (`None`: hierarchical).
    pub limit_source: Option<(Option<usize>, Vec<u8>)>,
}

fn memory_files(version: Version) -> (&'static [u8], &'static [u8], &'static [u8]) {
    match version {
        Version::V1 => (b"memory.limit_in_bytes", b"memory.usage_in_bytes", b"memory.memsw.limit_in_bytes"),
        Version::V2 => (b"memory.max", b"memory.current", b"memory.swap.max"),
    }
}

/// The library's sequence: limits, then (when limited) usages and `memory.stat`, then the rules.
fn decide_view<S: Source>(
    src: &S,
    cg: &CgroupDir,
    limits: &Result<Limits, NoView>,
    host: Option<HostMemory>,
    levels: &[MemLevel],
) -> (Result<MemoryView, Reason>, Option<Samples>) {
    let Some(host) = host else {
        return (Err(Reason::new(Code::NoHostMemory.name(), "the host's total memory is unknown")), None);
    };
    let dir = String::from_utf8_lossy(cg.dir.as_bytes()).into_owned();
    let unreadable = |what: &str| {
        let fault = levels
            .iter()
            .enumerate()
            .filter(|(i, l)| l.present || *i == 0)
            .map(|(_, l)| l)
            .find_map(|l| {
                l.limit.fault(true).or_else(|| l.swap_limit.text.as_ref().and(l.swap_limit.fault(true)))
            })
            .or_else(|| levels.iter().filter(|l| l.present).find_map(|l| l.usage.fault(false)))
            .unwrap_or_else(|| format!("a {what} file of {dir} or an ancestor could not be read or parsed"));
        Reason::new(Code::Unreadable.name(), fault)
    };
    let limits = match limits {
        Ok(l) => l,
        Err(_) => return (Err(unreadable("limit")), None),
    };
    match memory::read_samples(src, cg, limits, &host) {
        Ok(samples) => {
            let view =
                memory::view_from(cg.version, limits, &samples, host).map_err(|_| unlimited(&host, &dir));
            (view, Some(samples))
        }
        Err(NoView::Unlimited) => (Err(unlimited(&host, &dir)), None),
        Err(NoView::Unreadable) => (Err(unreadable("usage")), None),
    }
}

fn unlimited(host: &HostMemory, dir: &str) -> Reason {
    Reason::new(
        Code::Unlimited.name(),
        format!(
            "no memory limit below the host's memory ({} bytes) on {dir} or its visible ancestors: \
             the host's values are the right answer",
            host.total
        ),
    )
}

pub fn memory<S: Source>(
    src: &S,
    host_meminfo: Option<&[u8]>,
    sysinfo_host: Option<HostMemory>,
) -> MemoryReport {
    let host = host_meminfo.and_then(HostMemory::from_meminfo);
    let (found, cgroup) = find(src, &MEMORY);
    let cg = match found {
        Ok(cg) => cg,
        Err(why) => {
            let reason = Reason::not_found(why, "memory controller");
            return MemoryReport {
                cgroup,
                levels: Vec::new(),
                hierarchical: None,
                host,
                view: Err(reason.clone()),
                sysinfo_view: Err(reason),
                limit_source: None,
            };
        }
    };
    let (limit_file, usage_file, swap_file) = memory_files(cg.version);
    let mut levels: Vec<MemLevel> = cg
        .levels()
        .map(|dir| {
            let limit = Reading::read(src, dir, limit_file);
            let present = limit.text.is_some();
            let high = (cg.version == Version::V2).then(|| Reading::read(src, dir, b"memory.high"));
            MemLevel {
                dir: dir.to_vec(),
                present,
                usage: Reading::read(src, dir, usage_file),
                swap_limit: Reading::read(src, dir, swap_file),
                limit,
                high,
                limit_counts: false,
                headroom: None,
            }
        })
        .collect();
    let limits = memory::read_limits(src, &cg);
    let (view, samples) = decide_view(src, &cg, &limits, host, &levels);
    let (sysinfo_view, _) = decide_view(src, &cg, &limits, sysinfo_host, &levels);

    // Per-level figures with the rules' own inputs: the usage the rules read where they read it.
    let total = host.map_or(u64::MAX, |h| h.total);
    let below = |r: &Reading| r.bytes.filter(|&b| b < total);
    for (index, level) in levels.iter_mut().enumerate() {
        if let Some(u) = samples.as_ref().and_then(|s| s.usage.get(index).copied().flatten()) {
            level.usage = Reading::number(level.usage.file.clone(), u);
        }
        level.limit_counts = below(&level.limit).is_some();
        let bound = match (below(&level.limit), level.high.as_ref().and_then(below)) {
            (Some(l), Some(h)) => Some(l.min(h)),
            (l, h) => l.or(h),
        };
        level.headroom = bound.zip(level.usage.bytes).map(|(b, u)| b.saturating_sub(u));
    }
    let stat_file = join(cg.dir.as_bytes(), b"memory.stat").as_bytes().to_vec();
    let hierarchical = match (&limits, cg.version) {
        (Ok(l), Version::V1) => l.hierarchical.map(|h| Reading::number(stat_file.clone(), h)),
        _ => None,
    };
    let limit_source = view.as_ref().ok().map(|v| match v.origin {
        LimitOrigin::Level(i) => (Some(i), levels.get(i).map(|l| l.limit.file.clone()).unwrap_or_default()),
        LimitOrigin::Hierarchical => (None, stat_file.clone()),
    });
    MemoryReport {
        cgroup: Ok(Cgroup::from(&cg)),
        levels,
        hierarchical,
        host,
        view,
        sysinfo_view,
        limit_source,
    }
}

/// The `/proc/meminfo` the library serves, and why it is the host's when it is.
pub fn served_meminfo(
    host_text: &[u8],
    view: &Result<MemoryView, Reason>,
    config: &Config,
) -> (Vec<u8>, Option<Reason>) {
    // The library reads the host file into 8 KiB and renders into 16 KiB; past that it passes
    // the file through.
    const HOST_TEXT_MAX: usize = 8192;
    if !config.enabled(Feature::Meminfo) {
        return (host_text.to_vec(), Some(Reason::disabled(Feature::Meminfo)));
    }
    if host_text.len() > HOST_TEXT_MAX {
        return (
            host_text.to_vec(),
            Some(Reason::new(Code::HostFileTooLarge.name(), "the host's /proc/meminfo is larger than 8 KiB")),
        );
    }
    let view = match view {
        Ok(v) => v,
        Err(why) => return (host_text.to_vec(), Some(why.clone())),
    };
    let mut out = Buf::<16384>::new();
    match cgshim::show::meminfo::render(host_text, view, &mut out) {
        Some(()) => (out.as_bytes().to_vec(), None),
        None => (
            host_text.to_vec(),
            Some(Reason::new("too-large", "the rewritten /proc/meminfo does not fit 16 KiB")),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// CPUs
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct CpuLevel {
    pub dir: Vec<u8>,
    /// v2 `cpu.max`, v1 `cpu.cfs_quota_us`.
    pub quota: Reading,
    /// v1 `cpu.cfs_period_us` (v2 carries the period in `cpu.max`).
    pub period: Option<Reading>,
    /// The parsed bandwidth: `Some(None)` = no quota, `None` = missing or malformed.
    pub parsed: Option<Option<Quota>>,
}

pub struct CpuReport {
    pub cgroup: Result<Cgroup, NotFound>,
    pub levels: Vec<CpuLevel>,
    /// The tightest quota and the level that set it; `Ok(None)` when there is none.
    pub quota: Result<Option<(Quota, usize)>, Reason>,
    pub affinity: Option<CpuSet>,
    /// Where the window of S starts in the affinity mask (from the cgroup's identity).
    pub seed: u64,
    /// The set S shown everywhere (N = its size).
    pub set: Result<CpuSet, Reason>,
}

pub fn cpu<S: Source>(src: &S, affinity: Option<CpuSet>) -> CpuReport {
    let (found, cgroup) = find(src, &CPU);
    let mut levels = Vec::new();
    let quota = match &found {
        Err(_) => Ok(None),
        Ok(cg) => {
            for dir in cg.levels() {
                let level = match cg.version {
                    Version::V1 => {
                        let quota = Reading::read(src, dir, b"cpu.cfs_quota_us");
                        let period = Reading::read(src, dir, b"cpu.cfs_period_us");
                        let parsed = quota
                            .text
                            .as_ref()
                            .zip(period.text.as_ref())
                            .and_then(|(q, p)| cpu::parse_cfs(q.as_bytes(), p.as_bytes()));
                        CpuLevel { dir: dir.to_vec(), quota, period: Some(period), parsed }
                    }
                    Version::V2 => {
                        let quota = Reading::read(src, dir, b"cpu.max");
                        let parsed = quota.text.as_ref().and_then(|q| cpu::parse_cpu_max(q.as_bytes()));
                        CpuLevel { dir: dir.to_vec(), quota, period: None, parsed }
                    }
                };
                levels.push(level);
            }
            match cpu::tightest_quota(src, cg) {
                Ok(None) => Ok(None),
                Ok(Some(q)) => {
                    let at = levels.iter().position(|l| l.parsed == Some(Some(q))).unwrap_or(0);
                    Ok(Some((q, at)))
                }
                Err(cpu::UnreadableQuota) => {
                    let fault = levels
                        .iter()
                        .filter(|l| l.quota.text.is_some())
                        .find(|l| l.parsed.is_none())
                        .map(|l| match l.period.as_ref().filter(|p| p.text.is_none() || p.bytes.is_none()) {
                            Some(p) => p.fault(false).unwrap_or_default(),
                            None => l.quota.fault(true).unwrap_or_else(|| {
                                format!("{} is not a valid quota", String::from_utf8_lossy(&l.quota.file))
                            }),
                        })
                        .unwrap_or_else(|| "a CPU quota file could not be parsed".into());
                    Err(Reason::new(Code::Unreadable.name(), fault))
                }
            }
        }
    };
    let seed = found.as_ref().map_or(0, |cg| cpu::seed(src.dir_identity(cg.dir.as_bytes())));
    let set = match (&quota, affinity) {
        (Err(why), _) => Err(why.clone()),
        (Ok(_), None) => Err(Reason::new(Code::NoAffinity.name(), "the affinity mask could not be read")),
        (Ok(q), Some(aff)) => Ok(cpu::shown(&aff, q.map(|(q, _)| q), seed)),
    };
    CpuReport { cgroup, levels, quota, affinity, seed, set }
}

// ---------------------------------------------------------------------------------------------
// Uptime and tasks
// ---------------------------------------------------------------------------------------------

/// The inode of the initial PID namespace (`PROC_PID_INIT_INO`).
const INITIAL_PID_NS: &[u8] = b"pid:[4026531836]";

pub struct UptimeReport {
    /// `/proc/self/ns/pid`, read from the live system.
    pub pid_ns: Option<Vec<u8>>,
    pub in_namespace: Option<bool>,
    /// `starttime` of `/proc/1/stat`, in clock ticks.
    pub init_start_ticks: Option<u64>,
    pub cpuacct: Result<Cgroup, NotFound>,
    /// The file the cgroup's CPU time came from (v1 `cpuacct.usage`, v2 `cpu.stat`) and the time.
    pub busy: Option<(Vec<u8>, Option<u64>)>,
    /// (uptime, idle) in nanoseconds.
    pub result: Result<(u64, u64), Reason>,
}

pub struct Clocks {
    pub boot_ns: Option<u64>,
    pub clk_tck: u64,
}

pub fn uptime<S: Source>(
    src: &S,
    pid_ns: Option<Vec<u8>>,
    clocks: &Clocks,
    cpus: Option<u64>,
) -> UptimeReport {
    let in_namespace = pid_ns.as_ref().map(|l| l.as_slice() != INITIAL_PID_NS);
    let mut stat = Buf::<1024>::new();
    let init_start_ticks = read_file(src, b"/proc/1/stat", &mut stat)
        .and_then(|()| cgshim::read::pid_stat::start_time_ticks(stat.as_bytes()));
    let (found, cpuacct) = find(src, &uptime::CPUACCT);
    let busy = found.as_ref().ok().map(|cg| {
        let file: &[u8] = match cg.version {
            Version::V1 => b"cpuacct.usage",
            Version::V2 => b"cpu.stat",
        };
        (join(cg.dir.as_bytes(), file).as_bytes().to_vec(), uptime::busy_ns(src, cg))
    });
    let result = match (in_namespace, init_start_ticks) {
        (None, _) => Err(Reason::new("pid-namespace-unknown", "/proc/self/ns/pid cannot be read")),
        (_, None) => Err(Reason::new("init-unreadable", "/proc/1/stat cannot be read or parsed")),
        (Some(false), _) => Err(Reason::new(
            "no-pid-namespace",
            "the process is in the host's PID namespace, whose uptime is the right answer",
        )),
        (Some(true), Some(start)) => {
            match clocks.boot_ns.and_then(|now| uptime::uptime_ns(now, start, clocks.clk_tck)) {
                None => Err(Reason::new(
                    "init-in-future",
                    "the PID namespace's init seems to start in the future",
                )),
                Some(up) => {
                    let busy_ns = busy.as_ref().and_then(|(_, b)| *b);
                    Ok((up, uptime::idle_ns(up, busy_ns, cpus.unwrap_or(1))))
                }
            }
        }
    };
    UptimeReport { pid_ns, in_namespace, init_start_ticks, cpuacct, busy, result }
}

pub struct TasksReport {
    pub cgroup: Result<Cgroup, NotFound>,
    pub file: Option<Vec<u8>>,
    pub count: Result<u64, Reason>,
}

pub fn tasks<S: Source>(src: &S) -> TasksReport {
    let (found, cgroup) = find(src, &tasks::PIDS);
    match found {
        Err(why) => TasksReport { cgroup, file: None, count: Err(Reason::not_found(why, "pids controller")) },
        Ok(cg) => {
            let file = join(cg.dir.as_bytes(), b"pids.current").as_bytes().to_vec();
            let count = tasks::count(src, &cg).ok_or_else(|| {
                Reason::new(
                    "unreadable",
                    format!("{} cannot be read or parsed", String::from_utf8_lossy(&file)),
                )
            });
            TasksReport { cgroup, file: Some(file), count }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rlimits
// ---------------------------------------------------------------------------------------------

/// A soft and a hard limit in bytes (`None`: `RLIM_INFINITY`).
#[derive(Clone, Copy, Debug)]
pub struct SoftHard {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// `RLIMIT_AS` and `RLIMIT_DATA` of this process (which the programs it starts inherit), what
/// it uses of them, and which bound a growing process meets first.
pub struct RlimitReport {
    pub address_space: Option<SoftHard>,
    pub data: Option<SoftHard>,
    pub vm_size: Option<u64>,
    pub vm_data: Option<u64>,
    /// The bound met first: the memory's file (or `host`), `RLIMIT_AS` or `RLIMIT_DATA`.
    pub binding: Origin,
    /// The room left under it, in bytes.
    pub room: u64,
}

/// The rlimit part of the report: the memory's room is `MemAvailable` as served in
/// `/proc/meminfo` (the container's when that file is, else the host's).
pub fn rlimits(live: &Live, memory: &MemoryReport, meminfo_virtualized: bool) -> RlimitReport {
    let (available, bound) = match (&memory.view, meminfo_virtualized) {
        (Ok(view), true) => (view.available, Origin::headroom_of(view)),
        _ => (memory.host.and_then(|h| h.available).unwrap_or(0), Origin::Host),
    };
    let r = rlimit::Rlimits {
        address_space: live.rlimit_as.and_then(|l| l.soft),
        data: live.rlimit_data.and_then(|l| l.soft),
        vm_size: live.statm.map(|s| s.0),
        vm_data: live.statm.map(|s| s.1),
    };
    let (binding, room) = rlimit::binding(available, &r);
    RlimitReport {
        address_space: live.rlimit_as,
        data: live.rlimit_data,
        vm_size: r.vm_size,
        vm_data: r.vm_data,
        binding: match binding {
            rlimit::Binding::Memory => bound,
            rlimit::Binding::AddressSpace => Origin::RlimitAs,
            rlimit::Binding::Data => Origin::RlimitData,
        },
        room,
    }
}

// ---------------------------------------------------------------------------------------------
// The whole report
// ---------------------------------------------------------------------------------------------

/// One file or call the library intercepts.
pub struct Interface {
    pub name: &'static str,
    pub feature: Feature,
    pub enabled: bool,
    pub result: Result<(), Reason>,
}

/// What `sysinfo(2)` returns to a program: the kernel's struct with the fields the library
/// rewrites. Memory fields in bytes (the struct's value × `mem_unit`).
pub struct Sysinfo {
    pub mem_unit: u64,
    pub totalram: u64,
    pub freeram: u64,
    pub sharedram: u64,
    pub bufferram: u64,
    pub totalswap: u64,
    pub freeswap: u64,
    pub uptime: u64,
    pub procs: u64,
}

pub struct Sysconf {
    pub page_size: u64,
    pub phys_pages: Option<u64>,
    pub avphys_pages: Option<u64>,
    pub nprocessors_onln: Option<u64>,
}

pub struct Report {
    /// Where kernel files were read: `None` for `/`.
    pub root: Option<PathBuf>,
    pub env: Env,
    pub config: Config,
    pub memory: MemoryReport,
    pub rlimits: RlimitReport,
    pub meminfo: Option<(Vec<u8>, Option<Reason>)>,
    pub cpu: CpuReport,
    pub uptime: UptimeReport,
    pub tasks: TasksReport,
    pub sysinfo: Option<Sysinfo>,
    pub sysconf: Sysconf,
    pub interfaces: Vec<Interface>,
    /// What holds the content of stdio streams on served files.
    pub streams: Result<&'static str, Reason>,
    /// The cgshim libraries a process here loads, and their versions.
    pub libraries: Vec<LoadedLibrary>,
}

/// The facts the library takes from system calls, always from the live process.
pub struct Live {
    pub affinity: Option<CpuSet>,
    pub pid_ns: Option<Vec<u8>>,
    pub sysinfo: Option<libc::sysinfo>,
    pub clocks: Clocks,
    pub page_size: u64,
    /// `/sys/devices/system/cpu/online`, which glibc's own `sysconf` counts.
    pub online: Option<CpuSet>,
    /// What holds a stdio stream's served content (`None`: streams read the host's files).
    pub streams: Option<&'static str>,
    pub rlimit_as: Option<SoftHard>,
    pub rlimit_data: Option<SoftHard>,
    /// `/proc/self/statm`: (size, data + stack) in bytes.
    pub statm: Option<(u64, u64)>,
}

impl Live {
    pub fn read() -> Live {
        Live {
            affinity: raw::affinity(),
            pid_ns: raw::readlink(b"/proc/self/ns/pid"),
            sysinfo: raw::sysinfo(),
            clocks: Clocks { boot_ns: raw::boot_clock_ns(), clk_tck: raw::auxval(libc::AT_CLKTCK, 100) },
            page_size: raw::auxval(libc::AT_PAGESZ, 4096),
            online: raw::read_all(b"/sys/devices/system/cpu/online").and_then(|t| CpuSet::parse_list(&t)),
            streams: raw::stream_backing(),
            rlimit_as: rlimit_of(libc::RLIMIT_AS),
            rlimit_data: rlimit_of(libc::RLIMIT_DATA),
            statm: raw::read_all(b"/proc/self/statm")
                .and_then(|t| rlimit::parse_statm(&t, raw::auxval(libc::AT_PAGESZ, 4096))),
        }
    }
}

fn rlimit_of(resource: libc::__rlimit_resource_t) -> Option<SoftHard> {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid, writable struct rlimit.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return None;
    }
    let bytes = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v);
    Some(SoftHard { soft: bytes(r.rlim_cur), hard: bytes(r.rlim_max) })
}

fn sysinfo_host(info: &libc::sysinfo) -> HostMemory {
    let unit = u64::from(info.mem_unit.max(1));
    #[allow(clippy::unnecessary_cast)] // `c_ulong` is narrower than u64 on 32-bit targets.
    let (total, swap) = (info.totalram as u64, info.totalswap as u64);
    HostMemory { total: total.saturating_mul(unit), available: None, swap_total: swap.saturating_mul(unit) }
}

/// The host's `/proc/meminfo` text through `src`.
pub fn host_meminfo<S: Source>(src: &S) -> Option<Vec<u8>> {
    let mut file = src.open(b"/proc/meminfo")?;
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 16384];
    loop {
        let n = src.read(&mut file, &mut chunk)?;
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(chunk.get(..n)?);
    }
}

/// Why stdio streams read the host's files.
pub fn no_stream_backing() -> Reason {
    Reason::new(
        "no-stream-file",
        "memfd_create is refused here (a seccomp profile) and neither /dev/shm nor /tmp takes an \
         unlinked file: programs that read these files through stdio (fopen) see the host's; \
         open/read, sysinfo and sysconf are served as usual",
    )
}

/// A `libcgshim.so` a process here loads: through `LD_PRELOAD` or `/etc/ld.so.preload`, with
/// the version written inside the file.
pub struct LoadedLibrary {
    pub path: PathBuf,
    pub via: &'static str,
    /// `None` when the file cannot be read or holds no version (not a cgshim library).
    pub version: Option<String>,
}

/// The marker the library carries before its version.
const VERSION_MARK: &[u8] = b"cgshim-library-version=";

/// The version inside a library file.
pub fn library_version(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let at = bytes.windows(VERSION_MARK.len()).position(|w| w == VERSION_MARK)? + VERSION_MARK.len();
    let rest = bytes.get(at..)?;
    let end = rest.iter().position(|&b| b == b'\n').filter(|&n| n <= 64)?;
    String::from_utf8(rest.get(..end)?.to_vec()).ok()
}

/// Every entry of `LD_PRELOAD` (from `preload`) and of `ROOT/etc/ld.so.preload` that is a cgshim
/// library (its name says so, or it carries the version marker).
pub fn loaded_libraries(root: Option<&Path>, preload: Option<&[u8]>) -> Vec<LoadedLibrary> {
    let under = |p: &Path| match root {
        Some(r) => r.join(p.strip_prefix("/").unwrap_or(p)),
        None => p.to_path_buf(),
    };
    let file = std::fs::read(under(Path::new("/etc/ld.so.preload"))).unwrap_or_default();
    let entries = |text: &[u8], via: &'static str| -> Vec<(PathBuf, &'static str)> {
        text.split(|b| b" \t\n:".contains(b))
            .filter(|e| !e.is_empty())
            .map(|e| (PathBuf::from(std::ffi::OsStr::from_bytes(e)), via))
            .collect()
    };
    // LD_PRELOAD is this process's (paths on the live system); the file's entries are the root's.
    let mut all = entries(preload.unwrap_or_default(), "LD_PRELOAD");
    all.extend(entries(&file, "/etc/ld.so.preload"));
    all.into_iter()
        .filter_map(|(path, via)| {
            let file = if via == "LD_PRELOAD" { path.clone() } else { under(&path) };
            let version = library_version(&file);
            let named = path.file_name().is_some_and(|n| n.to_string_lossy().contains("cgshim"));
            (version.is_some() || named).then_some(LoadedLibrary { path, via, version })
        })
        .collect()
}

pub fn gather<S: Source>(src: &S, root: Option<PathBuf>, env: Env, live: Live) -> Report {
    let config = env.config();
    let host_meminfo = host_meminfo(src);
    let memory = memory(src, host_meminfo.as_deref(), live.sysinfo.as_ref().map(sysinfo_host));
    let cpu = cpu(src, live.affinity);
    let uptime = uptime(src, live.pid_ns.clone(), &live.clocks, cpu.set.as_ref().ok().map(CpuSet::count));
    let tasks = tasks(src);
    let streams = live.streams.ok_or_else(no_stream_backing);
    let meminfo = host_meminfo.as_deref().map(|t| served_meminfo(t, &memory.view, &config));
    let rlimits = rlimits(&live, &memory, matches!(meminfo, Some((_, None))));

    let gate = |feature: Feature, result: Result<(), Reason>| {
        if !config.enabled(feature) { Err(Reason::disabled(feature)) } else { result }
    };
    let ok = |r: Result<(), &Reason>| r.map_err(Reason::clone);
    let view_ok = ok(memory.view.as_ref().map(|_| ()));
    let sysinfo_view_ok = ok(memory.sysinfo_view.as_ref().map(|_| ()));
    let cpu_ok = ok(cpu.set.as_ref().map(|_| ()));
    let uptime_ok = ok(uptime.result.as_ref().map(|_| ()));
    let tasks_ok = ok(tasks.count.as_ref().map(|_| ()));
    let meminfo_ok = match &meminfo {
        Some((_, None)) => Ok(()),
        Some((_, Some(why))) => Err(why.clone()),
        None => Err(Reason::new("no-host-meminfo", "/proc/meminfo cannot be read")),
    };
    let both = |a: Feature, b: Feature, result: Result<(), Reason>| gate(a, gate(b, result));
    let affinity_opt_out = if config.cpu_affinity {
        cpu_ok.clone()
    } else {
        Err(Reason::new("opt-out", "CGSHIM_CPU_AFFINITY=0 leaves it to the kernel"))
    };
    let interfaces = vec![
        ("/proc/meminfo", Feature::Meminfo, gate(Feature::Meminfo, meminfo_ok)),
        ("/proc/swaps", Feature::Swaps, gate(Feature::Swaps, view_ok.clone())),
        ("/proc/vmstat", Feature::Vmstat, gate(Feature::Vmstat, view_ok)),
        ("/proc/uptime", Feature::Uptime, gate(Feature::Uptime, uptime_ok.clone())),
        ("sysinfo", Feature::Sysinfo, gate(Feature::Sysinfo, sysinfo_view_ok.clone())),
        ("sysinfo.uptime", Feature::Uptime, both(Feature::Sysinfo, Feature::Uptime, uptime_ok)),
        ("sysinfo.procs", Feature::Sysinfo, gate(Feature::Sysinfo, tasks_ok)),
        ("sysconf_pages", Feature::Sysconf, gate(Feature::Sysconf, sysinfo_view_ok)),
        ("sysconf_nprocessors_onln", Feature::Cpu, gate(Feature::Cpu, cpu_ok.clone())),
        ("/proc/cpuinfo", Feature::Cpu, gate(Feature::Cpu, cpu_ok.clone())),
        ("/proc/stat", Feature::Cpu, gate(Feature::Cpu, cpu_ok.clone())),
        ("/sys/devices/system/cpu/online", Feature::Cpu, gate(Feature::Cpu, cpu_ok.clone())),
        ("/sys/devices/system/cpu/cpuN/online", Feature::Cpu, gate(Feature::Cpu, cpu_ok.clone())),
        ("/proc/self/status", Feature::Cpu, gate(Feature::Cpu, cpu_ok)),
        ("sched_getaffinity", Feature::Cpu, gate(Feature::Cpu, affinity_opt_out)),
    ];
    let interfaces: Vec<Interface> = interfaces
        .into_iter()
        .map(|(name, feature, result)| Interface {
            name,
            feature,
            enabled: config.enabled(feature)
                && (name != "sysinfo.uptime" || config.enabled(Feature::Sysinfo)),
            result,
        })
        .collect();
    let virtualized = |name: &str| interfaces.iter().any(|i| i.name == name && i.result.is_ok());

    let sysinfo = live.sysinfo.as_ref().map(|info| {
        let unit = u64::from(info.mem_unit.max(1));
        #[allow(clippy::unnecessary_cast)] // `c_ulong` is narrower than u64 on 32-bit targets.
        let field = |v: libc::c_ulong| (v as u64).saturating_mul(unit);
        let mut s = Sysinfo {
            mem_unit: unit,
            totalram: field(info.totalram),
            freeram: field(info.freeram),
            sharedram: field(info.sharedram),
            bufferram: field(info.bufferram),
            totalswap: field(info.totalswap),
            freeswap: field(info.freeswap),
            uptime: u64::try_from(info.uptime).unwrap_or(0),
            procs: u64::from(info.procs),
        };
        if let (true, Ok(view)) = (virtualized("sysinfo"), &memory.sysinfo_view) {
            let m = cgshim::show::sysinfo::sysinfo_memory(view, info.mem_unit);
            (s.totalram, s.freeram, s.sharedram, s.bufferram, s.totalswap, s.freeswap) = (
                m.totalram.saturating_mul(unit),
                m.freeram.saturating_mul(unit),
                m.sharedram.saturating_mul(unit),
                m.bufferram.saturating_mul(unit),
                m.totalswap.saturating_mul(unit),
                m.freeswap.saturating_mul(unit),
            );
        }
        if let (true, Ok((up, _))) = (virtualized("sysinfo.uptime"), &uptime.result) {
            s.uptime = cgshim::show::uptime::sysinfo_seconds(*up);
        }
        if let (true, Ok(n)) = (virtualized("sysinfo.procs"), &tasks.count) {
            s.procs = (*n).min(u64::from(u16::MAX));
        }
        s
    });
    let page = live.page_size;
    let sysconf = Sysconf {
        page_size: page,
        phys_pages: match (&memory.sysinfo_view, virtualized("sysconf_pages")) {
            (Ok(view), true) => Some(cgshim::show::sysinfo::phys_pages(view, page)),
            _ => live.sysinfo.as_ref().map(|i| sysinfo_host(i).total / page),
        },
        avphys_pages: match (&memory.sysinfo_view, virtualized("sysconf_pages")) {
            (Ok(view), true) => Some(cgshim::show::sysinfo::avphys_pages(view, page)),
            #[allow(clippy::unnecessary_cast)] // `c_ulong` is narrower than u64 on 32-bit targets.
            _ => live
                .sysinfo
                .as_ref()
                .map(|i| (i.freeram as u64).saturating_mul(u64::from(i.mem_unit.max(1))) / page),
        },
        nprocessors_onln: match (&cpu.set, virtualized("sysconf_nprocessors_onln")) {
            (Ok(set), true) => Some(set.count()),
            _ => live.online.map(|s| s.count()),
        },
    };
    let libraries = loaded_libraries(root.as_deref(), env.preload.as_deref());
    Report {
        root,
        env,
        config,
        memory,
        rlimits,
        meminfo,
        cpu,
        uptime,
        tasks,
        sysinfo,
        sysconf,
        interfaces,
        streams,
        libraries,
    }
}
