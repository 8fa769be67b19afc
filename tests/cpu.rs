//! The container's CPUs.
//!
//! - `fixture_*`: the `tests/fixtures/cpu-*` trees (v1 and v2, every layout), run through the
//!   pure core (`discover::find` + `tightest_quota` + `shown`) with affinity masks chosen here;
//!   every resulting set is written out by hand below (and in each fixture's README.md). The same
//!   trees are also served black-box through `libcgshim.so` with `CGSHIM_SYSROOT`.
//! - the rest: real cgroup-v1 `cpu` cgroups (root only) with a CFS quota, and real programs
//!   (getconf, python3, a C program, grep/cat on the CPU files, nproc, busybox nproc, node) run
//!   inside them with the library preloaded, next to their answers without it.
//!
//! Contract: N = ceil(smallest quota/period over the cgroup and its visible ancestors), clamped to
//! [1, |affinity|]; no quota → |affinity|. S = N consecutive CPUs of the affinity mask (real
//! numbers), starting at its (seed mod |mask|)-th CPU, seed = the cgroup directory's inode / (its
//! files + 1). `_SC_NPROCESSORS_ONLN`/`get_nprocs()` = N; `sched_getaffinity` of the caller's own
//! tasks = S (unless `CGSHIM_CPU_AFFINITY=0`); `/sys/devices/system/cpu/online` = S and
//! `cpuN/online` = 0 outside S; `/proc/cpuinfo` and `/proc/stat` only S's CPUs (aggregate `cpu`
//! line = their sum); `_SC_NPROCESSORS_CONF`, `get_nprocs_conf()`, `/proc/<pid>/stat` untouched;
//! `CGSHIM_DISABLE=cpu` switches it all off.

#[macro_use]
mod common;

use common::{joined, kernel_list};
#[path = "../cli/src/std_source.rs"]
mod std_source;

use cgshim::decide::cpu::{self, CPU, Quota, UnreadableQuota};
use cgshim::decide::discover::{self, Layout as CgLayout, Version};
use cgshim::read::cpulist::CpuSet;
use common::{
    Failures, Outcome, c_program, have_program, imported_symbols, kv_u64, parse_kv, remove_cgroup_to,
    run_plain,
};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use std_source::StdSource;

// =============================================================================================
// Part 1: fixture trees through the pure core
// =============================================================================================

/// One `tests/fixtures/cpu-*` tree and what must come out of it, computed by hand.
struct CpuFixture {
    name: &'static str,
    version: Version,
    layout: CgLayout,
    /// The directory `discover::find` must return (inside the fixture root).
    dir: &'static str,
    /// `tightest_quota`: Ok(None) = no quota, Ok(Some((quota, period))), or an error.
    quota: Result<Option<(u64, u64)>, UnreadableQuota>,
    /// ceil(quota / period) before clamping (None: no quota; ignored for errors).
    cpus: Option<u64>,
    /// (affinity, expected shown set), both in the kernel's list format.
    shown: &'static [(&'static str, &'static str)],
}

/// The affinity masks used below: 8 CPUs, a contiguous middle range, a sparse pair narrower than
/// most quotas, and a mask reaching past the first 64-bit word.
const WIDE: &str = "0-7";
const MIDDLE: &str = "2-5";
const SPARSE: &str = "2,5";
const HIGH: &str = "1,64,130";

const FIXTURES: &[CpuFixture] = &[
    CpuFixture {
        name: "cpu-v1-half",
        version: Version::V1,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/cpu,cpuacct/system.slice/app.service",
        quota: Ok(Some((50_000, 100_000))),
        cpus: Some(1),
        shown: &[(WIDE, "0"), (MIDDLE, "2"), (SPARSE, "2"), (HIGH, "1")],
    },
    CpuFixture {
        name: "cpu-v1-one-and-half",
        version: Version::V1,
        layout: CgLayout::BindMount,
        dir: "/sys/fs/cgroup/cpu,cpuacct",
        quota: Ok(Some((75_000, 50_000))),
        cpus: Some(2),
        shown: &[(WIDE, "0-1"), (MIDDLE, "2-3"), (SPARSE, "2,5"), (HIGH, "1,64")],
    },
    CpuFixture {
        name: "cpu-v1-three",
        version: Version::V1,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/cpu/cgshim/worker",
        quota: Ok(Some((300_000, 100_000))),
        cpus: Some(3),
        shown: &[(WIDE, "0-2"), (MIDDLE, "2-4"), (SPARSE, "2,5"), (HIGH, "1,64,130")],
    },
    CpuFixture {
        name: "cpu-v1-nested-tighter-parent",
        version: Version::V1,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/cpu,cpuacct/kubepods/burstable/pod5d1e/ctr7a",
        quota: Ok(Some((200_000, 100_000))),
        cpus: Some(2),
        shown: &[(WIDE, "0-1"), (MIDDLE, "2-3"), (SPARSE, "2,5"), (HIGH, "1,64")],
    },
    CpuFixture {
        name: "cpu-v1-no-quota",
        version: Version::V1,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/cpu/cgshim/worker",
        quota: Ok(None),
        cpus: None,
        shown: &[(WIDE, "0-7"), (MIDDLE, "2-5"), (SPARSE, "2,5"), (HIGH, "1,64,130")],
    },
    CpuFixture {
        name: "cpu-v1-malformed",
        version: Version::V1,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/cpu/cgshim/worker",
        quota: Err(UnreadableQuota),
        cpus: None,
        shown: &[],
    },
    CpuFixture {
        name: "cpu-v2-half",
        version: Version::V2,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/system.slice/app.service",
        quota: Ok(Some((50_000, 100_000))),
        cpus: Some(1),
        shown: &[(WIDE, "0"), (MIDDLE, "2"), (SPARSE, "2"), (HIGH, "1")],
    },
    CpuFixture {
        name: "cpu-v2-one-and-half",
        version: Version::V2,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup",
        quota: Ok(Some((150_000, 100_000))),
        cpus: Some(2),
        shown: &[(WIDE, "0-1"), (MIDDLE, "2-3"), (SPARSE, "2,5"), (HIGH, "1,64")],
    },
    CpuFixture {
        name: "cpu-v2-three",
        version: Version::V2,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/system.slice/docker-5b0e7c.scope",
        quota: Ok(Some((300_000, 100_000))),
        cpus: Some(3),
        shown: &[(WIDE, "0-2"), (MIDDLE, "2-4"), (SPARSE, "2,5"), (HIGH, "1,64,130")],
    },
    CpuFixture {
        name: "cpu-v2-nested-tighter-parent",
        version: Version::V2,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/batch.slice/batch-nightly.slice/job-42.scope",
        quota: Ok(Some((75_000, 50_000))),
        cpus: Some(2),
        shown: &[(WIDE, "0-1"), (MIDDLE, "2-3"), (SPARSE, "2,5"), (HIGH, "1,64")],
    },
    CpuFixture {
        name: "cpu-v2-no-quota",
        version: Version::V2,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope",
        quota: Ok(None),
        cpus: None,
        shown: &[(WIDE, "0-7"), (MIDDLE, "2-5"), (SPARSE, "2,5"), (HIGH, "1,64,130")],
    },
    CpuFixture {
        name: "cpu-v2-malformed",
        version: Version::V2,
        layout: CgLayout::MountRoot,
        dir: "/sys/fs/cgroup/system.slice/app.service",
        quota: Err(UnreadableQuota),
        cpus: None,
        shown: &[],
    },
];

fn fixtures_dir() -> PathBuf {
    common::workspace().join("tests/fixtures")
}

fn fixture_root(name: &str) -> PathBuf {
    fixtures_dir().join(name).join("root")
}

fn cpuset(list: &str) -> CpuSet {
    CpuSet::parse_list(list.as_bytes()).unwrap_or_else(|| panic!("bad CPU list {list:?}"))
}

fn list_of(set: &CpuSet) -> String {
    let mut out = Vec::new();
    set.write_list(&mut |b| out.extend_from_slice(b));
    String::from_utf8(out).unwrap()
}

#[test]
fn fixture_folders_are_cpu_scenarios_only() {
    let mut f = Failures::default();
    let mut seen = Vec::new();
    for entry in fs::read_dir(fixtures_dir()).expect("tests/fixtures") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("cpu-") {
            continue;
        }
        seen.push(name.clone());
        // tests/fixtures.rs takes any folder with `expected` for a memory scenario.
        f.check(!path.join("expected").exists(), || format!("{name}: must not have an `expected` file"));
        for part in ["README.md", "root/proc/self/cgroup", "root/proc/self/mountinfo"] {
            f.check(path.join(part).is_file(), || format!("{name}: missing {part}"));
        }
        f.check(FIXTURES.iter().any(|x| x.name == name), || format!("{name}: not listed in FIXTURES"));
    }
    for x in FIXTURES {
        f.check(seen.iter().any(|s| s == x.name), || format!("{}: listed but no folder", x.name));
    }
    f.finish("cpu fixture folders");
}

#[test]
fn fixture_quota_and_shown_sets_are_the_hand_computed_ones() {
    let mut f = Failures::default();
    for x in FIXTURES {
        let src = StdSource::new(fixture_root(x.name));
        let cg = match discover::find(&src, &CPU) {
            Ok(cg) => cg,
            Err(e) => {
                f.push(format!("{}: discover::find failed: {}", x.name, e.describe()));
                continue;
            }
        };
        f.eq(&format!("{}: version", x.name), cg.version, x.version);
        f.eq(&format!("{}: layout", x.name), cg.layout, x.layout);
        f.eq(
            &format!("{}: directory", x.name),
            String::from_utf8_lossy(cg.dir.as_bytes()).into_owned(),
            x.dir.into(),
        );

        let got = cpu::tightest_quota(&src, &cg);
        let want = x.quota.map(|q| q.map(|(quota, period)| Quota { quota, period }));
        f.eq(&format!("{}: tightest_quota", x.name), got, want);
        if let (Ok(Some(q)), Some(n)) = (got, x.cpus) {
            f.eq(&format!("{}: Quota::cpus", x.name), q.cpus(), n);
        }
        let Ok(q) = got else { continue };
        for (aff, expected) in x.shown {
            let shown = cpu::shown(&cpuset(aff), q, 0);
            f.eq(&format!("{}: shown(affinity {aff})", x.name), list_of(&shown), expected.to_string());
        }
    }
    f.finish("cpu fixtures through the core");
}

/// `shown` on its own: the clamp to [1, |affinity|] and the real CPU numbers.
#[test]
fn shown_clamps_and_keeps_real_numbers() {
    let q = |quota, period| Some(Quota { quota, period });
    let mut f = Failures::default();
    let cases: [(&str, Option<Quota>, &str); 9] = [
        ("0-7", q(1, 100_000), "0"),             // a tiny quota still gives one CPU
        ("0-7", q(100_000, 100_000), "0"),       // exactly 1
        ("0-7", q(100_001, 100_000), "0-1"),     // just above 1 rounds up
        ("0-7", q(800_000, 100_000), "0-7"),     // exactly the mask
        ("0-7", q(6_400_000, 100_000), "0-7"),   // 64 CPUs' worth: clamped to the mask
        ("2,5", q(300_000, 100_000), "2,5"),     // mask narrower than the quota
        ("3", None, "3"),                        // no quota: the mask
        ("5-6,9", q(250_000, 100_000), "5-6,9"), // 2.5 → 3
        ("1,64,130", q(200_000, 100_000), "1,64"),
    ];
    for (aff, quota, expected) in cases {
        f.eq(
            &format!("shown({aff}, {quota:?})"),
            list_of(&cpu::shown(&cpuset(aff), quota, 0)),
            expected.to_string(),
        );
    }
    f.finish("shown");
}

/// The same trees through `libcgshim.so` (`CGSHIM_SYSROOT`): `getconf _NPROCESSORS_ONLN` and a
/// C program's `get_nprocs()` must say min(N, the real affinity count); the malformed trees must
/// give exactly what the host says without the library.
#[test]
fn fixture_counts_through_the_library() {
    let host_onln = number(&run_plain(&["getconf", "_NPROCESSORS_ONLN"], false, &[]));
    let affinity = number(&run_plain(&["nproc"], false, &[]));
    let prog = c_program("cpu_counts");
    let prog = prog.to_str().unwrap();
    let mut f = Failures::default();
    for x in FIXTURES {
        let root = fixture_root(x.name);
        let env = [("CGSHIM_SYSROOT", root.to_str().unwrap())];
        let expected = match (x.quota, x.cpus) {
            (Err(_), _) => host_onln,
            (Ok(None), _) => affinity,
            (Ok(Some(_)), Some(n)) => n.min(affinity),
            (Ok(Some(_)), None) => unreachable!("{}: a quota needs its CPU count", x.name),
        };
        let got = number(&run_plain(&["getconf", "_NPROCESSORS_ONLN"], true, &env));
        f.eq(&format!("{}: getconf _NPROCESSORS_ONLN", x.name), got, expected);
        let kv = parse_kv(run_plain(&[prog], true, &env).ok());
        f.eq(&format!("{}: get_nprocs()", x.name), kv_u64(&kv, "get_nprocs", x.name), expected);
        f.eq(&format!("{}: sysconf(_SC_NPROCESSORS_ONLN)", x.name), kv_u64(&kv, "sc_onln", x.name), expected);
    }
    f.finish("cpu fixtures through libcgshim.so");
}

// =============================================================================================
// Part 2: real cgroup-v1 cpu cgroups
// =============================================================================================

/// Where the v1 `cpu` controller is mounted on the test machine (its own hierarchy).
const CPU_ROOT: &str = "/sys/fs/cgroup/cpu";

/// True when real cpu cgroups can be used: the common rule (root, cgroup v1) plus a writable
/// v1 cpu hierarchy. Otherwise prints why and returns false, except under `CI=true`: panic.
fn cpu_cgroups_available() -> bool {
    if !common::cgroups_available() {
        return false;
    }
    match common::why_no_cpu_cgroups("cpu") {
        None => true,
        Some(r) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true and this test needs a v1 cpu cgroup, but {r}");
            }
            eprintln!("SKIPPED: this test needs a writable v1 cpu hierarchy: {r}");
            false
        }
    }
}

macro_rules! require_cpu_cgroups {
    () => {
        if !cpu_cgroups_available() {
            return;
        }
    };
}

/// Skip (panic under CI=true) when the test needs something of the machine it lacks.
fn require(ok: bool, what: &str) -> bool {
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and this test needs {what}");
        }
        eprintln!("SKIPPED: this test needs {what}");
    }
    ok
}

static CPU_CG_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A real v1 cpu cgroup `/sys/fs/cgroup/cpu/cgshim-cpu-<pid>-<n>`, removed on drop (also when
/// the test panicked): remaining processes are moved back to the test's own cpu cgroup first.
struct CpuCgroup {
    dir: PathBuf,
    /// The cgroup of the same name under a separate `cpuacct` hierarchy, which container engines
    /// make next to the `cpu` one (None where `cpu,cpuacct` are mounted together).
    acct: Option<PathBuf>,
}

const CPUACCT_ROOT: &str = "/sys/fs/cgroup/cpuacct";

impl CpuCgroup {
    /// `quota_us` per 100000 µs period; None leaves the kernel's default (-1, no quota).
    fn new(quota_us: Option<u64>) -> CpuCgroup {
        let n = CPU_CG_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(CPU_ROOT).join(format!("cgshim-cpu-{}-{n}", std::process::id()));
        if dir.exists() {
            remove_cpu_cgroup(&dir);
        }
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let separate = Path::new(CPUACCT_ROOT).join("cpuacct.usage").is_file()
            && !Path::new(CPU_ROOT).join("cpuacct.usage").is_file();
        let acct = separate.then(|| {
            let a = Path::new(CPUACCT_ROOT).join(dir.file_name().unwrap());
            fs::create_dir(&a).unwrap_or_else(|e| panic!("mkdir {}: {e}", a.display()));
            a
        });
        let cg = CpuCgroup { dir, acct };
        cg.write("cpu.cfs_period_us", "100000");
        match quota_us {
            Some(q) => cg.write("cpu.cfs_quota_us", &q.to_string()),
            None => assert_eq!(cg.read("cpu.cfs_quota_us"), "-1", "a new cpu cgroup should have no quota"),
        }
        cg
    }

    fn write(&self, file: &str, value: &str) {
        let p = self.dir.join(file);
        fs::write(&p, value).unwrap_or_else(|e| panic!("write {value} to {}: {e}", p.display()));
        assert_eq!(self.read(file), value, "{} did not take {value}", p.display());
    }

    fn read(&self, file: &str) -> String {
        fs::read_to_string(self.dir.join(file)).unwrap().trim().to_string()
    }

    /// The window S of `n` CPUs of `affinity` the library shows in this cgroup.
    fn shown(&self, affinity: &[usize], n: usize) -> Vec<usize> {
        common::shown_window(&self.dir, affinity, n)
    }

    /// Runs `argv` inside this cgroup: `sh -c 'echo $$ > <cg>/cgroup.procs && exec "$@"' sh argv…`,
    /// with or without the library, in a clean environment plus `env`.
    fn run(&self, argv: &[&str], preload: bool, env: &[(&str, &str)]) -> Outcome {
        let acct = self
            .acct
            .as_ref()
            .map(|a| format!("echo $$ > {}/cgroup.procs && ", a.display()))
            .unwrap_or_default();
        let script = format!("{acct}echo $$ > {}/cgroup.procs && exec \"$@\"", self.dir.display());
        let mut full = vec!["sh", "-c", script.as_str(), "sh"];
        full.extend_from_slice(argv);
        run_plain(&full, preload, env)
    }

    /// stdout of a successful preloaded run.
    fn out(&self, argv: &[&str], env: &[(&str, &str)]) -> String {
        self.run(argv, true, env).ok().to_string()
    }

    /// stdout of a successful run without the library.
    fn plain(&self, argv: &[&str]) -> String {
        self.run(argv, false, &[]).ok().to_string()
    }
}

impl Drop for CpuCgroup {
    fn drop(&mut self) {
        remove_cpu_cgroup(&self.dir);
        if let Some(a) = &self.acct {
            remove_cgroup_to(a, &Path::new(CPUACCT_ROOT).join("cgroup.procs"));
        }
    }
}

/// The cpu cgroup the test process lives in (where leftovers are moved to).
fn home_cpu_cgroup() -> PathBuf {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == "cpu") {
            let dir = Path::new(CPU_ROOT).join(path.trim_start_matches('/'));
            if dir.join("cgroup.procs").is_file() {
                return dir;
            }
        }
    }
    PathBuf::from(CPU_ROOT)
}

/// Evacuate and rmdir; never panics (runs from Drop, possibly while unwinding).
fn remove_cpu_cgroup(dir: &Path) {
    remove_cgroup_to(dir, &home_cpu_cgroup().join("cgroup.procs"));
}

// ---------------------------------------------------------------------------------------------
// What the host says (measured without the library)
// ---------------------------------------------------------------------------------------------

fn number(o: &Outcome) -> u64 {
    let s = o.ok().trim();
    s.parse().unwrap_or_else(|e| panic!("{}: {s:?} is not a number: {e}", o.what))
}

fn num(s: &str, what: &str) -> u64 {
    s.trim().parse().unwrap_or_else(|e| panic!("{what}: {s:?} is not a number: {e}"))
}

struct Host {
    /// `getconf _NPROCESSORS_ONLN`.
    onln: u64,
    /// `getconf _NPROCESSORS_CONF` (= get_nprocs_conf()).
    conf: u64,
    /// The C program's get_nprocs_conf().
    nprocs_conf: u64,
    /// `nproc --all`.
    nproc_all: u64,
    /// The affinity mask a child of the test gets (raw system call), CPU numbers ascending.
    affinity: Vec<usize>,
}

fn host() -> Host {
    let prog = c_program("cpu_counts");
    let kv = parse_kv(run_plain(&[prog.to_str().unwrap()], false, &[]).ok());
    let affinity = numbers_in(&kv["raw_list"]);
    assert_eq!(affinity.len() as u64, kv_u64(&kv, "raw_count", "host cpu_counts"));
    Host {
        onln: number(&run_plain(&["getconf", "_NPROCESSORS_ONLN"], false, &[])),
        conf: number(&run_plain(&["getconf", "_NPROCESSORS_CONF"], false, &[])),
        nprocs_conf: kv_u64(&kv, "get_nprocs_conf", "host cpu_counts"),
        nproc_all: number(&run_plain(&["nproc", "--all"], false, &[])),
        affinity,
    }
}

/// Without at least two CPUs every answer is 1 anyway and the tests would prove nothing.
fn require_two_cpus(h: &Host) -> bool {
    require(h.affinity.len() >= 2 && h.onln >= 2, "a machine with at least 2 CPUs in the affinity mask")
}

fn numbers_in(list: &str) -> Vec<usize> {
    list.split(',').filter(|s| !s.is_empty()).map(|s| s.trim().parse().unwrap()).collect()
}

// ---------------------------------------------------------------------------------------------
// Parsing the CPU files
// ---------------------------------------------------------------------------------------------

/// `/proc/cpuinfo` → (processor number, the block's keys in order). Lines outside `processor`
/// blocks are ignored.
fn cpuinfo_blocks(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out: Vec<(usize, Vec<String>)> = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            in_block = false;
            continue;
        }
        let key = line.split(':').next().unwrap_or("").trim().to_string();
        if key == "processor" {
            let n = line.split(':').nth(1).unwrap_or("").trim().parse().unwrap_or(usize::MAX);
            out.push((n, vec![key]));
            in_block = true;
        } else if in_block {
            out.last_mut().unwrap().1.push(key);
        }
    }
    out
}

/// One `/proc/stat` read: the aggregate `cpu` fields, the `cpuN` lines, and the other lines'
/// first words in order.
struct Stat {
    aggregate: Option<Vec<u64>>,
    aggregate_line: String,
    per_cpu: BTreeMap<usize, Vec<u64>>,
    per_cpu_order: Vec<usize>,
    others: Vec<String>,
    btime: Option<String>,
}

fn parse_stat(text: &str) -> Stat {
    let mut s = Stat {
        aggregate: None,
        aggregate_line: String::new(),
        per_cpu: BTreeMap::new(),
        per_cpu_order: Vec::new(),
        others: Vec::new(),
        btime: None,
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        let values =
            || line.split_whitespace().skip(1).map(|v| v.parse::<u64>().unwrap()).collect::<Vec<_>>();
        if first == "cpu" {
            s.aggregate = Some(values());
            s.aggregate_line = line.to_string();
        } else if let Some(n) = first.strip_prefix("cpu").and_then(|d| d.parse::<usize>().ok()) {
            s.per_cpu.insert(n, values());
            s.per_cpu_order.push(n);
        } else {
            if first == "btime" {
                s.btime = Some(line.to_string());
            }
            s.others.push(first.to_string());
        }
    }
    s
}

/// The checks every served `/proc/stat` must pass for the shown set `cpus`.
fn check_stat(f: &mut Failures, ctx: &str, text: &str, cpus: &[usize]) {
    let host = parse_stat(&fs::read_to_string("/proc/stat").unwrap());
    let s = parse_stat(text);
    f.eq(&format!("{ctx}: /proc/stat cpuN lines"), s.per_cpu_order.clone(), cpus.to_vec());
    let Some(agg) = &s.aggregate else {
        f.push(format!("{ctx}: /proc/stat has no aggregate `cpu` line:\n{text}"));
        return;
    };
    let width = s.per_cpu.values().map(Vec::len).max().unwrap_or(0);
    let mut sum = vec![0u64; width];
    for v in s.per_cpu.values() {
        for (i, x) in v.iter().enumerate() {
            sum[i] += x;
        }
    }
    f.eq(&format!("{ctx}: /proc/stat aggregate = field-wise sum of the cpuN lines"), agg.clone(), sum);
    f.check(s.aggregate_line.starts_with("cpu  "), || {
        format!(
            "{ctx}: aggregate line not in the kernel's layout (`cpu` + two spaces): {:?}",
            s.aggregate_line
        )
    });
    f.eq(
        &format!("{ctx}: /proc/stat other lines (first words, in order)"),
        s.others.clone(),
        host.others.clone(),
    );
    f.eq(&format!("{ctx}: /proc/stat btime line"), s.btime.clone(), host.btime.clone());
    let first_cpu_line = text.lines().position(|l| l.starts_with("cpu") && !l.starts_with("cpu "));
    f.check(text.lines().next().is_some_and(|l| l.starts_with("cpu ")) && first_cpu_line == Some(1), || {
        format!("{ctx}: /proc/stat must start with the aggregate line, then the cpuN lines:\n{text}")
    });
}

/// `/sys/devices/system/cpu/online`, `/proc/cpuinfo` and `/proc/stat` as served by `cg` (argv
/// prefixed by `prefix`, e.g. `taskset -c 1`) must all name exactly `cpus`.
fn check_cpu_files(f: &mut Failures, cg: &CpuCgroup, prefix: &[&str], env: &[(&str, &str)], cpus: &[usize]) {
    let run = |argv: &[&str]| {
        let mut full: Vec<&str> = prefix.to_vec();
        full.extend_from_slice(argv);
        cg.out(&full, env)
    };
    let ctx = format!("{prefix:?} {env:?}");

    f.eq(
        &format!("{ctx}: cat /sys/devices/system/cpu/online"),
        run(&["cat", "/sys/devices/system/cpu/online"]),
        format!("{}\n", kernel_list(cpus)),
    );

    f.eq(
        &format!("{ctx}: grep -c ^processor /proc/cpuinfo"),
        num(&run(&["grep", "-c", "^processor", "/proc/cpuinfo"]), "grep -c"),
        cpus.len() as u64,
    );
    let served = cpuinfo_blocks(&run(&["cat", "/proc/cpuinfo"]));
    let host = cpuinfo_blocks(&fs::read_to_string("/proc/cpuinfo").unwrap());
    f.eq(
        &format!("{ctx}: /proc/cpuinfo processor numbers"),
        served.iter().map(|b| b.0).collect::<Vec<_>>(),
        cpus.to_vec(),
    );
    for (n, keys) in &served {
        let host_keys = host.iter().find(|b| b.0 == *n).map(|b| b.1.clone());
        f.eq(&format!("{ctx}: /proc/cpuinfo block of processor {n} (keys)"), Some(keys.clone()), host_keys);
    }

    let stat = run(&["cat", "/proc/stat"]);
    check_stat(f, &ctx, &stat, cpus);
}

fn cpu_counts(cg: &CpuCgroup, prefix: &[&str], env: &[(&str, &str)]) -> BTreeMap<String, String> {
    let prog = c_program("cpu_counts");
    let mut argv: Vec<&str> = prefix.to_vec();
    argv.push(prog.to_str().unwrap());
    parse_kv(&cg.out(&argv, env))
}

const PY_CPU_COUNT: &str = "import os; print(os.cpu_count())";
const PY_AFFINITY: &str = "import os; print(len(os.sched_getaffinity(0)))";
const PYTHON: &str = "/usr/bin/python3";

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn cpu_counts_program_imports_the_entry_points_it_tests() {
    let imported = imported_symbols(&c_program("cpu_counts"));
    let mut f = Failures::default();
    for s in ["get_nprocs", "get_nprocs_conf", "sysconf", "sched_getaffinity", "syscall"] {
        f.check(imported.iter().any(|i| i == s), || format!("cpu_counts does not import {s}: {imported:?}"));
    }
    f.finish("cpu_counts calls the intended libc entry points");
}

/// Quota 0.5 CPU: every count says 1; the "configured" counts stay the host's; the affinity
/// mask is the real one unless asked.
#[test]
fn half_cpu_quota_counts() {
    require_cpu_cgroups!();
    if !require(have_program(PYTHON), PYTHON) {
        return;
    }
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let cg = CpuCgroup::new(Some(50_000));
    let mut f = Failures::default();

    // Baseline: without the library the cgroup changes nothing.
    f.eq(
        "getconf _NPROCESSORS_ONLN without the library",
        num(&cg.plain(&["getconf", "_NPROCESSORS_ONLN"]), "getconf"),
        h.onln,
    );

    f.eq("getconf _NPROCESSORS_ONLN", num(&cg.out(&["getconf", "_NPROCESSORS_ONLN"], &[]), "getconf"), 1);
    f.eq(
        "getconf _NPROCESSORS_CONF",
        num(&cg.out(&["getconf", "_NPROCESSORS_CONF"], &[]), "getconf"),
        h.conf,
    );
    f.eq("python3 os.cpu_count()", num(&cg.out(&[PYTHON, "-c", PY_CPU_COUNT], &[]), "python"), 1);

    let kv = cpu_counts(&cg, &[], &[]);
    let g = |k: &str| kv_u64(&kv, k, "cpu_counts");
    f.eq("get_nprocs()", g("get_nprocs"), 1);
    f.eq("sysconf(_SC_NPROCESSORS_ONLN)", g("sc_onln"), 1);
    f.eq("get_nprocs_conf() (host's)", g("get_nprocs_conf"), h.nprocs_conf);
    f.eq("sysconf(_SC_NPROCESSORS_CONF) (host's)", g("sc_conf"), h.conf);
    let n_aff = h.affinity.len() as u64;
    f.eq("sched_getaffinity(0)", g("self_count"), 1);
    f.eq("sched_getaffinity(thread)", g("thread_count"), 1);
    f.eq("raw sched_getaffinity", g("raw_count"), n_aff);

    f.eq("nproc --all", num(&cg.out(&["nproc", "--all"], &[]), "nproc --all"), h.nproc_all);
    f.finish("quota 0.5 CPU: counts");
}

/// Quota 0.5 CPU: the CPU files name only the first CPU of the mask.
#[test]
fn half_cpu_quota_files() {
    require_cpu_cgroups!();
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let cg = CpuCgroup::new(Some(50_000));
    let mut f = Failures::default();
    check_cpu_files(&mut f, &cg, &[], &[], &cg.shown(&h.affinity, 1));
    f.finish("quota 0.5 CPU: files");
}

/// `sched_getaffinity` shows S to the caller's own threads unless `CGSHIM_CPU_AFFINITY=0`;
/// nproc, Python and Busybox nproc follow it; another process's mask stays its own.
#[test]
fn affinity_is_narrowed_unless_turned_off() {
    require_cpu_cgroups!();
    if !require(have_program(PYTHON), PYTHON) || !require(have_program("busybox"), "busybox") {
        return;
    }
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let n_aff = h.affinity.len() as u64;
    let cg = CpuCgroup::new(Some(50_000));
    let shown = joined(&cg.shown(&h.affinity, 1));
    let mut f = Failures::default();
    let off: &[(&str, &str)] = &[("CGSHIM_CPU_AFFINITY", "0")];

    // By default.
    f.eq("nproc", num(&cg.out(&["nproc"], &[]), "nproc"), 1);
    f.eq("busybox nproc", num(&cg.out(&["busybox", "nproc"], &[]), "busybox nproc"), 1);
    f.eq(
        "python3 len(os.sched_getaffinity(0))",
        num(&cg.out(&[PYTHON, "-c", PY_AFFINITY], &[]), "python"),
        1,
    );
    let kv = cpu_counts(&cg, &[], &[]);
    let g = |k: &str| kv_u64(&kv, k, "cpu_counts");
    for who in ["self", "pid", "thread"] {
        f.eq(&format!("sched_getaffinity({who}) count"), g(&format!("{who}_count")), 1);
        f.eq(
            &format!("sched_getaffinity({who}) CPUs"),
            kv.get(&format!("{who}_list")).cloned().unwrap_or_default(),
            shown.clone(),
        );
    }
    f.eq("sched_getaffinity(getppid()) (another process) keeps its real mask", g("parent_count"), n_aff);
    f.eq("raw sched_getaffinity", g("raw_count"), n_aff);
    f.eq("get_nprocs()", g("get_nprocs"), 1);
    let status = cg.out(&["grep", "^Cpus_allowed_list", "/proc/self/status"], &[]);
    f.eq(
        "/proc/self/status Cpus_allowed_list",
        status.split_whitespace().nth(1).unwrap_or(""),
        shown.as_str(),
    );

    // Turned off: the real mask.
    f.eq("nproc, CGSHIM_CPU_AFFINITY=0", num(&cg.out(&["nproc"], off), "nproc"), n_aff);
    f.eq("nproc without the library", num(&cg.plain(&["nproc"]), "nproc"), n_aff);
    f.eq(
        "busybox nproc, CGSHIM_CPU_AFFINITY=0",
        num(&cg.out(&["busybox", "nproc"], off), "busybox nproc"),
        n_aff,
    );
    f.eq(
        "python3 len(os.sched_getaffinity(0)), CGSHIM_CPU_AFFINITY=0",
        num(&cg.out(&[PYTHON, "-c", PY_AFFINITY], off), "python"),
        n_aff,
    );
    let kv = cpu_counts(&cg, &[], off);
    f.eq(
        "sched_getaffinity(self) CPUs, CGSHIM_CPU_AFFINITY=0",
        kv.get("self_list").cloned().unwrap_or_default(),
        joined(&h.affinity),
    );
    f.finish("sched_getaffinity");
}

/// Two sibling cgroups made one after the other, each allowed half a CPU on this 2-CPU machine,
/// are shown different CPUs, and every file and call in each agrees on its own.
#[test]
fn siblings_are_shown_different_cpus() {
    require_cpu_cgroups!();
    let h = host();
    if !require(h.affinity.len() == 2, "exactly two CPUs in the affinity mask") {
        return;
    }
    let a = CpuCgroup::new(Some(50_000));
    let b = CpuCgroup::new(Some(50_000));
    let mut f = Failures::default();
    let mut seen = Vec::new();
    for (name, cg) in [("first", &a), ("second", &b)] {
        let s = cg.shown(&h.affinity, 1);
        let online = cg.out(&["cat", "/sys/devices/system/cpu/online"], &[]);
        f.eq(&format!("{name}: online"), online.trim().to_string(), joined(&s));
        let kv = cpu_counts(cg, &[], &[]);
        f.eq(
            &format!("{name}: sched_getaffinity"),
            kv.get("self_list").cloned().unwrap_or_default(),
            joined(&s),
        );
        check_cpu_files(&mut f, cg, &[], &[], &s);
        for cpu in &h.affinity {
            let path = format!("/sys/devices/system/cpu/cpu{cpu}/online");
            if Path::new(&path).is_file() {
                let want = if s.contains(cpu) { "1" } else { "0" };
                f.eq(
                    &format!("{name}: {path}"),
                    cg.out(&["cat", &path], &[]).trim().to_string(),
                    want.to_string(),
                );
            }
        }
        seen.push(online.trim().to_string());
    }
    f.check(seen[0] != seen[1], || format!("both siblings are shown CPU {}", seen[0]));
    f.finish("sibling cgroups");
}

/// `taskset -c 1` and no quota: the mask alone decides; everything says 1 CPU, and every file
/// names CPU 1 (its real number), not CPU 0.
#[test]
fn taskset_without_quota_shows_cpu_1() {
    require_cpu_cgroups!();
    if !require(have_program("taskset"), "taskset") || !require(have_program(PYTHON), PYTHON) {
        return;
    }
    let h = host();
    if !require(h.affinity.contains(&1) && h.onln >= 2, "CPU 1 in the affinity mask") {
        return;
    }
    let cg = CpuCgroup::new(None);
    let mut f = Failures::default();
    let ts: &[&str] = &["taskset", "-c", "1"];
    let with = |argv: &[&'static str]| -> Vec<&'static str> {
        let mut full = ts.to_vec();
        full.extend_from_slice(argv);
        full
    };

    // Baseline: glibc itself ignores the mask.
    f.eq(
        "taskset -c 1 getconf _NPROCESSORS_ONLN without the library",
        num(&cg.plain(&with(&["getconf", "_NPROCESSORS_ONLN"])), "getconf"),
        h.onln,
    );

    f.eq(
        "getconf _NPROCESSORS_ONLN",
        num(&cg.out(&with(&["getconf", "_NPROCESSORS_ONLN"]), &[]), "getconf"),
        1,
    );
    f.eq(
        "getconf _NPROCESSORS_CONF",
        num(&cg.out(&with(&["getconf", "_NPROCESSORS_CONF"]), &[]), "getconf"),
        h.conf,
    );
    f.eq("python3 os.cpu_count()", num(&cg.out(&with(&[PYTHON, "-c", PY_CPU_COUNT]), &[]), "python"), 1);
    f.eq("nproc", num(&cg.out(&with(&["nproc"]), &[]), "nproc"), 1);
    if have_program("busybox") {
        f.eq("busybox nproc", num(&cg.out(&with(&["busybox", "nproc"]), &[]), "busybox"), 1);
    }
    let kv = cpu_counts(&cg, ts, &[]);
    let g = |k: &str| kv_u64(&kv, k, "cpu_counts");
    f.eq("get_nprocs()", g("get_nprocs"), 1);
    f.eq("sysconf(_SC_NPROCESSORS_ONLN)", g("sc_onln"), 1);
    f.eq("get_nprocs_conf() (host's)", g("get_nprocs_conf"), h.nprocs_conf);
    f.eq("sched_getaffinity(0) CPUs", kv.get("self_list").cloned().unwrap_or_default(), "1".to_string());

    check_cpu_files(&mut f, &cg, ts, &[], &[1]);
    check_cpu_files(&mut f, &cg, ts, &[("CGSHIM_CPU_AFFINITY", "1")], &[1]);
    f.finish("taskset -c 1, no quota");
}

/// `taskset -c 1` under a quota: S is the first N CPUs *of the mask* with their real numbers
/// (CPU 1, never a renumbered CPU 0), and a quota wider than the mask is clamped to it.
#[test]
fn taskset_with_quota_keeps_real_cpu_numbers() {
    require_cpu_cgroups!();
    if !require(have_program("taskset"), "taskset") {
        return;
    }
    let h = host();
    if !require(h.affinity.contains(&1) && h.onln >= 2, "CPU 1 in the affinity mask") {
        return;
    }
    let ts: &[&str] = &["taskset", "-c", "1"];
    let on: &[(&str, &str)] = &[("CGSHIM_CPU_AFFINITY", "1")];
    let mut f = Failures::default();
    for quota in [50_000u64, 150_000] {
        let cg = CpuCgroup::new(Some(quota));
        let ctx = format!("quota {quota}, taskset -c 1");
        f.eq(
            &format!("{ctx}: getconf _NPROCESSORS_ONLN"),
            num(&cg.out(&["taskset", "-c", "1", "getconf", "_NPROCESSORS_ONLN"], &[]), "getconf"),
            1,
        );
        let kv = cpu_counts(&cg, ts, on);
        f.eq(&format!("{ctx}: get_nprocs()"), kv_u64(&kv, "get_nprocs", "cpu_counts"), 1);
        f.eq(
            &format!("{ctx}: sched_getaffinity(0) CPUs, CGSHIM_CPU_AFFINITY=1"),
            kv.get("self_list").cloned().unwrap_or_default(),
            "1".to_string(),
        );
        check_cpu_files(&mut f, &cg, ts, &[], &[1]);
    }
    f.finish("taskset -c 1 with a quota");
}

/// Quota 1.5 CPUs rounds up to 2 (on this 2-CPU machine: min(2, |mask|)).
#[test]
fn one_and_a_half_cpu_quota_rounds_up() {
    require_cpu_cgroups!();
    if !require(have_program(PYTHON), PYTHON) {
        return;
    }
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let n = 2.min(h.affinity.len());
    let cg = CpuCgroup::new(Some(150_000));
    let mut f = Failures::default();
    f.eq(
        "getconf _NPROCESSORS_ONLN",
        num(&cg.out(&["getconf", "_NPROCESSORS_ONLN"], &[]), "getconf"),
        n as u64,
    );
    f.eq("python3 os.cpu_count()", num(&cg.out(&[PYTHON, "-c", PY_CPU_COUNT], &[]), "python"), n as u64);
    let kv = cpu_counts(&cg, &[], &[]);
    f.eq("get_nprocs()", kv_u64(&kv, "get_nprocs", "cpu_counts"), n as u64);
    let on: &[(&str, &str)] = &[("CGSHIM_CPU_AFFINITY", "1")];
    f.eq("nproc, CGSHIM_CPU_AFFINITY=1", num(&cg.out(&["nproc"], on), "nproc"), n as u64);
    check_cpu_files(&mut f, &cg, &[], &[], &cg.shown(&h.affinity, n));
    f.finish("quota 1.5 CPUs");
}

/// The aggregate `cpu` line equals the sum of the shown `cpuN` lines within one read, for
/// whole-file reads (cat) and for tiny reads (dd bs=13) of the served file.
#[test]
fn stat_aggregate_is_the_sum_of_the_shown_lines() {
    require_cpu_cgroups!();
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let mut f = Failures::default();
    for (quota, n) in [(150_000u64, 2.min(h.affinity.len())), (50_000, 1)] {
        let cg = CpuCgroup::new(Some(quota));
        let shown = cg.shown(&h.affinity, n);
        for round in 0..3 {
            let text = cg.out(&["cat", "/proc/stat"], &[]);
            check_stat(&mut f, &format!("quota {quota}, cat #{round}"), &text, &shown);
        }
        let text = cg.out(&["dd", "if=/proc/stat", "bs=13", "status=none"], &[]);
        check_stat(&mut f, &format!("quota {quota}, dd bs=13"), &text, &shown);
    }
    f.finish("/proc/stat aggregate line");
}

/// `/sys/devices/system/cpu/cpu1/online` follows S; `/sys/devices/system/cpu/possible` is
/// byte-identical with and without the library; `/proc/self/stat`, `/proc/<pid>/stat` and a
/// relative `stat` in `/proc/self` stay the process's own stat (not `/proc/stat`).
#[test]
fn per_cpu_and_per_process_files() {
    require_cpu_cgroups!();
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let cg = CpuCgroup::new(Some(50_000));
    let mut f = Failures::default();

    // A CPU's own `online` file: the kernel's "1" inside S, "0" outside it (as under taskset).
    let cpu1 = "/sys/devices/system/cpu/cpu1/online";
    if require(Path::new(cpu1).is_file(), cpu1) {
        let in_s = cg.shown(&h.affinity, 1).contains(&1);
        f.eq(&format!("cat {cpu1} without the library"), cg.plain(&["cat", cpu1]), "1\n".to_string());
        f.eq(
            &format!("cat {cpu1} (CPU 1 in S: {in_s})"),
            cg.out(&["cat", cpu1], &[]),
            if in_s { "1\n" } else { "0\n" }.to_string(),
        );
    }
    let possible = "/sys/devices/system/cpu/possible";
    f.eq(
        &format!("cat {possible} with vs without the library"),
        cg.out(&["cat", possible], &[]),
        cg.plain(&["cat", possible]),
    );

    for (what, script) in [
        ("/proc/self/stat", "echo $$; exec cat /proc/self/stat"),
        ("/proc/<pid>/stat", "echo $$; exec cat /proc/$$/stat"),
        ("/proc/thread-self/stat", "echo $$; exec cat /proc/thread-self/stat"),
        ("stat relative to /proc/self", "echo $$; cd /proc/self && exec cat stat"),
        ("stat relative to /proc/<pid>", "echo $$; cd /proc/$$ && exec cat stat"),
    ] {
        for preload in [true, false] {
            let o = cg.run(&["sh", "-c", script], preload, &[]);
            let out = o.ok();
            let mut lines = out.lines();
            let pid = lines.next().unwrap_or("").trim().to_string();
            let stat = lines.next().unwrap_or("");
            let fields = stat.split_whitespace().count();
            let tag = if preload { "with" } else { "without" };
            f.check(fields > 40, || format!("{what} {tag} the library: {fields} fields: {stat:?}"));
            f.check(!pid.is_empty() && stat.starts_with(&format!("{pid} (")), || {
                format!("{what} {tag} the library does not start with the pid {pid}: {stat:?}")
            });
            f.check(lines.next().is_none(), || {
                format!("{what} {tag} the library: more than one line:\n{out}")
            });
        }
    }
    f.finish("per-CPU and per-process files");
}

/// `CGSHIM_DISABLE=cpu` (or `1`) gives the host's answers; disabling other parts does not.
#[test]
fn disable_cpu_gives_host_values() {
    require_cpu_cgroups!();
    if !require(have_program(PYTHON), PYTHON) {
        return;
    }
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let cg = CpuCgroup::new(Some(50_000));
    let mut f = Failures::default();
    let host_online = fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let host_processors = cpuinfo_blocks(&fs::read_to_string("/proc/cpuinfo").unwrap()).len() as u64;
    let host_stat_cpus = parse_stat(&fs::read_to_string("/proc/stat").unwrap()).per_cpu_order;

    for value in ["cpu", "meminfo,cpu", "1"] {
        let env: &[(&str, &str)] = &[("CGSHIM_DISABLE", value)];
        let ctx = format!("CGSHIM_DISABLE={value}");
        f.eq(
            &format!("{ctx}: getconf _NPROCESSORS_ONLN"),
            num(&cg.out(&["getconf", "_NPROCESSORS_ONLN"], env), "getconf"),
            h.onln,
        );
        f.eq(
            &format!("{ctx}: python3 os.cpu_count()"),
            num(&cg.out(&[PYTHON, "-c", PY_CPU_COUNT], env), "py"),
            h.onln,
        );
        let kv = cpu_counts(&cg, &[], env);
        f.eq(&format!("{ctx}: get_nprocs()"), kv_u64(&kv, "get_nprocs", "cpu_counts"), h.onln);
        f.eq(
            &format!("{ctx}: /sys/devices/system/cpu/online"),
            cg.out(&["cat", "/sys/devices/system/cpu/online"], env),
            host_online.clone(),
        );
        f.eq(
            &format!("{ctx}: grep -c ^processor /proc/cpuinfo"),
            num(&cg.out(&["grep", "-c", "^processor", "/proc/cpuinfo"], env), "grep"),
            host_processors,
        );
        f.eq(
            &format!("{ctx}: /proc/stat cpuN lines"),
            parse_stat(&cg.out(&["cat", "/proc/stat"], env)).per_cpu_order,
            host_stat_cpus.clone(),
        );
        let env_aff: &[(&str, &str)] = &[("CGSHIM_DISABLE", value), ("CGSHIM_CPU_AFFINITY", "1")];
        f.eq(
            &format!("{ctx}, CGSHIM_CPU_AFFINITY=1: nproc"),
            num(&cg.out(&["nproc"], env_aff), "nproc"),
            h.affinity.len() as u64,
        );
    }

    // Switching off other parts leaves the CPU view on.
    let env: &[(&str, &str)] = &[("CGSHIM_DISABLE", "meminfo,sysinfo,sysconf,swaps,uptime")];
    f.eq(
        "CGSHIM_DISABLE=<every memory part>: getconf _NPROCESSORS_ONLN",
        num(&cg.out(&["getconf", "_NPROCESSORS_ONLN"], env), "getconf"),
        1,
    );
    f.eq(
        "CGSHIM_DISABLE=<every memory part>: /sys/devices/system/cpu/online",
        cg.out(&["cat", "/sys/devices/system/cpu/online"], env),
        format!("{}\n", joined(&cg.shown(&h.affinity, 1))),
    );
    f.finish("CGSHIM_DISABLE");
}

/// Node counts `cpuN` lines of `/proc/stat` for `os.cpus()`, and the affinity mask for
/// `os.availableParallelism()`.
#[test]
fn node_follows_the_quota() {
    require_cpu_cgroups!();
    if !require(have_program("node"), "node") {
        return;
    }
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let cg = CpuCgroup::new(Some(50_000));
    let mut f = Failures::default();
    let cpus = "console.log(require('os').cpus().length)";
    let par = "console.log(require('os').availableParallelism())";
    let host_cpus = parse_stat(&fs::read_to_string("/proc/stat").unwrap()).per_cpu_order.len() as u64;
    f.eq(
        "node os.cpus().length without the library",
        num(&cg.plain(&["node", "-e", cpus]), "node"),
        host_cpus,
    );
    f.eq("node os.cpus().length", num(&cg.out(&["node", "-e", cpus], &[]), "node"), 1);
    f.eq("node os.availableParallelism()", num(&cg.out(&["node", "-e", par], &[]), "node"), 1);
    f.eq(
        "node os.availableParallelism(), CGSHIM_CPU_AFFINITY=0",
        num(&cg.out(&["node", "-e", par], &[("CGSHIM_CPU_AFFINITY", "0")]), "node"),
        h.affinity.len() as u64,
    );
    f.finish("node");
}

/// procps keeps `/proc/stat` open as a `FILE*` and calls `rewind()` before each sample (top's
/// `%Cpu(s)`, vmstat's us/sy/id): glibc seeks internally there, so without the stdio hooks a served
/// `/proc/stat` would freeze at its first sample and show a busy machine as idle.
#[test]
fn stdio_rewind_of_proc_stat_sees_new_ticks() {
    let prog = c_program("stat_rewind");
    for mode in ["rewind", "fseek", "fseeko"] {
        // Pinned to CPU 0, so the shown set is {0} and the spinning lands in its ticks.
        let out = run_plain(&["taskset", "-c", "0", prog.to_str().unwrap(), mode], true, &[]);
        let kv = parse_kv(out.ok());
        let s: Vec<u64> = (0..3).map(|i| kv_u64(&kv, &format!("sample{i}"), mode)).collect();
        // 300 ms of spinning is about 30 ticks at 100 Hz; a frozen file gives 0.
        assert!(s[1] >= s[0] + 10 && s[2] >= s[1] + 10, "{mode}: busy ticks did not advance: {s:?}");
    }
}

/// nginx sizes `worker_processes auto` with `sysconf(_SC_NPROCESSORS_ONLN)`: under a 0.5 CPU
/// quota it must start one worker with the library (one per online CPU without it).
#[test]
fn nginx_worker_processes_auto_follows_the_quota() {
    require_cpu_cgroups!();
    if !have_program("nginx") {
        return;
    }
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let cg = CpuCgroup::new(Some(50000));
    let mut dirs = vec![cg.dir.as_path()];
    dirs.extend(cg.acct.as_deref());
    let without = common::nginx_workers(&dirs, false, Duration::from_millis(500));
    let with = common::nginx_workers(&dirs, true, Duration::from_millis(500));
    assert_eq!(without as u64, h.onln, "nginx without the library starts one worker per online CPU");
    assert_eq!(with, 1, "nginx under a 0.5 CPU quota with the library");
}

// =============================================================================================
// Part 3: the container's CPU time and the programs that count CPUs
// =============================================================================================

/// A `%Cpu(s)` line of top, a `vmstat` line or mpstat's `all` line as (us, sy, id, st).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Split {
    us: f64,
    sy: f64,
    id: f64,
    st: f64,
}

fn top_split(text: &str) -> Option<Split> {
    let line = text.lines().rfind(|l| l.contains("%Cpu(s)"))?;
    let v = |key: &str| -> Option<f64> {
        let at = line.find(&format!(" {key}"))?;
        line[..at].rsplit([' ', ',', ':']).find(|w| !w.is_empty())?.parse().ok()
    };
    Some(Split { us: v("us")?, sy: v("sy")?, id: v("id")?, st: v("st")? })
}

/// The last data line of `vmstat 1 N` (columns us sy id wa st at the end).
fn vmstat_split(text: &str) -> Option<Split> {
    let f: Vec<f64> = text.lines().last()?.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let n = f.len();
    (n >= 5).then(|| Split { us: f[n - 5], sy: f[n - 4], id: f[n - 3], st: f[n - 1] })
}

/// mpstat's `Average: all ...` line (%usr %nice %sys %iowait %irq %soft %steal %guest %gnice %idle).
fn mpstat_split(text: &str) -> Option<Split> {
    let line =
        text.lines().find(|l| l.starts_with("Average:") && l.split_whitespace().nth(1) == Some("all"))?;
    let f: Vec<f64> = line.split_whitespace().skip(2).filter_map(|w| w.parse().ok()).collect();
    (f.len() >= 10).then(|| Split { us: f[0], sy: f[2], id: f[9], st: f[6] })
}

/// The tests that time a busy loop take turns: on a 2-CPU machine two of them at once would
/// starve each other's loop.
static TIMING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn timing() -> std::sync::MutexGuard<'static, ()> {
    TIMING.lock().unwrap_or_else(|e| e.into_inner())
}

/// top, vmstat and mpstat inside the cgroup while one busy loop runs there (or none), with the
/// library: their CPU split of the container's own time.
fn busy_splits(cg: &CpuCgroup, busy: bool) -> (Option<Split>, Option<Split>, Option<Split>, String) {
    let script = format!(
        "{}sleep 0.5; echo '== top'; top -b -n 2 -d 1 | grep Cpu; echo '== vmstat'; vmstat 1 2; \
         echo '== mpstat'; LC_ALL=C mpstat 1 1; [ -n \"$b\" ] && kill $b; true",
        if busy { "(while :; do :; done) & b=$!; " } else { "b=; " }
    );
    let out = cg.out(&["sh", "-c", &script], &[]);
    let part = |name: &str| {
        out.split(&format!("== {name}\n")).nth(1).map(|s| s.split("\n== ").next().unwrap_or("")).unwrap_or("")
    };
    (top_split(part("top")), vmstat_split(part("vmstat")), mpstat_split(part("mpstat")), out.clone())
}

/// Under half a CPU, one busy loop reads as about half user and half steal in top, vmstat and
/// mpstat, and an idle container as about all idle; under 1.5 CPUs (two shown), one loop reads
/// as about half user, half idle, and no steal. Without the library, top shows the machine.
/// (Timing on a busy machine is noisy: each case has three tries.)
#[test]
fn top_vmstat_and_mpstat_show_the_containers_time() {
    require_cpu_cgroups!();
    for tool in ["top", "vmstat", "mpstat"] {
        if !require(have_program(tool), tool) {
            return;
        }
    }
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    type Check = fn(&Split) -> bool;
    let cases: [(u64, bool, &str, Check); 3] = [
        (50_000, true, "0.5 CPU, one busy loop: ~50% us, ~50% st", |s| {
            (25.0..=75.0).contains(&(s.us + s.sy)) && (25.0..=75.0).contains(&s.st) && s.id <= 25.0
        }),
        (50_000, false, "0.5 CPU, idle: ~100% id", |s| s.id >= 75.0 && s.st <= 10.0),
        (150_000, true, "1.5 CPUs, one busy loop: ~50% us, ~50% id, no steal", |s| {
            (30.0..=70.0).contains(&(s.us + s.sy)) && (25.0..=70.0).contains(&s.id) && s.st <= 15.0
        }),
    ];
    let _turn = timing();
    let mut f = Failures::default();
    for (quota, busy, what, ok) in cases {
        let cg = CpuCgroup::new(Some(quota));
        let mut last = String::new();
        let passed = (0..3).any(|_| {
            let (top, vmstat, mpstat, out) = busy_splits(&cg, busy);
            last = format!("top {top:?}\n    vmstat {vmstat:?}\n    mpstat {mpstat:?}\n{out}");
            [top, vmstat, mpstat].iter().all(|s| s.as_ref().is_some_and(ok))
        });
        f.check(passed, || format!("{what}:\n    {last}"));
    }
    // Without the library the same tools show the machine: no steal from a quota.
    let cg = CpuCgroup::new(Some(50_000));
    let plain = cg.plain(&[
        "sh",
        "-c",
        "(while :; do :; done) & b=$!; sleep 0.5; top -b -n 2 -d 1 | grep Cpu; kill $b",
    ]);
    let s = top_split(&plain);
    f.check(s.is_some_and(|s| s.st < 5.0), || format!("top without the library shows steal: {plain}"));
    f.finish("the container's CPU time");
}

/// Every counter of every CPU line of `/proc/stat` only grows between two reads of one process,
/// through open/read/close and through a rewound `FILE*`, while a busy loop is throttled.
#[test]
fn stat_counters_never_go_backwards() {
    require_cpu_cgroups!();
    let prog = c_program("stat_monotonic");
    let _turn = timing();
    let mut f = Failures::default();
    for quota in [50_000u64, 150_000] {
        let cg = CpuCgroup::new(Some(quota));
        let script = format!("(while :; do :; done) & b=$!; {} 300; kill $b", prog.display());
        let kv = parse_kv(&cg.out(&["sh", "-c", &script], &[]));
        f.eq(
            &format!("quota {quota}: counters that went backwards"),
            kv.get("went_back").map(String::as_str),
            Some("0"),
        );
        f.eq(&format!("quota {quota}: reads"), kv.get("reads").map(String::as_str), Some("400"));
    }
    f.finish("/proc/stat counters");
}

/// In a PID namespace, `/proc/uptime` and `/proc/stat` tell one story: each shown CPU's fields
/// add up to the container's uptime, and the idle times agree.
#[test]
fn uptime_and_stat_agree_in_a_pid_namespace() {
    require_cpu_cgroups!();
    if !require(have_program("unshare"), "unshare") {
        return;
    }
    let cg = CpuCgroup::new(Some(50_000));
    let _turn = timing();
    let script = "(while :; do :; done) & b=$!; sleep 1; cat /proc/uptime; grep '^cpu ' /proc/stat; \
                  getconf _NPROCESSORS_ONLN; kill $b";
    let out = cg.out(&["unshare", "-p", "-f", "--mount-proc", "sh", "-c", script], &[]);
    let mut lines = out.lines();
    let up: Vec<f64> = lines.next().unwrap_or("").split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let cpu: Vec<f64> =
        lines.next().unwrap_or("").split_whitespace().skip(1).filter_map(|w| w.parse().ok()).collect();
    let n: f64 = lines.next().unwrap_or("0").trim().parse().unwrap_or(0.0);
    let mut f = Failures::default();
    f.check(up.len() == 2 && cpu.len() >= 8 && n >= 1.0, || format!("unexpected output:\n{out}"));
    if up.len() == 2 && cpu.len() >= 8 {
        let total: f64 = cpu.iter().sum::<f64>() / 100.0;
        f.check((total - n * up[0]).abs() <= 0.1 * n + 0.05, || {
            format!("the fields of `cpu` add up to {total} s, not {n} × uptime {} s:\n{out}", up[0])
        });
        f.check((cpu[3] / 100.0 - up[1]).abs() <= 0.1 * n + 0.05, || {
            format!("/proc/stat idle {} s against /proc/uptime idle {} s:\n{out}", cpu[3] / 100.0, up[1])
        });
        f.check(cpu[0] + cpu[2] > 0.0 && cpu[7] <= 100.0 * up[0], || {
            format!("no use, or steal beyond the uptime, under a busy loop:\n{out}")
        });
    }
    f.finish("uptime and stat");
}

/// The programs that size thread pools count the container's CPUs: nproc, xz -T0, GNU
/// parallel, Ruby, Python, Node and Busybox under half a CPU (without the library: the
/// machine's).
#[test]
fn programs_that_count_cpus_follow_the_quota() {
    require_cpu_cgroups!();
    for tool in ["xz", "parallel", "ruby", "node", "busybox", PYTHON] {
        if !require(have_program(tool), tool) {
            return;
        }
    }
    let h = host();
    if !require_two_cpus(&h) {
        return;
    }
    let cg = CpuCgroup::new(Some(50_000));
    let n_aff = h.affinity.len() as u64;
    let xz = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("xz: Using up to ").and_then(|r| r.split_whitespace().next()))
            .map(|n| n.parse::<u64>().unwrap_or(0))
            .unwrap_or(0)
    };
    let programs: [(&str, &[&str]); 7] = [
        ("nproc", &["nproc"]),
        ("xz -T0", &["sh", "-c", "xz -T0 -vv -c /etc/hostname 2>&1 >/dev/null"]),
        ("parallel --number-of-threads", &["parallel", "--number-of-threads"]),
        ("ruby Etc.nprocessors", &["ruby", "-retc", "-e", "p Etc.nprocessors"]),
        ("python3 len(os.sched_getaffinity(0))", &[PYTHON, "-c", PY_AFFINITY]),
        (
            "node os.availableParallelism()",
            &["node", "-e", "console.log(require('os').availableParallelism())"],
        ),
        ("busybox nproc", &["busybox", "nproc"]),
    ];
    let mut f = Failures::default();
    for (what, argv) in programs {
        let read = |text: &str| if what.starts_with("xz") { xz(text) } else { num(text, what) };
        f.eq(&format!("{what} without the library"), read(&cg.plain(argv)), n_aff);
        f.eq(&format!("{what} with it"), read(&cg.out(argv, &[])), 1);
    }
    f.finish("programs that count CPUs");
}

/// `taskset` inside a narrowed container: `taskset -p` shows S, and pinning to the CPU outside
/// S makes that CPU the one everything names.
#[test]
fn taskset_inside_a_narrowed_container() {
    require_cpu_cgroups!();
    if !require(have_program("taskset"), "taskset") {
        return;
    }
    let h = host();
    if !require(h.affinity.len() == 2, "exactly two CPUs in the affinity mask") {
        return;
    }
    let cg = CpuCgroup::new(Some(50_000));
    let s = cg.shown(&h.affinity, 1);
    let other = *h.affinity.iter().find(|c| !s.contains(c)).unwrap();
    let mut f = Failures::default();
    // Its own mask (after `exec`, `$$` is taskset itself); another process's stays its own.
    let shown = cg.out(&["sh", "-c", "exec taskset -cp $$"], &[]);
    f.eq("taskset -cp (itself)", shown.trim().rsplit(' ').next().unwrap_or("").to_string(), joined(&s));
    let parent = cg.out(&["sh", "-c", "taskset -cp $$"], &[]);
    f.eq(
        "taskset -cp (its shell)",
        parent.trim().rsplit(' ').next().unwrap_or("").to_string(),
        joined(&h.affinity),
    );
    let pinned = other.to_string();
    let out = cg.out(
        &[
            "taskset",
            "-c",
            &pinned,
            "sh",
            "-c",
            "nproc; cat /sys/devices/system/cpu/online; grep -c ^processor /proc/cpuinfo",
        ],
        &[],
    );
    f.eq(&format!("under taskset -c {other}"), out, format!("1\n{other}\n1\n"));
    f.finish("taskset in a narrowed container");
}

/// htop in a terminal (tmux) under half a CPU: the meter of the CPU outside S reads `offline`,
/// as under taskset, and the shown CPU's meter moves with a busy loop; without the library both
/// meters are live.
#[test]
fn htop_shows_one_live_meter() {
    require_cpu_cgroups!();
    for tool in ["htop", "tmux"] {
        if !require(have_program(tool), tool) {
            return;
        }
    }
    let h = host();
    if !require(h.affinity.len() == 2, "exactly two CPUs in the affinity mask") {
        return;
    }
    let cg = CpuCgroup::new(Some(50_000));
    let s = cg.shown(&h.affinity, 1);
    let socket = format!("cgshim-htop-{}", std::process::id());
    let screen = |preload: bool, busy: bool| -> String {
        let script = format!(
            "{busy}tmux -L {socket} new-session -d -x 100 -y 30 'htop -d 10'; sleep 4; \
             tmux -L {socket} capture-pane -p; tmux -L {socket} kill-server; [ -n \"$b\" ] && kill $b; true",
            busy = if busy { "(while :; do :; done) & b=$!; " } else { "b=; " }
        );
        cg.run(&["sh", "-c", &script], preload, &[("TERM", "xterm")]).ok().to_string()
    };
    // The CPU meter lines, in CPU order: `  N[|||   12.3%]` or `CPU[   offline]` (htop labels
    // them by number or, in its layout for few CPUs, `CPU`).
    let meters = |text: &str| -> BTreeMap<usize, String> {
        let values = text.lines().filter_map(|l| {
            let (label, rest) = l.trim_start().split_once('[')?;
            let label = label.trim();
            if label != "CPU" && label.parse::<usize>().is_err() {
                return None;
            }
            Some(rest.split_once(']')?.0.split_whitespace().last()?.trim_start_matches('|').to_string())
        });
        h.affinity.iter().copied().zip(values).collect()
    };
    let _turn = timing();
    let mut f = Failures::default();
    let pct = |v: &str| -> f64 { v.trim_end_matches('%').parse().unwrap_or(-1.0) };
    // The shown CPU's meter moves: well above its idle reading with a loop (three tries: on a
    // busy machine the loop may get little CPU).
    let mut last = String::new();
    let moved = (0..3).any(|_| {
        let idle = meters(&screen(true, false));
        let with = screen(true, true);
        let busy = meters(&with);
        let shown = |m: &BTreeMap<usize, String>| {
            s.iter().map(|c| pct(m.get(c).map_or("", String::as_str))).sum::<f64>()
        };
        last = format!("idle {idle:?}, busy {busy:?}:\n{with}");
        for cpu in h.affinity.iter().filter(|c| !s.contains(c)) {
            f.eq(
                &format!("CPU {cpu} (outside S) meter"),
                busy.get(cpu).cloned().unwrap_or_default(),
                "offline".to_string(),
            );
        }
        shown(&busy) >= shown(&idle) + 20.0 && shown(&idle) >= 0.0
    });
    f.check(moved, || format!("the shown CPU's meter does not move with a busy loop: {last}"));
    let without = screen(false, false);
    let m = meters(&without);
    f.check(m.len() == h.affinity.len() && m.values().all(|v| v.ends_with('%')), || {
        format!("without the library every meter is live:\n{without}")
    });
    f.finish("htop");
}
