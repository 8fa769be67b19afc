//! The container's memory, from the memory controller of the caller's cgroup.
//!
//! Limits nest: the enforced limit is the minimum over the cgroup and every visible ancestor
//! (v1 also states it over *all* ancestors in `hierarchical_memory_limit`). Headroom is taken per
//! level, because an ancestor's usage includes its other children. A limit at or above the host's
//! memory is no limit at all: then nothing is virtualized.

use super::discover::{CgroupDir, Version, join};
use super::source::{Source, for_each_line, read_file};
use crate::buf::Buf;
use crate::read::memory_stat::{Key, MemoryStat, v1_name};
use crate::read::number::{Limit, parse_limit, parse_u64};

/// What the host itself reports, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostMemory {
    pub total: u64,
    /// `MemAvailable`, when known (the `sysinfo` path does not read `/proc/meminfo`).
    pub available: Option<u64>,
    /// `SwapTotal`; 0 when the host has no swap.
    pub swap_total: u64,
}

impl HostMemory {
    /// The host's figures from its `/proc/meminfo` text (`None` without a `MemTotal` line).
    pub fn from_meminfo(text: &[u8]) -> Option<HostMemory> {
        let bytes = |key: &[u8]| crate::read::meminfo::value(text, key).map(|kb| kb.saturating_mul(1024));
        Some(HostMemory {
            total: bytes(b"MemTotal")?,
            available: bytes(b"MemAvailable"),
            swap_total: bytes(b"SwapTotal").unwrap_or(0),
        })
    }
}

/// The deepest hierarchy followed; a deeper one is passed through rather than half-read.
pub const MAX_LEVELS: usize = 32;

/// One visible level of the hierarchy, innermost first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// `memory.max` / `memory.limit_in_bytes`, `None` when unlimited or absent.
    pub limit: Option<u64>,
    /// v2 `memory.high`, `None` when unlimited or absent.
    pub high: Option<u64>,
    /// Usage, read only where a limit makes it matter (and always at the innermost level).
    pub usage: Option<u64>,
    /// Whether the level has the controller's files at all (the v2 root does not).
    pub present: bool,
}

/// Which limit is the effective one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitOrigin {
    /// The level at this index of [`MemoryView::levels`] (0 = the caller's own cgroup).
    Level(usize),
    /// v1 `hierarchical_memory_limit`: set on an ancestor that is not visible.
    Hierarchical,
}

/// Why no view was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoView {
    /// No limit below the host's memory anywhere: host values are the right answer.
    Unlimited,
    /// A limit or usage file could not be read or parsed.
    Unreadable,
}

/// The container's memory at one instant. All values in bytes.
#[derive(Clone, Debug)]
pub struct MemoryView {
    pub version: Version,
    pub host: HostMemory,
    pub levels: [Level; MAX_LEVELS],
    pub level_count: usize,
    pub limit: u64,
    pub origin: LimitOrigin,
    /// Smallest per-level headroom (limit − usage), at most `limit`.
    pub headroom: u64,
    pub stat: MemoryStat,
    pub free: u64,
    pub available: u64,
    pub cached: u64,
    pub sreclaimable: u64,
    pub swap_total: u64,
    pub swap_free: u64,
    /// The host's overcommit settings, when the caller read them (for `CommitLimit`).
    pub overcommit: Option<Overcommit>,
}

/// `vm.overcommit_ratio` and `vm.overcommit_kbytes` (`/proc/sys/vm/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overcommit {
    pub ratio: u64,
    pub kbytes: u64,
}

impl Overcommit {
    /// From the two files' text.
    pub fn parse(ratio: &[u8], kbytes: &[u8]) -> Option<Self> {
        Some(Self {
            ratio: crate::read::number::parse_u64(ratio)?,
            kbytes: crate::read::number::parse_u64(kbytes)?,
        })
    }
}

/// One level's limits as its files state them (before the host-size rule is applied).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelLimits {
    /// Whether the level has the controller's files at all (the v2 root does not).
    pub present: bool,
    /// `memory.max` / `memory.limit_in_bytes`; `None` = `max`.
    pub limit: Option<u64>,
    /// v2 `memory.high`; `None` = `max` or absent.
    pub high: Option<u64>,
    /// Whether the level has a swap limit file (v1 `memory.memsw.limit_in_bytes`, only with swap
    /// accounting; v2 `memory.swap.max`).
    pub swap_file: bool,
    /// v1: the memory+swap limit; v2: the swap-only limit. `None` = `max`.
    pub swap: Option<u64>,
}

/// The limits of every visible level, innermost first. They change rarely (an operator's
/// `docker update`), unlike usage, so the library may keep them for a short while.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub levels: [LevelLimits; MAX_LEVELS],
    pub count: usize,
    /// v1 `hierarchical_memory_limit` of the innermost level: the minimum over *all* ancestors,
    /// including those outside the mount (a parent set by the container runtime).
    pub hierarchical: Option<u64>,
    /// v1 `hierarchical_memsw_limit`, the same for memory+swap.
    pub hierarchical_memsw: Option<u64>,
    /// v1 `memory.swappiness` of the innermost level (0: the cgroup never swaps).
    pub swappiness: Option<u64>,
}

/// Reads the limit files of `cg` and its visible ancestors.
pub fn read_limits<S: Source>(src: &S, cg: &CgroupDir) -> Result<Limits, NoView> {
    let (limit_file, swap_file, usage_file): (&[u8], &[u8], &[u8]) = match cg.version {
        Version::V1 => (b"memory.limit_in_bytes", b"memory.memsw.limit_in_bytes", b"memory.usage_in_bytes"),
        Version::V2 => (b"memory.max", b"memory.swap.max", b"memory.current"),
    };
    let mut limits = Limits::default();
    let mut small = Buf::<64>::new();
    let raw = |l: Limit| match l {
        Limit::Bytes(b) => Some(b),
        Limit::Unlimited => None,
    };
    for (index, dir) in cg.levels().enumerate() {
        let mut level = LevelLimits::default();
        if read_file(src, join(dir, limit_file).as_bytes(), &mut small).is_some() {
            level.present = true;
            level.limit = raw(parse_limit(small.as_bytes()).ok_or(NoView::Unreadable)?);
            if cg.version == Version::V2
                && read_file(src, join(dir, b"memory.high").as_bytes(), &mut small).is_some()
            {
                level.high = parse_limit(small.as_bytes()).and_then(raw);
            }
            if read_file(src, join(dir, swap_file).as_bytes(), &mut small).is_some() {
                level.swap_file = true;
                level.swap = raw(parse_limit(small.as_bytes()).ok_or(NoView::Unreadable)?);
            }
        } else if index == 0 || read_file(src, join(dir, usage_file).as_bytes(), &mut small).is_some() {
            // The level has the controller (its usage reads) but its limit cannot be read: a
            // tighter limit may hide there.
            return Err(NoView::Unreadable);
        }
        let slot = limits.levels.get_mut(index).ok_or(NoView::Unreadable)?;
        *slot = level;
        limits.count = index.saturating_add(1);
    }
    if cg.version == Version::V1 {
        let mut stat = MemoryStat::default();
        let _ = for_each_line(src, join(cg.dir.as_bytes(), b"memory.stat").as_bytes(), |line| {
            stat.feed_line(line, true);
            stat.get(Key::HierarchicalMemoryLimit).is_none()
                || stat.get(Key::HierarchicalMemswLimit).is_none()
        });
        limits.hierarchical = stat.get(Key::HierarchicalMemoryLimit);
        limits.hierarchical_memsw = stat.get(Key::HierarchicalMemswLimit);
        if read_file(src, join(cg.dir.as_bytes(), b"memory.swappiness").as_bytes(), &mut small).is_some() {
            limits.swappiness = parse_u64(small.as_bytes());
        }
    }
    Ok(limits)
}

/// Reads the limits, usages and `memory.stat` of `cg` and derives the view.
pub fn read<S: Source>(src: &S, cg: &CgroupDir, host: HostMemory) -> Result<MemoryView, NoView> {
    read_with_limits(src, cg, &read_limits(src, cg)?, host)
}

/// What changes from moment to moment: usage at the levels that need it, and `memory.stat`.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Usage per level (innermost first), read where a limit makes it matter and always at the
    /// innermost level.
    pub usage: [Option<u64>; MAX_LEVELS],
    pub stat: MemoryStat,
    /// v1 `memory.memsw.usage_in_bytes` (memory+swap), v2 `memory.swap.current` (swap only), of
    /// the innermost level; read only when the host has swap and the cgroup accounts it.
    pub swap_usage: Option<u64>,
}

fn finite(bytes: Option<u64>, host: &HostMemory) -> Option<u64> {
    bytes.filter(|&b| b < host.total)
}

fn bound(level: &LevelLimits, host: &HostMemory) -> Option<u64> {
    match (finite(level.limit, host), finite(level.high, host)) {
        (Some(l), Some(h)) => Some(l.min(h)),
        (l, h) => l.or(h),
    }
}

/// Whether any limit below the host's memory applies; without one nothing is virtualized and
/// nothing more needs reading.
pub fn is_limited(limits: &Limits, host: &HostMemory) -> bool {
    finite(limits.hierarchical, host).is_some()
        || limits.levels.iter().take(limits.count).any(|l| finite(l.limit, host).is_some())
}

/// Reads usages and `memory.stat`.
pub fn read_samples<S: Source>(
    src: &S,
    cg: &CgroupDir,
    limits: &Limits,
    host: &HostMemory,
) -> Result<Samples, NoView> {
    if !is_limited(limits, host) {
        return Err(NoView::Unlimited);
    }
    let usage_file: &[u8] = match cg.version {
        Version::V1 => b"memory.usage_in_bytes",
        Version::V2 => b"memory.current",
    };
    let mut samples = Samples::default();
    let mut small = Buf::<64>::new();
    let raw_levels = limits.levels.get(..limits.count).unwrap_or(&[]);
    for (((index, dir), raw), usage) in cg.levels().enumerate().zip(raw_levels).zip(samples.usage.iter_mut())
    {
        if raw.present && (index == 0 || bound(raw, host).is_some()) {
            read_file(src, join(dir, usage_file).as_bytes(), &mut small).ok_or(NoView::Unreadable)?;
            *usage = Some(parse_u64(small.as_bytes()).ok_or(NoView::Unreadable)?);
        }
    }
    if host.swap_total > 0 && limits.levels.first().is_some_and(|l| l.swap_file) {
        let file: &[u8] = match cg.version {
            Version::V1 => b"memory.memsw.usage_in_bytes",
            Version::V2 => b"memory.swap.current",
        };
        if read_file(src, join(cg.dir.as_bytes(), file).as_bytes(), &mut small).is_some() {
            samples.swap_usage = parse_u64(small.as_bytes());
        }
    }
    let v1 = cg.version == Version::V1;
    let _ = for_each_line(src, join(cg.dir.as_bytes(), b"memory.stat").as_bytes(), |line| {
        samples.stat.feed_line(line, v1);
        true
    });
    // A missing memory.stat leaves the counters at 0, and so does a garbled one: a file with
    // broken lines cannot be trusted to give consistent numbers. The limit-based ones stand.
    if samples.stat.malformed_lines > 0 {
        samples.stat = MemoryStat::default();
    }
    Ok(samples)
}

/// Reads usages and `memory.stat` and derives the view, with the limits already known.
pub fn read_with_limits<S: Source>(
    src: &S,
    cg: &CgroupDir,
    limits: &Limits,
    host: HostMemory,
) -> Result<MemoryView, NoView> {
    let samples = read_samples(src, cg, limits, &host)?;
    view_from(cg.version, limits, &samples, host)
}

/// The rules: effective limit, per-level headroom, and every derived figure.
pub fn view_from(
    version: Version,
    limits: &Limits,
    samples: &Samples,
    host: HostMemory,
) -> Result<MemoryView, NoView> {
    let mut levels = [Level::default(); MAX_LEVELS];
    let mut limit: Option<(u64, LimitOrigin)> = None;
    let mut headroom: Option<u64> = None;
    let raw_levels = limits.levels.get(..limits.count).unwrap_or(&[]);
    for (index, (raw, usage)) in raw_levels.iter().zip(samples.usage.iter()).enumerate() {
        let level = Level {
            limit: finite(raw.limit, &host),
            high: finite(raw.high, &host),
            usage: *usage,
            present: raw.present,
        };
        if let (Some(b), Some(u)) = (bound(raw, &host), level.usage) {
            let room = b.saturating_sub(u);
            headroom = Some(headroom.map_or(room, |h| h.min(room)));
        }
        if let Some(l) = level.limit
            && limit.is_none_or(|(cur, _)| l < cur)
        {
            limit = Some((l, LimitOrigin::Level(index)));
        }
        if let Some(slot) = levels.get_mut(index) {
            *slot = level;
        }
    }
    if let Some(h) = finite(limits.hierarchical, &host) {
        if limit.is_none_or(|(cur, _)| h < cur) {
            limit = Some((h, LimitOrigin::Hierarchical));
        }
        if let Some(u) = samples.usage.first().copied().flatten() {
            let room = h.saturating_sub(u);
            headroom = Some(headroom.map_or(room, |cur| cur.min(room)));
        }
    }
    let (limit, origin) = limit.ok_or(NoView::Unlimited)?;
    let headroom = headroom.unwrap_or(limit).min(limit);
    let mut view = derive(version, host, levels, limits.count, limit, origin, headroom, samples.stat.clone());
    (view.swap_total, view.swap_free) = swap(version, limits, samples, &host);
    Ok(view)
}

/// The container's swap: (total, free) in bytes, both capped at the host's swap, free ≤ total.
///
/// v1 `memsw` files count memory + swap, so a level's swap allowance is its memsw limit minus
/// its memory limit, and swap in use is memsw usage minus memory usage. Without swap accounting
/// (no memsw files) or with `memory.swappiness` 0 the cgroup cannot swap: no swap. v2 files count
/// swap alone. No swap limit anywhere means the host's swap.
fn swap(version: Version, limits: &Limits, samples: &Samples, host: &HostMemory) -> (u64, u64) {
    let levels = limits.levels.get(..limits.count).unwrap_or(&[]);
    if host.swap_total == 0 || !levels.first().is_some_and(|l| l.swap_file) {
        return (0, 0);
    }
    let mut allowance: Option<u64> = None;
    let mut tighten = |a: u64| allowance = Some(allowance.map_or(a, |cur| cur.min(a)));
    let used = match version {
        Version::V1 => {
            if limits.swappiness == Some(0) {
                return (0, 0);
            }
            // Sentinels and anything beyond memory + swap put no bound on swap.
            let memsw_cap = host.total.saturating_add(host.swap_total);
            let mut level = |memsw: Option<u64>, mem: Option<u64>| {
                if let Some(memsw) = memsw.filter(|&m| m < memsw_cap) {
                    let mem = finite(mem, host).unwrap_or(0).min(memsw);
                    tighten(memsw.saturating_sub(mem));
                }
            };
            for l in levels.iter().filter(|l| l.swap_file) {
                level(l.swap, l.limit);
            }
            level(limits.hierarchical_memsw, limits.hierarchical);
            let mem_usage = samples.usage.first().copied().flatten().unwrap_or(0);
            samples.swap_usage.map_or(0, |memsw| memsw.saturating_sub(mem_usage))
        }
        Version::V2 => {
            for l in levels.iter().filter(|l| l.swap_file) {
                if let Some(max) = l.swap {
                    tighten(max);
                }
            }
            samples.swap_usage.unwrap_or(0)
        }
    };
    let total = allowance.unwrap_or(host.swap_total).min(host.swap_total);
    (total, total.saturating_sub(used))
}

#[allow(clippy::too_many_arguments)]
fn derive(
    version: Version,
    host: HostMemory,
    levels: [Level; MAX_LEVELS],
    level_count: usize,
    limit: u64,
    origin: LimitOrigin,
    headroom: u64,
    stat: MemoryStat,
) -> MemoryView {
    let get = |key: Key| stat_value(&stat, version, key);
    let free = headroom;
    let credit =
        get(Key::ActiveFile).saturating_add(get(Key::InactiveFile)).saturating_add(get(Key::SlabReclaimable));
    let available = headroom.saturating_add(credit).min(limit).min(host.available.unwrap_or(limit)).max(free);
    let used = limit.saturating_sub(free);
    let cached = get(Key::File).saturating_sub(get(Key::Swapcached)).min(used);
    let sreclaimable = get(Key::SlabReclaimable).min(used.saturating_sub(cached));
    MemoryView {
        version,
        host,
        levels,
        level_count,
        limit,
        origin,
        headroom,
        stat,
        free,
        available,
        cached,
        sreclaimable,
        swap_total: 0,
        swap_free: 0,
        overcommit: None,
    }
}

/// A `memory.stat` counter under its v2 name, looked up under the version's own name.
pub fn stat_value(stat: &MemoryStat, version: Version, key: Key) -> u64 {
    match version {
        Version::V1 => stat.or_zero(v1_name(key)),
        Version::V2 => stat.or_zero(key),
    }
}

impl MemoryView {
    /// The tightest `memory.high` below the host's memory over the visible levels (v2).
    pub fn high(&self) -> Option<u64> {
        self.levels.iter().take(self.level_count).filter_map(|l| l.high).min()
    }

    /// What bounds the headroom (MemFree): the level whose `min(limit, high) − usage` is the
    /// smallest (the innermost on a tie), and whether its `memory.high` is that bound;
    /// `hierarchical_memory_limit` when it set the limit and leaves less room.
    pub fn headroom_origin(&self) -> (LimitOrigin, bool) {
        let mut best: Option<(u64, LimitOrigin, bool)> = None;
        let mut offer = |room: u64, origin: LimitOrigin, high: bool| {
            if best.is_none_or(|(b, ..)| room < b) {
                best = Some((room, origin, high));
            }
        };
        for (i, l) in self.levels.iter().take(self.level_count).enumerate() {
            let (bound, high) = match (l.limit, l.high) {
                (Some(limit), Some(h)) if h < limit => (h, true),
                (Some(limit), _) => (limit, false),
                (None, Some(h)) => (h, true),
                (None, None) => continue,
            };
            if let Some(u) = l.usage {
                offer(bound.saturating_sub(u), LimitOrigin::Level(i), high);
            }
        }
        if self.origin == LimitOrigin::Hierarchical {
            let own = self.levels.first().and_then(|l| l.usage).unwrap_or(0);
            offer(self.limit.saturating_sub(own), LimitOrigin::Hierarchical, false);
        }
        best.map_or((self.origin, false), |(_, origin, high)| (origin, high))
    }

    fn stat(&self, key: Key) -> u64 {
        stat_value(&self.stat, self.version, key).min(self.limit)
    }

    fn v2_only(&self, key: Key) -> u64 {
        match self.version {
            Version::V1 => 0,
            Version::V2 => self.stat(key),
        }
    }

    /// The value, in bytes, of a `/proc/meminfo` field this view rewrites (`None`: keep the
    /// host's line).
    pub fn meminfo_bytes(&self, key: &[u8]) -> Option<u64> {
        let v = match key {
            b"MemTotal" => self.limit,
            b"MemFree" => self.free,
            b"MemAvailable" => self.available,
            b"Buffers" => 0,
            b"Cached" => self.cached,
            b"Active" => self.stat(Key::ActiveAnon).saturating_add(self.stat(Key::ActiveFile)),
            b"Inactive" => self.stat(Key::InactiveAnon).saturating_add(self.stat(Key::InactiveFile)),
            b"Active(anon)" => self.stat(Key::ActiveAnon),
            b"Inactive(anon)" => self.stat(Key::InactiveAnon),
            b"Active(file)" => self.stat(Key::ActiveFile),
            b"Inactive(file)" => self.stat(Key::InactiveFile),
            b"Unevictable" => self.stat(Key::Unevictable),
            b"Dirty" => self.stat(Key::FileDirty),
            b"Writeback" => self.stat(Key::FileWriteback),
            b"AnonPages" => self.stat(Key::Anon),
            b"Mapped" => self.stat(Key::FileMapped),
            b"Shmem" => self.stat(Key::Shmem),
            b"AnonHugePages" => self.stat(Key::AnonThp),
            b"KReclaimable" | b"SReclaimable" => self.sreclaimable,
            b"Slab" => match self.version {
                Version::V1 => 0,
                Version::V2 => match self.stat.get(Key::Slab) {
                    Some(s) => s.min(self.limit),
                    None => self.stat(Key::SlabReclaimable).saturating_add(self.stat(Key::SlabUnreclaimable)),
                },
            },
            b"SUnreclaim" => self.v2_only(Key::SlabUnreclaimable),
            b"KernelStack" => return self.v2_kept(Key::KernelStack),
            b"PageTables" => return self.v2_kept(Key::Pagetables),
            b"SecPageTables" => return self.v2_kept(Key::SecPagetables),
            b"Percpu" => return self.v2_kept(Key::Percpu),
            b"ShmemHugePages" => return self.v2_kept(Key::ShmemThp),
            b"FileHugePages" => return self.v2_kept(Key::FileThp),
            b"Zswap" => return self.v2_kept(Key::Zswap),
            b"Zswapped" => return self.v2_kept(Key::Zswapped),
            b"CommitLimit" => return self.commit_limit(),
            b"SwapTotal" => return Some(self.swap_total),
            b"SwapFree" => return Some(self.swap_free),
            b"SwapCached" => self.stat(Key::Swapcached),
            _ => return None,
        };
        Some(v.min(self.limit))
    }

    /// v2 counters with no v1 equivalent: the cgroup's value on v2 (0 when the kernel does not
    /// print it: a host-wide figure would be meaningless in a container), the host line on v1.
    fn v2_kept(&self, key: Key) -> Option<u64> {
        match self.version {
            Version::V1 => None,
            Version::V2 => Some(self.stat(key)),
        }
    }

    /// The value of a `/proc/vmstat` counter this view rewrites (`None`: keep the host's line).
    /// Page counts are in pages of `page_size`, `nr_kernel_stack` in KiB and the THP counts in
    /// huge pages, as the kernel prints them; event counters are the cgroup's own.
    pub fn vmstat_value(&self, key: &[u8], page_size: u64) -> Option<u64> {
        let pages = |bytes: u64| bytes.checked_div(page_size);
        // A PMD maps one page table's worth of pages: PTRS_PER_PTE = page size / 8.
        let huge = page_size.saturating_mul(page_size / 8);
        let huge_pages = |bytes: u64| bytes.checked_div(huge);
        let v2 = |key: Key| self.v2_kept(key);
        match key {
            b"nr_free_pages" => pages(self.free),
            b"nr_inactive_anon" => pages(self.stat(Key::InactiveAnon)),
            b"nr_active_anon" => pages(self.stat(Key::ActiveAnon)),
            b"nr_inactive_file" => pages(self.stat(Key::InactiveFile)),
            b"nr_active_file" => pages(self.stat(Key::ActiveFile)),
            b"nr_unevictable" => pages(self.stat(Key::Unevictable)),
            b"nr_anon_pages" => pages(self.stat(Key::Anon)),
            b"nr_mapped" => pages(self.stat(Key::FileMapped)),
            b"nr_file_pages" => pages(self.stat(Key::File)),
            b"nr_dirty" => pages(self.stat(Key::FileDirty)),
            b"nr_writeback" => pages(self.stat(Key::FileWriteback)),
            b"nr_shmem" => pages(self.stat(Key::Shmem)),
            b"nr_swapcached" => pages(self.stat(Key::Swapcached)),
            b"nr_anon_transparent_hugepages" => huge_pages(self.stat(Key::AnonThp)),
            b"nr_slab_reclaimable" => v2(Key::SlabReclaimable).and_then(pages),
            b"nr_slab_unreclaimable" => v2(Key::SlabUnreclaimable).and_then(pages),
            b"nr_kernel_stack" => v2(Key::KernelStack).map(|b| b / 1024),
            b"nr_page_table_pages" => v2(Key::Pagetables).and_then(pages),
            b"nr_sec_page_table_pages" => v2(Key::SecPagetables).and_then(pages),
            b"nr_shmem_hugepages" => v2(Key::ShmemThp).and_then(huge_pages),
            b"nr_file_hugepages" => v2(Key::FileThp).and_then(huge_pages),
            other => Key::from_name(other).filter(|k| k.is_event()).and_then(|k| self.stat.get(k)),
        }
    }

    /// `CommitLimit` by the kernel's own formula over the container's memory and swap: the
    /// overcommit ratio of MemTotal (or `vm.overcommit_kbytes`, when set, at most MemTotal) plus
    /// SwapTotal. Huge pages reserved on the host are not subtracted: they are the host's.
    pub fn commit_limit(&self) -> Option<u64> {
        let o = self.overcommit?;
        let base = match o.kbytes {
            0 => u64::try_from(u128::from(self.limit).saturating_mul(u128::from(o.ratio)) / 100)
                .unwrap_or(u64::MAX),
            kb => kb.saturating_mul(1024).min(self.limit),
        };
        Some(base.saturating_add(self.swap_total))
    }

    /// `Committed_AS` has no cgroup counter. The container's committed memory as far as the
    /// cgroup sees it: its anonymous and shared memory, resident or swapped out (what it has
    /// touched of what it committed), never above the host's figure `host`. An idle container
    /// therefore never reads as over-committed; memory committed but never touched is not seen.
    pub fn committed(&self, host: u64) -> u64 {
        let swapped = self.swap_total.saturating_sub(self.swap_free);
        let touched = self.stat(Key::Anon).saturating_add(self.stat(Key::Shmem)).saturating_add(swapped);
        touched.min(self.limit.saturating_add(self.swap_total)).min(host)
    }

    /// `Mlocked` has no memcg counter; the host's value is kept but never above `Unevictable`.
    pub fn mlocked_cap(&self) -> u64 {
        self.stat(Key::Unevictable)
    }

    pub fn shared(&self) -> u64 {
        self.stat(Key::Shmem)
    }
}

#[cfg(test)]
mod tests {
    use super::super::discover::{Layout, Version};
    use super::super::source::memory_source::Files;
    use super::*;
    use crate::buf::PathBuf;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    fn cg(version: Version, dir: &str, mount: &str) -> CgroupDir {
        CgroupDir {
            version,
            layout: Layout::MountRoot,
            dir: PathBuf::from_bytes(dir.as_bytes()),
            mount_len: mount.len(),
        }
    }

    fn files(list: &[(&'static str, String)]) -> Files<'static> {
        Files {
            files: list.iter().map(|(p, c)| (p.as_bytes(), c.clone().into_bytes())).collect(),
            chunk: 4096,
        }
    }

    const HOST: HostMemory = HostMemory { total: 24 * GIB, available: Some(20 * GIB), swap_total: 0 };

    #[test]
    fn v2_nested_minimum_and_per_level_headroom() {
        let src = files(&[
            ("/cg/a/b/memory.max", format!("{}\n", 512 * MIB)),
            ("/cg/a/b/memory.current", format!("{}\n", 100 * MIB)),
            ("/cg/a/memory.max", format!("{}\n", 256 * MIB)),
            ("/cg/a/memory.current", format!("{}\n", 200 * MIB)),
            ("/cg/a/b/memory.stat", "file 10485760\nactive_file 4194304\ninactive_file 2097152\n".into()),
        ]);
        let v = read(&src, &cg(Version::V2, "/cg/a/b", "/cg"), HOST).unwrap();
        assert_eq!(v.limit, 256 * MIB);
        assert_eq!(v.origin, LimitOrigin::Level(1));
        assert_eq!(v.free, 56 * MIB);
        assert_eq!(v.available, 62 * MIB);
        assert_eq!(v.cached, 10 * MIB);
        assert_eq!(v.level_count, 3);
        assert!(!v.levels[2].present);
        assert_eq!(v.meminfo_bytes(b"MemTotal"), Some(256 * MIB));
        assert_eq!(v.meminfo_bytes(b"Hugepagesize"), None);
        // The parent's headroom (56 MiB) is smaller than the own cgroup's (412 MiB).
        assert_eq!(v.headroom_origin(), (LimitOrigin::Level(1), false));
        assert_eq!(v.high(), None);
    }

    #[test]
    fn memory_high_can_bound_the_headroom() {
        let src = files(&[
            ("/cg/a/memory.max", format!("{}\n", 512 * MIB)),
            ("/cg/a/memory.high", format!("{}\n", 300 * MIB)),
            ("/cg/a/memory.current", format!("{}\n", 100 * MIB)),
        ]);
        let v = read(&src, &cg(Version::V2, "/cg/a", "/cg"), HOST).unwrap();
        assert_eq!((v.limit, v.free, v.high()), (512 * MIB, 200 * MIB, Some(300 * MIB)));
        assert_eq!(v.headroom_origin(), (LimitOrigin::Level(0), true));
    }

    #[test]
    fn unlimited_and_host_sized_limits_are_no_view() {
        let src = files(&[
            ("/cg/memory.limit_in_bytes", "9223372036854771712\n".into()),
            ("/cg/memory.usage_in_bytes", "1000\n".into()),
            ("/cg/memory.stat", "total_cache 5\n".into()),
        ]);
        assert_eq!(read(&src, &cg(Version::V1, "/cg", "/cg"), HOST).err(), Some(NoView::Unlimited));
        let src =
            files(&[("/cg/memory.max", format!("{}\n", 24 * GIB)), ("/cg/memory.current", "1\n".into())]);
        assert_eq!(read(&src, &cg(Version::V2, "/cg", "/cg"), HOST).err(), Some(NoView::Unlimited));
    }

    #[test]
    fn v1_hierarchical_limit_and_saturation() {
        let src = files(&[
            ("/cg/memory.limit_in_bytes", "9223372036854771712\n".into()),
            ("/cg/memory.usage_in_bytes", format!("{}\n", 300 * MIB)),
            (
                "/cg/memory.stat",
                format!("hierarchical_memory_limit {}\ntotal_cache {}\n", 256 * MIB, 400 * MIB),
            ),
        ]);
        let v = read(&src, &cg(Version::V1, "/cg", "/cg"), HOST).unwrap();
        assert_eq!(v.origin, LimitOrigin::Hierarchical);
        assert_eq!((v.limit, v.free, v.available), (256 * MIB, 0, 0));
        assert_eq!(v.headroom_origin(), (LimitOrigin::Hierarchical, false));
        assert_eq!(v.cached, 256 * MIB);
    }

    #[test]
    fn garbage_limit_fails_open() {
        let src = files(&[("/cg/memory.max", "lots\n".into()), ("/cg/memory.current", "1\n".into())]);
        assert_eq!(read(&src, &cg(Version::V2, "/cg", "/cg"), HOST).err(), Some(NoView::Unreadable));
        let src = files(&[]);
        assert_eq!(read(&src, &cg(Version::V2, "/cg", "/cg"), HOST).err(), Some(NoView::Unreadable));
    }
}
