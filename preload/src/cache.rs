//! Short-lived caches of what changes rarely, so that hot callers (the JVM polls `sysinfo` over
//! a hundred times a second; monitoring agents reread `/proc/meminfo`) do not re-read mountinfo,
//! every limit file and the host's meminfo on each call:
//!
//! - the cgroup directory found by discovery and the limits along the hierarchy;
//! - the CPU quota, the pids cgroup, the PID namespace's init.
//!
//! Each of these is trusted for at most [`TTL_NS`]. Container usage and `memory.stat` are kept
//! for at most [`VALUE_TTL_NS`] (one millisecond): far below any sampling interval, it only
//! spares callers that read in a tight loop from regenerating the same numbers.
//!
//! When a fresh read fails for want of a resource (the process is out of fds or memory), the
//! last values stored are used whatever their age: a transient error must not switch a process
//! from the container's numbers to the host's.
//!
//! Each cache is a sequence lock over atomic words: readers never wait and never see a torn
//! value; a writer that finds another one busy simply does not store. No lock can be held across
//! `fork` or a signal handler.

use cgshim::decide::memory::Samples;
use cgshim::decide::snapshot::{self, Snapshot};
use core::sync::atomic::{AtomicU64, Ordering, fence};

/// How long cached entries are trusted: one second. A process moved to another cgroup, or a
/// limit changed with `docker update`, shows within that time.
pub const TTL_NS: u64 = 1_000_000_000;

/// How long usage and statistics are reused: one millisecond.
pub const VALUE_TTL_NS: u64 = 1_000_000;

/// `W` words trusted for `TTL` nanoseconds. All-zero when empty, so the caches cost no file-backed
/// pages at load time (they live in `.bss`).
struct SeqCache<const W: usize, const TTL: u64> {
    seq: AtomicU64,
    stamp: AtomicU64,
    data: [AtomicU64; W],
}

impl<const W: usize, const TTL: u64> SeqCache<W, TTL> {
    const fn new() -> Self {
        Self { seq: AtomicU64::new(0), stamp: AtomicU64::new(0), data: [const { AtomicU64::new(0) }; W] }
    }

    fn load(&self, words: &mut [u64; W]) -> bool {
        self.load_within(words, Some(TTL))
    }

    /// The stored words whatever their age (after a transient failure), unless cleared.
    fn load_stale(&self, words: &mut [u64; W]) -> bool {
        self.load_within(words, None)
    }

    fn load_within(&self, words: &mut [u64; W], ttl: Option<u64>) -> bool {
        let before = self.seq.load(Ordering::Acquire);
        if before == 0 || before & 1 == 1 {
            return false;
        }
        for (w, a) in words.iter_mut().zip(self.data.iter()) {
            *w = a.load(Ordering::Relaxed);
        }
        let stamp = self.stamp.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        self.seq.load(Ordering::Relaxed) == before
            && stamp != 0
            && ttl.is_none_or(|ttl| now_ns().saturating_sub(stamp) < ttl)
    }

    fn store(&self, words: &[u64; W]) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(seq, seq.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        fence(Ordering::Release);
        for (a, w) in self.data.iter().zip(words.iter()) {
            a.store(*w, Ordering::Relaxed);
        }
        self.stamp.store(now_ns(), Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    fn clear(&self) {
        self.stamp.store(0, Ordering::Relaxed);
    }
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec; CLOCK_MONOTONIC is served by the vDSO without a syscall.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

static DISCOVERY: SnapshotCache = SeqCache::new();
static SAMPLES: SeqCache<{ snapshot::SAMPLE_WORDS }, VALUE_TTL_NS> = SeqCache::new();

type SnapshotCache = SeqCache<{ snapshot::WORDS }, TTL_NS>;

fn load_snapshot(cache: &SnapshotCache, stale: bool) -> Option<Snapshot> {
    let mut words = [0u64; snapshot::WORDS];
    let found = if stale { cache.load_stale(&mut words) } else { cache.load(&mut words) };
    found.then(|| Snapshot::from_words(&words)).flatten()
}

fn store_snapshot(cache: &SnapshotCache, s: &Snapshot) {
    let mut words = [0u64; snapshot::WORDS];
    s.to_words(&mut words);
    cache.store(&words);
}

/// The cached discovery of the memory controller, if stored and still fresh.
pub fn discovery(stale: bool) -> Option<Snapshot> {
    load_snapshot(&DISCOVERY, stale)
}

pub fn store_discovery(s: &Snapshot) {
    store_snapshot(&DISCOVERY, s);
    SAMPLES.clear();
}

/// Forgets the discovery (its cgroup vanished or its files stopped parsing).
pub fn clear_discovery() {
    DISCOVERY.clear();
    SAMPLES.clear();
}

/// Usage and statistics read within the last [`VALUE_TTL_NS`], for the cached discovery.
pub fn samples(stale: bool) -> Option<Samples> {
    let mut words = [0u64; snapshot::SAMPLE_WORDS];
    let found = if stale { SAMPLES.load_stale(&mut words) } else { SAMPLES.load(&mut words) };
    found.then(|| snapshot::samples_from_words(&words))
}

pub fn store_samples(samples: &Samples) {
    let mut words = [0u64; snapshot::SAMPLE_WORDS];
    snapshot::samples_to_words(samples, &mut words);
    SAMPLES.store(&words);
}

static PIDS_DISCOVERY: SnapshotCache = SeqCache::new();
static ACCT_DISCOVERY: SnapshotCache = SeqCache::new();
static CPU_DISCOVERY: SnapshotCache = SeqCache::new();

/// The controllers whose directories are kept like the memory controller's.
#[derive(Clone, Copy)]
pub enum Dirs {
    /// What counts CPU time (v1 `cpuacct`, v2 `cpu.stat`).
    Acct,
    /// What throttles it (v1 `cpu`).
    Cpu,
}

fn dir_cache(which: Dirs) -> &'static SnapshotCache {
    match which {
        Dirs::Acct => &ACCT_DISCOVERY,
        Dirs::Cpu => &CPU_DISCOVERY,
    }
}

/// The cached discovery of `which`.
pub fn dir_discovery(which: Dirs, stale: bool) -> Option<Snapshot> {
    load_snapshot(dir_cache(which), stale)
}

pub fn store_dir_discovery(which: Dirs, s: &Snapshot) {
    store_snapshot(dir_cache(which), s);
}
static PROCS: SeqCache<1, VALUE_TTL_NS> = SeqCache::new();
static PID_INIT: SeqCache<2, TTL_NS> = SeqCache::new();

/// The cached discovery of the pids controller.
pub fn pids_discovery(stale: bool) -> Option<Snapshot> {
    load_snapshot(&PIDS_DISCOVERY, stale)
}

pub fn store_pids_discovery(s: &Snapshot) {
    store_snapshot(&PIDS_DISCOVERY, s);
}

/// The task count read within the value window.
pub fn procs(stale: bool) -> Option<u64> {
    let mut words = [0u64; 1];
    let found = if stale { PROCS.load_stale(&mut words) } else { PROCS.load(&mut words) };
    found.then_some(words[0])
}

pub fn store_procs(n: u64) {
    PROCS.store(&[n]);
}

/// Whether the process is in a PID namespace of its own, and its init's start time in ticks.
pub fn pid_init(stale: bool) -> Option<(bool, u64)> {
    let mut words = [0u64; 2];
    let found = if stale { PID_INIT.load_stale(&mut words) } else { PID_INIT.load(&mut words) };
    found.then_some((words[0] != 0, words[1]))
}

pub fn store_pid_init(in_namespace: bool, start_ticks: u64) {
    PID_INIT.store(&[u64::from(in_namespace), start_ticks]);
}

static CPU_QUOTA: SeqCache<4, TTL_NS> = SeqCache::new();

/// The tightest CPU quota (`None`: there is none) and the cgroup's window seed, as found within
/// the last [`TTL_NS`].
pub fn cpu_quota(stale: bool) -> Option<(Option<cgshim::decide::cpu::Quota>, u64)> {
    let mut w = [0u64; 4];
    let found = if stale { CPU_QUOTA.load_stale(&mut w) } else { CPU_QUOTA.load(&mut w) };
    found.then_some(((w[0] != 0).then_some(cgshim::decide::cpu::Quota { quota: w[1], period: w[2] }), w[3]))
}

pub fn store_cpu_quota(q: Option<cgshim::decide::cpu::Quota>, seed: u64) {
    CPU_QUOTA.store(&match q {
        Some(q) => [1, q.quota, q.period, seed],
        None => [0, 0, 0, seed],
    });
}

static OVERCOMMIT: SeqCache<2, TTL_NS> = SeqCache::new();

/// `vm.overcommit_ratio` and `vm.overcommit_kbytes` as read within the last [`TTL_NS`].
pub fn overcommit(stale: bool) -> Option<cgshim::decide::memory::Overcommit> {
    let mut w = [0u64; 2];
    let found = if stale { OVERCOMMIT.load_stale(&mut w) } else { OVERCOMMIT.load(&mut w) };
    found.then_some(cgshim::decide::memory::Overcommit { ratio: w[0], kbytes: w[1] })
}

pub fn store_overcommit(o: cgshim::decide::memory::Overcommit) {
    OVERCOMMIT.store(&[o.ratio, o.kbytes]);
}

/// CPUs whose per-CPU times the usage cache holds (more: read every time).
pub const USAGE_CPUS: usize = 8;
static USAGE: SeqCache<{ 5 + 3 * USAGE_CPUS }, VALUE_TTL_NS> = SeqCache::new();

/// The cgroup's CPU time read within the value window: the totals, whether per-CPU figures
/// exist, and those of up to [`USAGE_CPUS`] CPUs as (cpu, user, system).
pub struct CachedUsage {
    pub usage: cgshim::decide::cputime::Usage,
    pub per_cpu: bool,
    pub cpus: [(u64, u64, u64); USAGE_CPUS],
    pub count: usize,
}

pub fn usage() -> Option<CachedUsage> {
    let mut w = [0u64; 5 + 3 * USAGE_CPUS];
    if !USAGE.load(&mut w) {
        return None;
    }
    let mut cpus = [(0, 0, 0); USAGE_CPUS];
    for (i, slot) in cpus.iter_mut().enumerate() {
        *slot = (w[5 + 3 * i], w[6 + 3 * i], w[7 + 3 * i]);
    }
    Some(CachedUsage {
        usage: cgshim::decide::cputime::Usage { user_ns: w[0], system_ns: w[1], throttled_ns: w[2] },
        per_cpu: w[3] != 0,
        cpus,
        count: usize::try_from(w[4]).unwrap_or(0).min(USAGE_CPUS),
    })
}

pub fn store_usage(c: &CachedUsage) {
    let mut w = [0u64; 5 + 3 * USAGE_CPUS];
    w[0] = c.usage.user_ns;
    w[1] = c.usage.system_ns;
    w[2] = c.usage.throttled_ns;
    w[3] = u64::from(c.per_cpu);
    w[4] = c.count as u64;
    for (i, (cpu, u, s)) in c.cpus.iter().enumerate().take(c.count) {
        (w[5 + 3 * i], w[6 + 3 * i], w[7 + 3 * i]) = (*cpu, *u, *s);
    }
    USAGE.store(&w);
}
