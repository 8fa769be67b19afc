//! Real programs, preloaded with libcgshim.so, inside a real 256 MiB v1 memory cgroup, in each
//! of the three layouts containers use (host paths, private cgroupns with cgroupfs remounted,
//! Docker-v1 bind mount). Every test asserts the exact values a 256 MiB machine would show.
//!
//! Needs root and a writable /sys/fs/cgroup/memory (skips otherwise; panics under CI=true).

#[macro_use]
mod common;

use common::{
    Cgroup, Failures, Layout, MIB, c_program, host_meminfo_text, kv_i64, kv_u64, meminfo_keys, musl_program,
    page_size, parse_kv, parse_meminfo,
};

const LIMIT: u64 = 256 * MIB;
const LIMIT_KB: u64 = LIMIT / 1024; // 262144

/// Every entry point the library hooks for opening /proc/meminfo.
use common::OPEN_ENTRIES as ENTRIES;

/// MemTotal == expected, MemFree <= MemAvailable <= MemTotal, MemFree > 0.
fn check_meminfo(f: &mut Failures, ctx: &str, text: &str, total_kb: u64) {
    let m = parse_meminfo(text);
    let (Some(&t), Some(&fr), Some(&av)) = (m.get("MemTotal"), m.get("MemFree"), m.get("MemAvailable"))
    else {
        f.push(format!("{ctx}: MemTotal/MemFree/MemAvailable missing in output:\n{text}"));
        return;
    };
    f.eq(&format!("{ctx}: MemTotal kB"), t, total_kb);
    f.check(fr > 0, || format!("{ctx}: MemFree is 0"));
    f.check(fr <= av, || format!("{ctx}: MemFree {fr} kB > MemAvailable {av} kB"));
    f.check(av <= t, || format!("{ctx}: MemAvailable {av} kB > MemTotal {t} kB"));
}

// ---------------------------------------------------------------------------------------------
// /proc/meminfo through each libc entry point and each spelling
// ---------------------------------------------------------------------------------------------

fn entry_points(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("meminfo_open");
    let p = prog.to_str().unwrap();
    let mut cases: Vec<Vec<&str>> = ENTRIES.iter().map(|e| vec![p, *e]).collect();
    for e in ["openat", "openat64", "__openat_2", "__openat64_2"] {
        cases.push(vec![p, e, "meminfo", "-d", "/proc"]);
    }
    run_meminfo_cases(&cg, layout, &cases, "per entry point");
}

/// Runs each `meminfo_open` command line in `cg` and checks the MemTotal it reports.
fn run_meminfo_cases(cg: &Cgroup, layout: Layout, cases: &[Vec<&str>], what: &str) {
    let mut f = Failures::default();
    for argv in cases {
        let o = cg.run(layout, argv);
        let ctx = format!("meminfo_open {}", argv[1..].join(" "));
        if !o.status.success() {
            f.push(format!("{ctx}: exited {} stderr: {}", o.status, o.stderr.trim()));
            continue;
        }
        check_meminfo(&mut f, &ctx, &o.stdout, LIMIT_KB);
    }
    f.finish(&format!("/proc/meminfo {what}, {layout:?} layout, 256 MiB limit"));
}

fn spellings(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("meminfo_open");
    let p = prog.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![p, "open", "//proc/./meminfo"],
        vec![p, "open", "/proc//meminfo"],
        vec![p, "open", "/proc/self/../meminfo"],
        vec![p, "fopen", "//proc/./meminfo"],
        vec![p, "open", "meminfo", "-C", "/proc"],
        vec![p, "open", "./meminfo", "-C", "/proc"],
        vec![p, "open64", "meminfo", "-C", "/proc"],
        vec![p, "__open64_2", "meminfo", "-C", "/proc"],
        vec![p, "fopen64", "meminfo", "-C", "/proc"],
        vec![p, "fopen", "meminfo", "-C", "/proc"],
        vec![p, "open", "proc/meminfo", "-C", "/"],
        vec![p, "open", "../proc/meminfo", "-C", "/tmp"],
        vec![p, "openat", "./meminfo", "-d", "/proc"],
        vec![p, "openat", "proc/meminfo", "-d", "/"],
        vec![p, "openat64", "../meminfo", "-d", "/proc/self"],
        vec![p, "openat", "/proc/meminfo", "-d", "/tmp"],
        vec![p, "openat", "meminfo", "-C", "/proc"],
    ];
    run_meminfo_cases(&cg, layout, &cases, "spellings");
}

/// `cat /proc/meminfo`: the values, and that the file looks like the kernel's (same fields in
/// the same order, same column layout).
fn cat_meminfo(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.run(layout, &["cat", "/proc/meminfo"]);
    let text = o.ok();
    let mut f = Failures::default();
    check_meminfo(&mut f, "cat /proc/meminfo", text, LIMIT_KB);
    let host = host_meminfo_text();
    let (served_keys, host_keys) = (meminfo_keys(text), meminfo_keys(&host));
    f.check(served_keys == host_keys, || {
        format!(
            "field names/order differ from the host file:\n served: {served_keys:?}\n host:   {host_keys:?}"
        )
    });
    for (s, h) in text.lines().zip(host.lines()) {
        let digits = |l: &str| l.split_whitespace().nth(1).map(str::len).unwrap_or(0);
        if s.split(':').next() == h.split(':').next() && digits(s) <= 8 && digits(h) <= 8 {
            f.check(s.len() == h.len(), || format!("column layout differs: served {s:?} vs host {h:?}"));
        }
    }
    f.finish(&format!("cat /proc/meminfo, {layout:?} layout"));
}

// ---------------------------------------------------------------------------------------------
// procps
// ---------------------------------------------------------------------------------------------

/// The numbers on the `Mem:` line(s) of `free` output.
fn free_mem_lines(out: &str) -> Vec<Vec<u64>> {
    out.lines()
        .filter(|l| l.starts_with("Mem:"))
        .map(|l| l.split_whitespace().skip(1).map(|t| t.parse().expect("free: number")).collect())
        .collect()
}

fn procps_free(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.run(layout, &["free", "-b"]);
    let lines = free_mem_lines(o.ok());
    assert_eq!(lines.len(), 1, "free -b: one Mem: line expected:\n{}", o.stdout);
    let v = &lines[0]; // total used free shared buff/cache available
    let mut f = Failures::default();
    f.eq("free -b total", v[0], LIMIT);
    f.check(v[1] <= v[0], || format!("free -b used {} > total {}", v[1], v[0]));
    f.check(v[2] <= v[5], || format!("free -b free {} > available {}", v[2], v[5]));
    f.check(v[5] <= v[0], || format!("free -b available {} > total {}", v[5], v[0]));
    f.finish(&format!("procps free -b, {layout:?} layout:\n{}", o.stdout));
}

/// `free -s 1 -c 4` keeps /proc/meminfo open and rewinds it; a hog in the same cgroup grows
/// usage by 48 MiB at 0.7 s, 1.4 s, 2.1 s, so the used column must climb.
fn procps_free_samples(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let hog = c_program("hog");
    let o = cg
        .run(layout, &["sh", "-c", r#""$0" 3 48 700 4500 & free -b -s 1 -c 4; wait"#, hog.to_str().unwrap()]);
    let lines = free_mem_lines(o.ok());
    let mut f = Failures::default();
    f.eq("number of samples", lines.len(), 4);
    for (i, v) in lines.iter().enumerate() {
        f.eq(&format!("sample {i} total"), v[0], LIMIT);
    }
    if lines.len() >= 2 {
        let used: Vec<u64> = lines.iter().map(|v| v[1]).collect();
        let grew = used.last().unwrap().saturating_sub(used[0]);
        f.check(grew >= 96 * MIB, || {
            format!("used did not follow the 144 MiB allocated between samples: used per sample {used:?} (grew {} MiB, expected >= 96 MiB): values are stale after lseek", grew / MIB)
        });
    }
    f.finish(&format!("procps free -s 1 -c 4 with a hog, {layout:?} layout:\n{}", o.stdout));
}

fn procps_top(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.runner(layout).env("HOME", "/nonexistent").run(&["top", "-b", "-n", "1", "-E", "m"]);
    let out = o.ok();
    let line = out
        .lines()
        .find(|l| l.starts_with("MiB Mem"))
        .unwrap_or_else(|| panic!("top: no `MiB Mem` line:\n{out}"));
    // "MiB Mem :    256.0 total,    250.1 free,      2.0 used,      3.9 buff/cache"
    let toks: Vec<&str> = line.split([',', ':']).collect();
    let num = |label: &str| -> f64 {
        toks.iter()
            .find(|t| t.trim().ends_with(label))
            .and_then(|t| t.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("top: no `{label}` value in {line:?}"))
    };
    let mut f = Failures::default();
    f.check(line.contains("256.0 total"), || format!("top: expected `256.0 total`, got {line:?}"));
    let (total, free, used) = (num("total"), num("free"), num("used"));
    f.check(free <= total && used <= total, || format!("top: free/used exceed total in {line:?}"));
    f.finish(&format!("procps top -b -n 1, {layout:?} layout"));
}

/// `ps -o rss,pmem` on ps itself: %MEM = rss / MemTotal (procps truncates to a tenth).
fn procps_ps_pmem(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.run(layout, &["sh", "-c", "exec ps -o rss=,pmem= -p $$"]);
    let out = o.ok();
    let toks: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(toks.len(), 2, "ps -o rss=,pmem=: unexpected output {out:?}");
    let rss: u64 = toks[0].parse().unwrap();
    let pmem: f64 = toks[1].parse().unwrap();
    let tenths = (pmem * 10.0).round() as i64;
    let expected = (rss * 1000 / LIMIT_KB) as i64;
    assert!(
        (tenths - expected).abs() <= 1,
        "ps %MEM in {layout:?} layout: rss {rss} kB of a 262144 kB machine is {}.{}%, ps printed {pmem}",
        expected / 10,
        expected % 10
    );
}

fn getconf_phys_pages(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let ps = page_size();
    let phys: u64 = cg.run(layout, &["getconf", "_PHYS_PAGES"]).ok().trim().parse().unwrap();
    let av: u64 = cg.run(layout, &["getconf", "_AVPHYS_PAGES"]).ok().trim().parse().unwrap();
    let mut f = Failures::default();
    f.eq("getconf _PHYS_PAGES", phys, LIMIT / ps);
    f.check(av > 0 && av <= phys, || format!("getconf _AVPHYS_PAGES {av} not in 1..={phys}"));
    f.finish(&format!("getconf, {layout:?} layout"));
}

// ---------------------------------------------------------------------------------------------
// busybox
// ---------------------------------------------------------------------------------------------

fn busybox_free(layout: Layout) {
    if !common::have_program("busybox") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.run(layout, &["busybox", "free"]);
    let lines = free_mem_lines(o.ok());
    assert_eq!(lines.len(), 1, "busybox free: one Mem: line expected:\n{}", o.stdout);
    let v = &lines[0]; // total used free shared buff/cache available (KiB)
    let mut f = Failures::default();
    f.eq("busybox free total (sysinfo)", v[0], LIMIT_KB);
    f.check(v[1] <= v[0], || format!("used {} > total {}", v[1], v[0]));
    f.check(v[2] <= v[0], || format!("free {} > total {}", v[2], v[0]));
    if v.len() >= 6 {
        // busybox takes "free" from sysinfo() and "available" from /proc/meminfo a moment
        // later; memcg charges move in per-cpu batches of 64 pages (256 KiB) in between, so
        // allow two batches of drift across the two calls.
        f.check(v[2] <= v[5] + 512, || {
            format!(
                "free {} (sysinfo) > available {} (meminfo) by more than two 256 KiB charge batches",
                v[2], v[5]
            )
        });
        f.check(v[5] <= v[0], || format!("available {} (meminfo) > total {} (sysinfo)", v[5], v[0]));
    } else {
        f.push("no available column".into());
    }
    f.finish(&format!("busybox free, {layout:?} layout:\n{}", o.stdout));
}

/// busybox top chdirs to /proc and opens "meminfo" relative to it; used + free = MemTotal.
fn busybox_top(layout: Layout) {
    if !common::have_program("busybox") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.run(layout, &["busybox", "top", "-b", "-n", "1"]);
    let out = o.ok();
    let line = out
        .lines()
        .find(|l| l.starts_with("Mem:"))
        .unwrap_or_else(|| panic!("busybox top: no Mem: line:\n{out}"));
    // "Mem: 1234K used, 260910K free, 0K shrd, 0K buff, 100K cached"
    let kib = |label: &str| -> u64 {
        let part = line
            .split(',')
            .find(|p| p.trim().ends_with(label))
            .unwrap_or_else(|| panic!("busybox top: no `{label}` in {line:?}"));
        let tok = part.trim_start_matches("Mem:").split_whitespace().next().unwrap();
        let (num, mult) = match tok.chars().last() {
            Some('K') => (&tok[..tok.len() - 1], 1),
            Some('M') => (&tok[..tok.len() - 1], 1024),
            Some('G') => (&tok[..tok.len() - 1], 1024 * 1024),
            _ => (tok, 1),
        };
        num.parse::<u64>().unwrap_or_else(|_| panic!("busybox top: bad number {tok:?} in {line:?}")) * mult
    };
    let (used, free) = (kib("used"), kib("free"));
    assert_eq!(
        used + free,
        LIMIT_KB,
        "busybox top in {layout:?} layout: used {used}K + free {free}K should be MemTotal 262144K: {line:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Python, psutil, Node, Java
// ---------------------------------------------------------------------------------------------

const PY: &str = "/usr/bin/python3";

fn python_sysconf(layout: Layout) {
    if !common::have_program(PY) {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.run(layout, &[PY, "-c", "import os; print(os.sysconf('SC_PHYS_PAGES'))"]);
    let got: u64 = o.ok().trim().parse().unwrap();
    assert_eq!(got, LIMIT / page_size(), "python os.sysconf('SC_PHYS_PAGES') in {layout:?} layout");
}

fn psutil_total(layout: Layout) {
    if !common::have_program(PY) {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.run(
        layout,
        &[PY, "-c", "import psutil; m = psutil.virtual_memory(); print(m.total, m.available, m.free)"],
    );
    let v: Vec<u64> = o.ok().split_whitespace().map(|t| t.parse().unwrap()).collect();
    let mut f = Failures::default();
    f.eq("psutil.virtual_memory().total", v[0], LIMIT);
    f.check(v[1] <= v[0], || format!("available {} > total {}", v[1], v[0]));
    f.check(v[2] <= v[1], || format!("free {} > available {}", v[2], v[1]));
    f.finish(&format!("psutil, {layout:?} layout"));
}

fn node_totalmem(layout: Layout) {
    if !common::have_program("node") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let o =
        cg.run(layout, &["node", "-e", "const os = require('os'); console.log(os.totalmem(), os.freemem())"]);
    let v: Vec<u64> = o.ok().split_whitespace().map(|t| t.parse().unwrap()).collect();
    let mut f = Failures::default();
    f.eq("node os.totalmem()", v[0], LIMIT);
    f.check(v[1] > 0 && v[1] <= v[0], || format!("os.freemem() {} not in 1..=totalmem {}", v[1], v[0]));
    f.finish(&format!("node, {layout:?} layout"));
}

fn java_max_heap(layout: Layout, extra: &[&str]) {
    if !common::have_program("java") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let mut argv = vec!["java"];
    argv.extend_from_slice(extra);
    argv.extend_from_slice(&["-XX:+PrintFlagsFinal", "-version"]);
    let o = cg.run(layout, &argv);
    let out = o.ok();
    let line = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("MaxHeapSize"))
        .unwrap_or_else(|| panic!("java: no MaxHeapSize line:\n{out}"));
    let v: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(
        v <= LIMIT,
        "java {extra:?} MaxHeapSize in {layout:?} layout: {v} bytes ({} MiB), expected <= 268435456 \
         (default heap = RAM/4 of a 256 MiB machine); line: {line}",
        v / MIB
    );
}

// ---------------------------------------------------------------------------------------------
// musl
// ---------------------------------------------------------------------------------------------

fn musl(layout: Layout) {
    if !common::have_program("musl-gcc") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let prog = musl_program("musl_meminfo");
    let o = cg.run(layout, &[prog.to_str().unwrap()]);
    let kv = parse_kv(o.ok());
    let ctx = "musl_meminfo";
    let mut f = Failures::default();
    f.check(o.stderr.is_empty(), || format!("stderr not empty (library failed to load?): {}", o.stderr));
    f.eq("musl open() MemTotal kB", kv_i64(&kv, "open_MemTotal", ctx), LIMIT_KB as i64);
    f.eq("musl fopen() MemTotal kB", kv_i64(&kv, "fopen_MemTotal", ctx), LIMIT_KB as i64);
    f.eq(
        "musl sysconf(_SC_PHYS_PAGES) * pagesize",
        kv_u64(&kv, "sc_phys_pages", ctx) * kv_u64(&kv, "sc_pagesize", ctx),
        LIMIT,
    );
    f.eq("musl sysinfo totalram bytes", kv_u64(&kv, "sysinfo_totalram_bytes", ctx), LIMIT);
    f.finish(&format!("musl-linked program, {layout:?} layout"));
}

// ---------------------------------------------------------------------------------------------
// sysinfo / sysconf / get_*phys_pages
// ---------------------------------------------------------------------------------------------

fn sysinfo_values(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("sysinfo_show");
    let o = cg.run(layout, &[prog.to_str().unwrap()]);
    let kv = parse_kv(o.ok());
    let ctx = "sysinfo_show";
    let g = |k: &str| kv_u64(&kv, k, ctx);
    let mut f = Failures::default();
    let unit = g("mem_unit").max(1);
    let total = g("totalram") * unit;
    let free = g("freeram") * unit;
    let psz = g("sc_pagesize");
    f.eq("sysinfo totalram * mem_unit", total, LIMIT);
    f.eq("sysinfo totalram / 1024 vs meminfo MemTotal", total / 1024, g("before_MemTotal"));
    // sysinfo ran between two reads of /proc/meminfo: its free memory must be what meminfo
    // showed at some instant of that window (exactly MemFree when both reads agreed).
    let (lo, hi) = {
        let (a, b) = (g("before_MemFree"), g("after_MemFree"));
        (a.min(b), a.max(b))
    };
    f.check((lo..=hi).contains(&(free / 1024)), || {
        format!(
            "sysinfo freeram / 1024 = {} kB, but meminfo MemFree around the call was {lo}..={hi} kB",
            free / 1024
        )
    });
    f.check(free <= total, || format!("freeram {free} > totalram {total}"));
    f.check(g("sharedram") * unit <= total, || format!("sharedram {} > totalram", g("sharedram") * unit));
    f.check(g("bufferram") * unit <= total, || format!("bufferram {} > totalram", g("bufferram") * unit));
    f.eq("sysconf(_SC_PHYS_PAGES) * pagesize", g("sc_phys_pages") * psz, total);
    f.eq("get_phys_pages()", g("get_phys_pages"), g("sc_phys_pages"));
    let av = g("sc_avphys_pages");
    let av_expected = free / psz;
    f.check(av.abs_diff(av_expected) <= 1, || {
        format!("sysconf(_SC_AVPHYS_PAGES) {av}, expected freeram/pagesize = {av_expected}")
    });
    f.check(g("get_avphys_pages").abs_diff(av) <= 1, || {
        format!("get_avphys_pages() {} vs sysconf(_SC_AVPHYS_PAGES) {av}", g("get_avphys_pages"))
    });
    f.finish(&format!("sysinfo/sysconf/get_*phys_pages, {layout:?} layout:\n{}", o.stdout));
}

/// Fields sysinfo() must not touch: compared with the raw syscall made right after it.
fn sysinfo_passthrough_fields(layout: Layout) {
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("sysinfo_show");
    let o = cg.run(layout, &[prog.to_str().unwrap()]);
    let kv = parse_kv(o.ok());
    let ctx = "sysinfo_show";
    let g = |k: &str| kv_u64(&kv, k, ctx);
    let mut f = Failures::default();
    for k in ["mem_unit", "totalswap", "totalhigh", "freehigh"] {
        f.eq(&format!("sysinfo {k} (hooked vs raw)"), g(k), g(&format!("raw_{k}")));
    }
    // freeswap: whether it is the host's or the cgroup's view, it must be what the served
    // /proc/meminfo says (SwapFree, read around the call) and not exceed totalswap.
    let unit = g("mem_unit").max(1);
    let free_swap_kb = g("freeswap") * unit / 1024;
    let (a, b) = (g("before_SwapFree"), g("after_SwapFree"));
    f.check((a.min(b)..=a.max(b)).contains(&free_swap_kb), || {
        format!("sysinfo freeswap / 1024 = {free_swap_kb} kB, served meminfo SwapFree {a}..{b} kB (raw freeswap {} kB)", g("raw_freeswap") * unit / 1024)
    });
    f.eq(
        "sysinfo totalswap / 1024 vs served meminfo SwapTotal",
        g("totalswap") * unit / 1024,
        g("before_SwapTotal"),
    );
    f.check(g("freeswap") <= g("totalswap"), || {
        format!("freeswap {} > totalswap {}", g("freeswap"), g("totalswap"))
    });
    f.check(g("uptime").abs_diff(g("raw_uptime")) <= 1, || {
        format!("uptime {} vs raw {}", g("uptime"), g("raw_uptime"))
    });
    if common::v2::active() {
        // v2 has one hierarchy: the memory cgroup is also the pids cgroup, whose only task is
        // sysinfo_show itself (sysinfo.procs is pids.current).
        f.eq("procs (pids.current of the cgroup)", g("procs"), 1);
    } else {
        f.check(g("procs").abs_diff(g("raw_procs")) <= 50, || {
            format!("procs {} vs raw {}", g("procs"), g("raw_procs"))
        });
    }
    for k in ["load0", "load1", "load2"] {
        // 1/65536 fixed point; the kernel updates loads every 5 s: allow one update
        f.check(g(k).abs_diff(g(&format!("raw_{k}"))) <= 65536 / 2, || {
            format!("{k} {} vs raw {} (x/65536)", g(k), g(&format!("raw_{k}")))
        });
    }
    f.finish(&format!("sysinfo pass-through fields, {layout:?} layout:\n{}", o.stdout));
}

// ---------------------------------------------------------------------------------------------
// Live values on a kept fd (procps pattern)
// ---------------------------------------------------------------------------------------------

fn rewind(layout: Layout, mode: &str) {
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("rewind");
    let o = cg.run(layout, &[prog.to_str().unwrap(), mode, "3", "32"]);
    let out = o.ok();
    let samples: Vec<_> = out.lines().filter(|l| l.starts_with("sample=")).map(parse_sample).collect();
    let eof = parse_kv(out);
    let mut f = Failures::default();
    f.eq("samples", samples.len(), 4);
    f.eq("read() after the first full read (EOF)", eof.get("eof_read").map(String::as_str), Some("0"));
    for (i, s) in samples.iter().enumerate() {
        f.eq(&format!("sample {i} MemTotal"), s["MemTotal"], LIMIT_KB);
        f.check(s["len"] > 0 && s["len"] < 8191, || {
            format!("sample {i}: one read(8191) returned {}", s["len"])
        });
        f.check(s["MemFree"] <= s["MemAvailable"] && s["MemAvailable"] <= s["MemTotal"], || {
            format!(
                "sample {i}: MemFree {} <= MemAvailable {} <= MemTotal {} violated",
                s["MemFree"], s["MemAvailable"], s["MemTotal"]
            )
        });
    }
    for w in samples.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        // 32 MiB touched between samples: MemFree must drop by at least 24 MiB
        f.check(b["MemFree"] + 24 * 1024 <= a["MemFree"], || {
            format!(
                "{mode}: MemFree did not follow 32 MiB allocated between samples: {} kB -> {} kB (stale content after rewind?)",
                a["MemFree"], b["MemFree"]
            )
        });
    }
    f.finish(&format!("{mode} rewind on a kept /proc/meminfo fd, {layout:?} layout:\n{out}"));
}

fn parse_sample(line: &str) -> std::collections::BTreeMap<String, u64> {
    line.split_whitespace()
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap_or(0)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The matrix: every check in every layout
// ---------------------------------------------------------------------------------------------

macro_rules! layout_tests {
    ($modname:ident, $layout:expr) => {
        mod $modname {
            use super::*;

            #[test]
            fn entry_points_memtotal() {
                require_cgroups!();
                super::entry_points($layout);
            }
            #[test]
            fn path_spellings() {
                require_cgroups!();
                super::spellings($layout);
            }
            #[test]
            fn cat_proc_meminfo() {
                require_cgroups!();
                super::cat_meminfo($layout);
            }
            #[test]
            fn procps_free_total() {
                require_cgroups!();
                super::procps_free($layout);
            }
            #[test]
            fn procps_free_samples_follow_usage() {
                require_cgroups!();
                super::procps_free_samples($layout);
            }
            #[test]
            fn procps_top_mem_line() {
                require_cgroups!();
                super::procps_top($layout);
            }
            #[test]
            fn procps_ps_pmem() {
                require_cgroups!();
                super::procps_ps_pmem($layout);
            }
            #[test]
            fn getconf_phys_pages() {
                require_cgroups!();
                super::getconf_phys_pages($layout);
            }
            #[test]
            fn busybox_free_total() {
                require_cgroups!();
                super::busybox_free($layout);
            }
            #[test]
            fn busybox_top_mem_line() {
                require_cgroups!();
                super::busybox_top($layout);
            }
            #[test]
            fn python_sysconf_phys_pages() {
                require_cgroups!();
                super::python_sysconf($layout);
            }
            #[test]
            fn psutil_virtual_memory_total() {
                require_cgroups!();
                super::psutil_total($layout);
            }
            #[test]
            fn node_os_totalmem() {
                require_cgroups!();
                super::node_totalmem($layout);
            }
            #[test]
            fn java_max_heap_from_shim_only() {
                require_cgroups!();
                // The JVM's own container support off: the heap size comes from sysconf alone.
                super::java_max_heap($layout, &["-XX:-UseContainerSupport"]);
            }
            #[test]
            fn java_max_heap_default_flags() {
                require_cgroups!();
                super::java_max_heap($layout, &[]);
            }
            #[test]
            fn musl_program_memtotal() {
                require_cgroups!();
                super::musl($layout);
            }
            #[test]
            fn sysinfo_sysconf_agree_with_meminfo() {
                require_cgroups!();
                super::sysinfo_values($layout);
            }
            #[test]
            fn sysinfo_non_memory_fields_pass_through() {
                require_cgroups!();
                super::sysinfo_passthrough_fields($layout);
            }
            #[test]
            fn rewind_lseek_refreshes() {
                require_cgroups!();
                super::rewind($layout, "lseek");
            }
            #[test]
            fn rewind_lseek64_refreshes() {
                require_cgroups!();
                super::rewind($layout, "lseek64");
            }
            #[test]
            fn pread_at_0_refreshes() {
                require_cgroups!();
                super::rewind($layout, "pread");
            }
            #[test]
            fn pread64_at_0_refreshes() {
                require_cgroups!();
                super::rewind($layout, "pread64");
            }
        }
    };
}

layout_tests!(host, Layout::Host);
layout_tests!(cgroupns, Layout::CgroupNs);
layout_tests!(bind_mount, Layout::BindMount);

/// `sar -r` in an idle 256 MiB container: %commit (Committed_AS over MemTotal + SwapTotal) is
/// the container's, far below 100 %; with the host's Committed_AS next to the container's
/// MemTotal it would not be. `CommitLimit` is the kernel's formula over the container's memory
/// and swap.
#[test]
fn sar_commit_of_an_idle_container() {
    require_cgroups!();
    if !common::have_program("sar") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let commit = |preload: bool| -> (f64, u64) {
        let mut r = cg.runner(Layout::Host).env("LC_ALL", "C");
        if !preload {
            r = r.no_preload();
        }
        let o = r.run(&["sar", "-r", "1", "1"]);
        let out = o.ok();
        let header = out
            .lines()
            .find(|l| l.contains("%commit"))
            .unwrap_or_else(|| panic!("sar -r: no header:\n{out}"));
        let cols: Vec<&str> = header.split_whitespace().collect();
        let row: Vec<&str> =
            out.lines().rfind(|l| l.starts_with("Average:")).unwrap_or("").split_whitespace().collect();
        let at =
            |name: &str| cols.iter().position(|c| *c == name).and_then(|i| row.get(i)).copied().unwrap_or("");
        (at("%commit").parse().unwrap_or(-1.0), at("kbcommit").parse().unwrap_or(0))
    };
    let mut f = Failures::default();
    let (pct, kb) = commit(true);
    let (_, host_kb) = commit(false);
    f.check((0.0..100.0).contains(&pct), || format!("sar -r %commit {pct} with the library"));
    f.check(kb <= host_kb, || format!("kbcommit {kb} above the host's {host_kb}"));
    let meminfo = cg.run(Layout::Host, &["cat", "/proc/meminfo"]).ok().to_string();
    let kv = |k: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in:\n{meminfo}"))
    };
    let ratio: u64 =
        std::fs::read_to_string("/proc/sys/vm/overcommit_ratio").unwrap().trim().parse().unwrap();
    let kbytes: u64 =
        std::fs::read_to_string("/proc/sys/vm/overcommit_kbytes").unwrap().trim().parse().unwrap();
    let base = if kbytes > 0 { kbytes.min(LIMIT_KB) } else { LIMIT_KB * ratio / 100 };
    f.eq("CommitLimit", kv("CommitLimit"), base + kv("SwapTotal"));
    f.check(kv("Committed_AS") < LIMIT_KB, || {
        format!("Committed_AS {} kB in an idle container", kv("Committed_AS"))
    });
    f.finish("sar -r and the commit lines");
}
