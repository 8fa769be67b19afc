//! `cgshim exec` supervising what the library cannot reach: statically linked and Go programs,
//! answered from the parent through seccomp user notification.
//!
//! Every case runs in a real container made here: a v1 memory cgroup limited to 256 MiB and a v1
//! cpu cgroup with a quota of one CPU (S = one CPU of the test's own affinity mask, the window
//! [`common::shown_window`] computes). Each program runs plain and under `cgshim exec`, and where
//! a dynamic build of the same source exists, with the library alone; the values are compared
//! with each other and with the host's. The programs: Debian's static Busybox
//! (`target/tools/busybox-static`, fetched by `scripts/test.sh`), `tests/c/static_probe.c` built
//! with `musl-gcc -static` (and with gcc, dynamic, for the library's side), `tests/c/rewind.c`
//! static, `tests/c/own_filter.c` and `tests/c/deny_seccomp.c`, and the Go program
//! `tests/go/probe`.
//!
//! Needs root, writable v1 memory and cpu hierarchies (or a cgroup v2 hierarchy with memory and
//! cpu: the VM suite) and two CPUs; skips otherwise, and panics instead under CI=true. The
//! programs are built where they are older than their sources (the VM guest, which has no
//! compilers, finds them built by the host).

#[macro_use]
mod common;

use common::{joined, kernel_list};

use common::{
    Cgroup, Failures, MIB, Outcome, c_program, cgshim_bin, have_program, host_meminfo_text, host_memtotal_kb,
    lib_path, musl_static_program, parse_kv, parse_meminfo, remove_cgroup_to, static_busybox, static_program,
};
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const LIMIT: u64 = 256 * MIB;
const LIMIT_KB: u64 = LIMIT / 1024;

/// The one line `cgshim exec` prints when it cannot set supervision up.
const CANNOT_SUPERVISE: &str = "cgshim: warning: cannot supervise";

/// How long a live program may take to say the next thing the test waits for.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// What the machine must have
// ---------------------------------------------------------------------------------------------

/// Skip (panic under CI=true) when the test needs something the machine lacks.
fn require(ok: bool, what: &str) -> bool {
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and this test needs {what}");
        }
        eprintln!("SKIPPED: this test needs {what}");
    }
    ok
}

const CPU_ROOT: &str = "/sys/fs/cgroup/cpu";
const CPUACCT_ROOT: &str = "/sys/fs/cgroup/cpuacct";

/// CPU numbers of a kernel list (`0-1,4`).
fn cpus_of_list(list: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                out.extend(a.trim().parse::<usize>().unwrap()..=b.trim().parse::<usize>().unwrap())
            }
            None => out.push(part.trim().parse().unwrap()),
        }
    }
    out
}

/// The affinity mask of this (never preloaded) test process, which its children inherit.
fn own_affinity() -> Vec<usize> {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap();
    cpus_of_list(list)
}

/// The `processor` numbers of /proc/cpuinfo-style text.
fn cpuinfo_processors(text: &str) -> Vec<usize> {
    text.lines()
        .filter(|l| l.starts_with("processor"))
        .filter_map(|l| l.split_once(':').and_then(|(_, v)| v.trim().parse().ok()))
        .collect()
}

/// The `cpuN` lines of /proc/stat-style text.
fn stat_cpus(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count()
}

// ---------------------------------------------------------------------------------------------
// The container: 256 MiB and one CPU
// ---------------------------------------------------------------------------------------------

static CPU_CG_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A v1 cpu cgroup with a quota of one CPU (and its twin in a separate cpuacct hierarchy, as
/// container engines make it), removed on drop: what is left in it moves to the root first.
struct CpuCgroup {
    dir: PathBuf,
    acct: Option<PathBuf>,
}

impl CpuCgroup {
    fn one_cpu() -> CpuCgroup {
        let n = CPU_CG_COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("cgshim-supervise-{}-{n}", std::process::id());
        let dir = Path::new(CPU_ROOT).join(&name);
        if dir.exists() {
            remove_cgroup_to(&dir, &Path::new(CPU_ROOT).join("cgroup.procs"));
        }
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let separate = Path::new(CPUACCT_ROOT).join("cpuacct.usage").is_file()
            && !Path::new(CPU_ROOT).join("cpuacct.usage").is_file();
        let acct = separate.then(|| {
            let a = Path::new(CPUACCT_ROOT).join(&name);
            let _ = fs::create_dir(&a);
            a
        });
        for (file, value) in [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "100000")] {
            let p = dir.join(file);
            fs::write(&p, value).unwrap_or_else(|e| panic!("write {value} to {}: {e}", p.display()));
        }
        CpuCgroup { dir, acct }
    }
}

impl Drop for CpuCgroup {
    fn drop(&mut self) {
        remove_cgroup_to(&self.dir, &Path::new(CPU_ROOT).join("cgroup.procs"));
        if let Some(a) = &self.acct {
            remove_cgroup_to(a, &Path::new(CPUACCT_ROOT).join("cgroup.procs"));
        }
    }
}

/// How a program is run in the container.
#[derive(Clone, Copy, Debug)]
enum Via<'a> {
    /// As it is: no library, no cgshim.
    Plain,
    /// `LD_PRELOAD=libcgshim.so`, no cgshim.
    Library,
    /// `cgshim exec --lib LIB FLAGS -- PROGRAM…`.
    Cgshim(&'a [&'a str]),
}

const CGSHIM: Via<'static> = Via::Cgshim(&[]);

struct Container {
    mem: Cgroup,
    /// The v1 cpu cgroup with the quota (on v2 the quota is `cpu.max` of `mem`).
    cpu: Option<CpuCgroup>,
    /// The test's own affinity mask (what a plain program is allowed).
    affinity: Vec<usize>,
    /// S: the CPUs a program of the container is shown (one, with this quota).
    shown: Vec<usize>,
}

/// A new container, or None (after the reason was printed; a panic under CI=true) when this
/// machine cannot make one that proves anything. On cgroup v1 a memory cgroup and a cpu cgroup
/// (hierarchies of their own); on v2 (the VM suite) one cgroup with `memory.max` and `cpu.max`.
fn container() -> Option<Container> {
    if !common::cgroups_available() {
        return None;
    }
    let affinity = own_affinity();
    if !require(affinity.len() >= 2, "at least two CPUs in the affinity mask (with one, S is the host's)") {
        return None;
    }
    if common::v2::active() {
        let mem = Cgroup::new(Some(LIMIT));
        let max = mem.dir().join("cpu.max");
        let took = fs::write(&max, "100000 100000").is_ok();
        if !require(took, &format!("a v2 cgroup with a writable {}", max.display())) {
            return None;
        }
        let shown = common::shown_window(mem.dir(), &affinity, 1);
        return Some(Container { mem, cpu: None, affinity, shown });
    }
    let why = common::why_no_cpu_cgroups("supervise");
    if !require(why.is_none(), &format!("a writable v1 cpu hierarchy ({})", why.unwrap_or_default())) {
        return None;
    }
    let cpu = CpuCgroup::one_cpu();
    let shown = common::shown_window(&cpu.dir, &affinity, 1);
    Some(Container { mem: Cgroup::new(Some(LIMIT)), cpu: Some(cpu), affinity, shown })
}

/// `sh -c SCRIPT sh ARGV…` that joins the container's cgroups and executes ARGV.
fn join_script(c: &Container, before: &str) -> String {
    let mut dirs = vec![c.mem.dir().to_path_buf()];
    if let Some(cpu) = &c.cpu {
        dirs.push(cpu.dir.clone());
        dirs.extend(cpu.acct.clone());
    }
    let join: String = dirs.iter().map(|d| format!("echo $$ > {}/cgroup.procs && ", d.display())).collect();
    format!("{join}{before}exec \"$@\"")
}

fn cgshim() -> String {
    cgshim_bin().to_string_lossy().into_owned()
}

fn lib() -> String {
    lib_path().to_string_lossy().into_owned()
}

impl Container {
    /// The whole command line: join, then the program as `via` says.
    fn argv(&self, via: Via, before: &str, argv: &[&str]) -> Vec<String> {
        let mut full = vec!["sh".to_string(), "-c".to_string(), join_script(self, before), "sh".to_string()];
        if let Via::Cgshim(flags) = via {
            full.extend([cgshim(), "exec".into(), "--lib".into(), lib()]);
            full.extend(flags.iter().map(|f| f.to_string()));
            full.push("--".into());
        }
        full.extend(argv.iter().map(|a| a.to_string()));
        full
    }

    fn run(&self, via: Via, argv: &[&str]) -> Outcome {
        self.run_env(via, argv, &[])
    }

    fn run_env(&self, via: Via, argv: &[&str], env: &[(&str, &str)]) -> Outcome {
        let full = self.argv(via, "", argv);
        let full: Vec<&str> = full.iter().map(String::as_str).collect();
        let mut o = common::run_plain(&full, matches!(via, Via::Library), env);
        o.what = format!("{argv:?} via {via:?} in the container");
        o
    }

    /// [`Container::run`] as uid and gid 65534 with no groups (setpriv drops every capability);
    /// cgshim too runs as that user.
    fn run_as_nobody(&self, via: Via, argv: &[&str]) -> Outcome {
        let mut full = vec!["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
        let inner = self.argv(via, "", argv);
        // inner[..4] is the joining `sh -c SCRIPT sh`, which `run` puts in front again.
        full.extend(inner[4..].iter().map(String::as_str));
        self.run(Via::Plain, &full)
    }

    /// Starts the program with every stdio a pipe, in a process group of its own. The process
    /// the test gets is the program itself (plain) or cgshim (the `sh` executes it).
    fn spawn(&self, via: Via, before: &str, argv: &[&str], cwd: Option<&Path>) -> Live {
        let full = self.argv(via, before, argv);
        let mut cmd = Command::new(&full[0]);
        cmd.args(&full[1..]);
        clean_env(&mut cmd);
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {argv:?}: {e}"));
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let stdin = child.stdin.take();
        Live { what: format!("{argv:?} via {via:?}"), child, lines, stderr: Some(stderr), stdin }
    }

    /// What a program of the container must see (`static_probe info` keys).
    fn container_view(&self) -> BTreeMap<String, String> {
        let s = &self.shown;
        let n = s.len().to_string();
        view(&[
            ("sysinfo_totalram", LIMIT.to_string()),
            ("sc_nprocessors_onln", n.clone()),
            ("sc_phys_bytes", LIMIT.to_string()),
            ("affinity_count", n.clone()),
            ("affinity_list", joined(s)),
            ("meminfo_memtotal_kb", LIMIT_KB.to_string()),
            ("cpuinfo_processors", n.clone()),
            ("cpuinfo_list", joined(s)),
            ("online", kernel_list(s)),
            ("stat_cpus", n),
            ("status_cpus_allowed_list", kernel_list(s)),
        ])
    }
}

fn view(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// What a program sees of this machine without cgshim (`static_probe info` keys), read by the
/// test itself, which is never preloaded.
fn host_view(affinity: &[usize]) -> BTreeMap<String, String> {
    let total = (host_memtotal_kb() * 1024).to_string();
    let online = fs::read_to_string("/sys/devices/system/cpu/online").unwrap().trim().to_string();
    let cpuinfo = cpuinfo_processors(&fs::read_to_string("/proc/cpuinfo").unwrap());
    let n_online = cpus_of_list(&online).len().to_string();
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let allowed = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim();
    view(&[
        ("sysinfo_totalram", total.clone()),
        ("sc_nprocessors_onln", n_online),
        ("sc_phys_bytes", total),
        ("affinity_count", affinity.len().to_string()),
        ("affinity_list", joined(affinity)),
        ("meminfo_memtotal_kb", host_memtotal_kb().to_string()),
        ("cpuinfo_processors", cpuinfo.len().to_string()),
        ("cpuinfo_list", joined(&cpuinfo)),
        ("online", online),
        ("stat_cpus", stat_cpus(&fs::read_to_string("/proc/stat").unwrap()).to_string()),
        ("status_cpus_allowed_list", allowed.to_string()),
    ])
}

/// Every key of `expected` against `static_probe info` output.
fn check_view(f: &mut Failures, what: &str, out: &str, expected: &BTreeMap<String, String>) {
    let got = parse_kv(out);
    for (k, v) in expected {
        f.eq(&format!("{what}: {k}"), got.get(k).map(String::as_str), Some(v.as_str()));
    }
}

/// No CGSHIM_*, LD_PRELOAD or LD_LIBRARY_PATH from the test's own environment.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let ks = k.to_string_lossy();
        if ks.starts_with("CGSHIM_") || ks == "LD_PRELOAD" || ks == "LD_LIBRARY_PATH" {
            cmd.env_remove(&k);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Live processes
// ---------------------------------------------------------------------------------------------

/// A program started by [`Container::spawn`]; its whole process group is killed on drop.
struct Live {
    what: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
    stdin: Option<ChildStdin>,
}

impl Live {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, within [`LINE_TIMEOUT`].
    fn line(&mut self) -> String {
        self.line_within(LINE_TIMEOUT)
    }

    fn line_within(&mut self, limit: Duration) -> String {
        match self.lines.recv_timeout(limit) {
            Ok(l) => l,
            Err(e) => {
                let status = self.child.try_wait().ok().flatten();
                panic!("{}: no line on stdout within {limit:?} ({e}); status so far {status:?}", self.what)
            }
        }
    }

    /// The next stdout line, which must start with `prefix`; the rest of it.
    fn expect(&mut self, prefix: &str) -> String {
        let l = self.line();
        match l.strip_prefix(prefix) {
            Some(rest) => rest.to_string(),
            None => panic!("{}: expected a line starting {prefix:?}, got {l:?}", self.what),
        }
    }

    fn send_line(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(b"\n").and_then(|()| stdin.flush()).expect("write to the program");
    }

    /// `kill -SIG PID`, as another process would.
    fn signal(&self, sig: &str) {
        signal_pid(self.pid(), sig);
    }

    /// Waits up to `limit` for the process; its status, the rest of stdout and stderr.
    fn finish(mut self, limit: Duration) -> (ExitStatus, Vec<String>, String) {
        self.stdin = None;
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                panic!("{} did not end within {limit:?}", self.what);
            }
            thread::sleep(Duration::from_millis(5));
        };
        let mut rest = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push(l);
        }
        let stderr = self.stderr.take().map(|t| t.join().unwrap()).unwrap_or_default();
        (status, rest, stderr)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // `-s KILL -- -PGID`: procps-ng 4.0 reads `kill -KILL -PGID` as pid -(first digit),
        // which for a group id starting with 1 is kill(-1, SIGKILL).
        // Only while the leader is not reaped is its pid still this group's id: once waited
        // for, the number may name another process group (pid_max can be small).
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ =
                Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.child.id())]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal_pid(pid: u32, sig: &str) {
    let st = Command::new("kill").args(["-s", sig, "--", &pid.to_string()]).status().expect("run kill");
    assert!(st.success(), "kill -{sig} {pid} failed");
}

/// True once `pid` is gone (or a zombie nobody has reaped yet: it runs no more).
fn gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("Z"),
    }
}

fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if gone(pid) {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    gone(pid)
}

fn fd_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
}

// ---------------------------------------------------------------------------------------------
// The programs
// ---------------------------------------------------------------------------------------------

/// Static Busybox and musl-gcc, or None (the reason printed; a panic under CI=true).
fn busybox_and_musl() -> Option<String> {
    let bb = static_busybox()?;
    if !have_program("musl-gcc") {
        return None;
    }
    Some(path_str(bb))
}

fn path_str(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

/// `tests/c/static_probe.c` built with `musl-gcc -static`.
fn static_probe() -> String {
    path_str(musl_static_program("static_probe"))
}

/// The same source built with gcc, dynamically linked (the library's case).
fn dynamic_probe() -> String {
    path_str(c_program("static_probe"))
}

/// How the Go program is built.
#[derive(Clone, Copy, Debug, PartialEq)]
enum GoBuild {
    /// `CGO_ENABLED=0`: a static Go program, out of the library's reach altogether.
    Static,
    /// `CGO_ENABLED=1` (with `cgo.go`): dynamically linked, the library loads into it, and the
    /// Go runtime still makes its own system calls.
    Cgo,
}

/// `tests/go/probe` built with `go build` into the target directory, its caches there too;
/// rebuilt when a source is newer than the binary.
fn go_probe(build: GoBuild) -> Option<String> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let src = common::workspace().join("tests/go/probe");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cgshim-go");
    let out = dir.join(match build {
        GoBuild::Static => "probe",
        GoBuild::Cgo => "probe-cgo",
    });
    let newest_src = ["main.go", "cgo.go", "go.mod"]
        .iter()
        .filter_map(|f| fs::metadata(src.join(f)).and_then(|m| m.modified()).ok())
        .max();
    let built = fs::metadata(&out).and_then(|m| m.modified()).ok();
    if matches!((newest_src, built), (Some(s), Some(b)) if b >= s) {
        return Some(path_str(out));
    }
    // Built on the host for the VM guest, which has no Go: an up-to-date binary is enough.
    if !have_program("go") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "go is not installed and {} is not built: scripts/test.sh installs golang-go",
            out.display()
        );
        eprintln!("skipping the Go cases: go is not installed (scripts/test.sh installs golang-go)");
        return None;
    }
    fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("go");
    cmd.args(["build", "-trimpath", "-o"]).arg(&out).arg(".").current_dir(&src);
    clean_env(&mut cmd);
    cmd.env("CGO_ENABLED", if build == GoBuild::Cgo { "1" } else { "0" })
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOCACHE", dir.join("cache"))
        .env("GOPATH", dir.join("gopath"));
    let o = cmd.output().unwrap_or_else(|e| panic!("cannot run go build: {e}"));
    assert!(
        o.status.success(),
        "go build ({build:?}) of {} failed:\n{}{}",
        src.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Some(path_str(out))
}

/// An ordinary file with known bytes, for the open storms.
fn plain_file() -> String {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cgshim-supervise-plain.txt");
    let text: String = (0..64).map(|i| format!("an ordinary file, line {i}\n")).collect();
    if fs::read_to_string(&p).ok().as_deref() != Some(text.as_str()) {
        let tmp = p.with_extension(format!("{}.tmp", std::process::id()));
        fs::write(&tmp, &text).unwrap();
        fs::rename(&tmp, &p).unwrap();
    }
    path_str(p)
}

/// The `Mem:` line's first number (total) of `free` output.
fn free_total(out: &str) -> Option<u64> {
    out.lines()
        .find(|l| l.starts_with("Mem:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|t| t.parse().ok())
}

/// Busybox `top`'s `Mem: AK used, BK free, …` line: A + B in kB.
fn busybox_top_total_kb(out: &str) -> Option<u64> {
    let line = out.lines().find(|l| l.starts_with("Mem:"))?;
    let mut words = line.split_whitespace();
    let used = words.nth(1)?.strip_suffix('K')?.parse::<u64>().ok()?;
    let free = words.nth(1)?.strip_suffix('K')?.parse::<u64>().ok()?;
    Some(used + free)
}

/// Lines of stderr that cgshim wrote.
fn cgshim_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("cgshim:")).collect()
}

/// `rewind` output: one map per `sample=` line.
fn samples(out: &str) -> Vec<BTreeMap<String, u64>> {
    out.lines()
        .filter(|l| l.starts_with("sample="))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(u64::MAX)))
                .collect()
        })
        .collect()
}

/// Samples of `rewind MODE 2 32`: MemTotal `total_kb` in every one, and MemFree falling by
/// about the 32 MiB the program touched between two samples (live values, not the first
/// read again).
fn check_rewind(f: &mut Failures, what: &str, out: &str, total_kb: u64, live: bool) {
    let s = samples(out);
    f.eq(&format!("{what}: samples"), s.len(), 3);
    for (i, x) in s.iter().enumerate() {
        f.eq(&format!("{what}: sample {i} MemTotal"), x.get("MemTotal").copied(), Some(total_kb));
    }
    if live {
        for w in s.windows(2) {
            let drop = w[0]["MemFree"].saturating_sub(w[1]["MemFree"]);
            f.check((24 * 1024..=48 * 1024).contains(&drop), || {
                format!(
                    "{what}: MemFree fell by {drop} kB between two samples after 32 MiB were touched \
                     ({} -> {}): the rewind did not give fresh values",
                    w[0]["MemFree"], w[1]["MemFree"]
                )
            });
        }
    }
}

// =============================================================================================
// The values: static Busybox, a static C program, a Go program
// =============================================================================================

/// Static Busybox `free`, `top`, `nproc`, `cat` of the memory and CPU files: the host's plain,
/// the container's supervised, the same as dynamic programs get from the library.
#[test]
fn static_busybox_sees_the_container() {
    let Some(bb) = busybox_and_musl() else { return };
    let Some(c) = container() else { return };
    let bb = bb.as_str();
    let host_kb = host_memtotal_kb();
    let n_shown = c.shown.len() as u64;
    let mut f = Failures::default();

    for (via, total, kb, cpus) in [
        (Via::Plain, host_kb * 1024, host_kb, c.affinity.clone()),
        (CGSHIM, LIMIT, LIMIT_KB, c.shown.clone()),
    ] {
        let o = c.run(via, &[bb, "free", "-b"]);
        f.eq(&format!("busybox free -b, Mem total, {via:?}"), free_total(o.ok()), Some(total));
        f.eq(&format!("busybox free -b stderr, {via:?}"), o.stderr.as_str(), "");
        let o = c.run(via, &[bb, "free"]);
        f.eq(&format!("busybox free (kB), Mem total, {via:?}"), free_total(o.ok()), Some(kb));

        let o = c.run(via, &[bb, "top", "-b", "-n", "1"]);
        f.eq(
            &format!("busybox top -b -n 1, Mem used + free, {via:?}"),
            busybox_top_total_kb(o.ok()),
            Some(kb),
        );

        let o = c.run(via, &[bb, "nproc"]);
        f.eq(&format!("busybox nproc, {via:?}"), o.ok().trim().parse::<u64>().ok(), Some(cpus.len() as u64));

        let o = c.run(via, &[bb, "cat", "/proc/meminfo"]);
        let m = parse_meminfo(o.ok());
        f.eq(&format!("busybox cat /proc/meminfo, MemTotal, {via:?}"), m.get("MemTotal").copied(), Some(kb));
        let free = m.get("MemFree").copied().unwrap_or(u64::MAX);
        let avail = m.get("MemAvailable").copied().unwrap_or(u64::MAX);
        // The kernel's own MemAvailable may fall below MemFree (reserves); the served one never.
        let served = !matches!(via, Via::Plain);
        f.check(avail <= kb && (free <= avail || !served), || {
            format!(
                "busybox cat /proc/meminfo, {via:?}: MemFree {free} <= MemAvailable {avail} <= {kb} fails"
            )
        });

        f.eq(
            &format!("busybox cat /proc/meminfo, the fields in order, {via:?}"),
            common::meminfo_keys(&o.stdout),
            common::meminfo_keys(&host_meminfo_text()),
        );
        let o = c.run(via, &[bb, "cat", "/proc/vmstat"]);
        let vmstat: BTreeMap<&str, u64> = o
            .ok()
            .lines()
            .filter_map(|l| l.split_once(' ').and_then(|(k, v)| Some((k, v.trim().parse().ok()?))))
            .collect();
        let free_pages = vmstat.get("nr_free_pages").copied().unwrap_or(u64::MAX);
        f.check(free_pages.saturating_mul(common::page_size()) <= kb * 1024, || {
            format!("busybox cat /proc/vmstat, {via:?}: nr_free_pages {free_pages} beyond {kb} kB")
        });
        let o = c.run(via, &[bb, "cat", "/proc/swaps"]);
        f.eq(
            &format!("busybox cat /proc/swaps, {via:?}"),
            o.ok().lines().next().map(|l| l.split_whitespace().collect::<Vec<_>>()),
            Some(vec!["Filename", "Type", "Size", "Used", "Priority"]),
        );

        let o = c.run(via, &[bb, "cat", "/proc/cpuinfo"]);
        f.eq(
            &format!("busybox cat /proc/cpuinfo, processors, {via:?}"),
            cpuinfo_processors(o.ok()),
            cpus.clone(),
        );
        let o = c.run(via, &[bb, "cat", "/sys/devices/system/cpu/online"]);
        f.eq(&format!("busybox cat .../cpu/online, {via:?}"), o.ok().trim().to_string(), kernel_list(&cpus));
        let o = c.run(via, &[bb, "cat", "/proc/stat"]);
        f.eq(&format!("busybox cat /proc/stat, cpuN lines, {via:?}"), stat_cpus(o.ok()), cpus.len());
    }
    f.eq("S has one CPU under a quota of one", n_shown, 1);

    // The library gives dynamic programs the very same answers in this container.
    let o = c.run(Via::Library, &["cat", "/proc/cpuinfo"]);
    f.eq("/bin/cat /proc/cpuinfo with the library, processors", cpuinfo_processors(o.ok()), c.shown.clone());
    let o = c.run(Via::Library, &["nproc"]);
    f.eq("coreutils nproc with the library", o.ok().trim().parse::<u64>().ok(), Some(n_shown));
    f.finish("static Busybox, plain and supervised");
}

/// `tests/c/static_probe.c`: the musl static build supervised and the glibc static build
/// supervised see exactly what the dynamic build sees with the library (under `cgshim exec` and
/// with LD_PRELOAD), and plain they see the host.
#[test]
fn static_c_program_sees_what_a_preloaded_one_sees() {
    if !have_program("musl-gcc") {
        return;
    }
    let Some(c) = container() else { return };
    let musl = static_probe();
    let glibc_static = path_str(static_program("static_probe"));
    let dynamic = dynamic_probe();
    let expected = c.container_view();
    let host = host_view(&c.affinity);
    let mut f = Failures::default();

    let cases: [(&str, Via, &str, &BTreeMap<String, String>); 6] = [
        ("musl static, plain", Via::Plain, &musl, &host),
        ("glibc static, plain", Via::Plain, &glibc_static, &host),
        ("musl static, cgshim exec", CGSHIM, &musl, &expected),
        ("glibc static, cgshim exec", CGSHIM, &glibc_static, &expected),
        ("dynamic, cgshim exec (the library)", CGSHIM, &dynamic, &expected),
        ("dynamic, LD_PRELOAD", Via::Library, &dynamic, &expected),
    ];
    let mut seen = Vec::new();
    for (what, via, prog, view) in cases {
        let o = c.run(via, &[prog, "info"]);
        check_view(&mut f, what, o.ok(), view);
        f.eq(&format!("{what}: stderr"), o.stderr.as_str(), "");
        if !matches!(via, Via::Plain) {
            let mut kv = parse_kv(&o.stdout);
            kv.remove("sysinfo_freeram");
            seen.push((what, kv));
        }
    }
    // Supervised and preloaded: not only the expected keys, every key alike.
    for (what, kv) in &seen[1..] {
        f.eq(&format!("{what} against {}", seen[0].0), kv, &seen[0].1);
    }
    f.finish("a static C program, plain, supervised and preloaded");
}

/// The Go program, static and with cgo: `runtime.NumCPU()`, `/proc/meminfo`, `/proc/stat` and
/// sysinfo, plain, with the library alone (which cannot reach the Go runtime's own calls) and
/// supervised.
#[test]
fn go_program_sees_the_container() {
    let (Some(go), Some(go_cgo)) = (go_probe(GoBuild::Static), go_probe(GoBuild::Cgo)) else { return };
    let Some(c) = container() else { return };
    let host_kb = host_memtotal_kb();
    let host_stat = stat_cpus(&fs::read_to_string("/proc/stat").unwrap());
    let mut f = Failures::default();
    let host = (c.affinity.len(), host_kb, host_stat);
    let shown = (c.shown.len(), LIMIT_KB, c.shown.len());
    for (build, prog) in [(GoBuild::Static, &go), (GoBuild::Cgo, &go_cgo)] {
        for (via, (n, kb, stat)) in [(Via::Plain, host), (Via::Library, host), (CGSHIM, shown)] {
            let o = c.run(via, &[prog, "info"]);
            let kv = parse_kv(o.ok());
            let get = |k: &str| kv.get(k).and_then(|v| v.parse::<u64>().ok());
            let what = format!("Go ({build:?}), {via:?}");
            f.eq(&format!("{what}: runtime.NumCPU()"), get("numcpu"), Some(n as u64));
            f.eq(&format!("{what}: GOMAXPROCS"), get("gomaxprocs"), Some(n as u64));
            f.eq(&format!("{what}: /proc/meminfo MemTotal"), get("meminfo_memtotal_kb"), Some(kb));
            f.eq(&format!("{what}: /proc/stat cpuN lines"), get("stat_cpus"), Some(stat as u64));
            f.eq(&format!("{what}: sysinfo totalram"), get("sysinfo_totalram"), Some(kb * 1024));
            f.eq(
                &format!("{what}: linked with cgo"),
                kv.get("cgo").cloned(),
                Some((build == GoBuild::Cgo).to_string()),
            );
            f.eq(&format!("{what}: stderr"), o.stderr.as_str(), "");
        }
    }
    f.finish("a Go program, plain, preloaded and supervised");
}

/// 64 goroutines, each 1000 times opening and reading /proc/meminfo and an ordinary file with
/// raw system calls (no EINTR retry) and calling sysinfo, while the runtime preempts them with
/// SIGURG and SIGURG is also sent from outside: every read whole and alike, no EINTR, no ENOSYS
/// (the static build plain and supervised, the cgo build supervised).
#[test]
fn go_goroutines_open_while_the_runtime_preempts() {
    let (Some(go), Some(go_cgo)) = (go_probe(GoBuild::Static), go_probe(GoBuild::Cgo)) else { return };
    let Some(c) = container() else { return };
    let file = plain_file();
    let mut f = Failures::default();
    let cases = [
        ("static build, plain", Via::Plain, &go, host_memtotal_kb()),
        ("static build, supervised", CGSHIM, &go, LIMIT_KB),
        ("cgo build, supervised", CGSHIM, &go_cgo, LIMIT_KB),
    ];
    for (what, via, prog, kb) in cases {
        let o = c.run(via, &[prog, "stress", "64", "1000", &file]);
        let kv = parse_kv(o.ok());
        let get = |k: &str| kv.get(k).and_then(|v| v.parse::<u64>().ok());
        f.eq(&format!("Go stress, {what}: reads"), get("reads"), Some(64 * 1000 * 2));
        f.eq(&format!("Go stress, {what}: EINTR"), get("eintr"), Some(0));
        f.eq(&format!("Go stress, {what}: ENOSYS"), get("enosys"), Some(0));
        f.eq(&format!("Go stress, {what}: other errors"), get("other_errors"), Some(0));
        f.eq(&format!("Go stress, {what}: mismatches"), get("mismatches"), Some(0));
        f.eq(&format!("Go stress, {what}: MemTotal"), get("memtotal_kb"), Some(kb));
        f.eq(&format!("Go stress, {what}: stderr"), o.stderr.as_str(), "");
    }
    f.finish("goroutines opening files under preemption");
}

/// The served fds and the odd arguments: two opens read in turn each from their own offset,
/// O_CLOEXEC as asked, read-only, openat through a directory fd, `/proc/<pid>/status`,
/// `/proc/thread-self/status` and `cpuN/online` narrowed to S; bad pointers, short and odd
/// mask sizes, another process's mask, missing pids, bad fds and overlong paths answered exactly
/// as the kernel answers them (the return value of the raw sched_getaffinity included), only the caller's
/// own mask narrowed to S.
#[test]
fn served_fds_and_odd_arguments_look_like_the_kernels() {
    if !have_program("musl-gcc") {
        return;
    }
    let Some(c) = container() else { return };
    let probe = static_probe();
    let mut f = Failures::default();

    let plain = parse_kv(c.run(Via::Plain, &[&probe, "fds"]).ok());
    let sup = parse_kv(c.run(CGSHIM, &[&probe, "fds"]).ok());
    for (k, v) in &plain {
        let want = match k.as_str() {
            "openat_dirfd" => LIMIT_KB.to_string(),
            "pid_status" | "thread_status" => kernel_list(&c.shown),
            k if k.ends_with("_online") => {
                let n: usize = k.trim_start_matches("cpu").trim_end_matches("_online").parse().unwrap();
                if c.shown.contains(&n) { v.clone() } else { "0".to_string() }
            }
            _ => v.clone(),
        };
        f.eq(&format!("fds: {k} supervised (plain: {v})"), sup.get(k), Some(&want));
    }
    f.eq(
        "fds: plain second_open_starts",
        plain.get("second_open_starts").map(String::as_str),
        Some("MemTotal:"),
    );
    f.eq("fds: plain openat_dirfd", plain.get("openat_dirfd").cloned(), Some(host_memtotal_kb().to_string()));

    let plain = parse_kv(c.run(Via::Plain, &[&probe, "edges"]).ok());
    let sup = parse_kv(c.run(CGSHIM, &[&probe, "edges"]).ok());
    let host_byte: u32 = c.affinity.iter().filter(|&&c| c < 8).map(|c| 1u32 << c).sum();
    let shown_byte: u32 = c.shown.iter().filter(|&&c| c < 8).map(|c| 1u32 << c).sum();
    f.eq("edges: keys", sup.keys().collect::<Vec<_>>(), plain.keys().collect::<Vec<_>>());
    for (k, v) in &plain {
        let narrowed =
            k.starts_with("affinity_") && k.ends_with("_first_byte") && k != "affinity_pid1_first_byte";
        let want = if narrowed && v.parse::<u32>().ok() == Some(host_byte) {
            shown_byte.to_string()
        } else {
            v.clone()
        };
        f.eq(&format!("edges: {k} supervised (plain: {v})"), sup.get(k), Some(&want));
    }
    f.eq(
        "edges: plain affinity_128_first_byte is the host's mask",
        plain.get("affinity_128_first_byte").cloned(),
        Some(host_byte.to_string()),
    );
    f.finish("served fds and odd arguments");
}

// =============================================================================================
// Children, rewinds
// =============================================================================================

/// A supervised static shell starting dynamic programs: they keep the library (LD_PRELOAD is
/// still set, the library is mapped) and see the container, and one that keeps /proc/meminfo
/// open and rewinds it gets live values.
#[test]
fn supervised_program_forks_a_dynamic_child() {
    let Some(bb) = busybox_and_musl() else { return };
    if !have_program("free") {
        return;
    }
    let Some(c) = container() else { return };
    let rewind = path_str(c_program("rewind"));
    let lib = lib();
    let host_kb = host_memtotal_kb();
    let mut f = Failures::default();

    for (via, total_kb) in [(Via::Plain, host_kb), (CGSHIM, LIMIT_KB)] {
        let o = c.run(via, &[&bb, "sh", "-c", "/usr/bin/free -b"]);
        f.eq(
            &format!("static sh → procps free -b, Mem total, {via:?}"),
            free_total(o.ok()),
            Some(total_kb * 1024),
        );
        let o = c.run(via, &[&bb, "sh", "-c", "/usr/bin/nproc"]);
        let n = if matches!(via, Via::Plain) { c.affinity.len() } else { c.shown.len() };
        f.eq(&format!("static sh → coreutils nproc, {via:?}"), o.ok().trim().parse::<usize>().ok(), Some(n));
        let o = c.run(via, &[&bb, "sh", "-c", &format!("exec {rewind} lseek 2 32")]);
        // The host's MemFree need not move with one program's 32 MiB; the container's must.
        let live = matches!(via, Via::Cgshim(_));
        check_rewind(&mut f, &format!("static sh → dynamic rewind, {via:?}"), o.ok(), total_kb, live);
    }

    // exec in place, both ways: what the process is now decides how it is answered.
    let chains: [(&str, Via, Vec<String>); 4] = [
        (
            "static sh execs static free",
            CGSHIM,
            vec![bb.clone(), "sh".into(), "-c".into(), format!("exec {bb} free -b")],
        ),
        (
            "dynamic sh (--supervise) execs static free",
            Via::Cgshim(&["--supervise"]),
            vec!["sh".into(), "-c".into(), format!("exec {bb} free -b")],
        ),
        (
            "dynamic sh (--supervise) forks static free",
            Via::Cgshim(&["--supervise"]),
            vec!["sh".into(), "-c".into(), format!("{bb} free -b; exit 0")],
        ),
        (
            "static sh execs procps free",
            CGSHIM,
            vec![bb.clone(), "sh".into(), "-c".into(), "exec /usr/bin/free -b".into()],
        ),
    ];
    for (what, via, argv) in chains {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = c.run(via, &argv);
        f.eq(&format!("{what}: Mem total"), free_total(o.ok()), Some(LIMIT));
        f.eq(&format!("{what}: stderr"), o.stderr.as_str(), "");
    }

    let o = c.run(CGSHIM, &[&bb, "sh", "-c", "echo \"$LD_PRELOAD\""]);
    f.check(o.ok().split([' ', ':']).any(|e| e.trim() == lib), || {
        format!("LD_PRELOAD of the supervised program does not name {lib}: {:?}", o.stdout)
    });
    let o = c.run(CGSHIM, &[&bb, "sh", "-c", "exec /bin/cat /proc/self/maps"]);
    f.check(o.ok().contains(&lib), || {
        format!("a dynamic child of the supervised program does not map {lib}")
    });
    f.finish("dynamic children of a supervised program");
}

/// A static program that opens /proc/meminfo once and rewinds it with lseek(fd, 0, SEEK_SET)
/// between samples, touching 32 MiB each time: the supervised samples follow the usage.
#[test]
fn static_program_rewind_gets_fresh_values() {
    if !have_program("musl-gcc") {
        return;
    }
    let Some(c) = container() else { return };
    let rewind = path_str(musl_static_program("rewind"));
    let mut f = Failures::default();
    let o = c.run(Via::Plain, &[&rewind, "lseek", "2", "32"]);
    check_rewind(&mut f, "static rewind, plain", o.ok(), host_memtotal_kb(), false);
    let o = c.run(CGSHIM, &[&rewind, "lseek", "2", "32"]);
    check_rewind(&mut f, "static rewind, supervised", o.ok(), LIMIT_KB, true);
    f.eq(
        "static rewind, supervised: read after the whole file",
        parse_kv(&o.stdout).get("eof_read").cloned(),
        Some("0".into()),
    );
    f.finish("refresh on rewind for a static program");
}

/// In a PID namespace, the container's uptime: `/proc/uptime` and sysinfo's uptime (Busybox
/// `uptime`) of a supervised static program start with the namespace, as a preloaded program's
/// do; plain, they are the machine's.
#[test]
fn pid_namespace_uptime() {
    let Some(bb) = busybox_and_musl() else { return };
    let Some(c) = container() else { return };
    let (cg, lib) = (cgshim(), lib());
    let host_up: f64 =
        fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let mut f = Failures::default();
    let in_ns = |prefix: &[&str], argv: &[&str]| {
        let mut full = vec!["unshare", "--pid", "--fork", "--mount-proc"];
        full.extend_from_slice(prefix);
        full.extend_from_slice(argv);
        c.run(Via::Plain, &full)
    };
    let supervised: [&str; 5] = [&cg, "exec", "--lib", &lib, "--"];
    let uptime = |o: &Outcome| o.ok().split_whitespace().next().and_then(|v| v.parse::<f64>().ok());
    let o = in_ns(&supervised, &[&bb, "cat", "/proc/uptime"]);
    let up = uptime(&o);
    f.check(up.is_some_and(|u| u < 10.0), || {
        format!("/proc/uptime of a supervised program in a new PID namespace: {up:?}")
    });
    let o = in_ns(&["env", &format!("LD_PRELOAD={lib}")], &["cat", "/proc/uptime"]);
    let up = uptime(&o);
    f.check(up.is_some_and(|u| u < 10.0), || {
        format!("/proc/uptime with the library in a new PID namespace: {up:?}")
    });
    let o = in_ns(&[], &[&bb, "cat", "/proc/uptime"]);
    let up = uptime(&o);
    f.check(up.is_some_and(|u| u >= host_up), || {
        format!("/proc/uptime plain in a PID namespace: {up:?}, the machine's is {host_up}")
    });
    // Busybox uptime asks sysinfo: "up 0 min" in the new namespace.
    let o = in_ns(&supervised, &[&bb, "uptime"]);
    f.check(o.ok().contains("up 0 min"), || {
        format!("busybox uptime, supervised, in a new PID namespace: {:?}", o.stdout)
    });
    if host_up >= 120.0 {
        let o = in_ns(&[], &[&bb, "uptime"]);
        f.check(!o.ok().contains("up 0 min"), || {
            format!("busybox uptime, plain, with the machine up {host_up} s: {:?}", o.stdout)
        });
    }
    f.finish("uptime in a PID namespace");
}

// =============================================================================================
// A small init: signals, exit statuses, the supervisor's death
// =============================================================================================

/// Signals sent to cgshim by another process reach the program's handlers in order, and the
/// program's exit code comes back; plain, the same signals sent to the program give the same.
/// The program is a child of cgshim.
#[test]
fn signals_sent_to_cgshim_reach_the_program() {
    if !have_program("musl-gcc") {
        return;
    }
    let Some(c) = container() else { return };
    let probe = static_probe();
    let mut f = Failures::default();
    for via in [Via::Plain, CGSHIM] {
        let mut live = c.spawn(via, "", &[&probe, "signals"], None);
        let first = live.line();
        let ids: BTreeMap<&str, &str> =
            first.split_whitespace().filter_map(|kv| kv.split_once('=')).collect();
        let head = live.pid();
        if matches!(via, Via::Cgshim(_)) {
            let ppid = ids.get("ppid").and_then(|p| p.parse::<u32>().ok());
            f.check(ids.get("pid") != Some(&head.to_string().as_str()), || {
                "the supervised program has cgshim's pid: it was not started as a child".into()
            });
            f.eq("the supervised program's parent is cgshim", ppid, Some(head));
        }
        // Every signal cgshim forwards that static_probe handles; TERM, last, ends it.
        const SENT: [&str; 8] = ["HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "CONT", "TERM"];
        let mut got = Vec::new();
        for sig in SENT {
            live.signal(sig);
            got.push(live.line());
        }
        let (status, rest, stderr) = live.finish(Duration::from_secs(10));
        let want: Vec<String> = SENT.iter().map(|s| format!("got={s}")).collect();
        f.eq(&format!("handlers run, {via:?}"), got, want);
        f.eq(&format!("exit code after SIGTERM's handler, {via:?}"), status.code(), Some(42));
        f.eq(&format!("more stdout, {via:?}"), rest, Vec::<String>::new());
        f.eq(&format!("stderr, {via:?}"), stderr.as_str(), "");
    }
    f.finish("signals forwarded to handlers");
}

/// A program that does not handle the signal dies of it, and cgshim dies of the same signal.
#[test]
fn death_by_a_forwarded_signal_is_cgshims_death() {
    if !have_program("musl-gcc") {
        return;
    }
    let Some(c) = container() else { return };
    let probe = static_probe();
    let mut f = Failures::default();
    for sig in [("TERM", 15), ("INT", 2), ("HUP", 1), ("USR1", 10)] {
        for via in [Via::Plain, CGSHIM] {
            let mut live = c.spawn(via, "", &[&probe, "loop", "60"], None);
            let pid: u32 = live.expect("pid=").parse().unwrap();
            live.signal(sig.0);
            let (status, _, stderr) = live.finish(Duration::from_secs(10));
            f.eq(&format!("SIG{} to {via:?}: killed by", sig.0), status.signal(), Some(sig.1));
            f.eq(&format!("SIG{} to {via:?}: core dumped", sig.0), status.core_dumped(), false);
            f.check(wait_gone(pid, Duration::from_secs(2)), || {
                format!("SIG{} to {via:?}: the program lives on", sig.0)
            });
            f.eq(&format!("SIG{} to {via:?}: stderr", sig.0), cgshim_lines(&stderr), Vec::<&str>::new());
        }
    }
    f.finish("death by forwarded signals");
}

/// Exit codes and deaths by the program's own signals come back through cgshim: exit 7 → 7;
/// SIGABRT and SIGSEGV → cgshim dies of the same signal, without a core dump of its own (the
/// program's core, where the plain run dumps one, is still written).
#[test]
fn exit_statuses_and_deaths_come_back() {
    let Some(bb) = busybox_and_musl() else { return };
    let Some(c) = container() else { return };
    let probe = static_probe();
    let mut f = Failures::default();
    for via in [Via::Plain, CGSHIM] {
        for code in ["0", "1", "7", "255"] {
            let o = c.run(via, &[&probe, "exit", code]);
            f.eq(&format!("static_probe exit {code}, {via:?}"), o.status.code(), code.parse().ok());
        }
        let o = c.run(via, &[&bb, "sh", "-c", "exit 7"]);
        f.eq(&format!("busybox sh -c 'exit 7', {via:?}"), o.status.code(), Some(7));
        let o = c.run(via, &[&bb, "false"]);
        f.eq(&format!("busybox false, {via:?}"), o.status.code(), Some(1));
    }

    // Deaths, with core dumps allowed (in a directory of their own).
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cgshim-supervise-core-{}", std::process::id()));
    for (what, sig) in [("abort", 6), ("segv", 11)] {
        let mut plain_core = false;
        for via in [Via::Plain, CGSHIM] {
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let live = c.spawn(via, "ulimit -c unlimited && ", &[&probe, what], Some(&dir));
            let (status, _, stderr) = live.finish(Duration::from_secs(30));
            f.eq(&format!("static_probe {what}, {via:?}: killed by"), status.signal(), Some(sig));
            f.eq(
                &format!("static_probe {what}, {via:?}: cgshim's stderr"),
                cgshim_lines(&stderr),
                Vec::<&str>::new(),
            );
            let cores = fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
            match via {
                Via::Plain => plain_core = status.core_dumped(),
                _ => {
                    f.eq(
                        &format!("static_probe {what}, supervised: cgshim's status says core dumped"),
                        status.core_dumped(),
                        false,
                    );
                    if plain_core {
                        f.eq(&format!("static_probe {what}, supervised: the program's core file"), cores, 1);
                    }
                }
            }
        }
    }

    // A core_pattern that pipes cores to a handler (systemd-coredump, apport) ignores a zero core
    // limit: the handler hears of the program's death, plain and supervised, never of cgshim's.
    let pipe = CorePipe::install(&dir.with_extension("pipe"));
    // The kernel's comm: the executable's name, cut to 15 bytes.
    let name = Path::new(&probe).file_name().unwrap().to_string_lossy().into_owned();
    let comm = &name[..name.len().min(15)];
    for what in ["abort", "segv"] {
        for via in [Via::Plain, CGSHIM] {
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let live = c.spawn(via, "ulimit -c unlimited && ", &[&probe, what], Some(&dir));
            let pid = live.pid();
            let (status, _, _) = live.finish(Duration::from_secs(30));
            let ctx = format!("static_probe {what}, {via:?}, core_pattern {:?}", pipe.pattern);
            f.check(status.signal().is_some(), || format!("{ctx}: not killed by a signal: {status:?}"));
            let dumps = pipe.dumps_until(|d| d.iter().any(|(_, c)| c == comm));
            f.check(dumps.iter().any(|(_, c)| c == comm), || {
                format!("{ctx}: the handler never heard of the program's death: {dumps:?}")
            });
            if !matches!(via, Via::Plain) {
                f.check(!dumps.iter().any(|(p, _)| *p == pid), || {
                    format!("{ctx}: cgshim (pid {pid}) dumped a core to the handler: {dumps:?}")
                });
            }
            pipe.clear();
        }
    }
    drop(pipe);
    let _ = fs::remove_dir_all(&dir);
    f.finish("exit statuses and deaths by signal");
}

/// `/proc/sys/kernel/core_pattern` set to pipe cores to a script that records `PID COMM` of each
/// dump in a file; the original pattern comes back on drop.
struct CorePipe {
    original: String,
    pattern: String,
    log: PathBuf,
}

impl CorePipe {
    const FILE: &str = "/proc/sys/kernel/core_pattern";

    fn install(dir: &Path) -> CorePipe {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).unwrap();
        let script = dir.join("record");
        let log = dir.join("dumps");
        fs::write(&script, format!("#!/bin/sh\necho \"$1 $2\" >> {}\nexec cat > /dev/null\n", log.display()))
            .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let original = fs::read_to_string(Self::FILE).expect("read core_pattern");
        let pattern = format!("|{} %P %e", script.display());
        fs::write(Self::FILE, &pattern).expect("write core_pattern (root)");
        CorePipe { original, pattern, log }
    }

    fn read(&self) -> Vec<(u32, String)> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (pid, comm) = l.split_once(' ')?;
                Some((pid.parse().ok()?, comm.to_string()))
            })
            .collect()
    }

    /// The dumps recorded once `done` holds (within 5 s), and one more second for late ones.
    fn dumps_until(&self, done: impl Fn(&[(u32, String)]) -> bool) -> Vec<(u32, String)> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(&self.read()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        thread::sleep(Duration::from_secs(1));
        self.read()
    }

    fn clear(&self) {
        let _ = fs::remove_file(&self.log);
    }
}

impl Drop for CorePipe {
    fn drop(&mut self) {
        let _ = fs::write(Self::FILE, self.original.trim_end());
        if let Some(dir) = self.log.parent() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// SIGKILL of cgshim: the program (idle, busy opening files, or ignoring every catchable
/// signal) is gone within two seconds.
#[test]
fn killing_the_supervisor_kills_the_program() {
    let Some(bb) = busybox_and_musl() else { return };
    let Some(c) = container() else { return };
    let probe = static_probe();
    let mut f = Failures::default();
    let idle = format!("echo pid=$$; exec {bb} sleep 60");
    let cases: [(&str, Vec<&str>); 3] = [
        ("idle (sleep)", vec![bb.as_str(), "sh", "-c", &idle]),
        ("busy opening /proc/meminfo", vec![&probe, "loop", "60"]),
        ("ignoring signals, busy opening", vec![&probe, "loop", "60", "ignore"]),
    ];
    for (what, argv) in cases {
        let mut live = c.spawn(CGSHIM, "", &argv, None);
        let pid: u32 = live.expect("pid=").trim().parse().unwrap();
        thread::sleep(Duration::from_millis(300));
        f.check(!gone(pid), || format!("{what}: the program ended before the supervisor was killed"));
        live.signal("KILL");
        let (status, _, _) = live.finish(Duration::from_secs(10));
        f.eq(&format!("{what}: cgshim killed by"), status.signal(), Some(9));
        f.check(wait_gone(pid, Duration::from_secs(2)), || {
            format!("{what}: program {pid} still runs 2 s after its supervisor was killed")
        });
    }
    f.finish("SIGKILL of the supervisor");
}

/// A program that exits and leaves a child behind: cgshim exits with the program's status at
/// once, the orphan is still answered afterwards (never ENOSYS), and nothing of cgshim stays
/// once the orphan is gone.
#[test]
fn orphans_of_the_program_are_still_answered() {
    let Some(bb) = busybox_and_musl() else { return };
    let Some(c) = container() else { return };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cgshim-supervise-orphan-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let mut f = Failures::default();
    for (via, kb) in [(Via::Plain, host_memtotal_kb()), (CGSHIM, LIMIT_KB)] {
        let out = dir.join(format!("{via:?}.txt").replace(['(', ')', '[', ']'], ""));
        let _ = fs::remove_file(&out);
        let script = format!(
            "( {bb} sleep 1; {bb} cat /proc/meminfo > {o}.tmp; {bb} mv {o}.tmp {o} ) </dev/null >/dev/null 2>&1 & exit 3",
            o = out.display()
        );
        let start = Instant::now();
        let o = c.run(via, &[&bb, "sh", "-c", &script]);
        let took = start.elapsed();
        f.eq(&format!("{via:?}: exit status"), o.status.code(), Some(3));
        f.check(took < Duration::from_millis(900), || {
            format!("{via:?}: cgshim waited {took:?} for the orphan")
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !out.exists() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let text = fs::read_to_string(&out).unwrap_or_default();
        f.eq(
            &format!("{via:?}: the orphan's MemTotal"),
            parse_meminfo(&text).get("MemTotal").copied(),
            Some(kb),
        );
        // Then nothing is left in the container.
        let procs = c.mem.dir().join("cgroup.procs");
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut left = String::new();
        while Instant::now() < deadline {
            left = fs::read_to_string(&procs).unwrap_or_default();
            if left.trim().is_empty() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<String> = left
            .lines()
            .map(|p| {
                format!(
                    "{p} {}",
                    fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default().replace('\0', " ")
                )
            })
            .collect();
        f.eq(
            &format!("{via:?}: processes left in the container 3 s after the orphan"),
            left,
            Vec::<String>::new(),
        );
    }
    let _ = fs::remove_dir_all(&dir);
    f.finish("orphans of the program");
}

// =============================================================================================
// Load: threads, fds
// =============================================================================================

/// 32 threads × 10⁴ opens of /proc/meminfo and of an ordinary file, each read and closed:
/// every read right, and no fd left behind in the program or in cgshim.
#[test]
fn thirty_two_threads_open_ten_thousand_times_without_leaks() {
    if !have_program("musl-gcc") {
        return;
    }
    let Some(c) = container() else { return };
    let probe = static_probe();
    let file = plain_file();
    let mut f = Failures::default();
    let mut program_fds = Vec::new();
    for (via, kb) in [(Via::Plain, host_memtotal_kb()), (CGSHIM, LIMIT_KB)] {
        let mut live = c.spawn(via, "", &[&probe, "threads", "32", "10000", &file], None);
        let before: usize = live.expect("fds_before=").parse().unwrap();
        let head = live.pid();
        let head_before = fd_count(head);
        live.send_line();
        let mut kv = BTreeMap::new();
        for _ in 0..4 {
            let l = live.line_within(Duration::from_secs(300));
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("unexpected line {l:?}"));
            kv.insert(k.to_string(), v.parse::<u64>().unwrap());
        }
        let head_after = fd_count(head);
        live.send_line();
        let (status, _, stderr) = live.finish(Duration::from_secs(30));
        f.eq(&format!("{via:?}: exit"), status.code(), Some(0));
        f.eq(&format!("{via:?}: errors"), kv.get("errors").copied(), Some(0));
        f.eq(&format!("{via:?}: mismatches"), kv.get("mismatches").copied(), Some(0));
        f.eq(&format!("{via:?}: MemTotal"), kv.get("memtotal_kb").copied(), Some(kb));
        f.eq(&format!("{via:?}: the program's fds after"), kv.get("fds_after").copied(), Some(before as u64));
        f.eq(&format!("{via:?}: stderr"), stderr.as_str(), "");
        if matches!(via, Via::Cgshim(_)) {
            f.eq("cgshim's fds after the storm", head_after, head_before);
        }
        program_fds.push(before);
    }
    // Nothing of the supervisor's (its listener, its pipes) is left open in the program.
    f.eq("the program's fds at start, supervised against plain", program_fds[1], program_fds[0]);
    f.finish("32 threads x 10^4 opens");
}

// =============================================================================================
// Seccomp filters of others
// =============================================================================================

/// A supervised program that installs a seccomp filter of its own keeps running and is still
/// answered; one that asks for a listener of its own gets EBUSY (one listener per filter chain:
/// the documented limit) and is still answered.
#[test]
fn programs_with_their_own_seccomp_filter() {
    let Some(c) = container() else { return };
    let prog = path_str(static_program("own_filter"));
    let host_kb = host_memtotal_kb();
    let mut f = Failures::default();
    let cases = [
        ("allow", Via::Plain, "ok", host_kb),
        ("listener", Via::Plain, "ok", host_kb),
        ("allow", CGSHIM, "ok", LIMIT_KB),
        ("listener", CGSHIM, "EBUSY", LIMIT_KB),
    ];
    for (mode, via, install, kb) in cases {
        let o = c.run(via, &[&prog, mode]);
        let kv = parse_kv(o.ok());
        f.eq(
            &format!("own_filter {mode}, {via:?}: install"),
            kv.get("install").map(String::as_str),
            Some(install),
        );
        f.eq(
            &format!("own_filter {mode}, {via:?}: MemTotal after"),
            kv.get("meminfo_memtotal_kb").cloned(),
            Some(kb.to_string()),
        );
        f.eq(
            &format!("own_filter {mode}, {via:?}: sysinfo totalram after"),
            kv.get("sysinfo_totalram").cloned(),
            Some((kb * 1024).to_string()),
        );
        f.eq(&format!("own_filter {mode}, {via:?}: stderr"), o.stderr.as_str(), "");
    }
    f.finish("programs with their own seccomp filter");
}

/// Where supervision cannot be set up, the program runs as without it, after exactly one
/// `cannot supervise` line naming the reason: EBUSY when a supervisor already listens (nested
/// `cgshim exec --supervise`: the outer one still answers), EPERM when a filter forbids seccomp.
#[test]
fn fallbacks_when_supervision_cannot_be_set_up() {
    let Some(bb) = busybox_and_musl() else { return };
    let Some(c) = container() else { return };
    let probe = static_probe();
    let deny = path_str(c_program("deny_seccomp"));
    let (cg, lib) = (cgshim(), lib());
    let mut f = Failures::default();

    let check_warning = |f: &mut Failures, what: &str, stderr: &str, errno: &str| {
        let lines = cgshim_lines(stderr);
        f.eq(&format!("{what}: lines of cgshim on stderr"), lines.len(), 1);
        let warned: Vec<&&str> = lines.iter().filter(|l| l.starts_with(CANNOT_SUPERVISE)).collect();
        f.eq(&format!("{what}: `{CANNOT_SUPERVISE}` lines"), warned.len(), 1);
        f.check(warned.iter().any(|l| l.contains(errno)), || {
            format!("{what}: the warning does not name {errno}: {stderr:?}")
        });
    };

    // EBUSY: cgshim under cgshim, both told to supervise.
    let nested = |argv: &[&str]| -> Vec<String> {
        let mut v: Vec<String> =
            [cg.as_str(), "exec", "--lib", &lib, "--supervise", "--"].iter().map(|s| s.to_string()).collect();
        v.extend(argv.iter().map(|s| s.to_string()));
        v
    };
    let inner = nested(&[&probe, "info"]);
    let inner: Vec<&str> = inner.iter().map(String::as_str).collect();
    let o = c.run(Via::Cgshim(&["--supervise"]), &inner);
    check_view(&mut f, "nested cgshim exec --supervise (the outer answers)", o.ok(), &c.container_view());
    check_warning(&mut f, "nested cgshim exec --supervise", &o.stderr, "EBUSY");
    let inner = nested(&[&bb, "sh", "-c", "exit 7"]);
    let inner: Vec<&str> = inner.iter().map(String::as_str).collect();
    let o = c.run(Via::Cgshim(&["--supervise"]), &inner);
    f.eq("nested cgshim exec --supervise: exit status", o.status.code(), Some(7));
    check_warning(&mut f, "nested cgshim exec --supervise, exit 7", &o.stderr, "EBUSY");

    // EPERM: a sandbox that forbids seccomp runs cgshim.
    let o = c.run(Via::Plain, &[&deny, &cg, "exec", "--lib", &lib, "--", &probe, "info"]);
    check_view(&mut f, "under deny_seccomp (no supervisor: the host)", o.ok(), &host_view(&c.affinity));
    check_warning(&mut f, "under deny_seccomp", &o.stderr, "EPERM");
    let o = c.run(Via::Plain, &[&deny, &cg, "exec", "--lib", &lib, "--", &bb, "sh", "-c", "exit 7"]);
    f.eq("under deny_seccomp: exit status", o.status.code(), Some(7));
    check_warning(&mut f, "under deny_seccomp, exit 7", &o.stderr, "EPERM");
    let o = c.run(Via::Plain, &[&deny, &cg, "exec", "--lib", &lib, "--", &probe, "abort"]);
    f.eq("under deny_seccomp: killed by", o.status.signal(), Some(6));
    // Dynamic children there still have the library.
    let o =
        c.run(Via::Plain, &[&deny, &cg, "exec", "--lib", &lib, "--", &bb, "sh", "-c", "/usr/bin/free -b"]);
    f.eq("under deny_seccomp: static sh → procps free", free_total(o.ok()), Some(LIMIT));
    f.finish("EBUSY and EPERM fallbacks");
}

// =============================================================================================
// --supervise, --no-supervise
// =============================================================================================

/// `--no-supervise` on a static or Go program: the old warning, and the host's values.
/// `--supervise` on a dynamic program: the same numbers as the library alone, no warning.
#[test]
fn supervise_and_no_supervise_flags() {
    if !have_program("musl-gcc") {
        return;
    }
    let Some(go) = go_probe(GoBuild::Static) else { return };
    let Some(c) = container() else { return };
    let probe = static_probe();
    let dynamic = dynamic_probe();
    let host = host_view(&c.affinity);
    let mut f = Failures::default();

    let o = c.run(Via::Cgshim(&["--no-supervise"]), &[&probe, "info"]);
    check_view(&mut f, "--no-supervise, static", o.ok(), &host);
    let lines = cgshim_lines(&o.stderr);
    f.eq("--no-supervise, static: cgshim lines", lines.len(), 1);
    f.check(
        lines.iter().any(|l| {
            l.starts_with("cgshim: warning: ") && l.contains("is statically linked") && l.contains(&probe)
        }),
        || format!("--no-supervise, static: not the static warning: {:?}", o.stderr),
    );

    let o = c.run(Via::Cgshim(&["--no-supervise"]), &[&go, "info"]);
    let kv = parse_kv(o.ok());
    f.eq("--no-supervise, Go: NumCPU", kv.get("numcpu").cloned(), Some(c.affinity.len().to_string()));
    f.eq(
        "--no-supervise, Go: MemTotal",
        kv.get("meminfo_memtotal_kb").cloned(),
        Some(host_memtotal_kb().to_string()),
    );
    let lines = cgshim_lines(&o.stderr);
    f.eq("--no-supervise, Go: cgshim lines", lines.len(), 1);
    f.check(
        lines.iter().any(|l| l.starts_with("cgshim: warning: ") && l.contains("is a Go program")),
        || format!("--no-supervise, Go: not the Go warning: {:?}", o.stderr),
    );

    // Without a flag: supervised, silent.
    for (what, prog) in [("static", probe.as_str()), ("Go", go.as_str())] {
        let o = c.run(CGSHIM, &[prog, "info"]);
        o.ok();
        f.eq(&format!("default, {what}: stderr"), o.stderr.as_str(), "");
    }

    let library = c.run(Via::Library, &[&dynamic, "info"]);
    let forced = c.run(Via::Cgshim(&["--supervise"]), &[&dynamic, "info"]);
    check_view(&mut f, "--supervise, dynamic", forced.ok(), &c.container_view());
    let strip = |o: &Outcome| {
        let mut kv = parse_kv(o.ok());
        kv.remove("sysinfo_freeram");
        kv
    };
    f.eq("--supervise, dynamic, against the library alone", strip(&forced), strip(&library));
    f.eq("--supervise, dynamic: stderr", forced.stderr.as_str(), "");
    let o = c.run(Via::Cgshim(&["--supervise"]), &["free", "-b"]);
    f.eq("--supervise, procps free -b", free_total(o.ok()), Some(LIMIT));
    let o = c.run(Via::Cgshim(&["--supervise"]), &["cat", "/proc/meminfo"]);
    f.eq("--supervise, cat /proc/meminfo", parse_meminfo(o.ok()).get("MemTotal").copied(), Some(LIMIT_KB));
    f.finish("--supervise and --no-supervise");
}

// =============================================================================================
// Everything else stays as it was
// =============================================================================================

/// What has nothing to do with the served files is the same plain and supervised: output,
/// error messages, exit codes and errno of opens; the served files are served through relative
/// paths too, and `/proc/self/status` narrows only `Cpus_allowed`.
/// A program that closes its standard output and error, and an fd 3 its parent gave it, is seen
/// to close them while it still runs, plain and supervised: cgshim holds none of what it
/// inherited with the program (a reader of the pipe gets its end of file from the program).
#[test]
fn closing_inherited_fds_reaches_the_reader() {
    let Some(bb) = busybox_and_musl() else { return };
    let Some(c) = container() else { return };
    let mut f = Failures::default();
    for via in [Via::Plain, CGSHIM] {
        // fd 3 is another copy of the stdout pipe: end of file needs every copy closed.
        let script = "echo started; exec >&- 2>&- 3>&-; read line";
        let mut live = c.spawn(via, "exec 3>&1 && ", &[&bb, "sh", "-c", script], None);
        f.eq(&format!("{via:?}: first line"), live.line(), "started".to_string());
        match live.lines.recv_timeout(Duration::from_secs(10)) {
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
            other => f.check(false, || {
                format!("{via:?}: no end of file on stdout 10 s after the program closed it: {other:?}")
            }),
        }
        f.eq(
            &format!("{via:?}: still running when its stdout ended"),
            live.child.try_wait().ok().flatten().map(|s| s.to_string()),
            None,
        );
        live.send_line();
        let (status, _, stderr) = live.finish(Duration::from_secs(30));
        f.eq(&format!("{via:?}: exit code"), status.code(), Some(0));
        f.eq(&format!("{via:?}: stderr"), stderr, String::new());
    }
    f.finish("inherited fds closed by the program");
}

#[test]
fn unrelated_behaviour_is_unchanged() {
    let Some(bb) = busybox_and_musl() else { return };
    if !have_program("setpriv") {
        return;
    }
    let Some(c) = container() else { return };
    let probe = static_probe();
    let bb = bb.as_str();
    let mut f = Failures::default();

    let same: [&[&str]; 10] = [
        &[bb, "ls", "/"],
        // The filter asks for no speculation mitigations (the kernel forced them on filtered
        // programs before 5.16): the program's own state is as plain.
        &[bb, "grep", "^Specul", "/proc/self/status"],
        &[bb, "cat", "/etc/hostname"],
        &[bb, "cat", "/nonexistent/cgshim-file"],
        &[bb, "cat", "/proc/meminfo/"],
        &[bb, "ls", "/proc/meminfoX"],
        &[bb, "sh", "-c", "echo out; echo err >&2; exit 5"],
        &[bb, "sh", "-c", "cd /etc && cat hostname && cat ./no-such-file"],
        &[bb, "head", "-c", "16", "/proc/version"],
        &[bb, "wc", "-c", "/etc/passwd"],
    ];
    for argv in same {
        let plain = c.run(Via::Plain, argv);
        let sup = c.run(CGSHIM, argv);
        f.eq(&format!("{argv:?}: stdout"), &sup.stdout, &plain.stdout);
        f.eq(&format!("{argv:?}: stderr"), &sup.stderr, &plain.stderr);
        f.eq(&format!("{argv:?}: exit code"), sup.status.code(), plain.status.code());
    }

    // Opens of the served file with flags the served copy must not change.
    let opens: [(&str, &str, &str); 7] = [
        ("/proc/meminfo", "rdonly", "ok"),
        ("/proc/meminfo", "rdonly,cloexec", "ok"),
        ("/proc/meminfo", "wronly", "ok"), // root: the kernel's answer, not a read-only copy's
        ("/proc/meminfo", "rdonly,directory", "ENOTDIR"),
        ("/proc/meminfo/", "rdonly", "ENOTDIR"),
        ("/proc/meminfoX", "rdonly", "ENOENT"),
        ("/proc", "rdwr,directory", "EISDIR"),
    ];
    // A symbolic link proc/meminfo to /proc/meminfo: followed, and refused with O_NOFOLLOW.
    let link = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cgshim-supervise-link-{}", std::process::id()))
        .join("proc/meminfo");
    let _ = fs::create_dir_all(link.parent().unwrap());
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink("/proc/meminfo", &link).unwrap();
    let link_dir = link.parent().and_then(Path::parent).unwrap().to_path_buf();
    let link = link.to_string_lossy().into_owned();
    let opens = opens
        .into_iter()
        .chain([(link.as_str(), "rdonly", "ok"), (link.as_str(), "rdonly,nofollow", "ELOOP")]);
    for (path, flags, want) in opens {
        for via in [Via::Plain, CGSHIM] {
            let o = c.run(via, &[&probe, "open", path, flags]);
            f.eq(
                &format!("open({path}, {flags}), {via:?}"),
                parse_kv(o.ok()).get("open").cloned(),
                Some(want.to_string()),
            );
        }
    }
    let _ = fs::remove_dir_all(&link_dir);
    // Another user: writing /proc/meminfo is EACCES plain and supervised.
    for via in [Via::Plain, CGSHIM] {
        let o = c.run_as_nobody(via, &[&probe, "open", "/proc/meminfo", "wronly"]);
        f.eq(
            &format!("open(/proc/meminfo, wronly) as uid 65534, {via:?}"),
            parse_kv(o.ok()).get("open").cloned(),
            Some("EACCES".to_string()),
        );
    }

    // Relative paths are served too.
    for (via, kb) in [(Via::Plain, host_memtotal_kb()), (CGSHIM, LIMIT_KB)] {
        let o = c.run(via, &[bb, "sh", "-c", "cd /proc && cat meminfo"]);
        f.eq(
            &format!("cd /proc && cat meminfo, {via:?}"),
            parse_meminfo(o.ok()).get("MemTotal").copied(),
            Some(kb),
        );
        let o = c.run(via, &[bb, "sh", "-c", "cd /proc/self && cat status"]);
        let allowed =
            o.ok().lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map(|v| v.trim().to_string());
        let cpus = if matches!(via, Via::Plain) { &c.affinity } else { &c.shown };
        f.eq(
            &format!("cd /proc/self && cat status, Cpus_allowed_list, {via:?}"),
            allowed,
            Some(kernel_list(cpus)),
        );
    }

    // /proc/self/status: Cpus_allowed narrowed, every line that does not change by itself alike.
    let status = |via| c.run(via, &[bb, "cat", "/proc/self/status"]).ok().to_string();
    let (plain, sup) = (status(Via::Plain), status(CGSHIM));
    let pick =
        |text: &str, key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().to_string());
    f.eq(
        "cat /proc/self/status, Cpus_allowed_list, supervised",
        pick(&sup, "Cpus_allowed_list:"),
        Some(kernel_list(&c.shown)),
    );
    let mask: u64 = c.shown.iter().map(|c| 1u64 << c).sum();
    let sup_mask = pick(&sup, "Cpus_allowed:").map(|m| u64::from_str_radix(&m.replace(',', ""), 16).ok());
    f.eq("cat /proc/self/status, Cpus_allowed, supervised", sup_mask, Some(Some(mask)));
    for key in ["Name:", "Umask:", "Uid:", "Gid:", "Groups:", "Threads:", "Mems_allowed_list:", "NoNewPrivs:"]
    {
        let p = pick(&plain, key);
        f.check(p.is_some(), || format!("plain /proc/self/status has no {key}"));
        if key == "NoNewPrivs:" {
            // As root (CAP_SYS_ADMIN), the supervisor needs no no_new_privs.
            f.eq("NoNewPrivs of the supervised program (root)", pick(&sup, key), p);
        } else {
            f.eq(&format!("/proc/self/status {key} plain vs supervised"), pick(&sup, key), p);
        }
    }
    f.finish("unrelated behaviour, plain and supervised");
}

/// Whether the ELF file at `path` has a program interpreter (a `PT_INTERP` program header):
/// the dynamic loader that reads LD_PRELOAD. Read here, so that no tool is needed.
fn has_interpreter(path: &str) -> bool {
    let b = fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    assert!(b.len() > 64 && b[..4] == *b"\x7fELF" && b[4] == 2, "{path} is not a 64-bit ELF file");
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        b.get(at..at + 4).is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) == 3)
    })
}

/// The programs are what the tests take them for: the static builds have no program
/// interpreter (no dynamic loader, so the library cannot reach them), the dynamic ones have.
/// It also builds every program of this file, which the VM suite runs on the host first (its
/// guest has no compilers).
#[test]
fn the_test_programs_are_what_they_claim() {
    if !have_program("musl-gcc") {
        return;
    }
    let mut f = Failures::default();
    let bins = [
        (static_probe(), false),
        (path_str(static_program("own_filter")), false),
        (path_str(static_program("static_probe")), false),
        (path_str(musl_static_program("rewind")), false),
        (dynamic_probe(), true),
        (path_str(c_program("rewind")), true),
        (path_str(c_program("deny_seccomp")), true),
    ];
    for (p, dynamic) in bins {
        f.eq(&format!("{p} has a program interpreter"), has_interpreter(&p), dynamic);
    }
    if let Some(bb) = static_busybox() {
        let bb = path_str(bb);
        f.check(!has_interpreter(&bb), || format!("{bb} is not static"));
    }
    if let Some(go) = go_probe(GoBuild::Static) {
        f.check(!has_interpreter(&go), || format!("{go} is not a static Go program"));
    }
    if let Some(go) = go_probe(GoBuild::Cgo) {
        f.check(has_interpreter(&go), || format!("{go} (cgo) is not dynamically linked"));
    }
    f.finish("the test programs");
}

/// Without CAP_SYS_ADMIN (another user), cgshim can install its filter only with no_new_privs:
/// the supervised program runs with it (and is answered), the plain one without.
#[test]
fn without_cap_sys_admin_the_program_gets_no_new_privs() {
    let Some(bb) = busybox_and_musl() else { return };
    if !have_program("setpriv") {
        return;
    }
    let Some(c) = container() else { return };
    let mut f = Failures::default();
    for (via, nnp, total) in [(Via::Plain, "0", host_memtotal_kb() * 1024), (CGSHIM, "1", LIMIT)] {
        let o = c.run_as_nobody(via, &[&bb, "cat", "/proc/self/status"]);
        let got = o.ok().lines().find_map(|l| l.strip_prefix("NoNewPrivs:")).map(|v| v.trim().to_string());
        f.eq(&format!("NoNewPrivs as uid 65534, {via:?}"), got, Some(nnp.to_string()));
        f.eq(&format!("cgshim's stderr as uid 65534, {via:?}"), cgshim_lines(&o.stderr), Vec::<&str>::new());
        let o = c.run_as_nobody(via, &[&bb, "free", "-b"]);
        f.eq(&format!("busybox free -b as uid 65534, {via:?}"), free_total(o.ok()), Some(total));
    }
    f.finish("supervision without CAP_SYS_ADMIN");
}
