//! `/proc/vmstat` under the library.
//!
//! - The two vmstat fixture trees (`tests/fixtures/v1-vmstat`, `v2-vmstat`) served through
//!   `libcgshim.so` with `CGSHIM_SYSROOT`: every line the contract does not rewrite is the host's
//!   line byte for byte, in the host's order (the values of the rewritten lines are checked by
//!   `tests/fixtures.rs` against the hand computation in each fixture's `expected`).
//! - Real v1 memory cgroups (256 MiB), preloaded: `cat /proc/vmstat`, `nr_free_pages` against
//!   `/proc/meminfo` MemFree, procps `vmstat -s` and `vmstat 1 3`, a rewound fd (procps keeps
//!   its `/proc/vmstat` fd and rewinds it), and `CGSHIM_DISABLE=vmstat`.
//!
//! The real-cgroup tests need root and a writable /sys/fs/cgroup/memory (skip otherwise; panic
//! under CI=true).

#[macro_use]
mod common;

use common::{
    Cgroup, Failures, LAYOUTS, Layout, MIB, c_program, field, have_program, kv_u64, parse_kv, parse_meminfo,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;

const LIMIT: u64 = 256 * MIB;
const LIMIT_KB: u64 = LIMIT / 1024; // 262144
const PAGE: u64 = 4096;
const LIMIT_PAGES: u64 = LIMIT / PAGE; // 65536

/// Lines rewritten on v1 and v2 whenever the process is under a limit.
const PAGE_KEYS: [&str; 14] = [
    "nr_free_pages",
    "nr_inactive_anon",
    "nr_active_anon",
    "nr_inactive_file",
    "nr_active_file",
    "nr_unevictable",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_dirty",
    "nr_writeback",
    "nr_shmem",
    "nr_swapcached",
    "nr_anon_transparent_hugepages",
];

/// Lines rewritten on v2 only (0 when the key is missing from memory.stat).
const V2_KEYS: [&str; 7] = [
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_kernel_stack",
    "nr_page_table_pages",
    "nr_sec_page_table_pages",
    "nr_shmem_hugepages",
    "nr_file_hugepages",
];

/// Event counters copied from memory.stat when it has them (v1: as `total_<name>`).
const EVENTS: [&str; 36] = [
    "pgfault",
    "pgmajfault",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgscan_khugepaged",
    "pgscan_proactive",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgsteal_khugepaged",
    "pgsteal_proactive",
    "pgrefill",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "pswpin",
    "pswpout",
    "thp_fault_alloc",
    "thp_collapse_alloc",
    "thp_swpout",
    "thp_swpout_fallback",
    "zswpin",
    "zswpout",
    "zswpwb",
    "pgdemote_kswapd",
    "pgdemote_direct",
    "pgdemote_khugepaged",
    "pgdemote_proactive",
    "pgpromote_success",
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `/proc/vmstat` text as `(name, value)` in file order. Every line must be `name value` with
/// a single space and an unsigned value; anything else is reported in `bad`.
fn vmstat_lines(text: &str, bad: &mut Vec<String>) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parsed = line
            .split_once(' ')
            .filter(|(k, v)| !k.is_empty() && !v.contains(' '))
            .and_then(|(k, v)| Some((k.to_string(), v.parse::<u64>().ok()?)));
        match parsed {
            Some(kv) => out.push(kv),
            None => bad.push(line.to_string()),
        }
    }
    out
}

fn keys(lines: &[(String, u64)]) -> Vec<&str> {
    lines.iter().map(|(k, _)| k.as_str()).collect()
}

fn as_map(lines: &[(String, u64)]) -> BTreeMap<String, u64> {
    lines.iter().cloned().collect()
}

/// The real /proc/vmstat (the test process is never preloaded).
fn host_vmstat() -> BTreeMap<String, u64> {
    let text = fs::read_to_string("/proc/vmstat").expect("read /proc/vmstat");
    let mut bad = Vec::new();
    let m = as_map(&vmstat_lines(&text, &mut bad));
    assert!(bad.is_empty(), "host /proc/vmstat has lines that are not `name value`: {bad:?}");
    m
}

fn host_keys() -> Vec<String> {
    let text = fs::read_to_string("/proc/vmstat").expect("read /proc/vmstat");
    text.lines().map(|l| l.split(' ').next().unwrap_or("").to_string()).collect()
}

fn get(m: &BTreeMap<String, u64>, key: &str, ctx: &str) -> u64 {
    *m.get(key).unwrap_or_else(|| panic!("{ctx}: no `{key}` line"))
}

/// `lo ≤ v ≤ hi` for a host counter read before and after the run.
fn between(f: &mut Failures, what: &str, v: u64, lo: u64, hi: u64) {
    f.check(lo <= v && v <= hi, || {
        format!("{what}: {v} is not within the host's [{lo}, {hi}] (before/after)")
    });
}

// ---------------------------------------------------------------------------------------------
// Fixtures through the library: untouched lines are the host's, byte for byte
// ---------------------------------------------------------------------------------------------

fn fixture_untouched_lines(name: &str, stat_rel: &str, v1: bool) {
    let root = common::workspace().join("tests/fixtures").join(name).join("root");
    let host = fs::read_to_string(root.join("proc/vmstat")).expect("fixture proc/vmstat");
    let stat = fs::read_to_string(root.join(stat_rel)).expect("fixture memory.stat");
    let stat_keys: BTreeSet<&str> = stat.lines().filter_map(|l| l.split(' ').next()).collect();
    let mut rewritten: BTreeSet<&str> = PAGE_KEYS.into_iter().collect();
    if !v1 {
        rewritten.extend(V2_KEYS);
    }
    for ev in EVENTS {
        let present =
            if v1 { stat_keys.contains(format!("total_{ev}").as_str()) } else { stat_keys.contains(ev) };
        if present {
            rewritten.insert(ev);
        }
    }

    let out =
        common::run_plain(&["cat", "/proc/vmstat"], true, &[("CGSHIM_SYSROOT", root.to_str().unwrap())]);
    let served = out.ok();
    let mut f = Failures::default();
    let host_lines: Vec<&str> = host.lines().collect();
    let served_lines: Vec<&str> = served.lines().collect();
    f.eq(&format!("{name}: line count"), served_lines.len(), host_lines.len());
    f.check(served.ends_with('\n'), || format!("{name}: served file does not end with a newline"));
    let mut changed = 0;
    for (i, (h, s)) in host_lines.iter().zip(&served_lines).enumerate() {
        let hk = h.split(' ').next().unwrap_or("");
        let sk = s.split(' ').next().unwrap_or("");
        if hk != sk {
            f.push(format!("{name}: line {}: key {sk:?}, host has {hk:?} (order must be the host's)", i + 1));
            continue;
        }
        if rewritten.contains(hk) {
            f.check(s.split(' ').count() == 2 && s.split(' ').nth(1).unwrap().parse::<u64>().is_ok(), || {
                format!("{name}: rewritten line {s:?} is not `name value`")
            });
            changed += usize::from(h != s);
        } else {
            f.eq(&format!("{name}: line {} ({hk}) must be the host's", i + 1), *s, *h);
        }
    }
    // The fixture is built so that almost every rewritten counter differs from the host's.
    f.check(changed >= 15, || format!("{name}: only {changed} lines differ from the host file"));
    f.finish(&format!("{name} /proc/vmstat through libcgshim.so (CGSHIM_SYSROOT)"));
}

#[test]
fn v1_fixture_keeps_every_other_line() {
    fixture_untouched_lines("v1-vmstat", "sys/fs/cgroup/memory/memory.stat", true);
}

#[test]
fn v2_fixture_keeps_every_other_line() {
    fixture_untouched_lines("v2-vmstat", "sys/fs/cgroup/system.slice/docker-7f3e.scope/memory.stat", false);
}

// ---------------------------------------------------------------------------------------------
// Real cgroups
// ---------------------------------------------------------------------------------------------

/// `cat /proc/vmstat` in a 256 MiB cgroup, each layout: the host's keys in the host's order,
/// nr_free_pages within the limit, pgfault the cgroup's, host-only counters the host's.
#[test]
fn cat_proc_vmstat_in_a_limited_cgroup() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let want_keys = host_keys();
    let mut f = Failures::default();
    for layout in LAYOUTS {
        let ctx = format!("{layout:?}");
        let before = host_vmstat();
        let o = cg.run(layout, &["cat", "/proc/vmstat"]);
        let after = host_vmstat();
        let mut bad = Vec::new();
        let lines = vmstat_lines(o.ok(), &mut bad);
        f.check(bad.is_empty(), || format!("{ctx}: lines that are not `name value`: {bad:?}"));
        f.eq(&format!("{ctx}: keys in order"), keys(&lines), want_keys.iter().map(String::as_str).collect());
        let m = as_map(&lines);

        let free = get(&m, "nr_free_pages", &ctx);
        f.check(free > 0 && free * PAGE <= LIMIT, || {
            format!("{ctx}: nr_free_pages {free} × {PAGE} is not in (0, {LIMIT}]")
        });
        // The cgroup's fault count: a fresh cgroup that ran one `cat`, against a host that
        // booted and built this suite.
        let pf = get(&m, "pgfault", &ctx);
        let host_pf = get(&before, "pgfault", "host");
        f.check(pf < host_pf / 4, || format!("{ctx}: pgfault {pf} is not the cgroup's (host {host_pf})"));
        // Host-only counters are the host's line, read between the two host reads.
        for key in ["pgpgin", "pgpgout", "pgalloc_normal", "pgfree"] {
            if let (Some(&lo), Some(&hi)) = (before.get(key), after.get(key)) {
                between(&mut f, &format!("{ctx}: {key}"), get(&m, key, &ctx), lo, hi);
            }
        }
        // v1 has no slab breakdown: the host's gauge (it moves a little between the reads). v2
        // has one, and the line is the cgroup's (tests/v2_vm.rs compares it with memory.stat).
        let slab = get(&m, "nr_slab_reclaimable", &ctx);
        let (lo, hi) = (before["nr_slab_reclaimable"], after["nr_slab_reclaimable"]);
        f.check(common::v2::active() || (slab >= lo.min(hi) / 2 && slab <= lo.max(hi) * 2), || {
            format!("{ctx}: nr_slab_reclaimable {slab} is not the host's ({lo} before, {hi} after)")
        });
    }
    f.finish("cat /proc/vmstat in a 256 MiB cgroup");
}

/// nr_free_pages and /proc/meminfo MemFree read back to back in one process, 50 times: within
/// the limit, and the same figure. Two opens are two samples of a usage that moves (v1 charges
/// in per-CPU batches of 64 pages; the library's own memfds are charged too): most rounds fall
/// in one sample (MemFree kB / 4 == nr_free_pages exactly), and no round is further apart than
/// two charge batches (128 pages = 512 kB).
#[test]
fn nr_free_pages_agrees_with_memfree() {
    require_cgroups!();
    const ROUNDS: usize = 50;
    const BATCH_PAGES: u64 = 64;
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("vmstat_free");
    let mut f = Failures::default();
    for layout in LAYOUTS {
        // 64 MiB touched first, so that free is well below the limit.
        let o = cg.run(layout, &[prog.to_str().unwrap(), &ROUNDS.to_string(), "64"]);
        let (mut rounds, mut exact) = (0, 0);
        for line in o.ok().lines() {
            let kv: BTreeMap<&str, u64> = line
                .split_whitespace()
                .filter_map(|t| t.split_once('='))
                .map(|(k, v)| (k, v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"))))
                .collect();
            let (pages, free_kb) = (kv["nr_free_pages"], kv["MemFree"]);
            rounds += 1;
            let ctx = format!("{layout:?} round {rounds}");
            f.check(pages * PAGE <= LIMIT - 64 * MIB && pages > 0, || {
                format!("{ctx}: nr_free_pages {pages} × {PAGE} not in (0, {LIMIT} − 64 MiB in use]")
            });
            f.check(free_kb <= LIMIT_KB, || format!("{ctx}: MemFree {free_kb} kB > {LIMIT_KB} kB"));
            exact += usize::from(free_kb / 4 == pages);
            f.check((pages * 4).abs_diff(free_kb) <= 2 * BATCH_PAGES * 4, || {
                format!(
                    "{ctx}: nr_free_pages {pages} (= {} kB) vs MemFree {free_kb} kB: more than {} pages apart",
                    pages * 4,
                    2 * BATCH_PAGES
                )
            });
        }
        f.eq(&format!("{layout:?}: rounds"), rounds, ROUNDS);
        f.check(exact * 2 >= rounds, || {
            format!("{layout:?}: only {exact} of {rounds} rounds had nr_free_pages == MemFree kB / 4")
        });
    }
    f.finish("nr_free_pages vs MemFree in a 256 MiB cgroup");
}

/// procps `vmstat -s` (MemTotal from /proc/meminfo, the rest from both files).
#[test]
fn vmstat_s_reports_the_limit() {
    require_cgroups!();
    if !have_program("vmstat") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    for layout in LAYOUTS {
        let o = cg.run(layout, &["vmstat", "-s"]);
        let text = o.ok();
        let line_value = |suffix: &str| {
            text.lines().map(str::trim).find_map(|l| l.strip_suffix(suffix)?.trim().parse::<u64>().ok())
        };
        f.eq(&format!("{layout:?}: K total memory"), line_value(" K total memory"), Some(LIMIT_KB));
        f.check(text.lines().any(|l| l.trim() == format!("{LIMIT_KB} K total memory")), || {
            format!("{layout:?}: no line \"{LIMIT_KB} K total memory\" in:\n{text}")
        });
        for what in [" K free memory", " K used memory"] {
            match line_value(what) {
                Some(v) => f.check(v <= LIMIT_KB, || format!("{layout:?}:{what} = {v} > {LIMIT_KB}")),
                None => f.push(format!("{layout:?}: no `{}` line in:\n{text}", what.trim())),
            }
        }
    }
    f.finish("vmstat -s in a 256 MiB cgroup");
}

/// procps `vmstat 1 3`: keeps /proc/meminfo and /proc/vmstat open and rewinds them per sample.
#[test]
fn vmstat_interval_runs_and_free_is_within_the_limit() {
    require_cgroups!();
    if !have_program("vmstat") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.run(Layout::Host, &["vmstat", "1", "3"]);
    let text = o.ok();
    let mut f = Failures::default();
    let header = text.lines().find(|l| l.split_whitespace().any(|t| t == "free"));
    let Some(header) = header else {
        panic!("vmstat 1 3: no header with a `free` column:\n{text}");
    };
    let col = header.split_whitespace().position(|t| t == "free").unwrap();
    let rows: Vec<Vec<u64>> = text
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse::<u64>()).collect::<Result<Vec<_>, _>>())
        .filter_map(Result::ok)
        .filter(|r| !r.is_empty())
        .collect();
    f.eq("vmstat 1 3: sample rows", rows.len(), 3);
    for (i, r) in rows.iter().enumerate() {
        let free = r[col];
        f.check(free > 0 && free <= LIMIT_KB, || {
            format!("vmstat 1 3 row {}: free {free} not in (0, {LIMIT_KB}]\n{text}", i + 1)
        });
    }
    f.finish("vmstat 1 3 in a 256 MiB cgroup");
}

/// One fd, read; 100 MiB faulted in; lseek(0) + one read(8191): fresh counters, the cgroup's.
#[test]
fn rewound_fd_shows_the_cgroups_new_faults() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("vmstat_rewind");
    let mut f = Failures::default();
    for layout in LAYOUTS {
        let ctx = format!("{layout:?}");
        let host_before = get(&host_vmstat(), "pgfault", "host");
        let o = cg.run(layout, &[prog.to_str().unwrap(), "100"]);
        let host_after = get(&host_vmstat(), "pgfault", "host");
        let kv = parse_kv(o.ok());
        let g = |k: &str| kv_u64(&kv, k, &format!("vmstat_rewind {ctx}"));
        let (pf0, pf1) = (g("pgfault0"), g("pgfault1"));
        f.eq(&format!("{ctx}: touched pages"), g("touched_pages"), 100 * MIB / PAGE);
        f.check(g("len0") > 0 && g("len1") > 0 && g("len1") <= 8191, || {
            format!("{ctx}: read lengths {} / {}", g("len0"), g("len1"))
        });
        f.check(pf1 >= pf0 + 25_000, || {
            format!("{ctx}: pgfault went from {pf0} to {pf1} after faulting in 100 MiB (want +25000 or more)")
        });
        // The cgroup's count, not the host's: far below the host's total at the same time.
        f.check(pf0 < host_before / 4, || {
            format!("{ctx}: pgfault {pf0} before is not the cgroup's (host {host_before})")
        });
        f.check(pf1 < host_after / 4, || {
            format!("{ctx}: pgfault {pf1} after is not the cgroup's (host {host_after})")
        });
        // The gauge moved too: 100 MiB = 25600 pages are now charged.
        let (fr0, fr1) = (g("nr_free_pages0"), g("nr_free_pages1"));
        f.check(fr0 <= LIMIT_PAGES && fr1 + 24_000 <= fr0, || {
            format!("{ctx}: nr_free_pages {fr0} → {fr1}: want ≤ {LIMIT_PAGES} and a drop of ≥ 24000 pages")
        });
    }
    f.finish("/proc/vmstat rewound after faulting in 100 MiB");
}

/// `CGSHIM_DISABLE=vmstat`: /proc/vmstat is the host's file, /proc/meminfo still the cgroup's.
#[test]
fn disable_vmstat_serves_the_host_file() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("vmstat_free");
    let mut f = Failures::default();
    for layout in LAYOUTS {
        let ctx = format!("{layout:?}");
        let r = cg.runner(layout).env("CGSHIM_DISABLE", "vmstat");

        let before = host_vmstat();
        let o = r.run(&["cat", "/proc/vmstat"]);
        let after = host_vmstat();
        let mut bad = Vec::new();
        let lines = vmstat_lines(o.ok(), &mut bad);
        f.check(bad.is_empty(), || format!("{ctx}: lines that are not `name value`: {bad:?}"));
        let m = as_map(&lines);
        // Monotonic host counters lie between the two host reads.
        for key in ["pgfault", "pgpgin", "pgalloc_normal"] {
            between(&mut f, &format!("{ctx}: {key}"), get(&m, key, &ctx), before[key], after[key]);
        }
        let free = get(&m, "nr_free_pages", &ctx);
        let (lo, hi) = (before["nr_free_pages"], after["nr_free_pages"]);
        f.check(free > 4 * LIMIT_PAGES, || {
            format!("{ctx}: nr_free_pages {free} is not the host's (far above {LIMIT_PAGES})")
        });
        f.check(free >= lo.min(hi) / 2 && free <= lo.max(hi) * 2, || {
            format!("{ctx}: nr_free_pages {free} vs host {lo} before / {hi} after")
        });

        // Only vmstat is switched off: MemFree still comes from the cgroup.
        let o = r.run(&[prog.to_str().unwrap(), "1"]);
        let kv = parse_kv(&o.ok().replace(' ', "\n"));
        f.check(kv_u64(&kv, "nr_free_pages", &ctx) > 4 * LIMIT_PAGES, || {
            format!("{ctx}: vmstat_free nr_free_pages is not the host's: {}", o.stdout.trim())
        });
        f.check(kv_u64(&kv, "MemFree", &ctx) <= LIMIT_KB, || {
            format!("{ctx}: MemFree is not the cgroup's with CGSHIM_DISABLE=vmstat: {}", o.stdout.trim())
        });
        let o = r.run(&["cat", "/proc/meminfo"]);
        f.eq(&format!("{ctx}: MemTotal"), field(&parse_meminfo(o.ok()), "MemTotal", &ctx), LIMIT_KB);
    }
    f.finish("CGSHIM_DISABLE=vmstat");
}
