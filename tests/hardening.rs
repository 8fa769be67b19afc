//! Hardening: a library loaded into every process must never be the reason one fails.
//!
//! - Bad input, black-box through `libcgshim.so` with `CGSHIM_SYSROOT` pointing at cgroup trees
//!   built here (v1 and v2): a missing cgroup directory, files that cannot be read (a directory
//!   in their place, mode 000 for an unprivileged reader), empty, truncated mid-line, garbage,
//!   negative, overflowing, `max` where a number belongs and the reverse, a 1 MiB memory.stat, a
//!   mountinfo of 10,000 mounts with `\040`-escaped mount points. `cat /proc/meminfo` must exit 0
//!   and show either the host's file or the container's values computed here by hand, with
//!   MemFree ≤ MemAvailable ≤ MemTotal, and sysinfo/sysconf must agree with it; each run is
//!   bounded in time.
//! - `/proc` not mounted (unmounted, or an empty tmpfs over it): the same output, exit status and
//!   errno as without the library.
//! - A cgroup removed while the process runs.
//! - Load: 32 threads over every virtualized file while another thread forks (`tests/c/stress.c`);
//!   no errors, no fd leak, no RSS growth. `CGSHIM_STRESS_ITERATIONS` selects the long form
//!   (`scripts/stress.sh`).
//! - Signals: a handler that opens files while the main thread is inside hooked calls
//!   (`tests/c/sigopen.c`).
//! - Valgrind memcheck on a C program and on procps `free` under the library.
//!
//! Two tests here reproduced library bugs found while writing this file (a FIFO in place of a
//! kernel file hung the program; limits more than 16 levels up were ignored); both are fixed.

#[macro_use]
mod common;

use common::{Cgroup, Failures, MIB, c_program, have_program, lib_path};
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Each run of a program over a bad tree gets this long; the library must never be why it hangs.
const BAD_INPUT_TIMEOUT: Duration = Duration::from_secs(20);

// =============================================================================================
// Running programs with a time bound
// =============================================================================================

struct Ran {
    what: String,
    /// `None`: still running at the deadline (killed).
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Ran {
    fn describe(&self) -> String {
        match self.status {
            None => format!("{} did not finish within {:?} (killed)", self.what, self.elapsed),
            Some(s) => format!(
                "{} exited with {s}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                self.what,
                truncate(&self.stdout, 4000),
                truncate(&self.stderr, 4000)
            ),
        }
    }

    fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// stdout of a run that exited 0; panics with everything known otherwise.
    fn ok(&self) -> &str {
        assert!(self.success(), "{}", self.describe());
        &self.stdout
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

/// Runs `cmd` in its own process group with a clean environment (no inherited `CGSHIM_*` or
/// `LD_PRELOAD`; what `cmd` sets itself stays), killing the whole group if it is still running
/// after `limit`.
fn run_bounded(mut cmd: Command, what: String, limit: Duration) -> Ran {
    let explicit: Vec<std::ffi::OsString> = cmd.get_envs().map(|(k, _)| k.to_os_string()).collect();
    for (k, _) in std::env::vars_os() {
        let ks = k.to_string_lossy();
        if (ks.starts_with("CGSHIM_") || ks == "LD_PRELOAD" || ks == "LD_LIBRARY_PATH")
            && !explicit.contains(&k)
        {
            cmd.env_remove(&k);
        }
    }
    let start = Instant::now();
    let (status, stdout, stderr) = common::run_captured(cmd, &what, limit);
    let elapsed = start.elapsed();
    Ran { what, status, stdout, stderr, elapsed }
}

/// `argv` with the library preloaded and `env` set.
fn preloaded(argv: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).env("LD_PRELOAD", lib_path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn kv(text: &str) -> BTreeMap<String, String> {
    common::parse_kv(text)
}

fn kv_num(m: &BTreeMap<String, String>, key: &str, ctx: &str) -> u64 {
    common::kv_u64(m, key, ctx)
}

// =============================================================================================
// Cgroup trees under a test root
// =============================================================================================

static TREE_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A system root for `CGSHIM_SYSROOT`, removed on drop. World-readable, so that an
/// unprivileged reader can be used for the permission cases.
struct Tree {
    root: PathBuf,
}

impl Drop for Tree {
    fn drop(&mut self) {
        // Undo mode 000 first so that everything can be removed.
        let _ = Command::new("chmod").arg("-R").arg("u+rwx").arg(&self.root).status();
        let _ = fs::remove_dir_all(&self.root);
    }
}

impl Tree {
    fn new(name: &str) -> Tree {
        let n = TREE_COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("cgshim-hardening-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        Tree { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap()
    }

    fn remove(&self, rel: &str) {
        let p = self.path(rel);
        if p.is_dir() { fs::remove_dir_all(&p).unwrap() } else { fs::remove_file(&p).unwrap() }
    }

    /// A directory in place of the file: it opens, but `read` fails with EISDIR.
    fn make_dir(&self, rel: &str) {
        self.remove(rel);
        fs::create_dir(self.path(rel)).unwrap();
    }

    /// A FIFO nobody writes to, in place of the file.
    fn make_fifo(&self, rel: &str) {
        self.remove(rel);
        let st = Command::new("mkfifo").arg(self.path(rel)).status().expect("mkfifo");
        assert!(st.success(), "mkfifo failed");
    }

    fn chmod(&self, rel: &str, mode: u32) {
        fs::set_permissions(self.path(rel), fs::Permissions::from_mode(mode)).unwrap();
    }

    fn root_str(&self) -> &str {
        self.root.to_str().unwrap()
    }
}

const L: u64 = 256 * MIB; // the limit
const U: u64 = 100 * MIB; // usage
const V1_SENTINEL: &str = "9223372036854771712";

/// The v1 memory cgroup's directory in the v1 tree (host paths: mount root `/`).
const V1_DIR: &str = "sys/fs/cgroup/memory/docker/abc";
/// The v2 cgroup's directory in the v2 tree; `system.slice` above it has no limit.
const V2_DIR: &str = "sys/fs/cgroup/system.slice/docker-abc.scope";

const V1_STAT: &str = "cache 0\nrss 0\nrss_huge 0\nshmem 0\nmapped_file 0\n\
hierarchical_memory_limit 9223372036854771712\nhierarchical_memsw_limit 9223372036854771712\n\
total_cache 20971520\ntotal_rss 83886080\ntotal_rss_huge 0\ntotal_shmem 1048576\ntotal_mapped_file 2097152\n\
total_dirty 0\ntotal_writeback 0\ntotal_swap 0\ntotal_pgfault 1000\ntotal_pgmajfault 3\n\
total_inactive_anon 41943040\ntotal_active_anon 41943040\ntotal_inactive_file 4194304\n\
total_active_file 8388608\ntotal_unevictable 0\n";

const V2_STAT: &str = "anon 83886080\nfile 20971520\nkernel_stack 0\npagetables 0\nshmem 1048576\n\
file_mapped 2097152\nfile_dirty 0\nfile_writeback 0\nswapcached 0\nanon_thp 0\ninactive_anon 41943040\n\
active_anon 41943040\ninactive_file 4194304\nactive_file 8388608\nunevictable 0\nslab_reclaimable 1048576\n\
slab_unreclaimable 524288\nslab 1572864\npgfault 1000\npgmajfault 3\n";

const V1_MOUNTINFO_HEAD: &str = "1012 845 0:120 / / rw,relatime master:400 - overlay overlay rw,lowerdir=/l\n\
1013 1012 0:123 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n\
1016 1012 0:126 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n\
1017 1016 0:127 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755\n";

fn v1_memory_mount(mountpoint_escaped: &str) -> String {
    format!(
        "1022 1017 0:32 / {mountpoint_escaped} rw,nosuid,nodev,noexec,relatime master:16 - cgroup cgroup rw,memory\n"
    )
}

/// A host-layout cgroup v1 tree: `4:memory:/docker/abc`, the memory hierarchy at
/// `/sys/fs/cgroup/memory`, 256 MiB limit, 100 MiB used; the ancestors are unlimited.
fn v1_tree(name: &str, host_meminfo: &str) -> Tree {
    let t = Tree::new(name);
    t.write("proc/meminfo", host_meminfo);
    t.write("proc/self/cgroup", "12:pids:/docker/abc\n4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n");
    t.write(
        "proc/self/mountinfo",
        format!(
            "{V1_MOUNTINFO_HEAD}{}1023 1017 0:33 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
            v1_memory_mount("/sys/fs/cgroup/memory")
        ),
    );
    for (dir, limit, usage) in [
        ("sys/fs/cgroup/memory", V1_SENTINEL.to_string(), "2147483648".to_string()),
        ("sys/fs/cgroup/memory/docker", V1_SENTINEL.to_string(), "1073741824".to_string()),
        (V1_DIR, L.to_string(), U.to_string()),
    ] {
        t.write(&format!("{dir}/memory.limit_in_bytes"), format!("{limit}\n"));
        t.write(&format!("{dir}/memory.usage_in_bytes"), format!("{usage}\n"));
        t.write(&format!("{dir}/memory.swappiness"), "60\n");
    }
    t.write(&format!("{V1_DIR}/memory.stat"), V1_STAT);
    t
}

/// A host-layout cgroup v2 tree: `0::/system.slice/docker-abc.scope`, memory.max 256 MiB,
/// memory.current 100 MiB, memory.high max; `system.slice` unlimited; the root has no
/// memory.max (as on the kernel).
fn v2_tree(name: &str, host_meminfo: &str) -> Tree {
    let t = Tree::new(name);
    t.write("proc/meminfo", host_meminfo);
    t.write("proc/self/cgroup", "0::/system.slice/docker-abc.scope\n");
    t.write(
        "proc/self/mountinfo",
        "1012 845 0:120 / / rw,relatime - overlay overlay rw,lowerdir=/l\n\
1013 1012 0:123 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw\n\
1016 1012 0:126 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n\
1017 1016 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
    );
    t.write("sys/fs/cgroup/memory.stat", V2_STAT);
    t.write("sys/fs/cgroup/system.slice/memory.max", "max\n");
    t.write("sys/fs/cgroup/system.slice/memory.high", "max\n");
    t.write("sys/fs/cgroup/system.slice/memory.current", "1073741824\n");
    t.write(&format!("{V2_DIR}/memory.max"), format!("{L}\n"));
    t.write(&format!("{V2_DIR}/memory.high"), "max\n");
    t.write(&format!("{V2_DIR}/memory.current"), format!("{U}\n"));
    t.write(&format!("{V2_DIR}/memory.stat"), V2_STAT);
    t.write(&format!("{V2_DIR}/memory.swap.max"), "max\n");
    t.write(&format!("{V2_DIR}/memory.swap.current"), "0\n");
    t
}

/// What `/proc/meminfo` must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// The host's file: its key list and its MemTotal.
    Host,
    /// The container's values, in kB.
    Values { total: u64, free: u64, avail: u64 },
}

/// L = 256 MiB, free = (256 − 100) MiB = 159744 kB. v1: MemAvailable = free + total_active_file
/// 8 MiB + total_inactive_file 4 MiB = 172032 kB; v2 also adds slab_reclaimable 1 MiB = 173056.
const BASE_V1: Want = Want::Values { total: 262144, free: 159744, avail: 172032 };
const BASE_V2: Want = Want::Values { total: 262144, free: 159744, avail: 173056 };
/// A garbled or unreadable memory.stat counts as zeros: MemAvailable = MemFree.
const STAT_ZEROED: Want = Want::Values { total: 262144, free: 159744, avail: 159744 };

/// One line per rule violated by one run over one tree.
fn check_tree(name: &str, tree: &Tree, want: Want, f: &mut Failures, host_text: &str) {
    let make = |argv: &[&str], env: &[(&str, &str)]| preloaded(argv, env);
    check_tree_with(name, tree, want, f, host_text, &make, BAD_INPUT_TIMEOUT);
}

/// Builds the command for `argv` with the environment assignments given.
type MakeCommand = dyn Fn(&[&str], &[(&str, &str)]) -> Command;

/// As [`check_tree`], with the command built by `make` and each run bounded by `limit`.
fn check_tree_with(
    name: &str,
    tree: &Tree,
    want: Want,
    f: &mut Failures,
    host_text: &str,
    make: &MakeCommand,
    limit: Duration,
) {
    let env = [("CGSHIM_SYSROOT", tree.root_str())];
    let host_kb = common::field(&common::parse_meminfo(host_text), "MemTotal", "host meminfo");
    let ran = run_bounded(make(&["cat", "/proc/meminfo"], &env), format!("{name}: cat /proc/meminfo"), limit);
    if !ran.success() || !ran.stderr.is_empty() {
        f.push(ran.describe());
        return;
    }
    let m = common::parse_meminfo(&ran.stdout);
    let g = |k: &str| m.get(k).copied().unwrap_or(u64::MAX);
    f.check(common::meminfo_keys(&ran.stdout) == common::meminfo_keys(host_text), || {
        format!("{name}: the key list differs from the host file's:\n{}", truncate(&ran.stdout, 3000))
    });
    match want {
        Want::Host => f.eq(&format!("{name}: MemTotal (host file expected)"), g("MemTotal"), host_kb),
        Want::Values { total, free, avail } => {
            f.eq(&format!("{name}: MemTotal"), g("MemTotal"), total);
            f.eq(&format!("{name}: MemFree"), g("MemFree"), free);
            f.eq(&format!("{name}: MemAvailable"), g("MemAvailable"), avail);
        }
    }
    f.check(g("MemFree") <= g("MemAvailable") && g("MemAvailable") <= g("MemTotal"), || {
        format!(
            "{name}: MemFree {} ≤ MemAvailable {} ≤ MemTotal {} violated",
            g("MemFree"),
            g("MemAvailable"),
            g("MemTotal")
        )
    });
    f.check(g("SwapFree") <= g("SwapTotal"), || format!("{name}: SwapFree > SwapTotal"));

    // sysinfo and sysconf agree with the file.
    let si = c_program("sysinfo_show");
    let ran = run_bounded(make(&[si.to_str().unwrap()], &env), format!("{name}: sysinfo_show"), limit);
    if !ran.success() || !ran.stderr.is_empty() {
        f.push(ran.describe());
        return;
    }
    let k = kv(&ran.stdout);
    let n = |key: &str| kv_num(&k, key, name);
    let page = n("sc_pagesize");
    match want {
        Want::Host => {
            f.eq(&format!("{name}: sysinfo totalram (raw expected)"), n("totalram"), n("raw_totalram"));
            f.eq(&format!("{name}: sysinfo mem_unit"), n("mem_unit"), n("raw_mem_unit"));
            f.eq(
                &format!("{name}: sysconf(_SC_PHYS_PAGES)"),
                n("sc_phys_pages"),
                n("raw_totalram") * n("raw_mem_unit") / page,
            );
        }
        Want::Values { total, free, .. } => {
            let bytes = n("totalram") * n("mem_unit");
            f.eq(&format!("{name}: sysinfo totalram (kB)"), bytes / 1024, total);
            f.eq(&format!("{name}: sysinfo freeram (kB)"), n("freeram") * n("mem_unit") / 1024, free);
            f.eq(&format!("{name}: sysconf(_SC_PHYS_PAGES)"), n("sc_phys_pages"), bytes / page);
        }
    }
    f.check(n("freeram") <= n("totalram") && n("freeswap") <= n("totalswap"), || {
        format!("{name}: sysinfo free > total: {}", ran.stdout)
    });
}

/// `count` mount lines with escaped mount points, none of them over `/sys`.
fn many_mounts(count: usize) -> String {
    let mut s = String::with_capacity(count * 110);
    for i in 0..count {
        s.push_str(&format!(
            "{} 1012 0:{} / /srv/vol\\040{i}/data\\040dir rw,relatime shared:{} - ext4 /dev/vd{} rw,errors=remount-ro\n",
            2000 + i,
            200 + i % 50,
            i % 97,
            (b'a' + (i % 26) as u8) as char
        ));
    }
    s
}

/// A memory.stat of about 1 MiB of valid lines the library does not use, then `tail`.
fn one_mib_stat(v1: bool, tail: &str) -> String {
    let mut s = String::with_capacity((1 << 20) + tail.len());
    let mut i = 0;
    while s.len() < 1 << 20 {
        // Valid `name value` lines under names cgshim does not know (v1: also `total_*` ones).
        if v1 && i % 2 == 1 {
            s.push_str(&format!("total_padding_counter_{i} {}\n", i * 4096));
        } else {
            s.push_str(&format!("padding_counter_{i} {}\n", i * 4096));
        }
        i += 1;
    }
    s.push_str(tail);
    s
}

type Mutation = Box<dyn Fn(&Tree)>;

fn case(name: &str, want: Want, mutate: impl Fn(&Tree) + 'static) -> (String, Want, Mutation) {
    (name.to_string(), want, Box::new(mutate))
}

fn v1_file(name: &str) -> String {
    format!("{V1_DIR}/{name}")
}

fn v2_file(name: &str) -> String {
    format!("{V2_DIR}/{name}")
}

fn run_cases(version: &str, cases: Vec<(String, Want, Mutation)>) {
    let host_text = common::host_meminfo_text();
    let mut f = Failures::default();
    for (name, want, mutate) in cases {
        let tree = if version == "v1" { v1_tree("t", &host_text) } else { v2_tree("t", &host_text) };
        mutate(&tree);
        check_tree(&format!("{version} {name}"), &tree, want, &mut f, &host_text);
    }
    f.finish(&format!("bad cgroup {version} input through libcgshim.so"));
}

// =============================================================================================
// 1. Bad input
// =============================================================================================

#[test]
fn bad_input_cgroup_v1() {
    let lim = "memory.limit_in_bytes";
    let usage = "memory.usage_in_bytes";
    let stat = "memory.stat";
    let cases = vec![
        case("baseline", BASE_V1, |_| {}),
        // Not mounted / not there.
        case("cgroupfs not mounted", Want::Host, |t| t.write("proc/self/mountinfo", V1_MOUNTINFO_HEAD)),
        case("own cgroup directory missing", Want::Host, |t| t.remove(V1_DIR)),
        case("/proc/self/cgroup missing", Want::Host, |t| t.remove("proc/self/cgroup")),
        case("/proc/self/mountinfo missing", Want::Host, |t| t.remove("proc/self/mountinfo")),
        // Unreadable: a directory in place of the file (open works, read fails with EISDIR).
        case("limit_in_bytes is a directory", Want::Host, move |t| t.make_dir(&v1_file(lim))),
        case("usage_in_bytes is a directory", Want::Host, move |t| t.make_dir(&v1_file(usage))),
        case("memory.stat is a directory", STAT_ZEROED, move |t| t.make_dir(&v1_file(stat))),
        case("/proc/self/cgroup is a directory", Want::Host, |t| t.make_dir("proc/self/cgroup")),
        case("/proc/self/mountinfo is a directory", Want::Host, |t| t.make_dir("proc/self/mountinfo")),
        case("limit_in_bytes longer than any number (200 bytes)", Want::Host, move |t| {
            t.write(&v1_file(lim), format!("{L}{}\n", " ".repeat(200)))
        }),
        // Empty.
        case("limit_in_bytes empty", Want::Host, move |t| t.write(&v1_file(lim), "")),
        case("usage_in_bytes empty", Want::Host, move |t| t.write(&v1_file(usage), "")),
        case("memory.stat empty", STAT_ZEROED, move |t| t.write(&v1_file(stat), "")),
        case("/proc/self/cgroup empty", Want::Host, |t| t.write("proc/self/cgroup", "")),
        case("/proc/self/mountinfo empty", Want::Host, |t| t.write("proc/self/mountinfo", "")),
        // Truncated mid-line.
        case(
            "limit_in_bytes truncated mid-number (`2684`): a 2684-byte limit",
            // L = 2684 B: free = 0 (usage is above it), MemAvailable = min(0 + 12 MiB, L) = 2 kB.
            Want::Values { total: 2, free: 0, avail: 2 },
            move |t| t.write(&v1_file(lim), "2684"),
        ),
        case("memory.stat truncated mid-line", STAT_ZEROED, move |t| {
            t.write(&v1_file(stat), format!("{V1_STAT}total_acti"))
        }),
        case("/proc/self/cgroup truncated mid-line", Want::Host, |t| {
            t.write("proc/self/cgroup", "12:pids:/docker/abc\n4:memory:/docker/a")
        }),
        case("/proc/self/mountinfo truncated inside the memory mount's line", Want::Host, |t| {
            t.write(
                "proc/self/mountinfo",
                format!("{V1_MOUNTINFO_HEAD}1022 1017 0:32 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgr"),
            )
        }),
        // Garbage.
        case("limit_in_bytes garbage", Want::Host, move |t| t.write(&v1_file(lim), "lots of memory\n")),
        case("limit_in_bytes binary", Want::Host, move |t| {
            t.write(&v1_file(lim), b"\x00\xff\x01\n".as_slice())
        }),
        case("limit_in_bytes with a trailing unit (`256M`)", Want::Host, move |t| {
            t.write(&v1_file(lim), "256M\n")
        }),
        case("usage_in_bytes garbage", Want::Host, move |t| t.write(&v1_file(usage), "garbage\n")),
        case("memory.stat garbage", STAT_ZEROED, move |t| {
            t.write(&v1_file(stat), format!("{V1_STAT}\u{1}\u{2} what\n\x7f\n"))
        }),
        case("/proc/self/cgroup garbage", Want::Host, |t| {
            t.write("proc/self/cgroup", "\u{0}\u{ff}::::\nzzz\n")
        }),
        case("/proc/self/mountinfo garbage", Want::Host, |t| {
            t.write(
                "proc/self/mountinfo",
                (0..5000u32).map(|i| ((i * 2654435761) >> 13) as u8).collect::<Vec<u8>>(),
            )
        }),
        // Negative.
        case("limit_in_bytes negative", Want::Host, move |t| t.write(&v1_file(lim), "-268435456\n")),
        case("limit_in_bytes -1 (unlimited, no other limit)", Want::Host, move |t| {
            t.write(&v1_file(lim), "-1\n")
        }),
        case("usage_in_bytes negative", Want::Host, move |t| t.write(&v1_file(usage), "-104857600\n")),
        case("memory.stat with a negative counter", STAT_ZEROED, move |t| {
            t.write(
                &v1_file(stat),
                V1_STAT.replace("total_active_file 8388608", "total_active_file -8388608"),
            )
        }),
        // Overflowing u64.
        case("limit_in_bytes 2^64", Want::Host, move |t| t.write(&v1_file(lim), "18446744073709551616\n")),
        case("limit_in_bytes 10^23", Want::Host, move |t| {
            t.write(&v1_file(lim), "99999999999999999999999\n")
        }),
        case("limit_in_bytes u64::MAX (above the host)", Want::Host, move |t| {
            t.write(&v1_file(lim), "18446744073709551615\n")
        }),
        case("usage_in_bytes 2^64", Want::Host, move |t| t.write(&v1_file(usage), "18446744073709551616\n")),
        case(
            "usage_in_bytes u64::MAX: no headroom",
            Want::Values { total: 262144, free: 0, avail: 12288 },
            move |t| {
                // free = 0; MemAvailable = 0 + active_file 8 MiB + inactive_file 4 MiB.
                t.write(&v1_file(usage), "18446744073709551615\n")
            },
        ),
        case("memory.stat counter 2^64", STAT_ZEROED, move |t| {
            t.write(
                &v1_file(stat),
                V1_STAT.replace("total_active_file 8388608", "total_active_file 18446744073709551616"),
            )
        }),
        // `max` where v1 prints numbers, and the reverse.
        case("limit_in_bytes `max` (v2 spelling: unlimited)", Want::Host, move |t| {
            t.write(&v1_file(lim), "max\n")
        }),
        case("usage_in_bytes `max`", Want::Host, move |t| t.write(&v1_file(usage), "max\n")),
        case("hierarchical_memory_limit `max`", STAT_ZEROED, move |t| {
            t.write(
                &v1_file(stat),
                V1_STAT.replace(
                    "hierarchical_memory_limit 9223372036854771712",
                    "hierarchical_memory_limit max",
                ),
            )
        }),
        case(
            "hierarchical_memory_limit a number (256 MiB) with limit_in_bytes unlimited",
            BASE_V1,
            move |t| {
                t.write(&v1_file(lim), format!("{V1_SENTINEL}\n"));
                t.write(
                    &v1_file(stat),
                    V1_STAT.replace(
                        "hierarchical_memory_limit 9223372036854771712",
                        &format!("hierarchical_memory_limit {L}"),
                    ),
                );
            },
        ),
        // Size.
        case("1 MiB memory.stat, the used keys at the very end", BASE_V1, move |t| {
            t.write(&v1_file(stat), one_mib_stat(true, V1_STAT))
        }),
        case("1 MiB memory.stat, the only limit (hierarchical) at the very end", BASE_V1, move |t| {
            t.write(&v1_file(lim), format!("{V1_SENTINEL}\n"));
            // The kernel's order: hierarchical_memory_limit, then hierarchical_memsw_limit.
            let tail = V1_STAT.replace(
                "hierarchical_memory_limit 9223372036854771712\nhierarchical_memsw_limit 9223372036854771712\n",
                "",
            ) + &format!("hierarchical_memory_limit {L}\nhierarchical_memsw_limit {V1_SENTINEL}\n");
            t.write(&v1_file(stat), one_mib_stat(true, &tail));
        }),
        case(
            "mountinfo of 10,000 escaped mounts, memory mounted near the end at `/sys/fs/cgroup/my memory`",
            BASE_V1,
            |t| {
                let old = t.path("sys/fs/cgroup/memory");
                fs::rename(&old, t.path("sys/fs/cgroup/my memory")).unwrap();
                t.write(
                "proc/self/mountinfo",
                format!(
                    "{V1_MOUNTINFO_HEAD}{}{}1023 1017 0:33 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n{}",
                    many_mounts(9_990),
                    v1_memory_mount("/sys/fs/cgroup/my\\040memory"),
                    many_mounts(5)
                ),
            );
            },
        ),
        case(
            "mountinfo of 10,000 escaped mounts, the memory mount hidden by a later tmpfs",
            Want::Host,
            |t| {
                t.write(
                    "proc/self/mountinfo",
                    format!(
                        "{V1_MOUNTINFO_HEAD}{}{}{}2000000 1016 0:99 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n",
                        many_mounts(9_990),
                        v1_memory_mount("/sys/fs/cgroup/memory"),
                        many_mounts(5)
                    ),
                );
            },
        ),
        case("a 1 MiB /proc/self/cgroup (more than the library reads: host values)", Want::Host, |t| {
            t.write(
                "proc/self/cgroup",
                format!("13:name=padding:/{}\n4:memory:/docker/abc\n", "x".repeat(1 << 20)),
            )
        }),
        case("a mountinfo line longer than 8 KiB before the memory mount", BASE_V1, |t| {
            let mi = String::from_utf8(t.read("proc/self/mountinfo")).unwrap();
            t.write(
                "proc/self/mountinfo",
                format!("99 1 0:1 / /{} rw - tmpfs tmpfs rw\n{mi}", "very\\040long".repeat(2000)),
            );
        }),
    ];
    run_cases("v1", cases);
}

#[test]
fn bad_input_cgroup_v2() {
    let max = "memory.max";
    let cur = "memory.current";
    let cases = vec![
        case("baseline", BASE_V2, |_| {}),
        case("cgroupfs not mounted", Want::Host, |t| {
            t.write("proc/self/mountinfo", "1012 845 0:120 / / rw,relatime - overlay overlay rw\n")
        }),
        case("own cgroup directory missing", Want::Host, |t| t.remove(V2_DIR)),
        case("memory.max is a directory", Want::Host, move |t| t.make_dir(&v2_file(max))),
        case("memory.current is a directory", Want::Host, move |t| t.make_dir(&v2_file(cur))),
        case("memory.stat is a directory", STAT_ZEROED, |t| t.make_dir(&v2_file("memory.stat"))),
        case("memory.max empty", Want::Host, move |t| t.write(&v2_file(max), "")),
        case("memory.current empty", Want::Host, move |t| t.write(&v2_file(cur), "")),
        case("memory.stat empty", STAT_ZEROED, |t| t.write(&v2_file("memory.stat"), "")),
        case("memory.stat truncated mid-line", STAT_ZEROED, |t| {
            t.write(&v2_file("memory.stat"), format!("{V2_STAT}slab_recl"))
        }),
        case("memory.max garbage", Want::Host, move |t| t.write(&v2_file(max), "unlimited\n")),
        case("memory.max negative", Want::Host, move |t| t.write(&v2_file(max), "-268435456\n")),
        case("memory.max 2^64", Want::Host, move |t| t.write(&v2_file(max), "18446744073709551616\n")),
        case("memory.current negative", Want::Host, move |t| t.write(&v2_file(cur), "-1\n")),
        case("memory.current `max`", Want::Host, move |t| t.write(&v2_file(cur), "max\n")),
        // A number where v2 prints `max`.
        case("memory.max the v1 sentinel (above the host: unlimited)", Want::Host, move |t| {
            t.write(&v2_file(max), format!("{V1_SENTINEL}\n"))
        }),
        case("ancestor memory.max the v1 sentinel, own 256 MiB", BASE_V2, |t| {
            t.write("sys/fs/cgroup/system.slice/memory.max", format!("{V1_SENTINEL}\n"))
        }),
        case("memory.high a number, memory.max `max` (high is no limit)", Want::Host, move |t| {
            t.write(&v2_file(max), "max\n");
            t.write(&v2_file("memory.high"), "134217728\n");
        }),
        case(
            "memory.high 128 MiB below memory.max 256 MiB",
            // free = 128 − 100 MiB = 28672 kB; MemAvailable = free + 8 + 4 + 1 MiB = 41984 kB.
            Want::Values { total: 262144, free: 28672, avail: 41984 },
            |t| t.write(&v2_file("memory.high"), "134217728\n"),
        ),
        case("memory.high garbage (ignored)", BASE_V2, |t| t.write(&v2_file("memory.high"), "soon\n")),
        case("memory.swap.max garbage", Want::Host, |t| t.write(&v2_file("memory.swap.max"), "lots\n")),
        case("1 MiB memory.stat, the used keys at the very end", BASE_V2, |t| {
            t.write(&v2_file("memory.stat"), one_mib_stat(false, V2_STAT))
        }),
        case(
            "mountinfo of 10,000 escaped mounts, cgroup2 near the end at `/sys/fs/cgroup/my cgroup2`",
            BASE_V2,
            |t| {
                fs::create_dir_all(t.path("sys/fs/cgroup/my cgroup2")).unwrap();
                fs::rename(
                    t.path("sys/fs/cgroup/system.slice"),
                    t.path("sys/fs/cgroup/my cgroup2/system.slice"),
                )
                .unwrap();
                t.write(
                "proc/self/mountinfo",
                format!(
                    "1012 845 0:120 / / rw - overlay overlay rw\n{}1017 1012 0:27 / /sys/fs/cgroup/my\\040cgroup2 rw shared:9 - cgroup2 cgroup2 rw\n{}",
                    many_mounts(9_995),
                    many_mounts(3)
                ),
            );
            },
        ),
    ];
    run_cases("v2", cases);
}

/// Mode 000 files, read by an unprivileged user (root reads through permission bits): EACCES.
#[test]
fn unreadable_files_eacces() {
    let host_text = common::host_meminfo_text();
    let as_nobody = effective_uid() == Some(0);
    if as_nobody && !have_program("setpriv") {
        return;
    }
    // The library, copied where `nobody` can map it.
    let libdir = Tree::new("lib");
    let lib = libdir.path("libcgshim.so");
    fs::copy(lib_path(), &lib).unwrap();
    fs::set_permissions(&lib, fs::Permissions::from_mode(0o755)).unwrap();
    let si = libdir.path("sysinfo_show");
    fs::copy(c_program("sysinfo_show"), &si).unwrap();
    fs::set_permissions(&si, fs::Permissions::from_mode(0o755)).unwrap();
    let make = move |argv: &[&str], env: &[(&str, &str)]| -> Command {
        let argv0 = if argv[0].ends_with("sysinfo_show") { si.to_str().unwrap() } else { argv[0] };
        let mut cmd = if as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", argv0]);
            c
        } else {
            Command::new(argv0)
        };
        cmd.args(&argv[1..]).env("LD_PRELOAD", &lib);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    };
    let mut f = Failures::default();
    let cases: [(&str, Want, &str); 6] = [
        ("control: nothing unreadable", BASE_V1, ""),
        ("limit_in_bytes mode 000", Want::Host, "memory.limit_in_bytes"),
        ("usage_in_bytes mode 000", Want::Host, "memory.usage_in_bytes"),
        ("memory.stat mode 000", STAT_ZEROED, "memory.stat"),
        ("/proc/self/cgroup mode 000", Want::Host, "/proc/self/cgroup"),
        ("/proc/self/mountinfo mode 000", Want::Host, "/proc/self/mountinfo"),
    ];
    for (name, want, file) in cases {
        let t = v1_tree("eacces", &host_text);
        // Every directory traversable and every file readable by everyone, then one file not.
        let _ = Command::new("chmod").arg("-R").arg("a+rX").arg(&t.root).status();
        if !file.is_empty() {
            let rel = if file.starts_with('/') { file.to_string() } else { v1_file(file) };
            t.chmod(&rel, 0o000);
        }
        let who = if as_nobody { "nobody" } else { "the test user" };
        check_tree_with(
            &format!("v1 {name} (read as {who})"),
            &t,
            want,
            &mut f,
            &host_text,
            &make,
            BAD_INPUT_TIMEOUT,
        );
    }
    f.finish("unreadable files (EACCES) through libcgshim.so");
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find(|l| l.starts_with("Uid:"))?.split_whitespace().nth(2)?.parse().ok()
}

/// A FIFO that nobody writes to, in place of a file the library reads: the open must not block
/// the program.
#[test]
fn fifo_in_place_of_a_file_does_not_hang() {
    let host_text = common::host_meminfo_text();
    let mut f = Failures::default();
    for (name, want, rel) in [
        ("memory.limit_in_bytes is a FIFO", Want::Host, v1_file("memory.limit_in_bytes")),
        ("memory.usage_in_bytes is a FIFO", Want::Host, v1_file("memory.usage_in_bytes")),
        ("memory.stat is a FIFO", STAT_ZEROED, v1_file("memory.stat")),
        ("/proc/self/cgroup is a FIFO", Want::Host, "proc/self/cgroup".to_string()),
        ("/proc/self/mountinfo is a FIFO", Want::Host, "proc/self/mountinfo".to_string()),
    ] {
        let t = v1_tree("fifo", &host_text);
        t.make_fifo(&rel);
        let make = |argv: &[&str], env: &[(&str, &str)]| preloaded(argv, env);
        check_tree_with(&format!("v1 {name}"), &t, want, &mut f, &host_text, &make, Duration::from_secs(5));
    }
    f.finish("FIFOs in place of the files the library reads");
}

/// cgroup v2 nesting deeper than 16 levels below the mount: the limit of the 18th level up must
/// still count.
#[test]
fn limit_above_sixteen_levels_counts() {
    let host_text = common::host_meminfo_text();
    let t = Tree::new("deep");
    t.write("proc/meminfo", &host_text);
    let comps: Vec<String> = (1..=18).map(|i| format!("l{i}")).collect();
    t.write("proc/self/cgroup", format!("0::/{}\n", comps.join("/")));
    t.write("proc/self/mountinfo", "30 1 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    let mut dir = String::from("sys/fs/cgroup");
    for (i, c) in comps.iter().enumerate() {
        dir = format!("{dir}/{c}");
        t.write(&format!("{dir}/memory.max"), if i == 0 { format!("{L}\n") } else { "max\n".into() });
        t.write(&format!("{dir}/memory.current"), format!("{U}\n"));
        t.write(&format!("{dir}/memory.stat"), V2_STAT);
    }
    let mut f = Failures::default();
    // The only limit is on l1, 18 levels above the process; headroom there 156 MiB.
    check_tree("v2 limit 18 levels up", &t, BASE_V2, &mut f, &host_text);
    f.finish("deep cgroup v2 trees");
}

// =============================================================================================
// Removed while the process runs
// =============================================================================================

/// The process reads its 256 MiB cgroup, is moved to the root cgroup and the old one is
/// removed, then reads again: at once (the old values are allowed: usage is reused for 1 ms),
/// after 20 ms (the discovery cached for 1 s names the removed directory, so its usage cannot be
/// read: host values) and after the 1 s window (the root cgroup is found: unlimited, host
/// values). Never a failure or an error.
#[test]
fn cgroup_removed_while_the_process_runs() {
    require_cgroups!();
    let cg = Cgroup::new(Some(L));
    let prog = c_program("reread");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"echo $$ > "$1" || exit 97; shift; exec "$@""#)
        .arg("sh")
        .arg(cg.dir().join("cgroup.procs"))
        .arg(&prog)
        .env("LD_PRELOAD", lib_path())
        .env_remove("CGSHIM_DISABLE")
        .env_remove("CGSHIM_SYSROOT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn reread");
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        let mut block = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "--" {
                let _ = tx.send(std::mem::take(&mut block));
            } else {
                block.push_str(&line);
                block.push('\n');
            }
        }
    });
    let mut ask = |what: &str| -> BTreeMap<String, String> {
        writeln!(stdin, "{what}").expect("write to reread");
        stdin.flush().unwrap();
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(block) => kv(&block),
            Err(_) => {
                let _ = child.kill();
                panic!("reread did not answer `{what}` within 20 s");
            }
        }
    };
    let host_kb = common::host_memtotal_kb();
    let mut f = Failures::default();
    let first = ask("in the cgroup");
    f.eq("in the cgroup: MemTotal", kv_num(&first, "MemTotal", "reread"), L / 1024);
    f.eq("in the cgroup: sysinfo totalram", kv_num(&first, "totalram", "reread"), L);

    fs::write(Path::new(common::v2::hierarchy_root()).join("cgroup.procs"), pid.to_string())
        .expect("move to the root cgroup");
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = fs::remove_dir(cg.dir()) {
        assert!(Instant::now() < deadline, "rmdir {}: {e}", cg.dir().display());
        thread::sleep(Duration::from_millis(20));
    }
    for (when, pause, stale_ok) in [
        ("right after the removal", 0, true),
        ("20 ms later", 20, false),
        ("after the 1 s cache window", 1100, false),
    ] {
        thread::sleep(Duration::from_millis(pause));
        let m = ask(when);
        f.eq(&format!("{when}: open errno"), kv_num(&m, "open_errno", "reread"), 0);
        f.eq(&format!("{when}: sysinfo return"), kv_num(&m, "sysinfo_ret", "reread"), 0);
        let (total, ram) = (kv_num(&m, "MemTotal", "reread"), kv_num(&m, "totalram", "reread"));
        let host = (host_kb, host_kb * 1024);
        let ok = (total, ram) == host || (stale_ok && (total, ram) == (L / 1024, L));
        f.check(ok, || {
            format!(
                "{when}: MemTotal {total} kB, totalram {ram}: expected the host's {host:?}{}",
                if stale_ok { " or the old cgroup's" } else { "" }
            )
        });
    }
    drop(stdin);
    let status = child.wait().unwrap();
    f.check(status.success(), || format!("reread exited with {status}"));
    f.finish("a cgroup removed under a running process");
}

// =============================================================================================
// 2. /proc not mounted
// =============================================================================================

/// In a private mount namespace, /proc unmounted (lazily) or covered by an empty tmpfs (with a
/// plain file named meminfo in it): every entry point answers exactly as without the library:
/// the same ENOENT, the same host values from sysinfo/sysconf, the same `free` failure.
fn proc_absent(hide: &str) {
    let cg = Cgroup::new(Some(L));
    let probe = c_program("probe");
    let run = |preload: bool, argv: &[&str]| -> Ran {
        let lib = if preload { lib_path().to_str().unwrap().to_string() } else { String::new() };
        let script = format!(
            r#"echo $$ > "$1" || exit 97; shift; L=$1; shift
exec unshare --mount --propagation private --fork sh -c '{hide} || exit 98; [ -n "$0" ] && export LD_PRELOAD="$0"; exec "$@"' "$L" "$@""#
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).arg("sh").arg(cg.dir().join("cgroup.procs")).arg(&lib).args(argv);
        run_bounded(
            cmd,
            format!("{argv:?} with /proc hidden ({hide}), preload={preload}"),
            Duration::from_secs(60),
        )
    };
    let mut f = Failures::default();
    for argv in
        [vec![probe.to_str().unwrap()], vec!["free"], vec!["free", "-b"], vec!["cat", "/proc/meminfo"]]
    {
        let without = run(false, &argv);
        let with = run(true, &argv);
        f.check(with.status.is_some() && without.status.is_some(), || {
            format!("{}\n{}", with.describe(), without.describe())
        });
        f.eq(
            &format!("{argv:?}: exit status"),
            with.status.map(|s| s.code()),
            without.status.map(|s| s.code()),
        );
        // sysinfo's free memory moves between runs; everything else printed must be identical.
        f.eq(&format!("{argv:?}: stdout"), with.stdout.clone(), without.stdout.clone());
        f.eq(&format!("{argv:?}: stderr"), with.stderr.clone(), without.stderr.clone());
        if argv[0] == probe.to_str().unwrap() {
            let m = kv(&with.stdout);
            if hide.starts_with("umount") {
                f.eq("probe: open(/proc/meminfo) errno", kv_num(&m, "meminfo_errno", "probe"), 2);
                f.eq("probe: fopen(/proc/meminfo) errno", kv_num(&m, "fopen_errno", "probe"), 2);
                f.eq("probe: openat(/proc/meminfo) errno", kv_num(&m, "openat_errno", "probe"), 2);
            } else {
                f.eq("probe: the tmpfs file's MemTotal", kv_num(&m, "meminfo_open_MemTotal", "probe"), 1);
            }
            f.eq(
                "probe: sysinfo totalram (host)",
                kv_num(&m, "totalram", "probe"),
                kv_num(&m, "raw_totalram", "probe"),
            );
        }
    }
    f.finish(&format!("/proc hidden ({hide})"));
}

#[test]
fn proc_unmounted() {
    require_cgroups!();
    proc_absent("umount -l /proc");
}

#[test]
fn proc_covered_by_an_empty_tmpfs() {
    require_cgroups!();
    proc_absent("mount -t tmpfs cgshim-noproc /proc && printf \"MemTotal:       1 kB\\n\" > /proc/meminfo");
}

// =============================================================================================
// 3. Load and concurrency
// =============================================================================================

/// The CPU count the library shows in `cg` (the stress program checks every answer against it).
fn cpus_in(cg: &Cgroup) -> u64 {
    let probe = c_program("probe");
    let m = kv(cg.run(common::Layout::Host, &[probe.to_str().unwrap()]).ok());
    let n = kv_num(&m, "sc_nprocessors_onln", "probe");
    assert!(n >= 1, "no CPUs");
    n
}

#[test]
fn stress_threads_forks_every_file() {
    require_cgroups!();
    let iterations: u64 =
        std::env::var("CGSHIM_STRESS_ITERATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let threads = 32;
    let cg = Cgroup::new(Some(L));
    let cpus = cpus_in(&cg);
    let prog = c_program("stress");
    let limit = Duration::from_secs(120 + iterations / 10);
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"echo $$ > "$1" || exit 97; shift; exec "$@""#)
        .arg("sh")
        .arg(cg.dir().join("cgroup.procs"))
        .arg(&prog)
        .arg(threads.to_string())
        .arg(iterations.to_string())
        .arg((L / 1024).to_string())
        .arg(cpus.to_string())
        .env("LD_PRELOAD", lib_path());
    let ran = run_bounded(cmd, format!("stress {threads} threads × {iterations} rounds"), limit);
    let m = kv(ran.ok());
    let n = |k: &str| kv_num(&m, k, "stress");
    eprintln!("stress: {} in {:?}", ran.stdout.replace('\n', " "), ran.elapsed);
    let mut f = Failures::default();
    f.eq("bad answers", n("bad"), 0);
    f.eq("rounds", n("rounds"), threads * (iterations + 1));
    f.check(n("children") >= 1, || "no child was forked".into());
    f.eq("failed children", n("child_failures"), 0);
    f.eq("fds after (none leaked)", n("fds_after"), n("fds_before"));
    // Between the warm-up and the end, with every thread still alive: no growth beyond noise.
    let growth = n("rss_end_kb").saturating_sub(n("rss_warm_kb"));
    f.check(growth <= 4096, || {
        format!("VmRSS grew by {growth} kB (warm {} kB, end {} kB)", n("rss_warm_kb"), n("rss_end_kb"))
    });
    f.check(ran.stderr.is_empty(), || format!("stderr: {}", ran.stderr));
    f.finish("32 threads and forks over every virtualized file");
}

// =============================================================================================
// 4. Signals
// =============================================================================================

#[test]
fn signal_handler_opens_while_inside_hooked_calls() {
    require_cgroups!();
    let cg = Cgroup::new(Some(L));
    let prog = c_program("sigopen");
    let mut f = Failures::default();
    for (mode, runs) in [("warm", 2), ("cold", 5)] {
        for run in 0..runs {
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(r#"echo $$ > "$1" || exit 97; shift; exec "$@""#)
                .arg("sh")
                .arg(cg.dir().join("cgroup.procs"))
                .arg(&prog)
                .arg((L / 1024).to_string())
                .arg("2000")
                .arg(mode)
                .env("LD_PRELOAD", lib_path());
            let ran = run_bounded(cmd, format!("sigopen {mode} #{run}"), Duration::from_secs(60));
            if !ran.success() {
                f.push(ran.describe());
                continue;
            }
            let m = kv(&ran.stdout);
            let n = |k: &str| kv_num(&m, k, "sigopen");
            let ctx = format!("{mode} #{run}");
            f.eq(&format!("{ctx}: iterations"), n("iterations"), 2000);
            f.eq(&format!("{ctx}: wrong answers in the main thread"), n("main_bad"), 0);
            f.eq(&format!("{ctx}: failures in the handler"), n("handler_bad"), 0);
            f.eq(&format!("{ctx}: errno clobbered"), n("errno_clobbered"), 0);
            f.check(n("signals") >= 100, || format!("{ctx}: only {} signals were handled", n("signals")));
            f.eq(&format!("{ctx}: /dev/null opens in the handler"), n("handler_devnull_ok"), n("signals"));
            f.eq(
                &format!("{ctx}: /proc/meminfo reads in the handler"),
                n("handler_meminfo_ok"),
                n("signals"),
            );
        }
    }
    f.finish("signal handlers that open files while the main thread is inside hooked calls");
}

// =============================================================================================
// 5. Valgrind
// =============================================================================================

/// memcheck's complaints, with their stacks, as one string (empty when there are none).
fn valgrind_errors(stderr: &str) -> String {
    let mut out = String::new();
    let mut in_error = false;
    for line in stderr.lines() {
        let body = line.split_once("== ").map_or(line, |(_, b)| b);
        let starts = [
            "Invalid ",
            "Conditional jump",
            "Use of uninitialised",
            "Syscall param",
            "Mismatched",
            "Source and destination",
            "Argument '",
        ];
        if starts.iter().any(|s| body.starts_with(s)) {
            in_error = true;
        } else if body.trim().is_empty() {
            in_error = false;
        }
        if in_error {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn valgrind_memcheck_clean() {
    require_cgroups!();
    if !have_program("valgrind") {
        return;
    }
    // valgrind itself needs room: a 1 GiB cgroup.
    let limit = 1024 * MIB;
    let cg = Cgroup::new(Some(limit));
    let probe = c_program("probe");
    let mut f = Failures::default();
    let cases: [(&str, Vec<&str>); 3] = [
        ("probe", vec![probe.to_str().unwrap()]),
        ("free", vec!["free", "-b"]),
        ("free -s", vec!["free", "-b", "-s", "0.2", "-c", "3"]),
    ];
    for (name, argv) in cases {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#"echo $$ > "$1" || exit 97; shift; exec "$@""#)
            .arg("sh")
            .arg(cg.dir().join("cgroup.procs"))
            .args(["valgrind", "--error-exitcode=99", "--leak-check=no"])
            .args(&argv)
            .env("LD_PRELOAD", lib_path());
        let ran = run_bounded(cmd, format!("valgrind {argv:?}"), Duration::from_secs(300));
        let errors = valgrind_errors(&ran.stderr);
        f.check(errors.is_empty(), || format!("{name}: memcheck reported errors:\n{errors}"));
        f.check(ran.stderr.contains("ERROR SUMMARY: 0 errors"), || format!("{name}: {}", ran.describe()));
        f.eq(&format!("{name}: exit status (the program's own)"), ran.status.and_then(|s| s.code()), Some(0));
        if name == "probe" {
            let m = kv(&ran.stdout);
            for how in ["open", "rewound", "pread", "fopen", "openat"] {
                f.eq(
                    &format!("probe: MemTotal via {how}"),
                    m.get(&format!("meminfo_{how}_MemTotal")).cloned(),
                    Some((limit / 1024).to_string()),
                );
            }
            f.eq("probe: sysinfo totalram", m.get("totalram").cloned(), Some(limit.to_string()));
            f.eq("probe: vmstat well-formed", m.get("vmstat_wellformed").cloned(), Some("1".into()));
            f.eq("probe: uptime well-formed", m.get("uptime_wellformed").cloned(), Some("1".into()));
        } else {
            let totals: Vec<&str> = ran
                .stdout
                .lines()
                .filter(|l| l.starts_with("Mem:"))
                .filter_map(|l| l.split_whitespace().nth(1))
                .collect();
            f.check(!totals.is_empty() && totals.iter().all(|t| *t == limit.to_string()), || {
                format!("{name}: Mem: totals {totals:?}, expected {limit}")
            });
        }
    }
    f.finish("valgrind memcheck under libcgshim.so");
}
