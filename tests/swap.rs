//! Swap as the container sees it: `/proc/swaps`, the Swap lines of `/proc/meminfo`, `sysinfo`'s
//! `totalswap`/`freeswap` and procps `free`.
//!
//! - `fixture_*`: the swap fixture scenarios (`tests/fixtures/*/expected.swaps`) served through
//!   `libcgshim.so` under `CGSHIM_SYSROOT`: `/proc/swaps` byte for byte, and `free -b`'s Swap
//!   line against the hand-computed `expected` values. No privileges needed.
//! - `real_v1_swap_*`: a real swap file (created here, the CI machine has none) and a real v1
//!   cgroup with `memory.limit_in_bytes` 64 MiB and `memory.memsw.limit_in_bytes` 192 MiB, in
//!   which a process touches 120 MiB so that ~56 MiB of it sits in swap. Needs root (skips
//!   otherwise; panics under CI=true).

#[macro_use]
mod common;

use common::{Cgroup, Failures, LAYOUTS, Layout, MIB, c_program, field, kv_u64, parse_kv, parse_meminfo};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The first line of every /proc/swaps (mm/swapfile.c `swap_show`).
const KERNEL_HEADER: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority";

// ---------------------------------------------------------------------------------------------
// Fixture scenarios under CGSHIM_SYSROOT
// ---------------------------------------------------------------------------------------------

struct SwapFixture {
    name: String,
    root: PathBuf,
    swaps: String,
    expected: BTreeMap<String, u64>,
}

/// Every fixture folder with an `expected.swaps` (the hand-written /proc/swaps it must serve).
fn swap_fixtures() -> Vec<SwapFixture> {
    let dir = common::workspace().join("tests/fixtures");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).expect("tests/fixtures") {
        let path = entry.expect("fixture entry").path();
        let Ok(swaps) = fs::read_to_string(path.join("expected.swaps")) else {
            continue;
        };
        let text = fs::read_to_string(path.join("expected")).expect("expected next to expected.swaps");
        let mut expected = BTreeMap::new();
        for line in text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once(char::is_whitespace).expect("`key value` line");
            expected.insert(k.to_string(), v.trim().parse().expect("number"));
        }
        out.push(SwapFixture {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            root: path.join("root"),
            swaps,
            expected,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 8, "expected the 8 swap fixture scenarios, found {}", out.len());
    out
}

#[test]
fn fixture_proc_swaps_served_exactly() {
    let mut f = Failures::default();
    for s in swap_fixtures() {
        let root = s.root.to_str().unwrap();
        let o = common::run_plain(&["cat", "/proc/swaps"], true, &[("CGSHIM_SYSROOT", root)]);
        f.eq(&format!("{}: /proc/swaps", s.name), o.ok(), s.swaps.as_str());
        // Also through a different spelling and entry point (relative to /proc).
        let o = common::run_plain(
            &["sh", "-c", "cd /proc && exec cat ./swaps"],
            true,
            &[("CGSHIM_SYSROOT", root)],
        );
        f.eq(&format!("{}: ./swaps from /proc", s.name), o.ok(), s.swaps.as_str());
    }
    f.finish("fixture /proc/swaps through libcgshim.so");
}

/// procps `free -b` reads only /proc/meminfo: its Swap line is SwapTotal, SwapTotal − SwapFree,
/// SwapFree (in bytes) of the fixture's hand-computed values.
#[test]
fn fixture_free_swap_line() {
    let mut f = Failures::default();
    for s in swap_fixtures() {
        let root = s.root.to_str().unwrap();
        let o = common::run_plain(&["free", "-b"], true, &[("CGSHIM_SYSROOT", root)]);
        let Some(swap) = free_line(o.ok(), "Swap:") else {
            f.push(format!("{}: no Swap: line in free -b:\n{}", s.name, o.stdout));
            continue;
        };
        let total = s.expected["meminfo.SwapTotal"] * 1024;
        let free = s.expected["meminfo.SwapFree"] * 1024;
        f.eq(&format!("{}: free -b Swap total/used/free", s.name), swap, vec![total, total - free, free]);
        let mem = free_line(&o.stdout, "Mem:").unwrap_or_default();
        f.eq(
            &format!("{}: free -b Mem total", s.name),
            mem.first().copied(),
            Some(s.expected["meminfo.MemTotal"] * 1024),
        );
    }
    f.finish("fixture free -b Swap line through libcgshim.so");
}

/// `CGSHIM_DISABLE=swaps` leaves /proc/swaps alone (the machine's real file, not the fixture's
/// view), while /proc/meminfo keeps its virtual swap lines.
#[test]
fn fixture_disable_swaps_keeps_the_host_file() {
    let s =
        swap_fixtures().into_iter().find(|s| s.name == "v1-swap-limited").expect("v1-swap-limited fixture");
    let root = s.root.to_str().unwrap();
    let env = [("CGSHIM_SYSROOT", root), ("CGSHIM_DISABLE", "swaps")];
    let before = fs::read_to_string("/proc/swaps").unwrap();
    let o = common::run_plain(&["cat", "/proc/swaps"], true, &env);
    let after = fs::read_to_string("/proc/swaps").unwrap();
    let mut f = Failures::default();
    let got = o.ok();
    f.check(same_swap_devices(got, &before) || same_swap_devices(got, &after), || {
        format!("CGSHIM_DISABLE=swaps: /proc/swaps is not the machine's file:\n{got}\nmachine:\n{after}")
    });
    f.check(!got.contains("virtual"), || format!("CGSHIM_DISABLE=swaps still served a virtual line:\n{got}"));
    let m = parse_meminfo(common::run_plain(&["cat", "/proc/meminfo"], true, &env).ok());
    f.eq("CGSHIM_DISABLE=swaps: meminfo SwapTotal still virtual", m.get("SwapTotal").copied(), Some(131072));
    f.finish("CGSHIM_DISABLE=swaps under a test root");
}

/// The numbers of a `free` output line starting with `label`.
fn free_line(out: &str, label: &str) -> Option<Vec<u64>> {
    let line = out.lines().find(|l| l.starts_with(label))?;
    Some(line.split_whitespace().skip(1).map(|t| t.parse().expect("free: number")).collect())
}

/// Two /proc/swaps texts list the same devices with the same type and size (the Used column of
/// a live device moves).
fn same_swap_devices(a: &str, b: &str) -> bool {
    let cols = |t: &str| -> Vec<Vec<String>> {
        t.lines().map(|l| l.split_whitespace().take(3).map(str::to_string).collect()).collect()
    };
    cols(a) == cols(b)
}

// ---------------------------------------------------------------------------------------------
// A real swap file
// ---------------------------------------------------------------------------------------------

/// A swap file under /tmp, enabled with swapon; on drop (also while unwinding) turned off and
/// deleted. swapoff fails with ENOMEM while swapped pages cannot be brought back into a
/// cgroup that is at its limit: then the limits of the registered cgroups are lifted and it is
/// retried.
struct SwapFile {
    path: PathBuf,
    active: bool,
    relax: RefCell<Vec<PathBuf>>,
}

impl SwapFile {
    fn enable(mib: u64) -> SwapFile {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let path = PathBuf::from(format!("/tmp/cgshim-swap-{}-{n}", std::process::id()));
        let _ = fs::remove_file(&path);
        let mut guard = SwapFile { path, active: false, relax: RefCell::new(Vec::new()) };
        let p = guard.path.to_str().unwrap().to_string();
        sh_ok(&format!("dd if=/dev/zero of='{p}' bs=1M count={mib} status=none && chmod 600 '{p}'"));
        sh_ok(&format!("mkswap '{p}' >/dev/null"));
        sh_ok(&format!("swapon '{p}'"));
        guard.active = true;
        let swaps = fs::read_to_string("/proc/swaps").unwrap();
        assert!(swaps.contains(&p), "swapon succeeded but {p} is not in /proc/swaps:\n{swaps}");
        guard
    }

    /// Lift this cgroup's limits if swapoff needs memory.
    fn relax_on_failure(&self, cgroup_dir: &Path) {
        self.relax.borrow_mut().push(cgroup_dir.to_path_buf());
    }
}

impl Drop for SwapFile {
    fn drop(&mut self) {
        if self.active {
            let mut last = String::new();
            for attempt in 0..10 {
                match Command::new("swapoff").arg(&self.path).output() {
                    Ok(o) if o.status.success() => {
                        self.active = false;
                        break;
                    }
                    Ok(o) => last = String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => last = e.to_string(),
                }
                for dir in self.relax.borrow().iter().filter(|d| d.exists()) {
                    // memsw first: the memory limit may never exceed it.
                    let _ = fs::write(dir.join("memory.memsw.limit_in_bytes"), "-1");
                    let _ = fs::write(dir.join("memory.limit_in_bytes"), "-1");
                }
                thread::sleep(Duration::from_millis(200 * (attempt + 1)));
            }
            if self.active {
                // Deleting an active swap file would leave it enabled and unreachable by name.
                eprintln!(
                    "warning: swapoff {} kept failing ({last}); left in place, run `swapoff {0} && rm {0}`",
                    self.path.display()
                );
                return;
            }
        }
        let _ = fs::remove_file(&self.path);
    }
}

fn sh_ok(script: &str) {
    let o = Command::new("sh").args(["-c", script]).output().expect("run sh");
    assert!(o.status.success(), "`{script}` failed: {}", String::from_utf8_lossy(&o.stderr));
}

/// `tests/c/swapper` running in a cgroup (not preloaded) with its pages touched; it exits
/// when dropped (stdin closed, killed if it lingers).
struct Swapper {
    child: Child,
}

impl Swapper {
    fn start(cg: &Cgroup, mib: u64) -> Swapper {
        let prog = c_program("swapper");
        let mut child = Command::new("sh")
            .args(["-c", r#"echo $$ > "$0" || exit 97; exec "$1" "$2""#])
            .arg(cg.dir().join("cgroup.procs"))
            .arg(&prog)
            .arg(mib.to_string())
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn swapper");
        let mut line = String::new();
        let n = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap_or(0);
        let mut s = Swapper { child };
        if n == 0 || line.trim() != "ready" {
            let status = s.child.wait().ok();
            panic!(
                "swapper {mib} MiB in {} did not get ready (exit {status:?}; OOM-killed? memory.oom_control: {:?})",
                cg.rel(),
                fs::read_to_string(cg.dir().join("memory.oom_control")).unwrap_or_default()
            );
        }
        s
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// The real test
// ---------------------------------------------------------------------------------------------

const LIMIT: u64 = 64 * MIB;
const MEMSW: u64 = 192 * MIB;
/// memsw − memory: the swap the cgroup may use.
const SWAP_ALLOWANCE: u64 = MEMSW - LIMIT;
const SWAP_ALLOWANCE_KB: u64 = SWAP_ALLOWANCE / 1024; // 131072
const HOST_SWAP_MIB: u64 = 256;
const TOUCHED_MIB: u64 = 120;
/// How far swap in use may move outside the window of the cgroup files read around a run
/// (per-CPU charge batching; the measuring processes' own pages push more of the swapper out).
const TOLERANCE: u64 = 4 * MIB;

fn read_u64(p: &Path) -> u64 {
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn stat_key(dir: &Path, key: &str) -> u64 {
    let text = fs::read_to_string(dir.join("memory.stat")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {key} in memory.stat"))
        .trim()
        .parse()
        .unwrap()
}

/// What the cgroup's own files say at one moment (the test process is not preloaded).
#[derive(Clone, Copy, Debug)]
struct CgFiles {
    usage: u64,
    memsw: u64,
    swapcached: u64,
}

impl CgFiles {
    fn read(cg: &Cgroup) -> CgFiles {
        CgFiles {
            usage: read_u64(&cg.dir().join("memory.usage_in_bytes")),
            memsw: read_u64(&cg.dir().join("memory.memsw.usage_in_bytes")),
            swapcached: stat_key(cg.dir(), "total_swapcached"),
        }
    }

    fn swap_used(&self) -> u64 {
        self.memsw.saturating_sub(self.usage)
    }
}

/// `x` (bytes) lies within the values seen before and after, give or take `tol`.
fn within(x: u64, a: u64, b: u64, tol: u64) -> bool {
    a.min(b).saturating_sub(tol) <= x && x <= a.max(b) + tol
}

fn why_no_swap_test() -> Option<String> {
    if !Path::new(common::MEMCG_ROOT).join("memory.memsw.limit_in_bytes").is_file() {
        return Some(
            "the kernel has no swap accounting (no memory.memsw.* files; boot with swapaccount=1)".into(),
        );
    }
    for tool in ["dd", "mkswap", "swapon", "swapoff", "free"] {
        if !common::have_program(tool) {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// The real tests take turns: each compares against the host's swap devices, which the other
/// one's swap file would change.
static REAL_SWAP: Mutex<()> = Mutex::new(());

/// The swap cgroup with the swapper's pages partly in swap, with everything torn down in the
/// right order on drop (swapper, then cgroup, then the swap file, then the turn).
struct Setup {
    // Field order is drop order.
    _swapper: Swapper,
    cg: Cgroup,
    swap: SwapFile,
    _turn: std::sync::MutexGuard<'static, ()>,
}

fn setup() -> Option<Setup> {
    if !common::cgroups_available() {
        return None;
    }
    let turn = REAL_SWAP.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = why_no_swap_test() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true and the swap test cannot run: {why}");
        }
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let swap = SwapFile::enable(HOST_SWAP_MIB);
    let cg = Cgroup::new(Some(LIMIT));
    swap.relax_on_failure(cg.dir());
    fs::write(cg.dir().join("memory.memsw.limit_in_bytes"), MEMSW.to_string()).expect("set memsw limit");
    assert_eq!(read_u64(&cg.dir().join("memory.memsw.limit_in_bytes")), MEMSW);
    // Inherited from the parent; the test needs the cgroup to swap.
    let _ = fs::write(cg.dir().join("memory.swappiness"), "60");
    let swapper = Swapper::start(&cg, TOUCHED_MIB);
    let now = CgFiles::read(&cg);
    assert!(
        now.swap_used() >= 32 * MIB,
        "setup: {TOUCHED_MIB} MiB touched under a {} MiB limit, yet only {} KiB went to swap ({now:?})",
        LIMIT / MIB,
        now.swap_used() / 1024
    );
    Some(Setup { _swapper: swapper, cg, swap, _turn: turn })
}

/// sysinfo (hooked), /proc/meminfo and the cgroup's files.
fn check_sysinfo(f: &mut Failures, cg: &Cgroup, layout: Layout) {
    let prog = c_program("sysinfo_show");
    let before = CgFiles::read(cg);
    let o = cg.run(layout, &[prog.to_str().unwrap()]);
    let after = CgFiles::read(cg);
    let kv = parse_kv(o.ok());
    let ctx = format!("sysinfo_show, {layout:?}");
    let g = |k: &str| kv_u64(&kv, k, &ctx);
    let unit = g("mem_unit").max(1);
    f.eq(&format!("{ctx}: totalram"), g("totalram") * unit, LIMIT);
    f.eq(&format!("{ctx}: meminfo SwapTotal before"), g("before_SwapTotal"), SWAP_ALLOWANCE_KB);
    f.eq(&format!("{ctx}: meminfo SwapTotal after"), g("after_SwapTotal"), SWAP_ALLOWANCE_KB);
    f.eq(&format!("{ctx}: sysinfo totalswap"), g("totalswap") * unit, SWAP_ALLOWANCE);
    f.check(g("raw_totalswap") * unit >= HOST_SWAP_MIB * MIB - MIB, || {
        format!(
            "{ctx}: raw totalswap {} does not include the {HOST_SWAP_MIB} MiB swap file",
            g("raw_totalswap") * unit
        )
    });
    let free_kb = g("freeswap") * unit / 1024;
    let (sf1, sf2) = (g("before_SwapFree"), g("after_SwapFree"));
    if g("stable") == 1 {
        // meminfo read twice around sysinfo() and unchanged: sysinfo must show that instant.
        f.eq(&format!("{ctx}: sysinfo freeswap / 1024 vs meminfo SwapFree (stable)"), free_kb, sf1);
    } else {
        f.check(within(free_kb, sf1, sf2, 0), || {
            format!("{ctx}: sysinfo freeswap {free_kb} kB outside meminfo SwapFree {sf1}..{sf2} kB")
        });
    }
    f.check(g("freeswap") <= g("totalswap"), || format!("{ctx}: freeswap > totalswap"));
    // Swap in use as served vs the cgroup's own memsw − usage around the run.
    let used = (SWAP_ALLOWANCE_KB.saturating_sub(sf1)) * 1024;
    f.check(within(used, before.swap_used(), after.swap_used(), TOLERANCE), || {
        format!(
            "{ctx}: served swap used {} KiB (SwapTotal − SwapFree), but memsw.usage − usage was {} → {} KiB",
            used / 1024,
            before.swap_used() / 1024,
            after.swap_used() / 1024
        )
    });
}

/// /proc/swaps, /proc/meminfo and `free -b` read in one process, retried until the meminfo Swap
/// lines read before and after did not change (then all three describe the same instant).
const CONSISTENT_SCRIPT: &str = r#"i=0
while :; do
  i=$((i+1))
  a=$(grep -E '^Swap(Total|Free):' /proc/meminfo)
  s=$(cat /proc/swaps)
  f=$(free -b)
  c=$(grep -E '^(MemTotal|SwapCached):' /proc/meminfo)
  b=$(grep -E '^Swap(Total|Free):' /proc/meminfo)
  [ "$a" = "$b" ] && break
  [ $i -ge 50 ] && break
  sleep 0.02
done
[ "$a" = "$b" ] && echo "stable=1" || echo "stable=0"
printf '%s\n' "@before" "$a" "@swaps" "$s" "@free" "$f" "@other" "$c" "@after" "$b"
"#;

fn sections(out: &str) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = BTreeMap::new();
    let mut cur = String::from("head");
    for line in out.lines() {
        if let Some(name) = line.strip_prefix('@') {
            cur = name.to_string();
            m.entry(cur.clone()).or_default();
        } else {
            let e = m.entry(cur.clone()).or_default();
            e.push_str(line);
            e.push('\n');
        }
    }
    m
}

/// The one virtual /proc/swaps line, parsed: (size kB, used kB), checked against the kernel's
/// layout: `none` padded to 40 columns, `virtual`, tabs as the kernel prints them, priority 0.
fn parse_virtual_line(f: &mut Failures, ctx: &str, text: &str) -> Option<(u64, u64)> {
    let lines: Vec<&str> = text.lines().collect();
    f.eq(&format!("{ctx}: /proc/swaps header"), lines.first().copied(), Some(KERNEL_HEADER));
    f.eq(&format!("{ctx}: /proc/swaps line count"), lines.len(), 2);
    let line = *lines.get(1)?;
    let (name, rest) = (line.get(..40)?, line.get(40..)?);
    f.eq(&format!("{ctx}: name column"), name, "none                                    ");
    let cols: Vec<&str> = rest.split('\t').collect();
    let (Some(size), Some(used)) = (
        cols.get(1).and_then(|s| s.parse::<u64>().ok()),
        cols.iter().skip(2).find(|c| !c.is_empty()).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        f.push(format!("{ctx}: unparsable /proc/swaps line {line:?}"));
        return None;
    };
    let tabs = |n: u64| if n < 10_000_000 { "\t\t" } else { "\t" };
    let want = format!("virtual\t{size}{}{used}{}0", tabs(size), tabs(used));
    f.eq(&format!("{ctx}: /proc/swaps line layout"), rest, want.as_str());
    Some((size, used))
}

fn check_consistent_views(f: &mut Failures, cg: &Cgroup, layout: Layout) {
    let before = CgFiles::read(cg);
    let o = cg.run(layout, &["sh", "-c", CONSISTENT_SCRIPT]);
    let after = CgFiles::read(cg);
    let out = o.ok();
    let ctx = format!("swaps/meminfo/free, {layout:?}");
    let sec = sections(out);
    let stable = out.lines().next() == Some("stable=1");
    let (ma, mb) = (parse_meminfo(&sec["before"]), parse_meminfo(&sec["after"]));
    let other = parse_meminfo(&sec["other"]);
    f.eq(&format!("{ctx}: meminfo MemTotal"), field(&other, "MemTotal", &ctx), LIMIT / 1024);
    f.eq(&format!("{ctx}: meminfo SwapTotal"), field(&ma, "SwapTotal", &ctx), SWAP_ALLOWANCE_KB);
    let (fa, fb) = (field(&ma, "SwapFree", &ctx), field(&mb, "SwapFree", &ctx));
    if let Some((size, used)) = parse_virtual_line(f, &ctx, &sec["swaps"]) {
        f.eq(&format!("{ctx}: /proc/swaps Size"), size, SWAP_ALLOWANCE_KB);
        if stable {
            // Swap in use can move by a page and back between two reads of meminfo that agree
            // (a page swapped in and out again): one page of slack, no more.
            let want = SWAP_ALLOWANCE_KB.saturating_sub(fa);
            f.check(within(used, want, want, 4), || {
                format!(
                    "{ctx}: /proc/swaps Used {used} kB vs meminfo SwapTotal − SwapFree {want} kB (stable)"
                )
            });
        } else {
            f.check(
                within(used, SWAP_ALLOWANCE_KB.saturating_sub(fa), SWAP_ALLOWANCE_KB.saturating_sub(fb), 0),
                || {
                    format!(
                        "{ctx}: /proc/swaps Used {used} kB outside meminfo's {}..{} kB",
                        SWAP_ALLOWANCE_KB.saturating_sub(fa),
                        SWAP_ALLOWANCE_KB.saturating_sub(fb)
                    )
                },
            );
        }
        f.check(within(used * 1024, before.swap_used(), after.swap_used(), TOLERANCE), || {
            format!(
                "{ctx}: /proc/swaps Used {used} KiB, but memsw.usage − usage was {} → {} KiB",
                before.swap_used() / 1024,
                after.swap_used() / 1024
            )
        });
    }
    match (free_line(&sec["free"], "Swap:"), free_line(&sec["free"], "Mem:")) {
        (Some(swap), Some(mem)) => {
            f.eq(&format!("{ctx}: free -b Mem total"), mem[0], LIMIT);
            f.eq(&format!("{ctx}: free -b Swap total"), swap[0], SWAP_ALLOWANCE);
            f.eq(&format!("{ctx}: free -b Swap used + free"), swap[1] + swap[2], swap[0]);
            if stable {
                // Stable before and after, but a page may be swapped in and out again between.
                f.check(swap[2].abs_diff(fa * 1024) <= 4 * 4096, || {
                    format!("{ctx}: free -b Swap free {} vs meminfo SwapFree {} (stable)", swap[2], fa * 1024)
                });
            } else {
                f.check(within(swap[2], fa * 1024, fb * 1024, 0), || {
                    format!("{ctx}: free -b Swap free {} outside meminfo SwapFree {fa}..{fb} kB", swap[2])
                });
            }
        }
        _ => f.push(format!("{ctx}: free -b output without Mem:/Swap: lines:\n{}", sec["free"])),
    }
    // SwapCached: the cgroup's total_swapcached, never above the memory limit.
    let cached = field(&other, "SwapCached", &ctx);
    f.check(cached * 1024 <= LIMIT, || {
        format!("{ctx}: SwapCached {cached} kB above the {} kB limit", LIMIT / 1024)
    });
    f.check(within(cached * 1024, before.swapcached, after.swapcached, TOLERANCE), || {
        format!(
            "{ctx}: SwapCached {cached} kB, but total_swapcached was {} → {} kB",
            before.swapcached / 1024,
            after.swapcached / 1024
        )
    });
    if !stable {
        eprintln!("note: {ctx}: meminfo Swap lines kept moving; compared against a window\n{out}");
    }
}

#[test]
fn real_v1_swap_agrees_everywhere() {
    let Some(s) = setup() else {
        return;
    };
    let mut f = Failures::default();
    for layout in LAYOUTS {
        check_sysinfo(&mut f, &s.cg, layout);
        check_consistent_views(&mut f, &s.cg, layout);
    }
    f.finish(&format!(
        "real v1 swap: {} MiB limit, {} MiB memsw, {TOUCHED_MIB} MiB touched, {HOST_SWAP_MIB} MiB swap file {}",
        LIMIT / MIB,
        MEMSW / MIB,
        s.swap.path.display()
    ));
}

/// `CGSHIM_DISABLE=swaps` in the same cgroup: /proc/swaps is the host's (with the real swap
/// file), while /proc/meminfo still shows the cgroup's swap.
#[test]
fn real_v1_disable_swaps_and_unlimited_pass_through() {
    let Some(s) = setup() else {
        return;
    };
    let mut f = Failures::default();
    let script = "cat /proc/swaps; echo @meminfo; grep -E '^Swap(Total|Free):' /proc/meminfo";
    let host_before = fs::read_to_string("/proc/swaps").unwrap();
    let o = s.cg.runner(Layout::Host).env("CGSHIM_DISABLE", "swaps").run(&["sh", "-c", script]);
    let host_after = fs::read_to_string("/proc/swaps").unwrap();
    let (swaps, meminfo) = o.ok().split_once("@meminfo\n").expect("marker");
    let file = s.swap.path.to_str().unwrap();
    f.check(swaps.contains(file) && !swaps.contains("virtual"), || {
        format!("CGSHIM_DISABLE=swaps: expected the host's /proc/swaps listing {file}, got:\n{swaps}")
    });
    f.check(same_swap_devices(swaps, &host_before) || same_swap_devices(swaps, &host_after), || {
        format!("CGSHIM_DISABLE=swaps: /proc/swaps differs from the host's:\n{swaps}\nhost:\n{host_after}")
    });
    f.eq(
        "CGSHIM_DISABLE=swaps: meminfo SwapTotal still the cgroup's",
        parse_meminfo(meminfo).get("SwapTotal").copied(),
        Some(SWAP_ALLOWANCE_KB),
    );

    // No memory limit: everything passes through, swap included.
    let open = Cgroup::new(None);
    let host_swap_kb = field(&parse_meminfo(&common::host_meminfo_text()), "SwapTotal", "host meminfo");
    let o = open.run(Layout::Host, &["sh", "-c", script]);
    let (swaps, meminfo) = o.ok().split_once("@meminfo\n").expect("marker");
    f.check(swaps.contains(file) && !swaps.contains("virtual"), || {
        format!("no memory limit: expected the host's /proc/swaps listing {file}, got:\n{swaps}")
    });
    f.eq(
        "no memory limit: meminfo SwapTotal",
        parse_meminfo(meminfo).get("SwapTotal").copied(),
        Some(host_swap_kb),
    );
    f.finish("CGSHIM_DISABLE=swaps and pass-through with a real swap file");
}
