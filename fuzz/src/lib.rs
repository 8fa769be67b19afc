//! Fuzz harness for cgshim's pure core: one entry point per parser in `src/read/` (plus the CPU
//! quota parsers of `src/decide/cpu.rs`) and one for the whole read → decide → show pipeline
//! over a cgroup tree generated from the input bytes.
//!
//! Each entry point takes arbitrary bytes, never panics on its own account, and panics (which
//! libFuzzer reports as a crash) only when cgshim violates a property:
//!
//! - parsers: agreement with a plain, independently written `std` reference parser of the
//!   kernel format, round trips where a format has a writer (CPU lists, masks);
//! - pipeline: discovery finds the directory the generator built; the effective limit and the
//!   headroom equal those an oracle computes from the README's rules over the same files (or both
//!   pass the host values through); MemFree ≤ MemAvailable ≤ MemTotal ≤ the host's MemTotal,
//!   SwapFree ≤ SwapTotal ≤ the host's swap; every rendered line of meminfo, vmstat, swaps,
//!   cpuinfo, stat, online and uptime is well-formed and every line not rewritten is the host's
//!   byte for byte; the packed caches (`snapshot`) give back the same view.
//!
//! The same file drives two runners: the libFuzzer targets in `fuzz/fuzz_targets/` (run by
//! `scripts/fuzz.sh`), and `tests/fuzz_smoke.rs`, which includes it as a module and feeds it
//! inputs from a seeded PRNG (no nightly, no cargo-fuzz). Plain `std` only.

#![allow(clippy::too_many_lines, clippy::type_complexity, dead_code)]

use cgshim::buf::{Buf, Sink};
use cgshim::decide::cpu::{self as dcpu, Quota};
use cgshim::decide::discover::{self, MEMORY, Version};
use cgshim::decide::memory::{self, HostMemory, MemoryView};
use cgshim::decide::snapshot::{self, Snapshot};
use cgshim::decide::source::{Source, for_each_line};
use cgshim::read::cpulist::{CpuSet, MAX_CPUS};
use cgshim::read::memory_stat::{Key, MemoryStat};
use cgshim::read::number::{Limit, parse_limit, parse_u64};
use cgshim::read::{meminfo, mountinfo, pid_stat, self_cgroup};
use cgshim::show;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How far pipeline inputs got, so that a runner can tell a meaningful run from one where
/// every tree fails early: [trees, directory found, oracle compared, views checked, CPU views
/// checked, passed through, trees with a 10,000-line mountinfo, trees with a 1 MiB memory.stat].
pub static REACHED: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

fn reached(i: usize) {
    REACHED[i].fetch_add(1, Ordering::Relaxed);
}

/// When true the generator also builds cgroup trees deeper than the core's 16 reported levels
/// (see the report: a limit above the 16th level is ignored). Off by default so that the
/// fuzzers and the smoke test look for new problems, not that known one.
pub const DEEP_TREES: bool = false;

// =============================================================================================
// Input: structured choices from raw bytes (past the end, every choice is 0)
// =============================================================================================

pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    pub fn exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let v = if n <= 256 {
            usize::from(self.byte())
        } else {
            usize::from(self.byte()) << 8 | usize::from(self.byte())
        };
        v % n
    }

    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// True with probability about 1/`n`; false once the input is used up, so that short inputs
    /// take the common paths (not the 10,000-mount or 1 MiB cases).
    pub fn one_in(&mut self, n: u8) -> bool {
        if self.exhausted() {
            return false;
        }
        n <= 1 || self.byte() % n == 0
    }

    pub fn u64(&mut self) -> u64 {
        let mut v = 0u64;
        for _ in 0..8 {
            v = v << 8 | u64::from(self.byte());
        }
        v
    }

    /// Up to `max` raw bytes.
    pub fn take(&mut self, max: usize) -> &'a [u8] {
        let want = self.below(max.saturating_add(1));
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(want).min(self.data.len());
        self.pos = self.pos.saturating_add(want);
        &self.data[start..end]
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

// =============================================================================================
// Reference parsers (plain std, written from the kernel formats)
// =============================================================================================

fn is_ws(b: u8) -> bool {
    b.is_ascii_whitespace()
}

pub fn ref_trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_ws(b)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

pub fn ref_u64(s: &[u8]) -> Option<u64> {
    let t = ref_trim(s);
    if t.is_empty() || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

/// `None` = unparsable; `Some(None)` = unlimited (`max`, `-1`).
pub fn ref_limit(s: &[u8]) -> Option<Option<u64>> {
    match ref_trim(s) {
        b"max" | b"-1" => Some(None),
        t => ref_u64(t).map(Some),
    }
}

pub fn ref_lines(text: &[u8]) -> Vec<&[u8]> {
    if text.is_empty() {
        return Vec::new();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    body.split(|&b| b == b'\n').collect()
}

pub fn ref_fields(line: &[u8]) -> Vec<&[u8]> {
    line.split(|&b| b == b' ' || b == b'\t').filter(|f| !f.is_empty()).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// =============================================================================================
// Parser targets
// =============================================================================================

/// `read::number`: `parse_u64` and `parse_limit`.
pub fn fuzz_number(data: &[u8]) {
    assert_eq!(parse_u64(data), ref_u64(data), "parse_u64({:?})", text(data));
    let want = ref_limit(data).map(|l| match l {
        None => Limit::Unlimited,
        Some(b) => Limit::Bytes(b),
    });
    assert_eq!(parse_limit(data), want, "parse_limit({:?})", text(data));
    // Whatever parses prints back to the same number.
    if let Some(v) = parse_u64(data) {
        let mut b = Buf::<32>::new();
        b.push_u64(v);
        assert_eq!(parse_u64(b.as_bytes()), Some(v));
    }
}

fn ref_mount(line: &[u8]) -> Option<(&[u8], &[u8], &[u8], &[u8])> {
    let f = ref_fields(line);
    if f.len() < 6 {
        return None;
    }
    let dash = f[6..].iter().position(|x| *x == b"-")? + 6;
    let fstype = *f.get(dash + 1)?;
    let _source = *f.get(dash + 2)?;
    let superopts = f.get(dash + 3).copied().unwrap_or(b"");
    Some((f[3], f[4], fstype, superopts))
}

pub fn ref_unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 3 < s.len() && s[i + 1..i + 4].iter().all(|d| (b'0'..=b'7').contains(d)) {
            let v = (u32::from(s[i + 1] - b'0') << 6)
                | (u32::from(s[i + 2] - b'0') << 3)
                | u32::from(s[i + 3] - b'0');
            out.push(v as u8);
            i += 4;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// `read::mountinfo`: every line of the input, and the unescaping of each field.
pub fn fuzz_mountinfo(data: &[u8]) {
    for line in ref_lines(data) {
        let got = mountinfo::parse_line(line).map(|m| (m.root, m.mountpoint, m.fstype, m.superopts));
        assert_eq!(got, ref_mount(line), "mountinfo line {:?}", text(line));
        if let Some(m) = mountinfo::parse_line(line) {
            let controllers: Vec<&[u8]> = m.superopts.split(|&b| b == b',').collect();
            for c in [&b"memory"[..], b"cpu", b"cpuacct", b"pids"] {
                assert_eq!(m.is_v1_controller(c), m.fstype == b"cgroup" && controllers.contains(&c));
            }
            assert_eq!(m.is_v2(), m.fstype == b"cgroup2");
        }
        for field in ref_fields(line) {
            let mut out = Buf::<512>::new();
            mountinfo::unescape(field, &mut out);
            let want = ref_unescape(field);
            if want.len() <= 512 {
                assert!(!out.overflowed(), "unescape overflowed on {:?}", text(field));
                assert_eq!(out.as_bytes(), &want[..], "unescape({:?})", text(field));
            } else {
                assert!(out.overflowed(), "unescape of {} bytes into 512 not flagged", want.len());
            }
        }
    }
    let mut small = Buf::<8>::new();
    mountinfo::unescape(data, &mut small);
    assert_eq!(small.overflowed(), ref_unescape(data).len() > 8);
}

fn ref_cgroup_lines(text: &[u8]) -> Vec<(&[u8], &[u8], &[u8])> {
    ref_lines(text)
        .into_iter()
        .filter_map(|l| {
            let mut p = l.splitn(3, |&b| b == b':');
            let (id, c, path) = (p.next()?, p.next()?, p.next()?);
            path.starts_with(b"/").then_some((id, c, path))
        })
        .collect()
}

/// `read::self_cgroup`: the v1 path of each controller and the v2 path.
pub fn fuzz_self_cgroup(data: &[u8]) {
    let parsed = ref_cgroup_lines(data);
    for c in [&b"memory"[..], b"cpu", b"cpuacct", b"pids", b"name=systemd", b"", b"x"] {
        let want = parsed
            .iter()
            .find(|(id, ctrls, _)| {
                !(*id == b"0" && ctrls.is_empty()) && ctrls.split(|&b| b == b',').any(|x| x == c)
            })
            .map(|(_, _, p)| *p);
        assert_eq!(self_cgroup::v1_path(data, c), want, "v1_path {:?} in {:?}", text(c), text(data));
    }
    let want = parsed.iter().find(|(id, c, _)| *id == b"0" && c.is_empty()).map(|(_, _, p)| *p);
    assert_eq!(self_cgroup::v2_path(data), want, "v2_path in {:?}", text(data));
}

fn ref_meminfo_line(line: &[u8]) -> Option<(&[u8], u64, bool)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let f = ref_fields(&line[colon + 1..]);
    let v = ref_u64(f.first()?)?;
    Some((&line[..colon], v, f.get(1) == Some(&&b"kB"[..])))
}

/// `read::meminfo`: each line, and the lookup of the usual keys.
pub fn fuzz_meminfo(data: &[u8]) {
    for line in ref_lines(data) {
        let got = meminfo::parse_line(line).map(|l| (l.key, l.value, l.kb));
        assert_eq!(got, ref_meminfo_line(line), "meminfo line {:?}", text(line));
    }
    for key in [&b"MemTotal"[..], b"MemFree", b"MemAvailable", b"SwapTotal", b"", b"Mem"] {
        let want = ref_lines(data).into_iter().filter_map(ref_meminfo_line).find(|l| l.0 == key).map(|l| l.1);
        assert_eq!(meminfo::value(data, key), want, "value {:?}", text(key));
    }
    if let Some(h) = HostMemory::from_meminfo(data) {
        assert_eq!(Some(h.total), meminfo::value(data, b"MemTotal").map(|k| k.saturating_mul(1024)));
    }
}

/// The reference `memory.stat`: counters by key and the number of malformed lines.
pub fn ref_stat<'a>(
    lines: impl IntoIterator<Item = &'a [u8]>,
    v1: bool,
) -> (BTreeMap<&'static [u8], u64>, u32) {
    let mut values = BTreeMap::new();
    let mut malformed = 0u32;
    for line in lines {
        let f = ref_fields(line);
        if f.len() != 2 {
            malformed += 1;
            continue;
        }
        let name = f[0];
        let key = if v1 {
            match name.strip_prefix(b"total_") {
                Some(s) => Key::from_name(s),
                None => Key::from_name(name)
                    .filter(|k| matches!(k, Key::HierarchicalMemoryLimit | Key::HierarchicalMemswLimit)),
            }
        } else {
            Key::from_name(name)
        };
        let Some(key) = key else { continue };
        match ref_u64(f[1]) {
            Some(v) => {
                values.insert(key.name(), v);
            }
            None => malformed += 1,
        }
    }
    (values, malformed)
}

fn stat_matches(got: &MemoryStat, want: &(BTreeMap<&'static [u8], u64>, u32), ctx: &str) {
    for key in Key::ALL {
        assert_eq!(got.get(*key), want.0.get(key.name()).copied(), "{ctx}: key {key:?}");
    }
    assert_eq!(got.malformed_lines, want.1, "{ctx}: malformed lines");
}

/// `read::memory_stat`, v1 and v2, whole-buffer and streamed in random chunks.
pub fn fuzz_memory_stat(data: &[u8]) {
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    for v1 in [false, true] {
        let want = ref_stat(ref_lines(data), v1);
        stat_matches(&MemoryStat::parse(data, v1), &want, &format!("parse v1={v1}"));
        // Streamed as the library reads it (lines of 8 KiB and more are skipped there).
        if !ref_lines(data).iter().any(|l| l.len() >= 8191) {
            let fs = MemFs::with(&[("/memory.stat", data)], chunk);
            let mut s = MemoryStat::default();
            for_each_line(&fs, b"/memory.stat", |l| {
                s.feed_line(l, v1);
                true
            })
            .expect("in-memory file");
            stat_matches(&s, &want, &format!("streamed v1={v1} chunk={chunk}"));
        }
    }
}

fn ref_cpulist(text: &[u8]) -> Option<BTreeSet<usize>> {
    let t = ref_trim(text);
    let mut set = BTreeSet::new();
    if t.is_empty() {
        return Some(set);
    }
    for part in t.split(|&b| b == b',') {
        let (lo, hi) = match part.iter().position(|&b| b == b'-') {
            Some(d) => (ref_u64(&part[..d])?, ref_u64(&part[d + 1..])?),
            None => (ref_u64(part)?, ref_u64(part)?),
        };
        if lo > hi || hi >= MAX_CPUS as u64 {
            return None;
        }
        set.extend(lo as usize..=hi as usize);
    }
    Some(set)
}

fn set_of(s: &CpuSet) -> BTreeSet<usize> {
    s.iter().collect()
}

fn list_text(s: &CpuSet) -> Vec<u8> {
    let mut out = Vec::new();
    s.write_list(&mut |b| out.extend_from_slice(b));
    out
}

/// `read::cpulist`: the list format, masks, and `first`.
pub fn fuzz_cpulist(data: &[u8]) {
    let got = CpuSet::parse_list(data);
    assert_eq!(got.as_ref().map(set_of), ref_cpulist(data), "parse_list({:?})", text(data));
    if let Some(set) = got {
        let printed = list_text(&set);
        assert_eq!(CpuSet::parse_list(&printed), Some(set), "round trip of {:?}", text(&printed));
        assert_eq!(set.count() as usize, set_of(&set).len());
    }
    let mask = CpuSet::from_mask(data);
    let mut back = vec![0u8; data.len()];
    mask.write_mask(&mut back);
    assert_eq!(&back[..data.len().min(MAX_CPUS / 8)], &data[..data.len().min(MAX_CPUS / 8)]);
    let n = u64::from(data.first().copied().unwrap_or(0));
    let first = mask.first(n);
    let want: BTreeSet<usize> = mask.iter().take(n as usize).collect();
    assert_eq!(set_of(&first), want);
    assert_eq!(CpuSet::parse_list(&list_text(&mask)), Some(mask));
}

/// `read::pid_stat`: field 22 counted after the last `)`.
pub fn fuzz_pid_stat(data: &[u8]) {
    let want = data
        .iter()
        .rposition(|&b| b == b')')
        .and_then(|c| ref_fields(&data[c + 1..]).get(19).copied())
        .and_then(ref_u64);
    assert_eq!(pid_stat::start_time_ticks(data), want, "start_time_ticks({:?})", text(data));
}

fn ref_cpu_max(text: &[u8]) -> Option<Option<(u64, u64)>> {
    let f = ref_fields(text);
    let quota = ref_limit(f.first()?)?;
    let period = match f.get(1) {
        Some(p) => ref_u64(p)?,
        None => 100_000,
    };
    match quota {
        None => Some(None),
        Some(q) if q > 0 && period > 0 => Some(Some((q, period))),
        Some(_) => None,
    }
}

fn ref_cfs(quota: &[u8], period: &[u8]) -> Option<Option<(u64, u64)>> {
    match ref_limit(quota)? {
        None => Some(None),
        Some(q) => {
            let p = ref_u64(period)?;
            (q > 0 && p > 0).then_some(Some((q, p)))
        }
    }
}

/// `decide::cpu`: `parse_cpu_max`, `parse_cfs`, the CPU count of a quota and the shown set.
pub fn fuzz_cpu_quota(data: &[u8]) {
    let q = |o: Option<Option<Quota>>| o.map(|x| x.map(|q| (q.quota, q.period)));
    assert_eq!(q(dcpu::parse_cpu_max(data)), ref_cpu_max(data), "parse_cpu_max({:?})", text(data));
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (a, b) = (&data[..split], data.get(split + 1..).unwrap_or(b""));
    assert_eq!(q(dcpu::parse_cfs(a, b)), ref_cfs(a, b), "parse_cfs({:?}, {:?})", text(a), text(b));
    let mut input = Input::new(data);
    let aff = CpuSet::from_mask(input.take(16));
    for quota in [dcpu::parse_cpu_max(data).flatten(), dcpu::parse_cfs(a, b).flatten()] {
        check_shown(&aff, quota, 0);
    }
    let quota = Quota { quota: input.u64(), period: input.u64() };
    check_shown(&aff, Some(quota), input.u64());
}

fn check_shown(aff: &CpuSet, quota: Option<Quota>, seed: u64) {
    let shown = dcpu::shown(aff, quota, seed);
    let n = shown.count();
    assert!(shown.iter().all(|c| aff.contains(c)), "shown {shown:?} outside the affinity {aff:?}");
    let want = match quota {
        _ if aff.count() == 0 => 0,
        // ceil(quota / period), at least 1, at most the affinity count.
        Some(q) => {
            // Widened so that the reference cannot overflow where the library must not either.
            let cpus = u128::from(q.quota).div_ceil(u128::from(q.period.max(1)));
            u64::try_from(cpus).unwrap_or(u64::MAX).max(1).min(aff.count())
        }
        None => aff.count(),
    };
    assert_eq!(n, want, "shown count for {quota:?} over {} CPUs", aff.count());
    // N consecutive CPUs of the mask from its (seed mod count)-th, wrapping round, with their
    // real numbers.
    let cpus: Vec<usize> = aff.iter().collect();
    let start = if cpus.is_empty() { 0 } else { (seed % cpus.len() as u64) as usize };
    let expect: BTreeSet<usize> = cpus.iter().cycle().skip(start).take(n as usize).copied().collect();
    assert_eq!(set_of(&shown), expect, "seed {seed}");
}

// =============================================================================================
// An in-memory filesystem as a `Source`
// =============================================================================================

#[derive(Clone, Debug)]
pub enum Entry {
    Data(Vec<u8>),
    /// Opening fails (EACCES, ENOENT races).
    OpenFails,
    /// Opens, but reading fails (a directory in place of the file: EISDIR).
    ReadFails,
}

#[derive(Clone, Debug, Default)]
pub struct MemFs {
    pub files: BTreeMap<Vec<u8>, Entry>,
    /// Largest chunk one read returns.
    pub chunk: usize,
}

impl MemFs {
    pub fn with(files: &[(&str, &[u8])], chunk: usize) -> Self {
        let mut fs = MemFs { files: BTreeMap::new(), chunk: chunk.max(1) };
        for (p, c) in files {
            fs.put(p.as_bytes(), c.to_vec());
        }
        fs
    }

    pub fn put(&mut self, path: &[u8], content: Vec<u8>) {
        self.files.insert(path.to_vec(), Entry::Data(content));
    }

    pub fn data(&self, path: &[u8]) -> Option<&[u8]> {
        match self.files.get(path)? {
            Entry::Data(d) => Some(d),
            _ => None,
        }
    }

    pub fn opens(&self, path: &[u8]) -> bool {
        matches!(self.files.get(path), Some(Entry::Data(_) | Entry::ReadFails))
    }
}

pub struct MemFile {
    data: Option<Vec<u8>>,
    pos: usize,
}

impl Source for MemFs {
    type File = MemFile;

    fn open(&self, path: &[u8]) -> Option<MemFile> {
        match self.files.get(path)? {
            Entry::Data(d) => Some(MemFile { data: Some(d.clone()), pos: 0 }),
            Entry::ReadFails => Some(MemFile { data: None, pos: 0 }),
            Entry::OpenFails => None,
        }
    }

    fn read(&self, file: &mut MemFile, buf: &mut [u8]) -> Option<usize> {
        let data = file.data.as_ref()?;
        let rest = data.get(file.pos..).unwrap_or(&[]);
        let n = rest.len().min(buf.len()).min(self.chunk.max(1));
        buf[..n].copy_from_slice(&rest[..n]);
        file.pos += n;
        Some(n)
    }
}

// =============================================================================================
// Tree generation
// =============================================================================================

const KB: u64 = 1024;
const MIB: u64 = 1 << 20;
const V1_SENTINEL: u64 = 9_223_372_036_854_771_712;

/// The kernel's meminfo keys in order; `None` values are filled from the host figures.
const MEMINFO_KEYS: &[&str] = &[
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "Buffers",
    "Cached",
    "SwapCached",
    "Active",
    "Inactive",
    "Active(anon)",
    "Inactive(anon)",
    "Active(file)",
    "Inactive(file)",
    "Unevictable",
    "Mlocked",
    "SwapTotal",
    "SwapFree",
    "Zswap",
    "Zswapped",
    "Dirty",
    "Writeback",
    "AnonPages",
    "Mapped",
    "Shmem",
    "KReclaimable",
    "Slab",
    "SReclaimable",
    "SUnreclaim",
    "KernelStack",
    "PageTables",
    "SecPageTables",
    "NFS_Unstable",
    "Bounce",
    "WritebackTmp",
    "CommitLimit",
    "Committed_AS",
    "VmallocTotal",
    "VmallocUsed",
    "VmallocChunk",
    "Percpu",
    "HardwareCorrupted",
    "AnonHugePages",
    "ShmemHugePages",
    "ShmemPmdMapped",
    "FileHugePages",
    "FilePmdMapped",
    "Unaccepted",
    "HugePages_Total",
    "HugePages_Free",
    "HugePages_Rsvd",
    "HugePages_Surp",
    "Hugepagesize",
    "Hugetlb",
    "DirectMap4k",
    "DirectMap2M",
    "DirectMap1G",
];

fn meminfo_line(key: &str, value: u64, kb: bool) -> String {
    let name = format!("{key}:");
    if kb { format!("{name:<16}{value:>8} kB\n") } else { format!("{name:<16}{value:>8}\n") }
}

pub struct Host {
    pub meminfo: Vec<u8>,
    pub vmstat: Vec<u8>,
    pub swaps: Vec<u8>,
    pub cpuinfo: Vec<u8>,
    pub stat: Vec<u8>,
    pub cpus: usize,
    pub memory: HostMemory,
    pub total_kb: u64,
    pub avail_kb: u64,
    pub swap_kb: u64,
}

fn gen_host(u: &mut Input) -> Host {
    let total_kb = match u.below(5) {
        0 => 24_684_084,
        1 => 1_048_576,
        2 => 262_144,
        3 => 524_288 + u.below(1000) as u64,
        _ => 1 + u.u64() % (1 << 40),
    };
    let free_kb = u.u64() % (total_kb + 1);
    let avail_kb = match u.below(3) {
        0 => free_kb,
        1 => u.u64() % (total_kb + 1),
        _ => (free_kb + u.u64() % (total_kb + 1)).min(total_kb),
    };
    let swap_kb = match u.below(3) {
        0 => 0,
        1 => 4_194_300,
        _ => u.u64() % (1 << 36),
    };
    let mut m = String::new();
    for (i, key) in MEMINFO_KEYS.iter().enumerate() {
        let value = match *key {
            "MemTotal" => total_kb,
            "MemFree" => free_kb,
            "MemAvailable" => avail_kb,
            "SwapTotal" => swap_kb,
            "SwapFree" => swap_kb / 2,
            "VmallocTotal" => 34_359_738_367,
            "Hugepagesize" => 2048,
            _ => (i as u64 * 7919) % (total_kb + 1),
        };
        m.push_str(&meminfo_line(key, value, !key.starts_with("HugePages_")));
    }
    let most = if u.one_in(8) { 70 } else { 8 };
    let cpus = 1 + u.below(most);
    let mut cpuinfo = String::new();
    let mut stat = String::new();
    let mut sums = [0u64; 10];
    let mut per_cpu = String::new();
    for c in 0..cpus {
        cpuinfo.push_str(&format!(
            "processor\t: {c}\nvendor_id\t: GenuineIntel\nmodel name\t: Fuzz CPU @ 2.00GHz\ncpu MHz\t\t: 2000.000\n\n"
        ));
        let vals: Vec<u64> = (0..10).map(|k| u64::from(u.byte()) * (c as u64 + 1) * (k + 1)).collect();
        for (s, v) in sums.iter_mut().zip(&vals) {
            *s += v;
        }
        per_cpu
            .push_str(&format!("cpu{c} {}\n", vals.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")));
    }
    stat.push_str(&format!("cpu  {}\n", sums.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")));
    stat.push_str(&per_cpu);
    stat.push_str("intr 12345 0 9 0\nctxt 987654\nbtime 1700000000\nprocesses 4242\nprocs_running 2\nprocs_blocked 0\nsoftirq 1 2 3 4 5 6 7 8 9 10 11\n");
    let mut vmstat = String::new();
    for (i, key) in [
        "nr_free_pages",
        "nr_zone_inactive_anon",
        "nr_inactive_anon",
        "nr_active_anon",
        "nr_inactive_file",
        "nr_active_file",
        "nr_unevictable",
        "nr_slab_reclaimable",
        "nr_slab_unreclaimable",
        "nr_anon_pages",
        "nr_mapped",
        "nr_file_pages",
        "nr_dirty",
        "nr_writeback",
        "nr_shmem",
        "nr_shmem_hugepages",
        "nr_file_hugepages",
        "nr_anon_transparent_hugepages",
        "nr_kernel_stack",
        "nr_page_table_pages",
        "nr_sec_page_table_pages",
        "nr_swapcached",
        "numa_hit",
        "pgpgin",
        "pgpgout",
        "pswpin",
        "pswpout",
        "pgfault",
        "pgmajfault",
        "pgrefill",
        "pgactivate",
        "pgdeactivate",
        "workingset_refault_anon",
        "workingset_refault_file",
        "pgscan_kswapd",
        "pgsteal_direct",
        "thp_fault_alloc",
        "zswpout",
        "compact_stall",
    ]
    .iter()
    .enumerate()
    {
        vmstat.push_str(&format!("{key} {}\n", (i as u64 * 104_729) % (total_kb + 7)));
    }
    let mut swaps = String::from("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
    if swap_kb > 0 {
        swaps.push_str(&format!("/dev/vda2                               partition\t{swap_kb}\t\t0\t\t-2\n"));
    }
    Host {
        memory: HostMemory::from_meminfo(m.as_bytes()).expect("generated host meminfo"),
        meminfo: m.into_bytes(),
        vmstat: vmstat.into_bytes(),
        swaps: swaps.into_bytes(),
        cpuinfo: cpuinfo.into_bytes(),
        stat: stat.into_bytes(),
        cpus,
        total_kb,
        avail_kb,
        swap_kb,
    }
}

/// A byte count chosen to hit the edges of the rules.
fn gen_bytes(u: &mut Input, host_total: u64, near: Option<u64>) -> u64 {
    match u.below(16) {
        0 => 0,
        1 => 1,
        2 => 4096,
        3 => 256 * MIB,
        4 => host_total.saturating_sub(1),
        5 => host_total,
        6 => host_total.saturating_add(1),
        7 => V1_SENTINEL,
        8 => u64::MAX,
        9 => u.u64(),
        10 | 11 => near.map_or(128 * MIB, |n| n.saturating_sub(u.u64() % (n / 2 + 1))),
        12 => near.map_or(1, |n| n.saturating_add(u.u64() % (n / 4 + 1))),
        _ => u.u64() % host_total.max(1),
    }
}

/// A file's text for a number: usually the kernel's `N\n`, sometimes a malformed variant.
fn gen_number_text(u: &mut Input, v: u64, unlimited: &str) -> Vec<u8> {
    let s = match u.below(24) {
        0 => format!("{v}"),
        1 => format!(" {v} \n"),
        2 => format!("{v}\n\n"),
        3 => format!("+{v}\n"),
        4 => format!("-{v}\n"),
        5 => format!("{v}abc\n"),
        6 => String::new(),
        7 => format!("{unlimited}\n"),
        8 => "-1\n".into(),
        9 => format!("{v}0\n"),
        10 => format!("\t{v}\r\n"),
        11 => "max\n".into(),
        12 => "18446744073709551616\n".into(),
        13 => format!("{}\n", &v.to_string()[..v.to_string().len().div_ceil(2)]),
        14 => "\n".into(),
        15 => "x".repeat(100),
        _ => format!("{v}\n"),
    };
    s.into_bytes()
}

/// What the generator knows about the tree it built.
pub struct Tree {
    pub fs: MemFs,
    pub host: Host,
    pub version: Version,
    /// The memory directory discovery must find (None: it must fail, or the cgroup/mountinfo
    /// files were mutated so no claim is made).
    pub expect_dir: Option<Vec<u8>>,
    /// Whether discovery must fail (a masked mount, a missing leaf).
    pub expect_not_found: bool,
    /// Visible levels, innermost first, ending at the mount point.
    pub levels: Vec<Vec<u8>>,
    pub affinity: CpuSet,
    pub page_size: u64,
}

const NAMES: &[&str] = &[
    "docker",
    "abc",
    "kubepods.slice",
    "kubepods-burstable.slice",
    "pod-1",
    "cri-containerd-0f3a.scope",
    "a b",
    "x:y",
    "system.slice",
    "user.slice",
    "leaf",
    "w",
    "c\tt",
    "dash-ed",
];

fn escape(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in path {
        match b {
            b' ' => out.extend_from_slice(b"\\040"),
            b'\t' => out.extend_from_slice(b"\\011"),
            b'\n' => out.extend_from_slice(b"\\012"),
            b'\\' => out.extend_from_slice(b"\\134"),
            _ => out.push(b),
        }
    }
    out
}

fn join(a: &[u8], b: &str) -> Vec<u8> {
    let mut p = a.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(b.as_bytes());
    p
}

/// A mount line unrelated to the controllers. After the controller mounts (`after`), never
/// one on an ancestor of them (`/sys`), which would hide them.
fn noise_mount(u: &mut Input, id: usize, after: bool) -> String {
    match u.below(8) {
        1 if after => format!("{id} 1 0:11 / /srv ro - ext4 /dev/vdb rw\n"),
        0 => format!("{id} 1 0:5 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n"),
        1 => format!("{id} 1 0:6 / /sys ro,nosuid - sysfs sysfs ro\n"),
        2 => format!("{id} 1 0:7 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n"),
        3 => format!("{id} 1 0:{} / /mnt/data\\040{id} rw shared:4 master:1 - ext4 /dev/vda1 rw\n", id % 200),
        4 => format!("{id} 20 0:30 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"),
        5 => format!("{id} 1 0:8 /x /var/lib/a\\134b rw - overlay overlay rw,lowerdir=/l\n"),
        6 => format!("{id} 1 0:9 / /run/user/1000 rw,nosuid,nodev - tmpfs tmpfs rw\n"),
        _ => format!("{id} 1 0:10 / /proc/bus ro - proc proc rw\n"),
    }
}

/// Builds a whole tree: `/proc/self/cgroup`, `/proc/self/mountinfo`, the host files, and the
/// memory and CPU controller files at every visible level.
pub fn gen_tree(u: &mut Input) -> Tree {
    let host = gen_host(u);
    let host_total = host.memory.total;
    let version = if u.bool() { Version::V1 } else { Version::V2 };
    let depth = if DEEP_TREES && u.one_in(16) { 17 + u.below(4) } else { u.below(5) };
    let comps: Vec<&str> = (0..depth).map(|_| u.pick(NAMES)).collect();
    let mountpoint: &[u8] = match (version, u.below(4)) {
        (Version::V1, 0) => b"/mnt/my cg",
        (Version::V1, 1) => b"/sys/fs/cgroup/cpu,memory",
        (Version::V1, _) => b"/sys/fs/cgroup/memory",
        (Version::V2, 0) => b"/sys/fs/cgroup/unified",
        (Version::V2, 1) => b"/run/my cg2",
        (Version::V2, _) => b"/sys/fs/cgroup",
    };
    let combined = mountpoint == b"/sys/fs/cgroup/cpu,memory";
    let cpu_mount: &[u8] = match version {
        Version::V1 if !combined => b"/sys/fs/cgroup/cpu,cpuacct",
        _ => mountpoint,
    };
    // 0: host paths (mount root /); 1: bind mount of an ancestor or the cgroup itself;
    // 2: private cgroup namespace; 3: moved after the mount was made (suffix search);
    // 4: bind mount stacked over the host mount (both listed, the later wins).
    let layout = u.below(5);
    let top = if comps.is_empty() { 0 } else { u.below(comps.len() + 1) };
    let path_of = |c: &[&str]| -> Vec<u8> {
        if c.is_empty() { b"/".to_vec() } else { format!("/{}", c.join("/")).into_bytes() }
    };
    let (mount_root, self_path, below): (Vec<u8>, Vec<u8>, Vec<&str>) = match layout {
        0 => (b"/".to_vec(), path_of(&comps), comps.clone()),
        1 | 4 => (path_of(&comps[..top]), path_of(&comps), comps[top..].to_vec()),
        2 => (b"/".to_vec(), path_of(&comps[top..]), comps[top..].to_vec()),
        _ => (b"/elsewhere".to_vec(), [&b"/moved"[..], &path_of(&comps)].concat(), comps.clone()),
    };
    // Visible directories, innermost first.
    let mut levels = Vec::new();
    for n in (0..=below.len()).rev() {
        let mut d = mountpoint.to_vec();
        for c in &below[..n] {
            d = join(&d, c);
        }
        levels.push(d);
    }
    let leaf = levels[0].clone();
    let mut fs = MemFs { files: BTreeMap::new(), chunk: if u.bool() { 1 + u.below(64) } else { 4096 } };
    let chunk_choice = u.below(4);
    if chunk_choice == 0 {
        fs.chunk = 1 << 20;
    }

    // /proc/self/cgroup
    let sp = String::from_utf8_lossy(&self_path).into_owned();
    let mut cg_lines = match version {
        Version::V1 => vec![
            format!("12:pids:{sp}"),
            if combined { format!("4:cpu,memory:{sp}") } else { format!("4:memory:{sp}") },
            format!("2:cpu,cpuacct:{sp}"),
            format!("1:name=systemd:{sp}"),
        ],
        Version::V2 => vec![format!("0::{sp}")],
    };
    if version == Version::V1 && u.one_in(3) {
        cg_lines.push("0::/".into());
    }
    if u.one_in(4) {
        cg_lines.rotate_left(1);
    }
    fs.put(b"/proc/self/cgroup", (cg_lines.join("\n") + "\n").into_bytes());

    // /proc/self/mountinfo
    let mut mi = String::from("1 0 0:1 / / rw,relatime - overlay overlay rw,lowerdir=/a\n");
    let mut id = 2;
    let noise_before = if u.one_in(128) {
        reached(6);
        10_000
    } else {
        u.below(6)
    };
    for _ in 0..noise_before {
        mi.push_str(&noise_mount(u, id, false));
        id += 1;
    }
    mi.push_str(&format!("{id} 1 0:20 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755\n"));
    id += 1;
    let fstype = match version {
        Version::V1 => "cgroup cgroup rw,memory",
        Version::V2 => "cgroup2 cgroup2 rw,nsdelegate",
    };
    let fstype = if combined { "cgroup cgroup rw,cpu,memory" } else { fstype };
    let mp_esc = text(&escape(mountpoint));
    if layout == 4 {
        // The host's entry, then the container's bind mount stacked on the same point.
        mi.push_str(&format!("{id} 20 0:27 / {mp_esc} rw,relatime master:3 - {fstype}\n"));
        id += 1;
    }
    mi.push_str(&format!(
        "{id} 20 0:27 {} {mp_esc} rw,nosuid,nodev,noexec,relatime shared:9 - {fstype}\n",
        text(&escape(&mount_root))
    ));
    id += 1;
    if version == Version::V1 && !combined {
        mi.push_str(&format!(
            "{id} 20 0:28 {} {} rw - cgroup cgroup rw,cpu,cpuacct\n",
            text(&escape(&mount_root)),
            text(cpu_mount)
        ));
        id += 1;
    }
    for _ in 0..u.below(4) {
        mi.push_str(&noise_mount(u, id, true));
        id += 1;
    }
    // A later mount over the controller's mount point (or its parent) hides it.
    let masked = u.one_in(12);
    if masked {
        let parent = &mountpoint[..mountpoint.iter().rposition(|&b| b == b'/').unwrap_or(0).max(1)];
        let over = if u.bool() { mp_esc.clone() } else { text(&escape(parent)) };
        mi.push_str(&format!("{id} 1 0:40 / {over} rw - tmpfs tmpfs rw\n"));
    }
    fs.put(b"/proc/self/mountinfo", mi.into_bytes());

    // Host files.
    fs.put(b"/proc/meminfo", host.meminfo.clone());
    fs.put(b"/proc/vmstat", host.vmstat.clone());
    fs.put(b"/proc/swaps", host.swaps.clone());

    // Controller files at each visible level.
    let (limit_file, usage_file, swap_file, swap_usage) = match version {
        Version::V1 => (
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.memsw.usage_in_bytes",
        ),
        Version::V2 => ("memory.max", "memory.current", "memory.swap.max", "memory.swap.current"),
    };
    let unlimited = match version {
        Version::V1 => V1_SENTINEL.to_string(),
        Version::V2 => "max".into(),
    };
    let mut leaf_limit = None;
    let nlevels = levels.len();
    for (i, dir) in levels.iter().enumerate() {
        let is_top = i + 1 == nlevels;
        // The v2 root has no memory.max; a v1 root has the sentinel.
        let limit = match u.below(10) {
            0 if i > 0 => None,
            1 | 2 => Some(unlimited.clone().into_bytes()),
            _ if version == Version::V2 && is_top && layout != 1 && layout != 4 && u.bool() => None,
            _ => {
                let v = gen_bytes(u, host_total, None);
                Some(gen_number_text(u, v, &unlimited))
            }
        };
        let limit_value = limit.as_deref().and_then(ref_limit).flatten();
        if i == 0 {
            leaf_limit = limit_value;
        }
        if let Some(l) = limit {
            fs.put(&join(dir, limit_file), l);
        }
        let usage = gen_bytes(u, host_total, limit_value.or(leaf_limit));
        if !u.one_in(40) {
            let t = if u.one_in(6) {
                gen_number_text(u, usage, "max")
            } else {
                format!("{usage}\n").into_bytes()
            };
            fs.put(&join(dir, usage_file), t);
        }
        if version == Version::V2 && u.one_in(3) {
            let v = gen_bytes(u, host_total, limit_value);
            let t = if u.bool() { b"max\n".to_vec() } else { gen_number_text(u, v, "max") };
            fs.put(&join(dir, "memory.high"), t);
        }
        if u.bool() {
            let base = limit_value.unwrap_or(host_total);
            let v = match version {
                Version::V1 => {
                    base.saturating_add(gen_bytes(u, host.swap_kb * KB + 1, None) % (host.swap_kb * KB + 1))
                }
                Version::V2 => gen_bytes(u, host.swap_kb * KB + 1, None),
            };
            let t =
                if u.one_in(4) { gen_number_text(u, v, &unlimited) } else { format!("{v}\n").into_bytes() };
            fs.put(&join(dir, swap_file), t);
            if i == 0 {
                let used = match version {
                    Version::V1 => usage.saturating_add(u.u64() % (host.swap_kb * KB + 1)),
                    Version::V2 => u.u64() % (host.swap_kb * KB + 2),
                };
                fs.put(&join(dir, swap_usage), format!("{used}\n").into_bytes());
            }
        }
        // CPU quota files (v1 in the cpu hierarchy, v2 in the same directory).
        let cpu_dir = match version {
            Version::V1 => [cpu_mount, &dir[mountpoint.len()..]].concat(),
            Version::V2 => dir.clone(),
        };
        match (version, u.below(4)) {
            (_, 0) => {}
            (Version::V1, k) => {
                let q = match k {
                    1 => "-1\n".to_string(),
                    _ => format!("{}\n", 1 + u.u64() % 1_000_000),
                };
                let q = if u.one_in(10) {
                    let v = u.u64() % 500_000;
                    gen_number_text(u, v, "-1")
                } else {
                    q.into_bytes()
                };
                fs.put(&join(&cpu_dir, "cpu.cfs_quota_us"), q);
                let p = if u.one_in(10) {
                    let v = u.u64() % 200_000;
                    gen_number_text(u, v, "0")
                } else {
                    b"100000\n".to_vec()
                };
                fs.put(&join(&cpu_dir, "cpu.cfs_period_us"), p);
            }
            (Version::V2, k) => {
                let t = match k {
                    1 => "max 100000\n".to_string(),
                    2 => format!("{} {}\n", 1 + u.u64() % 1_000_000, 1 + u.u64() % 1_000_000),
                    _ => {
                        let v = u.u64() % 900_000;
                        text(&gen_number_text(u, v, "max"))
                    }
                };
                fs.put(&join(&cpu_dir, "cpu.max"), t.into_bytes());
            }
        }
        if i == 0 {
            match version {
                Version::V1 => fs.put(
                    &join(&cpu_dir, "cpuacct.usage"),
                    format!("{}\n", u.u64() >> u.below(64)).into_bytes(),
                ),
                Version::V2 => fs.put(
                    &join(&cpu_dir, "cpu.stat"),
                    format!("usage_usec {}\nuser_usec 1\nsystem_usec 2\n", u.u64() >> u.below(64))
                        .into_bytes(),
                ),
            }
        }
    }
    // memory.stat of the leaf (and a v1 swappiness).
    if !u.one_in(16) {
        let stat = gen_stat(u, version, leaf_limit.unwrap_or(host_total), host_total);
        fs.put(&join(&leaf, "memory.stat"), stat);
    }
    if version == Version::V1 && u.bool() {
        let t = if u.bool() { b"0\n".to_vec() } else { gen_number_text(u, 60, "max") };
        fs.put(&join(&leaf, "memory.swappiness"), t);
    }

    // Files that open but cannot be read, or cannot be opened.
    if u.one_in(6) {
        let names = [limit_file, usage_file, "memory.stat", swap_file, "memory.high"];
        let dir = levels[u.below(levels.len())].clone();
        let p = join(&dir, u.pick(&names));
        let e = if u.bool() { Entry::ReadFails } else { Entry::OpenFails };
        fs.files.insert(p, e);
    }

    // Raw mutations of any file.
    let mut layout_mutated = false;
    while !u.exhausted() && u.one_in(3) {
        let keys: Vec<Vec<u8>> = fs.files.keys().cloned().collect();
        let key = keys[u.below(keys.len())].clone();
        if key.starts_with(b"/proc/self/") {
            layout_mutated = true;
        }
        if let Some(Entry::Data(d)) = fs.files.get_mut(&key) {
            mutate(u, d);
        }
    }

    let leaf_opens = fs.opens(&join(&leaf, limit_file));
    // A moved process is found by trying suffixes of its path: with the leaf missing, a
    // shorter suffix may name another directory, so no claim is made then.
    let expect_not_found = !layout_mutated && (masked || (!leaf_opens && layout != 3));
    let expect_dir = (!layout_mutated && !masked && leaf_opens).then(|| leaf.clone());
    let mut mask = [0u8; 16];
    for b in mask.iter_mut() {
        *b = u.byte();
    }
    let mut affinity = CpuSet::default();
    for c in CpuSet::from_mask(&mask).iter().filter(|&c| c < host.cpus) {
        affinity.insert(c);
    }
    if affinity.count() == 0 {
        affinity.insert(0);
    }
    let page_size = u.pick(&[4096u64, 4096, 16384, 65536, 8, 1]);
    Tree { fs, host, version, expect_dir, expect_not_found, levels, affinity, page_size }
}

fn mutate(u: &mut Input, d: &mut Vec<u8>) {
    let len = d.len();
    match u.below(6) {
        0 if len > 0 => {
            let i = u.below(len);
            d[i] ^= 1 << u.below(8);
        }
        1 => d.truncate(u.below(len + 1)),
        2 => {
            let at = u.below(len + 1);
            let ins = u.take(32).to_vec();
            d.splice(at..at, ins);
        }
        3 if len > 0 => {
            let a = u.below(len);
            let b = (a + u.below(64)).min(len);
            d.drain(a..b);
        }
        4 => {
            let at = u.below(len + 1);
            let tok = u.pick(&[
                &b"\n"[..],
                b" ",
                b"\t",
                b"-",
                b":",
                b"\\040",
                b"max",
                b"\x00",
                b"18446744073709551615",
            ]);
            d.splice(at..at, tok.iter().copied());
        }
        _ => d.extend_from_slice(u.take(16)),
    }
}

fn gen_stat(u: &mut Input, version: Version, limit: u64, host_total: u64) -> Vec<u8> {
    let v1 = version == Version::V1;
    let mut lines: Vec<String> = Vec::new();
    let bound = limit.min(host_total).max(1);
    for key in Key::ALL {
        if matches!(key, Key::HierarchicalMemoryLimit | Key::HierarchicalMemswLimit) || u.one_in(5) {
            continue;
        }
        let v = match u.below(8) {
            0 => 0,
            1 => u.u64(),
            2 => bound,
            _ => u.u64() % bound,
        };
        let name = text(key.name());
        if v1 {
            lines.push(format!("{name} {}", v / 2));
            lines.push(format!("total_{name} {v}"));
        } else {
            lines.push(format!("{name} {v}"));
        }
    }
    if v1 {
        let h = gen_bytes(u, host_total, Some(limit));
        let pos = u.below(lines.len() + 1);
        lines.insert(pos, format!("hierarchical_memory_limit {h}"));
        if u.bool() {
            let at = (pos + 1 + u.below(3)).min(lines.len());
            lines.insert(at, format!("hierarchical_memsw_limit {}", gen_bytes(u, host_total, Some(h))));
        }
    }
    if u.one_in(8) {
        let at = u.below(lines.len() + 1);
        lines.insert(at, u.pick(&["garbage", "file", "anon 1 2", "total_cache x", "file 12x", ""]).into());
    }
    let mut out = String::new();
    if u.one_in(250) {
        reached(7);
        // A 1 MiB file of valid lines, with the keys that matter at the very end.
        let mut i = 0;
        while out.len() < (1 << 20) {
            out.push_str(&format!("padding_counter_{i} {}\n", i * 4096));
            i += 1;
        }
    }
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    out.into_bytes()
}

// =============================================================================================
// The oracle: the README's rules over the tree's files
// =============================================================================================

#[derive(Debug, PartialEq, Eq)]
pub enum Expect {
    /// Host values pass through.
    Pass(&'static str),
    /// A view with this limit and free memory.
    View { limit: u64, free: u64 },
}

/// Small cgroup files are read into 64 bytes; a longer one does not read.
fn small(fs: &MemFs, path: &[u8]) -> Option<Vec<u8>> {
    fs.data(path).filter(|d| d.len() <= 64).map(<[u8]>::to_vec)
}

pub fn oracle(t: &Tree) -> Expect {
    let fs = &t.fs;
    let host = t.host.memory;
    let (limit_file, usage_file, swap_file) = match t.version {
        Version::V1 => ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.memsw.limit_in_bytes"),
        Version::V2 => ("memory.max", "memory.current", "memory.swap.max"),
    };
    let finite = |b: Option<u64>| b.filter(|&b| b < host.total);
    struct L {
        present: bool,
        limit: Option<u64>,
        high: Option<u64>,
    }
    let mut levels = Vec::new();
    for (i, dir) in t.levels.iter().enumerate() {
        match small(fs, &join(dir, limit_file)) {
            Some(c) => {
                let Some(limit) = ref_limit(&c) else { return Expect::Pass("malformed limit") };
                let high = match t.version {
                    Version::V2 => small(fs, &join(dir, "memory.high")).and_then(|c| ref_limit(&c)).flatten(),
                    Version::V1 => None,
                };
                if let Some(c) = small(fs, &join(dir, swap_file))
                    && ref_limit(&c).is_none()
                {
                    return Expect::Pass("malformed swap limit");
                }
                levels.push(L { present: true, limit, high });
            }
            None if i == 0 => return Expect::Pass("leaf limit unreadable"),
            // The level has the controller (its usage reads) but no readable limit: a tighter
            // limit may hide there.
            None if small(fs, &join(dir, usage_file)).is_some() => return Expect::Pass("limit unreadable"),
            None => levels.push(L { present: false, limit: None, high: None }),
        }
    }
    let mut hier = None;
    if t.version == Version::V1
        && let Some(stat) = t.fs.data(&join(&t.levels[0], "memory.stat"))
    {
        // The scan stops once both hierarchical limits were seen with valid values.
        let mut memsw_seen = false;
        for line in ref_lines(stat).into_iter().filter(|l| l.len() <= 8191) {
            let f = ref_fields(line);
            if f.len() == 2 {
                if f[0] == b"hierarchical_memory_limit"
                    && let Some(v) = ref_u64(f[1])
                {
                    hier = Some(v);
                }
                if f[0] == b"hierarchical_memsw_limit" && ref_u64(f[1]).is_some() {
                    memsw_seen = true;
                }
            }
            if hier.is_some() && memsw_seen {
                break;
            }
        }
    }
    let bound = |l: &L| match (finite(l.limit), finite(l.high)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let limit = levels.iter().filter_map(|l| finite(l.limit)).chain(finite(hier)).min();
    let Some(limit) = limit else { return Expect::Pass("no limit below the host's memory") };
    let mut headroom: Option<u64> = None;
    let mut leaf_usage = None;
    for (i, (l, dir)) in levels.iter().zip(&t.levels).enumerate() {
        if l.present && (i == 0 || bound(l).is_some()) {
            let Some(u) = small(fs, &join(dir, usage_file)).and_then(|c| ref_u64(&c)) else {
                return Expect::Pass("usage unreadable");
            };
            if i == 0 {
                leaf_usage = Some(u);
            }
            if let Some(b) = bound(l) {
                let room = b.saturating_sub(u);
                headroom = Some(headroom.map_or(room, |h| h.min(room)));
            }
        }
    }
    if let (Some(h), Some(u)) = (finite(hier), leaf_usage) {
        let room = h.saturating_sub(u);
        headroom = Some(headroom.map_or(room, |x| x.min(room)));
    }
    Expect::View { limit, free: headroom.unwrap_or(limit).min(limit) }
}

// =============================================================================================
// The pipeline target
// =============================================================================================

fn parse_kv_lines(text: &[u8]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for l in ref_lines(text) {
        if let Some((k, v, _)) = ref_meminfo_line(l) {
            m.entry(String::from_utf8_lossy(k).into_owned()).or_insert(v);
        }
    }
    m
}

/// Checks one rendered meminfo against its host text and the view.
fn check_meminfo(host: &[u8], out: &[u8], view: &MemoryView, h: &Host) {
    let hl = ref_lines(host);
    let ol = ref_lines(out);
    assert!(out.ends_with(b"\n"), "meminfo output does not end in a newline");
    assert_eq!(hl.len(), ol.len(), "meminfo line count");
    for (a, b) in hl.iter().zip(&ol) {
        if a == b {
            continue;
        }
        let (hk, _, hkb) =
            ref_meminfo_line(a).unwrap_or_else(|| panic!("rewrote unparsable host line {:?}", text(a)));
        assert!(hkb, "rewrote a line without kB: {:?}", text(a));
        // `Key:<spaces><digits> kB`, the number ending in the host's column when it fits.
        let colon = b.iter().position(|&c| c == b':').expect("colon");
        assert_eq!(&b[..colon], hk, "key changed: {:?} -> {:?}", text(a), text(b));
        let rest = &b[colon + 1..];
        let rest = rest.strip_suffix(b" kB").unwrap_or_else(|| panic!("no ` kB` in {:?}", text(b)));
        let digits = ref_trim(rest);
        assert!(rest.starts_with(b" "), "no space after the colon: {:?}", text(b));
        assert!(!digits.is_empty() && digits.iter().all(u8::is_ascii_digit), "bad number in {:?}", text(b));
        assert!(rest[..rest.len() - digits.len()].iter().all(|&c| c == b' '), "bad padding in {:?}", text(b));
        assert!(
            b.len() == a.len() || rest.len() == digits.len() + 1,
            "column moved: {:?} -> {:?}",
            text(a),
            text(b)
        );
    }
    let m = parse_kv_lines(out);
    let g = |k: &str| m.get(k).copied();
    let (total, free, avail) = (g("MemTotal").unwrap(), g("MemFree").unwrap(), g("MemAvailable").unwrap());
    assert!(free <= avail && avail <= total, "MemFree {free} ≤ MemAvailable {avail} ≤ MemTotal {total}");
    assert!(total <= h.total_kb, "MemTotal {total} > host {}", h.total_kb);
    assert_eq!(total, view.limit / 1024);
    assert_eq!(free, view.free / 1024);
    let (st, sf) = (g("SwapTotal").unwrap(), g("SwapFree").unwrap());
    assert!(sf <= st && st <= h.swap_kb, "SwapFree {sf} ≤ SwapTotal {st} ≤ host {}", h.swap_kb);
    for (k, v) in &m {
        let rewritten = hl.iter().zip(&ol).any(|(a, b)| a != b && b.starts_with(format!("{k}:").as_bytes()));
        // The commit lines count swap too (and CommitLimit the overcommit ratio, which the
        // pipeline never sets): at most memory and swap.
        if rewritten && k == "Committed_AS" {
            // (+1: each figure is rounded down to kB on its own.)
            assert!(*v <= total + st + 1, "{k} {v} kB above MemTotal {total} + SwapTotal {st}");
            let host = hl
                .iter()
                .find_map(|l| l.strip_prefix(b"Committed_AS:"))
                .and_then(|r| ref_u64(ref_trim(r.strip_suffix(b" kB").unwrap_or(r))));
            assert!(host.is_none_or(|h| *v <= h), "{k} {v} kB above the host's {host:?}");
        } else if rewritten && !k.starts_with("Swap") {
            assert!(*v <= total, "{k} {v} kB above MemTotal {total}");
        }
    }
    if let (Some(ml), Some(un)) = (g("Mlocked"), g("Unevictable")) {
        assert!(ml <= un, "Mlocked {ml} > Unevictable {un}");
    }
    if let (Some(c), Some(f)) = (g("Cached"), g("MemFree")) {
        assert!(c <= total - f, "Cached {c} > MemTotal {total} − MemFree {f}");
    }
}

fn check_view(view: &MemoryView, h: &Host) {
    assert!(view.free <= view.available, "free {} > available {}", view.free, view.available);
    assert!(view.available <= view.limit, "available {} > limit {}", view.available, view.limit);
    assert!(view.limit < h.memory.total, "limit {} not below the host's {}", view.limit, h.memory.total);
    if let Some(ha) = h.memory.available {
        assert!(view.available <= ha.max(view.free), "available above the host's MemAvailable and MemFree");
    }
    assert!(view.swap_free <= view.swap_total && view.swap_total <= h.memory.swap_total);
    assert!(view.cached <= view.limit - view.free);
    assert!(view.cached.saturating_add(view.sreclaimable) <= view.limit - view.free);
}

fn check_vmstat(host: &[u8], out: &[u8], view: &MemoryView, page_size: u64) {
    let hl = ref_lines(host);
    let ol = ref_lines(out);
    assert_eq!(hl.len(), ol.len(), "vmstat line count");
    for (a, b) in hl.iter().zip(&ol) {
        if a == b {
            continue;
        }
        let fa = ref_fields(a);
        let fb: Vec<&[u8]> = b.split(|&c| c == b' ').collect();
        assert_eq!(fb.len(), 2, "vmstat line {:?}", text(b));
        assert_eq!(fa[0], fb[0], "vmstat key changed");
        assert!(!fb[1].is_empty() && fb[1].iter().all(u8::is_ascii_digit), "vmstat value {:?}", text(b));
        if fa[0] == b"nr_free_pages" {
            assert_eq!(ref_u64(fb[1]), Some(view.free / page_size));
        }
    }
}

fn check_swaps(host: &[u8], out: &[u8], view: &MemoryView) {
    let ol = ref_lines(out);
    assert_eq!(ol.first(), ref_lines(host).first(), "swaps header");
    if view.swap_total == 0 {
        assert_eq!(ol.len(), 1, "swaps without swap: {:?}", text(out));
        return;
    }
    assert_eq!(ol.len(), 2);
    let line = ol[1];
    assert!(
        line.starts_with(b"none") && line[4..40].iter().all(|&c| c == b' '),
        "swaps line {:?}",
        text(line)
    );
    let f = ref_fields(&line[40..]);
    assert_eq!(f.len(), 4, "swaps line {:?}", text(line));
    assert_eq!(f[0], b"virtual");
    let (size, used) = (ref_u64(f[1]).unwrap(), ref_u64(f[2]).unwrap());
    assert_eq!(size, view.swap_total / 1024);
    assert!(used <= size, "swap used {used} > size {size}");
    assert_eq!(f[3], b"0");
}

fn check_cpu(t: &Tree) {
    let Ok(cg) = discover::find(&t.fs, &dcpu::CPU) else { return };
    let Ok(quota) = dcpu::tightest_quota(&t.fs, &cg) else { return };
    check_shown(&t.affinity, quota, 0);
    reached(4);
    let set = dcpu::shown(&t.affinity, quota, 0);
    let mut online = Vec::new();
    show::cpu::online(&set, &mut |b| online.extend_from_slice(b));
    assert!(online.ends_with(b"\n"));
    assert_eq!(CpuSet::parse_list(&online), Some(set), "online list {:?}", text(&online));
    let mut cpuinfo = Vec::new();
    show::cpu::cpuinfo(&t.host.cpuinfo, &set, &mut |b| cpuinfo.extend_from_slice(b));
    let shown_in_info: BTreeSet<usize> = ref_lines(&cpuinfo)
        .into_iter()
        .filter_map(|l| l.strip_prefix(b"processor\t: "))
        .filter_map(|n| ref_u64(n).map(|n| n as usize))
        .collect();
    let want: BTreeSet<usize> = set.iter().filter(|&c| c < t.host.cpus).collect();
    assert_eq!(shown_in_info, want, "cpuinfo processor blocks");
    let mut stat = Vec::new();
    show::cpu::stat(&t.host.stat, &set, &mut |b| stat.extend_from_slice(b))
        .expect("host stat has a cpu line");
    let mut sums = [0u64; 10];
    let mut seen = BTreeSet::new();
    for line in ref_lines(&t.host.stat) {
        let f = ref_fields(line);
        if let Some(n) = f[0].strip_prefix(b"cpu").and_then(ref_u64)
            && set.contains(n as usize)
        {
            for (s, v) in sums.iter_mut().zip(&f[1..]) {
                *s += ref_u64(v).unwrap();
            }
        }
    }
    for line in ref_lines(&stat) {
        let f = ref_fields(line);
        if f[0] == b"cpu" {
            assert!(line.starts_with(b"cpu  "), "aggregate line {:?}", text(line));
            let vals: Vec<u64> = f[1..].iter().map(|v| ref_u64(v).unwrap()).collect();
            assert_eq!(vals, sums.to_vec(), "aggregate cpu line");
        } else if let Some(n) = f[0].strip_prefix(b"cpu").and_then(ref_u64) {
            assert!(set.contains(n as usize), "cpu{n} shown outside the set");
            seen.insert(n as usize);
        }
    }
    assert_eq!(seen, want, "cpuN lines of /proc/stat");
}

fn check_uptime(t: &Tree, u: &mut Input) {
    let up = u.u64() >> u.below(64);
    let busy = discover::find(&t.fs, &cgshim::decide::uptime::CPUACCT)
        .ok()
        .and_then(|cg| cgshim::decide::uptime::busy_ns(&t.fs, &cg));
    let cpus = t.affinity.count();
    let idle = cgshim::decide::uptime::idle_ns(up, busy, cpus);
    assert!(idle <= up.saturating_mul(cpus.max(1)));
    let mut out = Buf::<64>::new();
    show::uptime::render(up, idle, &mut out);
    let s = std::str::from_utf8(out.as_bytes()).unwrap();
    let ok = |x: &str| {
        let (a, b) = x.split_once('.').unwrap_or(("", ""));
        !a.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.len() == 2
            && b.bytes().all(|c| c.is_ascii_digit())
    };
    let parts: Vec<&str> = s.trim_end_matches('\n').split(' ').collect();
    assert!(s.ends_with('\n') && parts.len() == 2 && ok(parts[0]) && ok(parts[1]), "uptime {s:?}");
}

fn render_all(t: &Tree, view: &MemoryView) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut m = Buf::<16384>::new();
    let mut v = Buf::<16384>::new();
    let mut s = Buf::<16384>::new();
    show::meminfo::render(&t.host.meminfo, view, &mut m).expect("meminfo fits 16 KiB");
    show::vmstat::render(&t.host.vmstat, view, t.page_size, &mut v).expect("vmstat fits");
    show::swaps::render(&t.host.swaps, view, &mut s).expect("swaps fits");
    (m.as_bytes().to_vec(), v.as_bytes().to_vec(), s.as_bytes().to_vec())
}

/// The whole pipeline over a generated tree.
pub fn fuzz_pipeline(data: &[u8]) {
    let mut u = Input::new(data);
    let t = gen_tree(&mut u);
    reached(0);
    let host = t.host.memory;
    let found = discover::find(&t.fs, &MEMORY);
    if let Some(dir) = &t.expect_dir {
        let cg =
            found.as_ref().unwrap_or_else(|e| panic!("discovery failed ({e:?}), expected {}", text(dir)));
        assert_eq!(cg.dir.as_bytes(), &dir[..], "discovered directory");
        assert_eq!(cg.version, t.version);
        let levels: Vec<&[u8]> = cg.levels().collect();
        let want: Vec<&[u8]> = t.levels.iter().map(Vec::as_slice).collect();
        assert_eq!(levels, want, "visible levels");
        reached(1);
    }
    if t.expect_not_found {
        assert!(
            found.is_err(),
            "discovery found {:?} in a tree without the directory",
            found.as_ref().map(|c| text(c.dir.as_bytes()))
        );
    }
    check_cpu(&t);
    check_uptime(&t, &mut u);
    let Ok(cg) = found else { return };
    for host in [host, HostMemory { available: None, ..host }] {
        let result = memory::read(&t.fs, &cg, host);
        if t.expect_dir.is_some() {
            reached(2);
            let want = oracle(&t);
            match (&result, &want) {
                (Ok(v), Expect::View { limit, free }) => {
                    assert_eq!((v.limit, v.free), (*limit, *free), "limit and free memory (oracle)");
                }
                (Err(_), Expect::Pass(_)) => reached(5),
                (got, want) => panic!(
                    "library and oracle disagree: library {:?}, oracle {want:?}",
                    got.as_ref().map(|v| (v.limit, v.free))
                ),
            }
        }
        let Ok(view) = result else { continue };
        reached(3);
        let h = Host { memory: host, ..clone_host(&t.host) };
        check_view(&view, &h);
        let (m, v, s) = render_all(&t, &view);
        check_meminfo(&t.host.meminfo, &m, &view, &h);
        check_vmstat(&t.host.vmstat, &v, &view, t.page_size);
        check_swaps(&t.host.swaps, &s, &view);
        for unit in [1u32, 0, 4096, u32::MAX, 1 + u.below(100_000) as u32] {
            let si = show::sysinfo::sysinfo_memory(&view, unit);
            assert!(si.freeram <= si.totalram && si.freeswap <= si.totalswap);
            assert_eq!(si.totalram, view.limit / u64::from(unit.max(1)));
            assert_eq!(si.bufferram, 0);
        }
        for ps in [1u64, 4096, 65536, t.page_size] {
            assert!(show::sysinfo::avphys_pages(&view, ps) <= show::sysinfo::phys_pages(&view, ps));
        }

        // What the library caches, packed and unpacked, gives the same view.
        let limits = memory::read_limits(&t.fs, &cg).expect("limits read a moment ago");
        let samples = memory::read_samples(&t.fs, &cg, &limits, &host).expect("samples read a moment ago");
        let mut words = [0u64; snapshot::WORDS];
        Snapshot::Found { cg: cg.clone(), limits }.to_words(&mut words);
        let Some(Snapshot::Found { cg: cg2, limits: limits2 }) = Snapshot::from_words(&words) else {
            panic!("snapshot of {} did not round-trip", text(cg.dir.as_bytes()))
        };
        assert_eq!(
            (cg2.dir.as_bytes(), cg2.version, cg2.mount_len),
            (cg.dir.as_bytes(), cg.version, cg.mount_len)
        );
        assert_eq!(limits2, limits, "limits round trip");
        let mut sw = [0u64; snapshot::SAMPLE_WORDS];
        snapshot::samples_to_words(&samples, &mut sw);
        let samples2 = snapshot::samples_from_words(&sw);
        let view2 = memory::view_from(cg2.version, &limits2, &samples2, host).expect("cached view");
        assert_eq!(render_all(&t, &view2), (m, v, s), "cached view renders differently");
    }
}

fn clone_host(h: &Host) -> Host {
    Host {
        meminfo: h.meminfo.clone(),
        vmstat: h.vmstat.clone(),
        swaps: h.swaps.clone(),
        cpuinfo: h.cpuinfo.clone(),
        stat: h.stat.clone(),
        cpus: h.cpus,
        memory: h.memory,
        total_kb: h.total_kb,
        avail_kb: h.avail_kb,
        swap_kb: h.swap_kb,
    }
}

/// Every target by name, for the runners.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("number", fuzz_number),
    ("mountinfo", fuzz_mountinfo),
    ("self_cgroup", fuzz_self_cgroup),
    ("meminfo", fuzz_meminfo),
    ("memory_stat", fuzz_memory_stat),
    ("cpulist", fuzz_cpulist),
    ("pid_stat", fuzz_pid_stat),
    ("cpu_quota", fuzz_cpu_quota),
    ("pipeline", fuzz_pipeline),
];
