//! Shared helpers for cgshim's black-box tests: where the library is, building the small C
//! programs in `tests/c/`, real cgroup-v1 memory cgroups that clean up after themselves, and
//! running a command inside one under `LD_PRELOAD` in the layouts containers actually use.
//!
//! On a pure cgroup v2 machine (the VMs of `scripts/vm-test.sh`) the same helpers make v2 cgroups
//! and mounts instead (`v2.rs`).
//!
//! Only `std`: the tests must not link anything that could pull in the preload crate.

#![allow(dead_code)]

/// The cgroup v2 implementation of these helpers (used when the machine is pure v2).
pub mod v2;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Where the v1 memory controller is mounted on the test machine.
pub const MEMCG_ROOT: &str = "/sys/fs/cgroup/memory";

pub const MIB: u64 = 1024 * 1024;

/// Every entry point through which a program can open `/proc/meminfo` (tests/c/meminfo_open.c).
pub const OPEN_ENTRIES: [&str; 12] = [
    "open",
    "open64",
    "openat",
    "openat64",
    "__open_2",
    "__open64_2",
    "__openat_2",
    "__openat64_2",
    "fopen",
    "fopen64",
    "freopen",
    "freopen64",
];

/// Every program gets this long before it is killed and the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// The library
// ---------------------------------------------------------------------------------------------

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$CGSHIM_LIB`, else `<workspace>/target/release/libcgshim.so`. Panics with the build command
/// when it is missing: a test that silently ran without the library would prove nothing.
pub fn lib_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CGSHIM_LIB") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "CGSHIM_LIB={} does not exist (unset it to use target/release/libcgshim.so)",
            p.display()
        );
        return fs::canonicalize(&p).unwrap_or(p);
    }
    let p = workspace().join("target/release/libcgshim.so");
    assert!(
        p.is_file(),
        "{} not found: build the library first with `cargo build --release` in {} \
         (or point CGSHIM_LIB at a built libcgshim.so)",
        p.display(),
        workspace().display()
    );
    p
}

/// `$CGSHIM_BIN`, else `<workspace>/target/release/cgshim` (the command lives in its own crate,
/// `cli/`, so cargo gives the tests of this package no `CARGO_BIN_EXE_cgshim`). Panics with the
/// build command when it is missing, as [`lib_path`] does.
pub fn cgshim_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CGSHIM_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "CGSHIM_BIN={} does not exist (unset it to use target/release/cgshim)",
            p.display()
        );
        return fs::canonicalize(&p).unwrap_or(p);
    }
    let p = workspace().join("target/release/cgshim");
    assert!(
        p.is_file(),
        "{} not found: build it first with `cargo build --release --workspace` in {} \
         (or point CGSHIM_BIN at a built cgshim)",
        p.display(),
        workspace().display()
    );
    p
}

// ---------------------------------------------------------------------------------------------
// C programs
// ---------------------------------------------------------------------------------------------

static BUILD_LOCK: Mutex<()> = Mutex::new(());

fn build_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cgshim-c")
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn build_with(compiler: &str, name: &str, out_name: &str, extra: &[&str]) -> PathBuf {
    let src = workspace().join("tests/c").join(format!("{name}.c"));
    assert!(src.is_file(), "missing C source {}", src.display());
    let dir = build_dir();
    let out = dir.join(out_name);
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let (Some(s), Some(o)) = (mtime(&src), mtime(&out)) {
        if o >= s {
            return out;
        }
    }
    fs::create_dir_all(&dir).expect("create C build dir");
    let tmp = dir.join(format!(".{out_name}.{}.tmp", std::process::id()));
    // -O0 and no fortification: the program must call exactly the entry point its source
    // names (fortify would turn open() into __open_2(), optimisation could merge calls).
    let res = Command::new(compiler)
        .args(["-O0", "-U_FORTIFY_SOURCE", "-fno-builtin", "-Wall", "-o"])
        .arg(&tmp)
        .arg(&src)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler} (is it installed?): {e}"));
    assert!(
        res.status.success(),
        "{compiler} failed on {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    fs::rename(&tmp, &out).expect("rename compiled program");
    out
}

/// `tests/c/<name>.c` compiled with gcc (cached by mtime under the target dir).
pub fn c_program(name: &str) -> PathBuf {
    build_with("gcc", name, name, &["-pthread"])
}

/// `tests/c/<name>.c` compiled with musl-gcc (a musl-linked dynamic executable).
pub fn musl_program(name: &str) -> PathBuf {
    build_with("musl-gcc", name, &format!("{name}.musl"), &[])
}

/// `tests/c/<name>.c` compiled with `gcc -static` (no dynamic loader, so no preload library).
pub fn static_program(name: &str) -> PathBuf {
    build_with("gcc", name, &format!("{name}.static"), &["-static"])
}

/// `tests/c/<name>.c` compiled with `musl-gcc -static` (no dynamic loader: a static musl program).
pub fn musl_static_program(name: &str) -> PathBuf {
    build_with("musl-gcc", name, &format!("{name}.musl-static"), &["-static"])
}

/// Debian's statically linked Busybox, which `scripts/test.sh` (`fetch_static_busybox`) puts in
/// `target/tools/busybox-static` (as a file: the busybox-static package would replace the dynamic
/// Busybox other tests drive). Missing: None with a printed reason, or a panic under CI=true.
pub fn static_busybox() -> Option<PathBuf> {
    let p = workspace().join("target/tools/busybox-static");
    if p.is_file() {
        return Some(p);
    }
    let why = format!(
        "{} is missing: scripts/test.sh host fetches it (fetch_static_busybox: apt-get download \
         busybox-static, dpkg-deb -x, bin/busybox copied there)",
        p.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and {why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// `tests/c/<name>.c` compiled with gcc into a shared library named `file` (library sources live
/// in `tests/c/lib/`, apart from the programs).
pub fn c_shared_library(name: &str, file: &str) -> PathBuf {
    build_with("gcc", name, file, &["-shared", "-fPIC"])
}

// ---------------------------------------------------------------------------------------------
// The C API, as a new program uses it
// ---------------------------------------------------------------------------------------------

/// The prefix `cgshim install --prefix` fills with libcgshim.so, `include/cgshim.h` and
/// `lib/pkgconfig/cgshim.pc`, inside the C build directory (the VM suite takes that directory
/// into its guest). Installed once per test binary; a second install changes nothing.
pub fn api_prefix() -> PathBuf {
    static DONE: Mutex<bool> = Mutex::new(false);
    let prefix = build_dir().join("api");
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if !*done {
        let o = Command::new(cgshim_bin())
            .args(["install", "--prefix"])
            .arg(&prefix)
            .arg("--lib")
            .arg(lib_path())
            .output()
            .expect("run cgshim install");
        assert!(
            o.status.success(),
            "cgshim install --prefix {} failed:\n{}{}",
            prefix.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        *done = true;
    }
    prefix
}

/// `pkg-config ARGS cgshim` against the installed `cgshim.pc`.
pub fn api_pkg_config(args: &[&str]) -> Vec<String> {
    let pc_dir = api_prefix().join("lib/pkgconfig");
    let o = Command::new("pkg-config")
        .args(args)
        .arg("cgshim")
        .env("PKG_CONFIG_PATH", &pc_dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkg-config (is it installed?): {e}"));
    assert!(o.status.success(), "pkg-config {args:?} cgshim: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_string).collect()
}

/// A C program of the API from `src`, built as `out_name` the way its users build it: with
/// `pkg-config --cflags --libs cgshim` (linked), or with `--cflags` and `-ldl` (`dlopen`,
/// `-DCGSHIM_DLOPEN`). Rebuilt only when older than its source or the header, so the VM guest,
/// which has no compiler, finds it ready.
pub fn api_program_at(src: &Path, out_name: &str, dlopen: bool) -> PathBuf {
    let prefix = api_prefix();
    let out = build_dir().join(out_name);
    let header = workspace().join("include/cgshim.h");
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let (Some(s), Some(h), Some(o)) = (mtime(src), mtime(&header), mtime(&out)) {
        if o >= s && o >= h {
            return out;
        }
    }
    let flags = if dlopen { api_pkg_config(&["--cflags"]) } else { api_pkg_config(&["--cflags", "--libs"]) };
    assert!(
        flags.iter().any(|f| f == &format!("-I{}", prefix.join("include").display())),
        "pkg-config gives no -I for the installed header: {flags:?}"
    );
    let tmp = build_dir().join(format!(".{out_name}.{}.tmp", std::process::id()));
    let mut cmd = Command::new("gcc");
    cmd.args(["-O1", "-Wall", "-Werror", "-o"]).arg(&tmp).arg(src).args(&flags).arg("-pthread");
    if dlopen {
        cmd.args(["-DCGSHIM_DLOPEN", "-ldl"]);
    }
    let res = cmd.output().unwrap_or_else(|e| panic!("cannot run gcc: {e}"));
    assert!(
        res.status.success(),
        "gcc {} with {flags:?} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    fs::rename(&tmp, &out).expect("rename compiled program");
    out
}

/// `tests/c/api/<name>.c` built with pkg-config, linked or for `dlopen`.
pub fn api_program(name: &str, dlopen: bool) -> PathBuf {
    let src = workspace().join("tests/c/api").join(format!("{name}.c"));
    let out = format!("{name}.{}", if dlopen { "dlopen" } else { "linked" });
    api_program_at(&src, &out, dlopen)
}

/// The README's section for developers of new programs.
const API_SECTION: &str = "### New programs: ask the library";

/// The first fenced block of `lang` in the README's API section.
pub fn readme_api_example(lang: &str) -> String {
    let readme = fs::read_to_string(workspace().join("README.md")).expect("read README.md");
    let section = readme.split(API_SECTION).nth(1).unwrap_or_else(|| panic!("README has no {API_SECTION:?}"));
    let fence = format!("```{lang}\n");
    let block =
        section.split(&fence).nth(1).unwrap_or_else(|| panic!("no ```{lang} block in {API_SECTION:?}"));
    block.split("```").next().unwrap_or("").to_string()
}

/// The README's C example, written to the C build directory (only when it changed, so that
/// its time stays that of the text) and built with pkg-config.
pub fn api_readme_program() -> PathBuf {
    let src = build_dir().join("readme_example.c");
    let text = readme_api_example("c");
    if fs::read_to_string(&src).ok().as_deref() != Some(text.as_str()) {
        fs::create_dir_all(build_dir()).expect("create C build dir");
        fs::write(&src, &text).expect("write the README's C example");
    }
    api_program_at(&src, "readme_example", false)
}

/// Undefined dynamic symbols of a binary (`nm -D --undefined-only`), without versions.
pub fn imported_symbols(bin: &Path) -> Vec<String> {
    let out = Command::new("nm").arg("-D").arg("--undefined-only").arg(bin).output().expect("run nm");
    assert!(out.status.success(), "nm failed on {}", bin.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split('@').next().unwrap_or(s).to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Skip rule
// ---------------------------------------------------------------------------------------------

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn why_no_cgroups() -> Option<String> {
    if effective_uid() != Some(0) {
        return Some("not running as root".into());
    }
    if v2::active() {
        return v2::why_unavailable();
    }
    if !Path::new(MEMCG_ROOT).join("memory.limit_in_bytes").is_file() {
        return Some(format!("{MEMCG_ROOT} is not a cgroup v1 memory controller mount"));
    }
    let probe = Path::new(MEMCG_ROOT).join(format!("cgshim-probe-{}", std::process::id()));
    match fs::create_dir(&probe) {
        Ok(()) => {
            let _ = fs::remove_dir(&probe);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Some(format!("{MEMCG_ROOT} is not writable: {e}")),
    }
    for tool in ["unshare", "mount", "sh"] {
        if !Command::new("sh")
            .args(["-c", &format!("command -v {tool} >/dev/null")])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
        {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// True when real cgroups can be used. Otherwise prints why and returns false (the test then
/// returns early) — except under `CI=true`, where a skip would hide a broken runner: panic.
pub fn cgroups_available() -> bool {
    static CHECKED: Mutex<Option<Option<String>>> = Mutex::new(None);
    let reason = {
        let mut g = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
        g.get_or_insert_with(why_no_cgroups).clone()
    };
    match reason {
        None => true,
        Some(r) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true and this test needs real cgroups, but {r}");
            }
            eprintln!("SKIPPED: this test needs root and a writable {MEMCG_ROOT}: {r}");
            false
        }
    }
}

/// `require_cgroups!();` at the top of a test: return early (or panic under CI=true).
/// (Declare the module with `#[macro_use] mod common;`.)
#[allow(unused_macros)]
macro_rules! require_cgroups {
    () => {
        if !$crate::common::cgroups_available() {
            return;
        }
    };
}

/// Skip (or panic under CI=true) when a program the test drives is not installed.
pub fn have_program(path: &str) -> bool {
    let found = if path.contains('/') {
        Path::new(path).exists()
    } else {
        Command::new("sh")
            .args(["-c", &format!("command -v {path} >/dev/null")])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and `{path}` is not installed");
        }
        eprintln!("SKIPPED: `{path}` is not installed");
    }
    found
}

/// Starts nginx with `worker_processes auto` in the cgroup whose `cgroup.procs` is in
/// `cgroup_dir` (and in the ones of `also`, e.g. a separate cpuacct hierarchy), with or without
/// the library, and returns how many workers it starts (once their number has been stable for
/// `settle`). nginx's files live under a scratch directory of this process.
#[allow(dead_code)]
pub fn nginx_workers(cgroup_dirs: &[&Path], preload: bool, settle: Duration) -> usize {
    let dir = PathBuf::from(format!("/tmp/cgshim-nginx-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("logs")).unwrap();
    let conf = dir.join("nginx.conf");
    fs::write(
        &conf,
        format!(
            "worker_processes auto;\ndaemon off;\npid {d}/nginx.pid;\nerror_log stderr;\n\
             events {{ worker_connections 16; }}\n\
             http {{ access_log off; server {{ listen unix:{d}/nginx.sock; }} }}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let join: String =
        cgroup_dirs.iter().map(|d| format!("echo $$ > {}/cgroup.procs && ", d.display())).collect();
    let script = format!("{join}exec \"$@\"");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script, "sh", "nginx", "-c"]).arg(&conf).arg("-p").arg(&dir);
    cmd.env_remove("LD_PRELOAD").env_remove("CGSHIM_DISABLE").env_remove("CGSHIM_CPU_AFFINITY");
    if preload {
        cmd.env("LD_PRELOAD", lib_path());
    }
    let mut master = cmd.stdin(Stdio::null()).spawn().expect("spawn nginx");
    let children = format!("/proc/{0}/task/{0}/children", master.id());
    // Workers start within milliseconds; wait until their number stops changing.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = (0, std::time::Instant::now());
    let count = loop {
        let n = fs::read_to_string(&children).unwrap_or_default().split_whitespace().count();
        if n != last.0 {
            last = (n, std::time::Instant::now());
        } else if n > 0 && last.1.elapsed() > settle {
            break n;
        }
        if std::time::Instant::now() > deadline {
            break n;
        }
        thread::sleep(Duration::from_millis(50));
    };
    // SIGTERM makes the master stop its workers and exit.
    let _ = Command::new("kill").args(["-TERM", &master.id().to_string()]).status();
    let _ = master.wait();
    let _ = fs::remove_dir_all(&dir);
    count
}

/// The window S of `n` CPUs of `affinity` the library shows in the cgroup whose CPU controller
/// directory is `dir`: from the mask's (seed mod |mask|)-th CPU on, wrapping round, seed =
/// the directory's inode / (the files in it + 1), read here from the directory itself.
#[allow(dead_code)]
pub fn shown_window(dir: &Path, affinity: &[usize], n: usize) -> Vec<usize> {
    use std::os::unix::fs::MetadataExt;
    let inode = fs::metadata(dir).unwrap_or_else(|e| panic!("stat {}: {e}", dir.display())).ino();
    let files = fs::read_dir(dir).unwrap().flatten().filter(|e| !e.file_type().unwrap().is_dir()).count();
    let seed = inode / (files as u64 + 1);
    let start = (seed % affinity.len().max(1) as u64) as usize;
    let mut v: Vec<usize> =
        affinity.iter().cycle().skip(start).take(n.min(affinity.len())).copied().collect();
    v.sort_unstable();
    v
}

// ---------------------------------------------------------------------------------------------
// Cgroups
// ---------------------------------------------------------------------------------------------

static CG_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A real v1 memory cgroup, removed (with everything below it) on drop, also when the test
/// panicked: remaining processes are moved back to the test's own cgroup first.
#[derive(Debug)]
pub struct Cgroup {
    /// Path relative to the hierarchy root, e.g. `/cgshim-test-123-4/child`.
    rel: String,
    dir: PathBuf,
}

/// The memory cgroup the test process itself lives in (where leftovers are moved to).
fn home_cgroup_dir() -> PathBuf {
    if v2::active() {
        return v2::home_dir();
    }
    let fallback = PathBuf::from(MEMCG_ROOT);
    let Ok(text) = fs::read_to_string("/proc/self/cgroup") else {
        return fallback;
    };
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or(""));
        if ctrls.split(',').any(|c| c == "memory") {
            let dir = Path::new(MEMCG_ROOT).join(path.trim_start_matches('/'));
            if dir.join("cgroup.procs").is_file() {
                return dir;
            }
        }
    }
    fallback
}

impl Cgroup {
    /// A new top-level cgroup `/cgshim-test-<pid>-<n>` with the given limit (None: no limit).
    pub fn new(limit: Option<u64>) -> Cgroup {
        let n = CG_COUNTER.fetch_add(1, Ordering::SeqCst);
        let rel = format!("/cgshim-test-{}-{n}", std::process::id());
        let dir = Path::new(v2::hierarchy_root()).join(&rel[1..]);
        if dir.exists() {
            remove_tree(&dir);
        }
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let cg = Cgroup { rel, dir };
        if let Some(l) = limit {
            cg.set_limit(l);
        }
        cg
    }

    /// A child cgroup `<self>/<name>`; it is removed with the parent at the latest.
    pub fn child(&self, name: &str, limit: Option<u64>) -> Cgroup {
        let dir = self.dir.join(name);
        v2::before_child(&self.dir);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let cg = Cgroup { rel: format!("{}/{name}", self.rel), dir };
        if let Some(l) = limit {
            cg.set_limit(l);
        }
        cg
    }

    pub fn set_limit(&self, bytes: u64) {
        let f = self.dir.join(v2::limit_file());
        fs::write(&f, bytes.to_string()).unwrap_or_else(|e| panic!("write {bytes} to {}: {e}", f.display()));
        let back: u64 = fs::read_to_string(&f).unwrap().trim().parse().unwrap();
        assert_eq!(back, bytes, "{} did not take the limit", f.display());
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path relative to the hierarchy root (`/proc/self/cgroup` spelling on the host).
    pub fn rel(&self) -> &str {
        &self.rel
    }

    pub fn usage(&self) -> u64 {
        fs::read_to_string(self.dir.join(v2::usage_file())).unwrap().trim().parse().unwrap()
    }

    /// Run `argv` in this cgroup in `layout`, with the library preloaded.
    pub fn run(&self, layout: Layout, argv: &[&str]) -> Outcome {
        self.runner(layout).run(argv)
    }

    pub fn runner(&self, layout: Layout) -> Runner<'_> {
        Runner { layout, root: self, leaf: self, preload: true, env: Vec::new(), cwd: None }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        v2::forget(&self.dir);
        if self.dir.exists() {
            remove_tree(&self.dir);
        }
    }
}

fn cgroup_pids(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Depth-first: evacuate and rmdir every cgroup below `dir`, then `dir`. Never panics (it
/// runs from Drop, possibly while unwinding); problems are reported on stderr.
fn remove_tree(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_tree(&e.path());
            }
        }
    }
    remove_cgroup_to(dir, &home_cgroup_dir().join("cgroup.procs"));
}

/// Moves what is left in the cgroup `dir` to `home` (a `cgroup.procs` file of the same
/// hierarchy), then removes `dir`, trying for 10 s. Never panics (it runs from Drop, possibly
/// while unwinding); problems are reported on stderr.
pub fn remove_cgroup_to(dir: &Path, home: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for pid in cgroup_pids(dir) {
            let _ = fs::write(home, &pid);
        }
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                if Instant::now() > deadline {
                    eprintln!(
                        "warning: could not remove cgroup {}: {e} (pids left: {:?})",
                        dir.display(),
                        cgroup_pids(dir)
                    );
                    return;
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running commands inside a cgroup
// ---------------------------------------------------------------------------------------------

/// How the process sees the cgroup filesystem (cgroups.md §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// No namespace: `/proc/self/cgroup` shows the host path, the host mount is visible.
    Host,
    /// Private cgroup namespace rooted at the visible root, cgroupfs mounted fresh in a private
    /// mount namespace (a new tmpfs on /sys/fs/cgroup with the memory hierarchy below it, as
    /// runtimes do; the kernel refuses to stack the same hierarchy directly on its own mount
    /// point). The host entries stay listed, shadowed, in mountinfo.
    CgroupNs,
    /// Docker-v1 style: no cgroupns; the visible root's directory is bind-mounted over
    /// /sys/fs/cgroup/memory (stacked: the host mount stays listed below it).
    BindMount,
    /// The cgroup filesystem is hidden (a tmpfs over /sys/fs/cgroup): nothing to discover.
    NoCgroupfs,
}

/// The three layouts every value must be right in.
pub const LAYOUTS: [Layout; 3] = [Layout::Host, Layout::CgroupNs, Layout::BindMount];

const HOST_SCRIPT: &str = r#"J=$1 P=$2; shift 2
echo $$ > "$J" || { echo "cgshim-test: cannot join $J" >&2; exit 97; }
[ -n "$P" ] && export LD_PRELOAD="$P"
exec "$@""#;

const NS_OUTER: &str = r#"J=$1 I=$2; shift 2
echo $$ > "$J" || { echo "cgshim-test: cannot join $J" >&2; exit 97; }
exec unshare --cgroup --mount --propagation private sh -c "$I" sh "$@""#;

const NS_INNER: &str = r#"L=$1 P=$2; shift 2
mount --make-rprivate / && mount -t tmpfs -o mode=755 cgshim-test /sys/fs/cgroup \
  && mkdir /sys/fs/cgroup/memory && mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory \
  || { echo "cgshim-test: cgroupfs remount failed" >&2; exit 98; }
if [ -n "$L" ]; then
  echo $$ > "/sys/fs/cgroup/memory$L/cgroup.procs" || { echo "cgshim-test: cannot join $L" >&2; exit 97; }
fi
[ -n "$P" ] && export LD_PRELOAD="$P"
exec "$@""#;

const BIND_OUTER: &str = r#"J=$1 I=$2; shift 2
echo $$ > "$J" || { echo "cgshim-test: cannot join $J" >&2; exit 97; }
exec unshare --mount --propagation private sh -c "$I" sh "$@""#;

const BIND_INNER: &str = r#"R=$1 P=$2; shift 2
mount --make-rprivate / && mount --bind "$R" /sys/fs/cgroup/memory \
  || { echo "cgshim-test: bind mount of $R failed" >&2; exit 98; }
[ -n "$P" ] && export LD_PRELOAD="$P"
exec "$@""#;

const MASK_INNER: &str = r#"P=$1; shift
mount --make-rprivate / && mount -t tmpfs -o mode=755 cgshim-test /sys/fs/cgroup \
  || { echo "cgshim-test: masking /sys/fs/cgroup failed" >&2; exit 98; }
[ -n "$P" ] && export LD_PRELOAD="$P"
exec "$@""#;

/// A command about to run in a cgroup. `root` is the cgroup the layout makes visible as the
/// top (cgroupns root / bind-mounted directory), `leaf` the one the process ends up in
/// (it must be `root` or below it).
pub struct Runner<'a> {
    layout: Layout,
    root: &'a Cgroup,
    leaf: &'a Cgroup,
    preload: bool,
    env: Vec<(OsString, OsString)>,
    cwd: Option<PathBuf>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// stdout of a successful run; panics with everything known otherwise.
    pub fn ok(&self) -> &str {
        assert!(
            self.status.success(),
            "{} failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }
}

impl<'a> Runner<'a> {
    /// Put the process into `leaf` (below the visible root).
    pub fn leaf(mut self, leaf: &'a Cgroup) -> Self {
        assert!(
            leaf.rel == self.root.rel || leaf.rel.starts_with(&format!("{}/", self.root.rel)),
            "leaf {} is not under root {}",
            leaf.rel,
            self.root.rel
        );
        self.leaf = leaf;
        self
    }

    /// Do not preload the library (baseline runs).
    pub fn no_preload(mut self) -> Self {
        self.preload = false;
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn run(&self, argv: &[&str]) -> Outcome {
        let lib = if self.preload { lib_path().into_os_string() } else { OsString::new() };
        let leaf_procs = self.leaf.dir.join("cgroup.procs");
        let mut cmd = Command::new("sh");
        cmd.arg("-c");
        match self.layout {
            Layout::Host => {
                cmd.arg(HOST_SCRIPT).arg("sh").arg(&leaf_procs).arg(&lib);
            }
            Layout::CgroupNs if v2::active() => {
                let holder =
                    if self.leaf.rel == self.root.rel { None } else { v2::ns_holder(&self.root.dir) };
                let holder = holder.map(|p| p.to_string()).unwrap_or_default();
                cmd.arg(v2::NS_OUTER).arg("sh").arg(&leaf_procs).arg(v2::NS_INNER).arg(holder).arg(&lib);
            }
            Layout::CgroupNs => {
                // Join the visible root, unshare there, then move down to the leaf from
                // inside (its path relative to the namespace root).
                let below = &self.leaf.rel[self.root.rel.len()..];
                cmd.arg(NS_OUTER)
                    .arg("sh")
                    .arg(self.root.dir.join("cgroup.procs"))
                    .arg(NS_INNER)
                    .arg(below)
                    .arg(&lib);
            }
            Layout::BindMount => {
                let inner = if v2::active() { v2::BIND_INNER } else { BIND_INNER };
                cmd.arg(BIND_OUTER).arg("sh").arg(&leaf_procs).arg(inner).arg(&self.root.dir).arg(&lib);
            }
            Layout::NoCgroupfs => {
                cmd.arg(BIND_OUTER).arg("sh").arg(&leaf_procs).arg(MASK_INNER).arg(&lib);
            }
        }
        cmd.args(argv);
        // A clean slate: nothing inherited may switch the shim or preload something else.
        for (k, _) in std::env::vars_os() {
            let ks = k.to_string_lossy();
            if ks.starts_with("CGSHIM_") || ks == "LD_PRELOAD" || ks == "LD_LIBRARY_PATH" {
                cmd.env_remove(&k);
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(d) = &self.cwd {
            cmd.current_dir(d);
        }
        let what = format!(
            "{:?} [{:?} layout, cgroup {}{}{}]",
            argv,
            self.layout,
            self.leaf.rel,
            if self.preload { ", preloaded" } else { ", NOT preloaded" },
            if self.env.is_empty() { String::new() } else { format!(", env {:?}", self.env) }
        );
        run_with_timeout(cmd, what)
    }
}

/// Run without any cgroup placement (still with a clean environment); `preload` chooses
/// whether the library is loaded.
pub fn run_plain(argv: &[&str], preload: bool, env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    for (k, _) in std::env::vars_os() {
        let ks = k.to_string_lossy();
        if ks.starts_with("CGSHIM_") || ks == "LD_PRELOAD" {
            cmd.env_remove(&k);
        }
    }
    if preload {
        cmd.env("LD_PRELOAD", lib_path());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_timeout(cmd, format!("{argv:?} [no cgroup, preload={preload}]"))
}

fn run_with_timeout(cmd: Command, what: String) -> Outcome {
    let (status, stdout, stderr) = run_captured(cmd, &what, RUN_TIMEOUT);
    let status = status.unwrap_or_else(|| panic!("{what} did not finish within {RUN_TIMEOUT:?}"));
    Outcome { what, status, stdout, stderr }
}

/// Runs `cmd` in its own process group with stdout and stderr captured; after `limit` the whole
/// group (the program and anything it started) is killed and the status is `None`.
pub fn run_captured(mut cmd: Command, what: &str, limit: Duration) -> (Option<ExitStatus>, String, String) {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            // `-s KILL -- -PGID`: procps-ng 4.0's `kill -KILL -PGID` signals pid -(first digit),
            // e.g. kill(-1, SIGKILL) for a group id starting with 1: every process there is.
            let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
    (status, stdout, stderr)
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// `/proc/meminfo`-style text → field name → first number on the line (kB for kB lines).
/// Lines that are not `Name: <number> [kB]` are ignored, so the parser also works on program
/// output that mixes meminfo text with other lines.
pub fn parse_meminfo(text: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Some((k, rest)) = line.split_once(':') else {
            continue;
        };
        if k.is_empty() || k.contains(char::is_whitespace) || k.contains('=') {
            continue;
        }
        let mut toks = rest.split_whitespace();
        let Some(Ok(v)) = toks.next().map(str::parse::<u64>) else {
            continue;
        };
        match toks.next() {
            None | Some("kB") if toks.next().is_none() => {
                m.insert(k.to_string(), v);
            }
            _ => {}
        }
    }
    m
}

/// The field names of meminfo-style text, in file order.
pub fn meminfo_keys(text: &str) -> Vec<String> {
    text.lines().filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string())).collect()
}

/// `key=value` lines → map (later keys win).
pub fn parse_kv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Integer value of `key` in a key=value map, with a useful panic.
pub fn kv_u64(m: &BTreeMap<String, String>, key: &str, ctx: &str) -> u64 {
    m.get(key)
        .unwrap_or_else(|| panic!("{ctx}: no `{key}=` in output {m:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{ctx}: `{key}` = {:?} is not an unsigned integer: {e}", m[key]))
}

pub fn kv_i64(m: &BTreeMap<String, String>, key: &str, ctx: &str) -> i64 {
    m.get(key)
        .unwrap_or_else(|| panic!("{ctx}: no `{key}=` in output {m:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{ctx}: `{key}` = {:?} is not an integer: {e}", m[key]))
}

/// A meminfo field with a useful panic.
pub fn field(m: &BTreeMap<String, u64>, key: &str, ctx: &str) -> u64 {
    *m.get(key).unwrap_or_else(|| panic!("{ctx}: no {key} line; fields seen: {:?}", m.keys()))
}

/// The real /proc/meminfo (the test process is never preloaded).
pub fn host_meminfo_text() -> String {
    fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo")
}

pub fn host_memtotal_kb() -> u64 {
    field(&parse_meminfo(&host_meminfo_text()), "MemTotal", "host /proc/meminfo")
}

/// The system page size, asked of getconf without the library.
pub fn page_size() -> u64 {
    let o = run_plain(&["getconf", "PAGESIZE"], false, &[]);
    o.ok().trim().parse().expect("getconf PAGESIZE")
}

/// Collects failed checks so one test can report every wrong value at once.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    pub fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }

    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, got: T, expected: T) {
        if got != expected {
            self.0.push(format!("{what}: expected {expected:?}, got {got:?}"));
        }
    }

    pub fn push(&mut self, msg: String) {
        self.0.push(msg);
    }

    /// Moves these failures into `into`, each prefixed.
    pub fn prefix_into(self, prefix: &str, into: &mut Failures) {
        into.0.extend(self.0.into_iter().map(|m| format!("{prefix}{m}")));
    }

    pub fn finish(self, title: &str) {
        if !self.0.is_empty() {
            panic!("{title}: {} failure(s):\n  - {}", self.0.len(), self.0.join("\n  - "));
        }
    }
}

/// The kernel's list format of ascending CPU numbers (`0-1,4`).
pub fn kernel_list(cpus: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j { cpus[i].to_string() } else { format!("{}-{}", cpus[i], cpus[j]) });
        i = j + 1;
    }
    out.join(",")
}

/// CPU numbers joined with commas (`0,1,4`).
pub fn joined(cpus: &[usize]) -> String {
    cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",")
}

/// Why real v1 `cpu` cgroups with CFS quotas cannot be made here (`None`: they can). `tag` names
/// the probe directory.
pub fn why_no_cpu_cgroups(tag: &str) -> Option<String> {
    let root = Path::new("/sys/fs/cgroup/cpu");
    if !root.join("cpu.cfs_quota_us").is_file() {
        return Some(format!(
            "{} is not a cgroup v1 cpu controller mount with CFS quota files",
            root.display()
        ));
    }
    let probe = root.join(format!("cgshim-{tag}-probe-{}", std::process::id()));
    match fs::create_dir(&probe) {
        Ok(()) => {
            let _ = fs::remove_dir(&probe);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Some(format!("{} is not writable: {e}", root.display())),
    }
    None
}
