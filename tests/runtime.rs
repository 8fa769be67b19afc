//! `cgshim runtime`, black-box, with the real engines: podman over runc and over crun with the
//! wrapper as its runtime (the memory and CPU views of a 256 MiB / 0.5-CPU container, `podman
//! exec` sessions, the opt-outs, and the images it must work with: musl-only, read-only,
//! one that preloads a library of its own, a non-root user, a static program, one that has its
//! own copy of cgshim), plain `runc run` on a bundle made here, and bad input. Every case runs
//! without the wrapper too, and the two are compared.
//!
//! The images are made here from the host's own programs (no registry): a glibc root of `sh`,
//! procps `free`, `getconf` and a probe, and a musl-only root of musl's loader and a probe
//! built with musl-gcc. podman runs them with `--rootfs`.
//!
//! The Docker cases (daemon.json `runtimes`, `docker run --runtime cgshim`) are in
//! scripts/docker-test.sh, which owns the engine's configuration for its run.
//!
//! They need root and cgroups (they skip otherwise; they panic under CI=true).

#[macro_use]
mod common;

use common::{
    Failures, MIB, c_program, c_shared_library, cgshim_bin, have_program, host_memtotal_kb, musl_program,
    parse_kv, run_captured, static_program,
};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const LIMIT: u64 = 256 * MIB;
/// Where the wrapper mounts the library in a container.
const IN_CONTAINER: &str = "/usr/lib/cgshim/libcgshim.so";
const TIMEOUT: Duration = Duration::from_secs(120);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(tag: &str) -> String {
    format!("cgshim-test-{tag}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique(tag));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Run {
    what: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Run {
        assert!(
            self.status.success(),
            "{} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    fn kv(&self) -> BTreeMap<String, String> {
        parse_kv(&self.ok().stdout)
    }
}

fn run(mut cmd: Command, what: String) -> Run {
    cmd.env_remove("LD_PRELOAD");
    let (status, stdout, stderr) = run_captured(cmd, &what, TIMEOUT);
    let status = status.unwrap_or_else(|| panic!("{what} did not finish within {TIMEOUT:?}"));
    Run { what, status, stdout, stderr }
}

// ---------------------------------------------------------------------------------------------
// The host, and roots made from its programs
// ---------------------------------------------------------------------------------------------

fn host_totalram() -> u64 {
    host_memtotal_kb() * 1024
}

fn host_cpus() -> u64 {
    let online = fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    online
        .trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

/// The absolute paths a dynamically linked program loads (ldd), the loader included.
fn libraries_of(program: &Path) -> Vec<PathBuf> {
    let o = Command::new("ldd").arg(program).output().expect("run ldd");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .filter(|t| t.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// Copies `from` to `<root><to>` (following symlinks), creating directories.
fn put(root: &Path, from: &Path, to: &str) {
    let dest = root.join(to.trim_start_matches('/'));
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::copy(from, &dest).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), dest.display()));
}

fn which(name: &str) -> PathBuf {
    let o = Command::new("sh").args(["-c", &format!("command -v {name}")]).output().unwrap();
    let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(p.starts_with('/'), "{name} not found in PATH");
    fs::canonicalize(&p).unwrap()
}

/// A glibc root: sh, free, getconf, touch, the probe (dynamic and static) and their libraries.
fn glibc_root() -> TempDir {
    let root = TempDir::new("glibc-root");
    let probe = c_program("runtime_probe");
    let mut programs: Vec<(PathBuf, String)> =
        vec![(probe.clone(), "/probe".into()), (static_program("runtime_probe"), "/probe.static".into())];
    for name in ["sh", "free", "getconf", "touch"] {
        programs.push((which(name), format!("/bin/{name}")));
    }
    for (from, to) in &programs {
        put(root.path(), from, to);
        if !to.ends_with(".static") {
            for lib in libraries_of(from) {
                put(root.path(), &lib, lib.to_str().unwrap());
            }
        }
    }
    root
}

/// The loader a program names (its PT_INTERP).
fn interpreter(program: &Path) -> String {
    let o = Command::new("readelf").arg("-l").arg(program).output().expect("run readelf");
    let text = String::from_utf8_lossy(&o.stdout);
    let at = text.find("program interpreter: ").expect("a program interpreter");
    text[at + "program interpreter: ".len()..].split(']').next().unwrap().to_string()
}

/// A musl-only root: musl's loader (which is its libc too) and the probe built with musl-gcc.
/// No glibc at all.
fn musl_root() -> TempDir {
    let root = TempDir::new("musl-root");
    let probe = musl_program("runtime_probe");
    let loader = interpreter(&probe);
    assert!(loader.contains("musl"), "{} asks for {loader}", probe.display());
    put(root.path(), &fs::canonicalize(&loader).unwrap(), &loader);
    put(root.path(), &probe, "/probe");
    root
}

/// Symlinks named as engines configured by path call the wrapper: `cgshim-runtime` (runc) and
/// `cgshim-runtime-crun`. The library is found next to the binary they point at.
fn wrapper(rt: Rt) -> String {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("runtime-wrapper");
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        for name in ["cgshim-runtime", "cgshim-runtime-crun"] {
            std::os::unix::fs::symlink(cgshim_bin(), d.join(name)).unwrap();
        }
        d
    });
    let name = match rt {
        Rt::Runc => "cgshim-runtime",
        Rt::Crun => "cgshim-runtime-crun",
    };
    dir.join(name).to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rt {
    Runc,
    Crun,
}

impl Rt {
    fn name(self) -> &'static str {
        match self {
            Rt::Runc => "runc",
            Rt::Crun => "crun",
        }
    }
}

fn hard_limit(name: &str) -> u64 {
    let limits = fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
    let hard = line[name.len()..].split_whitespace().nth(1).unwrap();
    hard.parse().unwrap_or(u64::MAX)
}

/// podman as root asks for rlimits above this machine's hard limits unless told otherwise
/// (runc and crun then fail with EPERM): ask for the limits the engine itself runs with.
fn ulimits() -> Vec<String> {
    let pid_max: u64 = fs::read_to_string("/proc/sys/kernel/pid_max").unwrap().trim().parse().unwrap();
    let nofile = hard_limit("Max open files");
    let nproc = hard_limit("Max processes").min(pid_max);
    vec![
        "--ulimit".into(),
        format!("nofile={nofile}:{nofile}"),
        "--ulimit".into(),
        format!("nproc={nproc}:{nproc}"),
    ]
}

/// crun refuses a hybrid hierarchy whose cgroup2 mount has controllers ("cgroups in hybrid mode
/// not supported"); such hosts run crun's podman commands in a mount namespace without it.
fn hybrid_with_controllers() -> bool {
    fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").is_ok_and(|c| !c.trim().is_empty())
}

#[derive(Clone, Copy)]
struct Podman {
    rt: Rt,
    wrapped: bool,
}

impl Podman {
    fn label(&self) -> String {
        format!("podman over {}{}", self.rt.name(), if self.wrapped { " with the wrapper" } else { "" })
    }

    fn run(&self, args: &[&str]) -> Run {
        let runtime = if self.wrapped { wrapper(self.rt) } else { self.rt.name().to_string() };
        let mut cmd = if self.rt == Rt::Crun && hybrid_with_controllers() {
            let mut c = Command::new("unshare");
            c.args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                "umount /sys/fs/cgroup/unified && exec \"$0\" \"$@\"",
            ]);
            c.arg("podman");
            c
        } else {
            Command::new("podman")
        };
        cmd.args(["--runtime", &runtime]).args(args);
        run(cmd, format!("{}: podman {}", self.label(), args.join(" ")))
    }

    /// `podman run --rm` with the limits of every case. A run that succeeds with no output at all
    /// is made again (up to twice): podman can lose the output of a container that exits at once
    /// while its storage is being set up by another podman on a fresh machine.
    fn run_rm(&self, opts: &[&str], root: &str, argv: &[&str]) -> Run {
        let limits = ulimits();
        let mut args: Vec<&str> = vec!["run", "--rm", "--memory", "256m", "--cpus", "0.5"];
        args.extend(limits.iter().map(String::as_str));
        args.extend(opts);
        args.extend(["--rootfs", root]);
        args.extend(argv);
        let mut r = self.run(&args);
        for _ in 0..2 {
            if !(r.status.success() && r.stdout.is_empty()) {
                break;
            }
            r = self.run(&args);
        }
        r
    }
}

/// A detached container, removed on drop.
struct Container {
    podman: Podman,
    name: String,
}

impl Container {
    fn start(podman: Podman, opts: &[&str], root: &str, argv: &[&str]) -> Container {
        let name = unique("ctr");
        let limits = ulimits();
        let mut args: Vec<&str> = vec!["run", "-d", "--name", &name, "--memory", "256m", "--cpus", "0.5"];
        args.extend(limits.iter().map(String::as_str));
        args.extend(opts);
        args.extend(["--rootfs", root]);
        args.extend(argv);
        podman.run(&args).ok();
        Container { podman, name }
    }

    fn exec(&self, opts: &[&str], argv: &[&str]) -> Run {
        let mut args = vec!["exec"];
        args.extend(opts);
        args.push(&self.name);
        args.extend(argv);
        self.podman.run(&args)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.podman.run(&["rm", "-f", "-t", "0", &self.name]);
    }
}

/// What a probe run must show. `injected`: the wrapper's library is mounted, preloaded and
/// mapped. `limited`: its numbers are the container's (else the host's).
fn check_probe(f: &mut Failures, what: &str, kv: &BTreeMap<String, String>, injected: bool, limited: bool) {
    let (mem, cpus) = if limited { (LIMIT, 1) } else { (host_totalram(), host_cpus()) };
    f.eq(&format!("{what}: sysinfo totalram"), kv.get("totalram").cloned(), Some(mem.to_string()));
    f.eq(
        &format!("{what}: /proc/meminfo MemTotal kB"),
        kv.get("memtotal_kb").cloned(),
        Some((mem / 1024).to_string()),
    );
    f.eq(
        &format!("{what}: sysconf(_SC_NPROCESSORS_ONLN)"),
        kv.get("nprocs").cloned(),
        Some(cpus.to_string()),
    );
    let preload = kv.get("ld_preload").map(String::as_str).unwrap_or("");
    f.eq(
        &format!("{what}: LD_PRELOAD starts with {IN_CONTAINER}"),
        preload.starts_with(IN_CONTAINER),
        injected,
    );
    f.eq(
        &format!("{what}: the library's mount"),
        kv.get("mounted").map(String::as_str),
        Some(if injected { "1" } else { "0" }),
    );
}

/// `free -b` and `getconf _NPROCESSORS_ONLN` output → (Mem total, CPUs).
fn free_and_getconf(out: &str) -> (Option<u64>, Option<u64>) {
    let mem =
        out.lines().find(|l| l.starts_with("Mem:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
    let cpus = out.lines().last().and_then(|l| l.trim().parse().ok());
    (mem, cpus)
}

const FREE_GETCONF: &[&str] = &["/bin/sh", "-c", "free -b && getconf _NPROCESSORS_ONLN"];

fn have_podman(rt: Rt) -> bool {
    have_program("podman")
        && match rt {
            Rt::Runc => have_program("runc"),
            Rt::Crun => have_program("crun"),
        }
}

/// The memory and CPU views in a 256 MiB / 0.5-CPU container, with and without the wrapper: a
/// probe and procps as the container's process, then two `podman exec` sessions into a running
/// container (one as another user).
fn memory_cpu_and_exec(rt: Rt) {
    let root = glibc_root();
    let mut f = Failures::default();
    for wrapped in [false, true] {
        let p = Podman { rt, wrapped };
        let l = p.label();
        check_probe(
            &mut f,
            &format!("{l}: run /probe"),
            &p.run_rm(&[], root.str(), &["/probe"]).kv(),
            wrapped,
            wrapped,
        );
        let o = p.run_rm(&[], root.str(), FREE_GETCONF);
        let (mem, cpus) = if wrapped { (LIMIT, 1) } else { (host_totalram(), host_cpus()) };
        f.eq(&format!("{l}: free -b, getconf"), free_and_getconf(&o.ok().stdout), (Some(mem), Some(cpus)));

        let c = Container::start(p, &[], root.str(), &["/probe", "sleep"]);
        for session in 1..=2 {
            check_probe(
                &mut f,
                &format!("{l}: exec session {session}"),
                &c.exec(&[], &["/probe"]).kv(),
                wrapped,
                wrapped,
            );
        }
        let o = c.exec(&["--user", "1000:1000"], &["/probe"]);
        let kv = o.kv();
        check_probe(&mut f, &format!("{l}: exec --user 1000"), &kv, wrapped, wrapped);
        f.eq(&format!("{l}: exec --user 1000: uid"), kv.get("uid").map(String::as_str), Some("1000"));
        let o = c.exec(&[], FREE_GETCONF);
        f.eq(
            &format!("{l}: exec free -b, getconf"),
            free_and_getconf(&o.ok().stdout),
            (Some(mem), Some(cpus)),
        );
    }
    f.finish(&format!("podman over {}: memory, CPUs, exec", rt.name()));
}

#[test]
fn podman_over_runc_memory_cpu_and_exec() {
    require_cgroups!();
    if !have_podman(Rt::Runc) {
        return;
    }
    memory_cpu_and_exec(Rt::Runc);
}

#[test]
fn podman_over_crun_memory_cpu_and_exec() {
    require_cgroups!();
    if !have_podman(Rt::Crun) {
        return;
    }
    memory_cpu_and_exec(Rt::Crun);
}

#[test]
fn podman_opt_outs() {
    require_cgroups!();
    if !have_podman(Rt::Runc) {
        return;
    }
    let root = glibc_root();
    let p = Podman { rt: Rt::Runc, wrapped: true };
    let mut f = Failures::default();
    // (options, injected, what the numbers are)
    let cases: &[(&[&str], bool, &str)] = &[
        (&["--annotation", "org.cgshim.disable=true"], false, "host"),
        (&["--annotation", "org.cgshim.disable=1"], false, "host"),
        (&["--annotation", "org.cgshim.disable=false"], true, "container"),
        (&["--env", "CGSHIM_DISABLE=1"], false, "host"),
        // A partial switch is the library's business: the library is there, the CPU view is off.
        (&["--env", "CGSHIM_DISABLE=cpu"], true, "memory only"),
    ];
    for (opts, injected, numbers) in cases {
        let what = format!("{}: {}", p.label(), opts.join(" "));
        let kv = p.run_rm(opts, root.str(), &["/probe"]).kv();
        match *numbers {
            "memory only" => {
                f.eq(&format!("{what}: totalram"), kv.get("totalram").cloned(), Some(LIMIT.to_string()));
                f.eq(&format!("{what}: nprocs"), kv.get("nprocs").cloned(), Some(host_cpus().to_string()));
                f.eq(&format!("{what}: mounted"), kv.get("mounted").map(String::as_str), Some("1"));
            }
            n => check_probe(&mut f, &what, &kv, *injected, n == "container"),
        }
        if !injected {
            f.eq(&format!("{what}: LD_PRELOAD"), kv.get("ld_preload").map(String::as_str), Some("-"));
        }
    }
    // An exec into an opted-out container stays out too.
    let c =
        Container::start(p, &["--annotation", "org.cgshim.disable=true"], root.str(), &["/probe", "sleep"]);
    check_probe(&mut f, "exec into an opted-out container", &c.exec(&[], &["/probe"]).kv(), false, false);
    f.finish("podman opt-outs");
}

/// A glibc root imported as an image whose config sets LD_PRELOAD to a library of its own.
struct Image(String);

impl Image {
    fn with_preload(root: &Path) -> Image {
        let name = format!("localhost/{}:latest", unique("ldpreload"));
        put(root, &c_shared_library("lib/other_preload", "libother.so"), "/opt/other/libother.so");
        let o = run(
            {
                let mut c = Command::new("sh");
                c.args([
                    "-c",
                    "tar --numeric-owner -C \"$0\" -cf - . | podman import --change 'ENV LD_PRELOAD=/opt/other/libother.so' - \"$1\"",
                ])
                .arg(root)
                .arg(&name);
                c
            },
            format!("podman import {name}"),
        );
        o.ok();
        Image(name)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("podman").args(["rmi", "-f", &self.0]).output();
    }
}

/// The images the wrapper must work with, over both runtimes, each without and with it.
fn image_cases(rt: Rt) {
    let glibc = glibc_root();
    let musl = musl_root();
    let mut f = Failures::default();
    for wrapped in [false, true] {
        let p = Podman { rt, wrapped };
        let l = p.label();

        // musl only: the library loads into musl's loader, with no glibc anywhere.
        check_probe(
            &mut f,
            &format!("{l}: musl-only"),
            &p.run_rm(&[], musl.str(), &["/probe"]).kv(),
            wrapped,
            wrapped,
        );
        let c = Container::start(p, &[], musl.str(), &["/probe", "sleep"]);
        check_probe(
            &mut f,
            &format!("{l}: musl-only exec"),
            &c.exec(&[], &["/probe"]).kv(),
            wrapped,
            wrapped,
        );
        drop(c);

        // A read-only root: the mount still goes in, the root stays read-only.
        check_probe(
            &mut f,
            &format!("{l}: --read-only"),
            &p.run_rm(&["--read-only"], glibc.str(), &["/probe"]).kv(),
            wrapped,
            wrapped,
        );
        let o = p.run_rm(&["--read-only"], glibc.str(), &["/bin/touch", "/written"]);
        f.check(!o.status.success() && o.stderr.contains("Read-only file system"), || {
            format!("{l}: --read-only: touch /written should fail with EROFS: {} {}", o.status, o.stderr)
        });

        // A non-root user.
        let kv = p.run_rm(&["--user", "1000:1000"], glibc.str(), &["/probe"]).kv();
        check_probe(&mut f, &format!("{l}: --user 1000"), &kv, wrapped, wrapped);
        f.eq(&format!("{l}: --user 1000: uid"), kv.get("uid").map(String::as_str), Some("1000"));

        // A static program runs as it did: the host's numbers, no error.
        let o = p.run_rm(&[], glibc.str(), &["/probe.static"]);
        let kv = o.kv();
        f.check(o.stderr.trim().is_empty(), || format!("{l}: static: stderr {:?}", o.stderr));
        f.eq(
            &format!("{l}: static: totalram"),
            kv.get("totalram").cloned(),
            Some(host_totalram().to_string()),
        );
        f.eq(&format!("{l}: static: nprocs"), kv.get("nprocs").cloned(), Some(host_cpus().to_string()));
        f.eq(&format!("{l}: static: mapped"), kv.get("mapped").map(String::as_str), Some("0"));
    }

    // An image that sets LD_PRELOAD: its entry is kept, after ours.
    let image_root = glibc_root();
    let image = Image::with_preload(image_root.path());
    for wrapped in [false, true] {
        let p = Podman { rt, wrapped };
        let l = p.label();
        let limits = ulimits();
        let mut args: Vec<&str> = vec!["run", "--rm", "--memory", "256m", "--cpus", "0.5"];
        args.extend(limits.iter().map(String::as_str));
        args.extend([image.0.as_str(), "/probe"]);
        let kv = p.run(&args).kv();
        let expected = if wrapped {
            format!("{IN_CONTAINER} /opt/other/libother.so")
        } else {
            "/opt/other/libother.so".into()
        };
        f.eq(
            &format!("{l}: image with LD_PRELOAD: LD_PRELOAD"),
            kv.get("ld_preload").cloned(),
            Some(expected),
        );
        f.eq(
            &format!("{l}: image with LD_PRELOAD: its library mapped"),
            kv.get("other").map(String::as_str),
            Some("1"),
        );
        check_probe(&mut f, &format!("{l}: image with LD_PRELOAD"), &kv, wrapped, wrapped);
    }

    // An image with its own copy of cgshim in /etc/ld.so.preload: left alone, its copy works.
    let own = glibc_root();
    put(own.path(), &common::lib_path(), "/usr/local/lib/libcgshim.so");
    fs::create_dir_all(own.path().join("etc")).unwrap();
    fs::write(own.path().join("etc/ld.so.preload"), "/usr/local/lib/libcgshim.so\n").unwrap();
    for wrapped in [false, true] {
        let p = Podman { rt, wrapped };
        let kv = p.run_rm(&[], own.str(), &["/probe"]).kv();
        let what = format!("{}: image with its own copy", p.label());
        f.eq(&format!("{what}: LD_PRELOAD"), kv.get("ld_preload").map(String::as_str), Some("-"));
        f.eq(&format!("{what}: no mount"), kv.get("mounted").map(String::as_str), Some("0"));
        f.eq(
            &format!("{what}: totalram (its own copy)"),
            kv.get("totalram").cloned(),
            Some(LIMIT.to_string()),
        );
    }
    f.finish(&format!("podman over {}: images", rt.name()));
}

#[test]
fn podman_over_runc_images() {
    require_cgroups!();
    if !have_podman(Rt::Runc) || !have_program("musl-gcc") || !have_program("readelf") {
        return;
    }
    image_cases(Rt::Runc);
}

#[test]
fn podman_over_crun_images() {
    require_cgroups!();
    if !have_podman(Rt::Crun) || !have_program("musl-gcc") || !have_program("readelf") {
        return;
    }
    image_cases(Rt::Crun);
}

// ---------------------------------------------------------------------------------------------
// runc on a bundle made here, and bad input
// ---------------------------------------------------------------------------------------------

/// A bundle: the glibc root and a config.json written by hand, with an unknown field and
/// number spellings the wrapper must keep byte for byte, and tabs for indentation.
fn bundle(argv: &[&str], cgroup: &str) -> TempDir {
    let b = TempDir::new("bundle");
    let root = glibc_root();
    fs::rename(root.path(), b.path().join("rootfs")).unwrap();
    std::mem::forget(root);
    let args = argv.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
    let config = format!(
        r#"{{
	"ociVersion": "1.0.2",
	"x-cgshim-test": {{"kept": [1.50, 18446744073709551616, "\u00e9"]}},
	"process": {{
		"terminal": false,
		"user": {{"uid": 0, "gid": 0}},
		"args": [{args}],
		"env": ["PATH=/bin", "TERM=xterm"],
		"cwd": "/",
		"noNewPrivileges": true
	}},
	"root": {{"path": "rootfs", "readonly": false}},
	"hostname": "cgshim-test",
	"mounts": [
		{{"destination": "/proc", "type": "proc", "source": "proc"}},
		{{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}},
		{{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}},
		{{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}}
	],
	"linux": {{
		"cgroupsPath": "/{cgroup}",
		"resources": {{"memory": {{"limit": {LIMIT}}}, "cpu": {{"quota": 50000, "period": 100000}}}},
		"namespaces": [{{"type": "pid"}}, {{"type": "ipc"}}, {{"type": "uts"}}, {{"type": "mount"}}]
	}}
}}
"#
    );
    fs::write(b.path().join("config.json"), config).unwrap();
    b
}

fn runc_run(wrapper: Option<&[&str]>, bundle: &Path) -> Run {
    let id = unique("runc");
    let mut cmd = match wrapper {
        Some(w) => {
            let mut c = Command::new(w[0]);
            c.args(&w[1..]);
            c
        }
        None => Command::new("runc"),
    };
    cmd.args(["run", "--bundle"]).arg(bundle).arg(&id);
    run(cmd, format!("{wrapper:?} runc run {id}"))
}

#[test]
fn runc_run_on_a_bundle() {
    require_cgroups!();
    if !have_program("runc") {
        return;
    }
    let mut f = Failures::default();
    let b = bundle(&["/probe"], &unique("cg"));
    let original = fs::read_to_string(b.path().join("config.json")).unwrap();
    check_probe(&mut f, "runc run", &runc_run(None, b.path()).kv(), false, false);
    let bin = cgshim_bin();
    let via_command = [bin.to_str().unwrap(), "runtime", "--"];
    check_probe(&mut f, "cgshim runtime -- run", &runc_run(Some(&via_command), b.path()).kv(), true, true);
    let edited = fs::read_to_string(b.path().join("config.json")).unwrap();
    // A second start of the same bundle, through the cgshim-runtime name: nothing added twice.
    let via_name = [wrapper(Rt::Runc)];
    let via_name: Vec<&str> = via_name.iter().map(String::as_str).collect();
    check_probe(&mut f, "cgshim-runtime run (again)", &runc_run(Some(&via_name), b.path()).kv(), true, true);
    let again = fs::read_to_string(b.path().join("config.json")).unwrap();
    f.eq("the second run changes nothing", &again, &edited);
    f.eq("LD_PRELOAD entries", edited.matches(IN_CONTAINER).count(), 2); // the env entry and the mount
    // Every byte of the original is kept: the env list back as it was and the mount taken out
    // give the original file.
    let env_before = r#"["PATH=/bin", "TERM=xterm"]"#;
    let env_after = format!(r#"["PATH=/bin","TERM=xterm","LD_PRELOAD={IN_CONTAINER}"]"#);
    let mount = format!(
        ",{{\"destination\":\"{IN_CONTAINER}\",\"type\":\"bind\",\"source\":\"{}\",\"options\":[\"bind\",\"ro\",\"nosuid\",\"nodev\"]}}",
        fs::canonicalize(common::lib_path()).unwrap().display()
    );
    f.check(edited.contains(&env_after), || format!("the env list is {env_after}:\n{edited}"));
    let restored = edited.replacen(&env_after, env_before, 1).replacen(&mount, "", 1);
    f.eq("the original, byte for byte, around the two edits", restored.as_str(), original.as_str());
    let names: Vec<String> = fs::read_dir(b.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    f.check(names.len() == 2, || format!("the bundle holds config.json and rootfs only: {names:?}"));
    f.finish("runc run on a bundle");
}

/// The node layout deploy/kubernetes/install-on-node.sh makes (what the DaemonSet runs) works:
/// runc started through the installed cgshim-runtime finds the installed library.
#[test]
fn node_install_script_layout_starts_containers() {
    require_cgroups!();
    if !have_program("runc") {
        return;
    }
    let image = TempDir::new("installer-image");
    fs::copy(cgshim_bin(), image.path().join("cgshim")).unwrap();
    fs::copy(common::lib_path(), image.path().join("libcgshim.so")).unwrap();
    let script = image.path().join("install-on-node.sh");
    fs::copy(common::workspace().join("deploy/kubernetes/install-on-node.sh"), &script).unwrap();
    let host = TempDir::new("node");
    for _ in 0..2 {
        // Twice: an upgrade over an installation.
        let mut c = Command::new("sh");
        c.arg(&script).arg(host.path());
        run(c, "install-on-node.sh".into()).ok();
    }
    let bin = host.path().join("usr/local/bin");
    let mut f = Failures::default();
    f.eq(
        "installed files",
        files_in(&bin).join(" "),
        "cgshim cgshim-runtime cgshim-runtime-crun".to_string(),
    );
    f.eq(
        "installed library",
        files_in(&host.path().join("usr/local/lib")).join(" "),
        "libcgshim.so pkgconfig".to_string(),
    );
    f.eq(
        "the C API's files",
        (
            files_in(&host.path().join("usr/local/include")).join(" "),
            files_in(&host.path().join("usr/local/lib/pkgconfig")).join(" "),
        ),
        ("cgshim.h".to_string(), "cgshim.pc".to_string()),
    );
    f.eq("cgshim-runtime", fs::read_link(bin.join("cgshim-runtime")).ok(), Some(PathBuf::from("cgshim")));
    let b = bundle(&["/probe"], &unique("cg"));
    let runtime = bin.join("cgshim-runtime");
    let kv = runc_run(Some(&[runtime.to_str().unwrap()]), b.path()).kv();
    check_probe(&mut f, "through the installed cgshim-runtime", &kv, true, true);
    let config = fs::read_to_string(b.path().join("config.json")).unwrap();
    let installed = fs::canonicalize(host.path().join("usr/local/lib/libcgshim.so")).unwrap();
    f.check(config.contains(&format!("\"source\":\"{}\"", installed.display())), || {
        format!("the mount's source is the installed library {}:\n{config}", installed.display())
    });
    f.finish("the node layout of install-on-node.sh");
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Bad input: each case gives a clear error from the runtime or runs the container unmodified,
/// leaves the bundle as it was, and writes one line to the runtime's log.
#[test]
fn bad_input_leaves_the_bundle_as_it_was() {
    require_cgroups!();
    if !have_program("runc") {
        return;
    }
    let mut f = Failures::default();
    let bin = cgshim_bin();
    let bin = bin.to_str().unwrap();
    let log_dir = TempDir::new("logs");
    let wrapped = |opts: &[&str], log: &str, bundle: &Path| {
        let mut c = Command::new(bin);
        c.arg("runtime").args(opts).args(["--", "--log", log, "--log-format", "json", "run", "--bundle"]);
        c.arg(bundle).arg(unique("bad"));
        run(c, format!("cgshim runtime {opts:?} -- run"))
    };
    let log_lines = |log: &str| -> Vec<String> {
        fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("cgshim:"))
            .map(str::to_string)
            .collect()
    };

    // No config.json: runc's own error, our line, nothing written.
    let b = TempDir::new("no-config");
    fs::create_dir(b.path().join("rootfs")).unwrap();
    let log = log_dir.path().join("no-config.json").to_string_lossy().into_owned();
    let o = wrapped(&[], &log, b.path());
    f.check(!o.status.success(), || format!("no config.json: runc should fail: {}", o.stdout));
    let lines = log_lines(&log);
    f.check(
        lines.len() == 1 && lines[0].contains("config.json") && lines[0].contains("\"level\":\"warning\""),
        || format!("no config.json: one warning naming the file: {lines:?}"),
    );
    f.eq("no config.json: the bundle", files_in(b.path()), vec!["rootfs".to_string()]);

    // Malformed config.json (broken JSON, and JSON of the wrong shape): left byte for byte.
    for (tag, text) in
        [("broken", "{\"process\": {\"env\": [\"A=1\""), ("wrong-shape", "{\"process\": {\"env\": \"A=1\"}}")]
    {
        let b = TempDir::new(tag);
        fs::create_dir(b.path().join("rootfs")).unwrap();
        fs::write(b.path().join("config.json"), text).unwrap();
        let log = log_dir.path().join(format!("{tag}.json")).to_string_lossy().into_owned();
        let o = wrapped(&[], &log, b.path());
        f.check(!o.status.success(), || format!("{tag} config: runc should refuse it"));
        f.eq(
            &format!("{tag} config: the file"),
            fs::read_to_string(b.path().join("config.json")).unwrap(),
            text.to_string(),
        );
        f.eq(
            &format!("{tag} config: the bundle"),
            files_in(b.path()),
            vec!["config.json".to_string(), "rootfs".to_string()],
        );
        let lines = log_lines(&log);
        f.check(
            lines.len() == 1 && lines[0].contains("config.json") && lines[0].contains("left unchanged"),
            || format!("{tag} config: one warning naming the file: {lines:?}"),
        );
    }

    // An unknown runtime: a clear error, exit 127, the bundle untouched.
    let b = bundle(&["/probe"], &unique("cg"));
    let original = fs::read_to_string(b.path().join("config.json")).unwrap();
    let log = log_dir.path().join("no-runtime.json").to_string_lossy().into_owned();
    let o = wrapped(&["--runtime", "/nonexistent/runc"], &log, b.path());
    f.eq("unknown runtime: exit status", o.status.code(), Some(127));
    f.check(o.stderr.contains("cgshim: the runtime /nonexistent/runc is not found"), || {
        format!("unknown runtime: stderr {:?}", o.stderr)
    });
    f.check(
        log_lines(&log).iter().any(|l| l.contains("\"level\":\"error\"") && l.contains("/nonexistent/runc")),
        || format!("unknown runtime: an error line in the log: {:?}", log_lines(&log)),
    );
    f.eq(
        "unknown runtime: config.json",
        fs::read_to_string(b.path().join("config.json")).unwrap(),
        original.clone(),
    );
    // ... and cgshim itself as the runtime.
    let o = wrapped(&["--runtime", bin], &log, b.path());
    f.eq("cgshim as its own runtime: exit status", o.status.code(), Some(125));
    f.check(o.stderr.contains("is cgshim itself"), || format!("cgshim as its own runtime: {:?}", o.stderr));

    // No library on the host, or one a non-root process could not read: the container runs
    // unmodified, with one warning.
    let unreadable = log_dir.path().join("libcgshim.so");
    fs::copy(common::lib_path(), &unreadable).unwrap();
    fs::set_permissions(&unreadable, fs::Permissions::from_mode(0o600)).unwrap();
    for (tag, lib, why) in [
        ("missing library", "/nonexistent/libcgshim.so", "does not exist"),
        ("unreadable library", unreadable.to_str().unwrap(), "not readable by every user"),
    ] {
        let log =
            log_dir.path().join(format!("{}.json", tag.replace(' ', "-"))).to_string_lossy().into_owned();
        let o = wrapped(&["--lib", lib], &log, b.path());
        check_probe(&mut f, tag, &o.kv(), false, false);
        f.eq(
            &format!("{tag}: config.json"),
            fs::read_to_string(b.path().join("config.json")).unwrap(),
            original.clone(),
        );
        let lines = log_lines(&log);
        f.check(
            lines.len() == 1 && lines[0].contains(why) && lines[0].contains("without libcgshim.so"),
            || format!("{tag}: one warning saying why: {lines:?}"),
        );
    }
    f.eq("the bundle", files_in(b.path()), vec!["config.json".to_string(), "rootfs".to_string()]);
    f.finish("bad input");
}
