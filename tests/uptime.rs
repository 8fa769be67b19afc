//! Uptime and process count: `/proc/uptime` and `sysinfo.uptime` count from the start of the
//! caller's PID namespace (its init, /proc/1) and are the host's in the initial namespace;
//! `sysinfo.procs` is `pids.current` of the caller's pids cgroup (the host's at the root); the
//! other non-memory `sysinfo` fields are the real call's.
//!
//! The PID-namespace and pids-cgroup tests need root (skip otherwise; panic under CI=true).

#[macro_use]
mod common;

use common::{Failures, c_program, kv_u64, parse_kv};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The inode of the initial PID namespace (PROC_PID_INIT_INO).
const INITIAL_PID_NS: &str = "pid:[4026531836]";

/// How long the namespace's init has been running when the tools ask.
const SLEEP: &str = "1.5";

/// `/proc/uptime` → (uptime, idle) in seconds, checking the kernel's format
/// (`<secs>.<cc> <secs>.<cc>\n`).
fn parse_uptime(text: &str, ctx: &str) -> (f64, f64) {
    let t = text.trim_end_matches('\n');
    let ok = text.ends_with('\n')
        && !t.contains('\n')
        && t.split(' ').count() == 2
        && t.split(' ').all(|v| {
            v.split_once('.').is_some_and(|(s, c)| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && c.len() == 2
                    && c.bytes().all(|b| b.is_ascii_digit())
            })
        });
    assert!(ok, "{ctx}: /proc/uptime is not `<secs>.<cc> <secs>.<cc>\\n`: {text:?}");
    let mut it = t.split(' ').map(|v| v.parse::<f64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

fn host_uptime() -> (f64, f64) {
    parse_uptime(&fs::read_to_string("/proc/uptime").unwrap(), "host /proc/uptime")
}

fn in_initial_pid_namespace() -> bool {
    fs::read_link("/proc/self/ns/pid").map(|l| l.to_string_lossy() == INITIAL_PID_NS).unwrap_or(false)
}

/// The sysinfo fields the library never changes, compared with the raw syscall sysinfo_show
/// makes right after the hooked call.
fn check_untouched_fields(f: &mut Failures, kv: &BTreeMap<String, String>, ctx: &str) {
    for k in ["load0", "load1", "load2", "totalhigh", "freehigh", "mem_unit"] {
        f.eq(
            &format!("{ctx}: sysinfo {k} (hooked vs raw)"),
            kv_u64(kv, k, ctx),
            kv_u64(kv, &format!("raw_{k}"), ctx),
        );
    }
}

/// `unshare --pid --fork --mount-proc sh -c SCRIPT args…`: the shell is the namespace's init.
fn in_pid_namespace(script: &str, args: &[&str], preload: bool, env: &[(&str, &str)]) -> common::Outcome {
    let mut argv = vec!["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh"];
    argv.extend_from_slice(args);
    common::run_plain(&argv, preload, env)
}

// ---------------------------------------------------------------------------------------------
// The initial PID namespace: the host's uptime
// ---------------------------------------------------------------------------------------------

#[test]
fn initial_namespace_keeps_the_hosts_uptime() {
    if !in_initial_pid_namespace() {
        let why = "the test does not run in the initial PID namespace";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and {why}");
        }
        eprintln!("SKIPPED: {why}");
        return;
    }
    let mut f = Failures::default();
    let (h1, _) = host_uptime();
    let o = common::run_plain(&["cat", "/proc/uptime"], true, &[]);
    let (h2, _) = host_uptime();
    let (up, _) = parse_uptime(o.ok(), "cat /proc/uptime, preloaded, no PID namespace");
    f.check(h1 - 0.1 <= up && up <= h2 + 0.1, || {
        format!("/proc/uptime under the library says {up} s, the host said {h1} → {h2} s around it")
    });

    let prog = c_program("sysinfo_show");
    let o = common::run_plain(&[prog.to_str().unwrap()], true, &[]);
    let kv = parse_kv(o.ok());
    let ctx = "sysinfo_show, no PID namespace, no pids cgroup";
    let g = |k: &str| kv_u64(&kv, k, ctx);
    f.check(g("uptime").abs_diff(g("raw_uptime")) <= 1, || {
        format!("{ctx}: sysinfo uptime {} vs raw {}", g("uptime"), g("raw_uptime"))
    });
    f.check(g("uptime") as f64 >= h1.floor(), || {
        format!("{ctx}: sysinfo uptime {} < host {h1}", g("uptime"))
    });
    // The test's own pids cgroup is the root (no pids.current there): the host's count. Other
    // tests of this binary may start or end processes between the two calls.
    if own_v1_cgroup("pids").as_deref() == Some("/") {
        f.check(g("procs").abs_diff(g("raw_procs")) <= 20, || {
            format!("{ctx}: sysinfo procs {} vs raw {} (pids cgroup is the root)", g("procs"), g("raw_procs"))
        });
    }
    check_untouched_fields(&mut f, &kv, ctx);
    f.finish("uptime outside a PID namespace");
}

// ---------------------------------------------------------------------------------------------
// A new PID namespace: uptime counts from its init
// ---------------------------------------------------------------------------------------------

const TOOLS_SCRIPT: &str = r#"sleep "$1"
echo "procps=$(uptime)"
echo "since=$(date -d "$(uptime -s)" +%s)"
echo "now=$(date +%s)"
[ "$2" = 1 ] && echo "busybox=$(busybox uptime)"
echo "proc=$(cat /proc/uptime)"
echo "nproc=$(nproc)"
"#;

#[test]
fn pid_namespace_uptime_in_tools() {
    require_cgroups!();
    let busybox = common::have_program("busybox");
    let (host, _) = host_uptime();
    let o = in_pid_namespace(TOOLS_SCRIPT, &[SLEEP, if busybox { "1" } else { "0" }], true, &[]);
    let out = o.ok();
    let kv = parse_kv(out);
    let ctx = "unshare --pid --fork --mount-proc, preloaded";
    let mut f = Failures::default();
    let (up, idle) = parse_uptime(&format!("{}\n", kv["proc"]), ctx);
    let nproc: f64 = kv["nproc"].parse().unwrap();
    f.check((1.5..=4.0).contains(&up), || {
        format!("{ctx}: /proc/uptime {up} s, expected the ~{SLEEP} s since the namespace's init started (host: {host} s)")
    });
    // Both printed truncated to 1/100 s: allow that much per CPU.
    f.check(idle >= 0.0 && idle <= up * nproc + 0.01 * nproc, || {
        format!("{ctx}: idle {idle} s is not within 0..=uptime {up} × {nproc} CPUs")
    });
    f.check(kv["procps"].contains(" up 0 min,"), || format!("{ctx}: procps uptime: {:?}", kv["procps"]));
    let since: i64 = kv["since"].parse().unwrap();
    let now: i64 = kv["now"].parse().unwrap();
    f.check((1..=6).contains(&(now - since)), || {
        format!(
            "{ctx}: `uptime -s` says the system came up {} s before now (expected ~{SLEEP} s)",
            now - since
        )
    });
    if busybox {
        // Busybox computes it from sysinfo().uptime.
        f.check(kv["busybox"].contains(" up 0 min,"), || {
            format!("{ctx}: busybox uptime: {:?}", kv["busybox"])
        });
    }

    // The same namespace without the library: the kernel's host-wide figure (no time namespace).
    let (h1, _) = host_uptime();
    let o = in_pid_namespace("cat /proc/uptime", &[], false, &[]);
    let (h2, _) = host_uptime();
    let (raw, _) = parse_uptime(o.ok(), "unshare, not preloaded");
    f.check(h1 - 0.1 <= raw && raw <= h2 + 0.1, || {
        format!("without the library /proc/uptime in the namespace is {raw}, host {h1} → {h2}: the premise is wrong")
    });
    f.finish(&format!("uptime tools in a new PID namespace:\n{out}"));
}

const SYSINFO_SCRIPT: &str = r#"sleep "$1"
echo "u1=$(cat /proc/uptime)"
"$2" || exit $?
echo "u2=$(cat /proc/uptime)"
"#;

#[test]
fn pid_namespace_sysinfo_uptime() {
    require_cgroups!();
    let prog = c_program("sysinfo_show");
    let p = prog.to_str().unwrap();
    let mut f = Failures::default();

    let o = in_pid_namespace(SYSINFO_SCRIPT, &[SLEEP, p], true, &[]);
    let kv = parse_kv(o.ok());
    let ctx = "sysinfo_show in a new PID namespace";
    let g = |k: &str| kv_u64(&kv, k, ctx);
    let (u1, _) = parse_uptime(&format!("{}\n", kv["u1"]), ctx);
    let (u2, _) = parse_uptime(&format!("{}\n", kv["u2"]), ctx);
    // /proc/uptime is truncated to 1/100 s and sysinfo rounds up to whole seconds.
    let s = g("uptime");
    f.check(u1.ceil() as u64 <= s && s <= u2.floor() as u64 + 1, || {
        format!("{ctx}: sysinfo uptime {s} s, but /proc/uptime read around it said {u1} → {u2} s")
    });
    f.check((2..=5).contains(&s), || format!("{ctx}: sysinfo uptime {s} s, expected ~{SLEEP} s rounded up"));
    f.check(g("raw_uptime") > s || g("raw_uptime") <= 5, || {
        format!("{ctx}: sysinfo uptime {s} s is not below the raw (host) uptime {} s", g("raw_uptime"))
    });
    check_untouched_fields(&mut f, &kv, ctx);

    // CGSHIM_DISABLE=uptime: the host's figures in the same setting, memory still virtualized.
    let (h1, _) = host_uptime();
    let o = in_pid_namespace(SYSINFO_SCRIPT, &[SLEEP, p], true, &[("CGSHIM_DISABLE", "uptime")]);
    let (h2, _) = host_uptime();
    let kv = parse_kv(o.ok());
    let ctx = "sysinfo_show in a new PID namespace, CGSHIM_DISABLE=uptime";
    let g = |k: &str| kv_u64(&kv, k, ctx);
    let (u1, _) = parse_uptime(&format!("{}\n", kv["u1"]), ctx);
    f.check(h1 - 0.1 <= u1 && u1 <= h2 + 0.1, || {
        format!("{ctx}: /proc/uptime {u1} s, the host's was {h1} → {h2} s")
    });
    f.check(g("uptime").abs_diff(g("raw_uptime")) <= 1, || {
        format!("{ctx}: sysinfo uptime {} vs raw {}", g("uptime"), g("raw_uptime"))
    });
    f.check(g("uptime") as f64 >= h1.floor(), || {
        format!("{ctx}: sysinfo uptime {} < host {h1}", g("uptime"))
    });
    f.finish("sysinfo uptime in a PID namespace");
}

// ---------------------------------------------------------------------------------------------
// sysinfo.procs from the pids controller
// ---------------------------------------------------------------------------------------------

const PIDS_ROOT: &str = "/sys/fs/cgroup/pids";

/// The caller's path in a v1 hierarchy (`/proc/self/cgroup`).
fn own_v1_cgroup(controller: &str) -> Option<String> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, ctrls, path) = (it.next()?, it.next()?, it.next()?);
        ctrls.split(',').any(|c| c == controller).then(|| path.to_string())
    })
}

static PIDS_N: AtomicUsize = AtomicUsize::new(0);

/// A v1 pids cgroup `/sys/fs/cgroup/pids/cgshim-pids-<pid>-<n>`; on drop every process left in
/// it (the sleepers this test started) is killed by pid and the directories are removed.
struct PidsCgroup {
    dir: PathBuf,
}

impl PidsCgroup {
    fn new() -> PidsCgroup {
        let n = PIDS_N.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(PIDS_ROOT).join(format!("cgshim-pids-{}-{n}", std::process::id()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        PidsCgroup { dir }
    }

    fn child(&self, name: &str) -> PathBuf {
        let d = self.dir.join(name);
        fs::create_dir(&d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        d
    }

    fn current(dir: &Path) -> u64 {
        fs::read_to_string(dir.join("pids.current")).unwrap().trim().parse().unwrap()
    }
}

fn empty_and_remove(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                empty_and_remove(&e.path());
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for pid in fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default().lines() {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) if Instant::now() > deadline => {
                eprintln!("warning: could not remove {}: {e}", dir.display());
                return;
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        empty_and_remove(&self.dir);
    }
}

fn pids_available() -> bool {
    let why = if !Path::new(PIDS_ROOT).join("cgroup.procs").is_file() {
        Some(format!("{PIDS_ROOT} is not a cgroup v1 pids hierarchy"))
    } else {
        let probe = Path::new(PIDS_ROOT).join(format!("cgshim-probe-{}", std::process::id()));
        match fs::create_dir(&probe) {
            Ok(()) => {
                let _ = fs::remove_dir(&probe);
                None
            }
            Err(e) => Some(format!("{PIDS_ROOT} is not writable: {e}")),
        }
    };
    match why {
        None => true,
        Some(w) if std::env::var("CI").as_deref() == Ok("true") => panic!("CI=true and {w}"),
        Some(w) => {
            eprintln!("SKIPPED: {w}");
            false
        }
    }
}

/// Joins `$0` (a cgroup.procs file), starts `$2` sleepers that hold no pipe of ours, then execs
/// sysinfo_show (`$1`).
const PIDS_SCRIPT: &str = r#"echo $$ > "$0" || exit 97
i=0
while [ $i -lt "$2" ]; do sleep 60 </dev/null >/dev/null 2>&1 & i=$((i+1)); done
exec "$1""#;

#[test]
fn sysinfo_procs_is_the_pids_cgroup_count() {
    require_cgroups!();
    if !pids_available() {
        return;
    }
    let prog = c_program("sysinfo_show");
    let p = prog.to_str().unwrap();
    let cg = PidsCgroup::new();
    let mut f = Failures::default();

    // sysinfo_show and 3 sleeping children in the cgroup: 4 tasks.
    let procs = cg.dir.join("cgroup.procs");
    let o = common::run_plain(&["sh", "-c", PIDS_SCRIPT, procs.to_str().unwrap(), p, "3"], true, &[]);
    let after = PidsCgroup::current(&cg.dir);
    let kv = parse_kv(o.ok());
    let ctx = "sysinfo_show + 3 sleepers in a v1 pids cgroup";
    let g = |k: &str| kv_u64(&kv, k, ctx);
    f.eq(&format!("{ctx}: pids.current after it exited (the sleepers)"), after, 3);
    f.eq(&format!("{ctx}: sysinfo procs"), g("procs"), 4);
    f.eq(&format!("{ctx}: sysinfo procs vs pids.current while it ran"), g("procs"), after + 1);
    f.check(g("raw_procs") > g("procs"), || {
        format!("{ctx}: sysinfo procs {} is not below the raw (host) count {}", g("procs"), g("raw_procs"))
    });
    check_untouched_fields(&mut f, &kv, ctx);

    // A nested cgroup: its own count (itself + 1 sleeper), not the parent's (which includes it).
    let inner = cg.child("inner");
    let procs = inner.join("cgroup.procs");
    let o = common::run_plain(&["sh", "-c", PIDS_SCRIPT, procs.to_str().unwrap(), p, "1"], true, &[]);
    let (inner_after, outer_after) = (PidsCgroup::current(&inner), PidsCgroup::current(&cg.dir));
    let kv = parse_kv(o.ok());
    let ctx = "sysinfo_show + 1 sleeper in a nested pids cgroup (3 more in the parent)";
    f.eq(&format!("{ctx}: pids.current after (inner, outer)"), (inner_after, outer_after), (1, 4));
    f.eq(&format!("{ctx}: sysinfo procs"), kv_u64(&kv, "procs", ctx), 2);
    f.finish("sysinfo.procs from pids.current");
}
