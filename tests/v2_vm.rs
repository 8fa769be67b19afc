//! cgroup v2 on a real v2 kernel: the cases only a pure v2 hierarchy has (`memory.high`,
//! `memory.swap.max`, `cpu.max`, `cpuset.cpus`, `pids.current`, v2's `memory.stat` and
//! `cpu.stat`, cgroup2 mounted fresh in a private cgroup namespace), every consumer program,
//! `cgshim show --json` and `cgshim exec`, the fail-open cases that depend on the hierarchy,
//! and the v2 fixture trees checked against what the kernel really writes.
//!
//! Each case compares what a program shows under the library with what the kernel's cgroup
//! files say at the same time. They need a kernel whose `/sys/fs/cgroup` is cgroup2 with the
//! memory, cpu, pids and cpuset controllers, so they are `#[ignore]`d everywhere else:
//! `scripts/vm-test.sh` boots Debian's 6.1 and 6.12 kernels in VMs and runs them there with
//! `--include-ignored` (a run on a machine without v2 panics instead of skipping).

#[macro_use]
mod common;

use common::v2;
use common::{Cgroup, Failures, Layout, MIB, c_program, kv_u64, musl_program, parse_kv, parse_meminfo};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PAGE: u64 = 4096;

/// The guard every v2 case starts with: real v2 cgroups, or a panic that says why.
fn require_v2() {
    assert!(
        v2::active(),
        "this test needs a pure cgroup v2 kernel (cgroup2 on /sys/fs/cgroup with the memory controller); \
         scripts/vm-test.sh runs it in VMs"
    );
    assert!(common::cgroups_available(), "real v2 cgroups are not usable here (see above)");
}

/// The real /proc/meminfo of the machine (the test process is never preloaded).
fn host_meminfo() -> BTreeMap<String, u64> {
    parse_meminfo(&fs::read_to_string("/proc/meminfo").unwrap())
}

fn number(text: &str, ctx: &str) -> u64 {
    text.trim().parse().unwrap_or_else(|e| panic!("{ctx}: {:?} is not a number: {e}", text.trim()))
}

/// The `Mem:`/`Swap:` line of `free -b` or `busybox free`: total used free [shared buff/cache available].
fn free_line(out: &str, label: &str, ctx: &str) -> Vec<u64> {
    let line = out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("{ctx}: no `{label}` line in:\n{out}"));
    line.split_whitespace().skip(1).map(|t| number(t, ctx)).collect()
}

// ---------------------------------------------------------------------------------------------
// The programs a memory view is read through
// ---------------------------------------------------------------------------------------------

/// Which consumers a check runs: all of them, or the quick subset for layouts and variants.
#[derive(Clone, Copy, PartialEq)]
enum Consumers {
    All,
    Quick,
}

/// Runs the memory consumers in `r`'s cgroup and checks that each one shows `total` bytes of
/// memory, with free ≤ available ≤ total where it shows them.
fn check_memory_view(f: &mut Failures, r: &common::Runner, total: u64, which: Consumers, ctx: &str) {
    let kb = total / 1024;
    let run = |argv: &[&str]| r.run(argv);

    let o = run(&["cat", "/proc/meminfo"]);
    let m = parse_meminfo(o.ok());
    f.eq(&format!("{ctx}: /proc/meminfo MemTotal kB"), m.get("MemTotal").copied(), Some(kb));
    // The library's own ordering (the kernel's file, served when nothing is limited, may have
    // MemAvailable below MemFree: a machine whose memory is mostly tmpfs, like this guest).
    let limited = kb < host_meminfo()["MemTotal"];
    let (fr, av) = (m.get("MemFree").copied().unwrap_or(0), m.get("MemAvailable").copied().unwrap_or(0));
    f.check(!limited || (fr <= av && av <= kb), || {
        format!("{ctx}: MemFree {fr} ≤ MemAvailable {av} ≤ MemTotal {kb} kB violated")
    });

    let o = run(&["free", "-b"]);
    let v = free_line(o.ok(), "Mem:", ctx);
    f.eq(&format!("{ctx}: procps free -b total"), v[0], total);
    f.check(!limited || (v[2] <= v[5] && v[5] <= v[0]), || {
        format!("{ctx}: free -b free {} ≤ available {} ≤ total {} violated", v[2], v[5], v[0])
    });

    let si = c_program("sysinfo_show");
    let o = run(&[si.to_str().unwrap()]);
    let kv = parse_kv(o.ok());
    let g = |k: &str| kv_u64(&kv, k, ctx);
    f.eq(&format!("{ctx}: sysinfo totalram × mem_unit"), g("totalram") * g("mem_unit").max(1), total);
    f.eq(
        &format!("{ctx}: sysconf(_SC_PHYS_PAGES) × page size"),
        g("sc_phys_pages") * g("sc_pagesize"),
        total,
    );
    if which == Consumers::Quick {
        return;
    }

    let o = run(&["busybox", "free"]);
    f.eq(&format!("{ctx}: busybox free total KiB"), free_line(o.ok(), "Mem:", ctx)[0], kb);

    let o = run(&["top", "-b", "-n", "1", "-E", "k"]);
    let out = o.ok();
    let line = out.lines().find(|l| l.starts_with("KiB Mem")).unwrap_or("");
    let top_total =
        line.split(':').nth(1).and_then(|s| s.split_whitespace().next()).and_then(|t| t.parse::<f64>().ok());
    f.eq(&format!("{ctx}: top -b KiB Mem total"), top_total.map(|t| t as u64), Some(kb));

    let o = run(&["vmstat", "-s"]);
    let total_line = o
        .ok()
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_suffix(" K total memory")?.trim().parse::<u64>().ok());
    f.eq(&format!("{ctx}: vmstat -s K total memory"), total_line, Some(kb));

    let o = run(&["getconf", "_PHYS_PAGES"]);
    f.eq(&format!("{ctx}: getconf _PHYS_PAGES × page size"), number(o.ok(), "getconf") * PAGE, total);

    let py = "import os, psutil; print(os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE'), psutil.virtual_memory().total)";
    let o = run(&["/usr/bin/python3", "-c", py]);
    let v: Vec<u64> = o.ok().split_whitespace().map(|t| number(t, "python")).collect();
    f.eq(&format!("{ctx}: python os.sysconf, psutil.virtual_memory().total"), v, vec![total, total]);

    let o = run(&["node", "-e", "console.log(require('os').totalmem())"]);
    f.eq(&format!("{ctx}: node os.totalmem()"), number(o.ok(), "node"), total);

    // The JVM's own container support off: its default heap comes from the library's sysconf
    // alone. HotSpot gives a quarter of the machine (MaxRAMPercentage), or half of it on a
    // machine this small (MinRAMPercentage), aligned down.
    let o = run(&["java", "-XX:-UseContainerSupport", "-XX:+PrintFlagsFinal", "-version"]);
    let heap = o
        .ok()
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("MaxHeapSize"))
        .and_then(|l| l.split_whitespace().nth(3))
        .map(|t| number(t, "java"));
    f.check(heap.is_some_and(|h| h <= total / 2 && h + 4 * MIB >= total / 4), || {
        format!("{ctx}: java MaxHeapSize {heap:?}, expected between a quarter and a half of {total}")
    });

    let musl = musl_program("musl_meminfo");
    let o = run(&[musl.to_str().unwrap()]);
    let kv = parse_kv(o.ok());
    f.eq(&format!("{ctx}: musl open() MemTotal kB"), kv_u64(&kv, "open_MemTotal", ctx), kb);
    f.eq(&format!("{ctx}: musl sysinfo totalram"), kv_u64(&kv, "sysinfo_totalram_bytes", ctx), total);
}

mod memory {
    use super::*;

    const LIMIT: u64 = 256 * MIB;

    fn limited() -> Cgroup {
        let cg = Cgroup::new(Some(LIMIT));
        assert_eq!(cg.read("memory.max"), LIMIT.to_string(), "memory.max did not take the limit");
        cg
    }

    /// memory.max on the process's own cgroup, host paths: every consumer shows memory.max.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn max_host_paths() {
        require_v2();
        let cg = limited();
        let mut f = Failures::default();
        check_memory_view(
            &mut f,
            &cg.runner(Layout::Host),
            cg.read_u64("memory.max"),
            Consumers::All,
            "host paths",
        );
        f.finish("memory.max = 256 MiB, host paths");
    }

    /// The same in a private cgroup namespace with cgroup2 mounted fresh (Docker, Kubernetes).
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn max_fresh_cgroupns() {
        require_v2();
        let cg = limited();
        let mut f = Failures::default();
        let r = cg.runner(Layout::CgroupNs);
        // The premise: the namespace sees itself at the root of a fresh cgroup2 mount.
        let o = r.run(&["sh", "-c", "cat /proc/self/cgroup; grep ' /sys/fs/cgroup ' /proc/self/mountinfo"]);
        let out = o.ok();
        f.check(out.lines().next() == Some("0::/"), || format!("/proc/self/cgroup in the namespace: {out}"));
        f.check(
            out.lines().filter(|l| l.contains(" - cgroup2 ")).count() == 1
                && out.contains(" / /sys/fs/cgroup "),
            || format!("expected one cgroup2 mount rooted at / on /sys/fs/cgroup:\n{out}"),
        );
        check_memory_view(&mut f, &r, cg.read_u64("memory.max"), Consumers::All, "fresh cgroupns");
        f.finish("memory.max = 256 MiB, private cgroup namespace");
    }

    /// A tighter parent: 128 MiB on the parent, 256 MiB on the process's cgroup. Wherever the
    /// parent is visible the machine has 128 MiB; in a namespace rooted at the process's own
    /// cgroup the parent is invisible (v2 has no hierarchical_memory_limit) and 256 MiB it is.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn tighter_parent() {
        require_v2();
        let parent = Cgroup::new(Some(128 * MIB));
        let child = parent.child("app", Some(LIMIT));
        let (p, c) = (parent.read_u64("memory.max"), child.read_u64("memory.max"));
        let mut f = Failures::default();
        check_memory_view(&mut f, &parent.runner(Layout::Host).leaf(&child), p, Consumers::All, "host paths");
        check_memory_view(
            &mut f,
            &parent.runner(Layout::CgroupNs).leaf(&child),
            p,
            Consumers::Quick,
            "cgroupns rooted at the parent",
        );
        check_memory_view(
            &mut f,
            &parent.runner(Layout::BindMount).leaf(&child),
            p,
            Consumers::Quick,
            "parent bind-mounted",
        );
        check_memory_view(
            &mut f,
            &child.runner(Layout::CgroupNs),
            c,
            Consumers::Quick,
            "cgroupns rooted at the child",
        );
        // A child without a limit of its own under the 128 MiB parent.
        let open = parent.child("open", None);
        let r = parent.runner(Layout::Host).leaf(&open);
        check_memory_view(&mut f, &r, p, Consumers::Quick, "unlimited child, host paths");
        let r = parent.runner(Layout::CgroupNs).leaf(&open);
        check_memory_view(&mut f, &r, p, Consumers::Quick, "unlimited child, cgroupns");

        // MemFree is the smallest headroom: the parent's, whose usage includes the child's.
        let o = parent.runner(Layout::Host).leaf(&child).run(&["cat", "/proc/meminfo"]);
        let free = parse_meminfo(o.ok())["MemFree"] * 1024;
        let (pu, cu) = (parent.usage(), child.usage());
        f.check(free <= p - pu.min(p) + 2 * MIB, || {
            format!("MemFree {free} > parent headroom {} (usage {pu}) + 2 MiB", p - pu.min(p))
        });
        f.check(cu <= pu, || {
            format!("the child's usage {cu} exceeds the parent's {pu}: the premise is wrong")
        });
        f.finish("128 MiB parent over a 256 MiB child");
    }

    /// memory.high below memory.max: MemTotal stays memory.max (high throttles, it does not
    /// bound the machine), MemFree is counted against memory.high.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn high_below_max() {
        require_v2();
        let cg = limited();
        cg.write("memory.high", &(160 * MIB).to_string());
        let high = cg.read_u64("memory.high");
        let mut f = Failures::default();
        check_memory_view(&mut f, &cg.runner(Layout::Host), LIMIT, Consumers::Quick, "memory.high 160 MiB");
        // With 64 MiB held by a hog, free memory is what is left below memory.high.
        let hog = c_program("hog");
        let script =
            r#""$0" 1 64 0 4000 & sleep 1.5; cat /proc/meminfo; free -b; cat "$1/memory.current"; wait"#;
        let o = cg.runner(Layout::Host).run(&[
            "sh",
            "-c",
            script,
            hog.to_str().unwrap(),
            cg.dir().to_str().unwrap(),
        ]);
        let out = o.ok();
        let m = parse_meminfo(out);
        let usage = number(out.lines().last().unwrap_or(""), "memory.current");
        let free = m["MemFree"] * 1024;
        f.eq("MemTotal with a hog", m["MemTotal"] * 1024, LIMIT);
        f.check(usage >= 64 * MIB, || {
            format!("memory.current {usage} with a 64 MiB hog: the premise is wrong")
        });
        f.check(
            free <= high - usage.min(high) + 4 * MIB && free + 16 * MIB >= high - usage.min(high),
            || format!("MemFree {free} is not memory.high {high} − memory.current {usage} (±)"),
        );
        let v = free_line(out, "Mem:", "free -b");
        f.eq("free -b total", v[0], LIMIT);
        f.check(v[2] <= high, || format!("free -b free {} > memory.high {high}", v[2]));
        f.finish("memory.high below memory.max");
    }

    /// "max" everywhere: no limit on the cgroup or any ancestor, so every program sees the
    /// machine's own memory (the kernel's /proc/meminfo MemTotal).
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn max_everywhere() {
        require_v2();
        let parent = Cgroup::new(None);
        let child = parent.child("app", None);
        let mut f = Failures::default();
        f.eq("memory.max of the parent", parent.read("memory.max"), "max".to_string());
        f.eq("memory.max of the child", child.read("memory.max"), "max".to_string());
        let host = host_meminfo()["MemTotal"] * 1024;
        check_memory_view(
            &mut f,
            &parent.runner(Layout::Host).leaf(&child),
            host,
            Consumers::Quick,
            "max, host paths",
        );
        check_memory_view(&mut f, &child.runner(Layout::CgroupNs), host, Consumers::Quick, "max, cgroupns");
        f.finish("memory.max = max everywhere");
    }
}

// ---------------------------------------------------------------------------------------------
// Swap: memory.swap.max with the guest's zram swap
// ---------------------------------------------------------------------------------------------

mod swap {
    use super::*;

    /// Holds `$2` MiB in the swapper (stdin a FIFO this shell keeps open), then prints every
    /// view of swap between two reads of the kernel's memory.swap.current.
    const SCRIPT: &str = r#"S=$0 M=$1 D=$2 SI=$3 T=$(mktemp -d)
mkfifo "$T/hold"
"$S" "$M" <"$T/hold" >"$T/ready" &
exec 9>"$T/hold"
i=0; until grep -q ready "$T/ready" 2>/dev/null; do sleep 0.1; i=$((i+1)); [ $i -lt 600 ] || exit 96; done
echo "before=$(cat "$D/memory.swap.current")"
echo "== meminfo"; cat /proc/meminfo
echo "== swaps"; cat /proc/swaps
echo "== free"; free -b
echo "== sysinfo"; "$SI"
echo "after=$(cat "$D/memory.swap.current")"
exec 9>&-
wait
rm -r "$T""#;

    fn section<'a>(out: &'a str, name: &str) -> &'a str {
        let start = out.find(&format!("== {name}\n")).map(|i| i + name.len() + 4).unwrap_or(out.len());
        let end = out[start..].find("\n== ").map(|i| start + i + 1).unwrap_or(out.len());
        &out[start..end]
    }

    /// memory.max 128 MiB, memory.swap.max 64 MiB, 160 MiB held: part of it is in swap, and
    /// sysinfo, /proc/meminfo, /proc/swaps and free all say 64 MiB of swap with the kernel's
    /// memory.swap.current in use.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn limited_and_in_use() {
        require_v2();
        let host_swap = host_meminfo()["SwapTotal"];
        assert!(host_swap >= 256 * 1024, "the guest has {host_swap} kB of swap; the harness sets up zram");
        let cg = Cgroup::new(Some(128 * MIB));
        cg.write("memory.swap.max", &(64 * MIB).to_string());
        let swap_max = cg.read_u64("memory.swap.max");
        let (swapper, si) = (c_program("swapper"), c_program("sysinfo_show"));
        let o = cg.run(
            Layout::Host,
            &[
                "sh",
                "-c",
                SCRIPT,
                swapper.to_str().unwrap(),
                "160",
                cg.dir().to_str().unwrap(),
                si.to_str().unwrap(),
            ],
        );
        let out = o.ok();
        let kv = parse_kv(out);
        let (before, after) = (kv_u64(&kv, "before", "swap"), kv_u64(&kv, "after", "swap"));
        let (lo, hi) = (before.min(after), before.max(after));
        let mut f = Failures::default();
        f.check(lo >= 16 * MIB, || {
            format!("memory.swap.current {before}/{after}: 160 MiB in 128 MiB did not swap")
        });
        let total_kb = swap_max / 1024;
        let in_kb = |v: u64, slack: u64| (lo / 1024).saturating_sub(slack) <= v && v <= hi / 1024 + slack;

        let m = parse_meminfo(section(out, "meminfo"));
        f.eq("meminfo SwapTotal kB", m["SwapTotal"], total_kb);
        f.check(in_kb(total_kb - m["SwapFree"], 0), || {
            format!(
                "meminfo SwapTotal − SwapFree = {} kB, memory.swap.current {lo}..{hi} B",
                total_kb - m["SwapFree"]
            )
        });

        let swaps: Vec<&str> = section(out, "swaps").lines().collect();
        f.check(swaps.len() == 2 && swaps[0].starts_with("Filename"), || format!("/proc/swaps: {swaps:?}"));
        if let Some(l) = swaps.get(1) {
            let t: Vec<&str> = l.split_whitespace().collect();
            f.eq("/proc/swaps size kB", t.get(2).map(|s| number(s, "swaps")), Some(total_kb));
            f.check(t.get(3).is_some_and(|u| in_kb(number(u, "swaps"), 0)), || {
                format!("/proc/swaps used {:?}, memory.swap.current {lo}..{hi}", t.get(3))
            });
        }

        let v = free_line(section(out, "free"), "Swap:", "free -b");
        f.eq("free -b Swap total", v[0], swap_max);
        f.check(v[1] >= lo.saturating_sub(4096) && v[1] <= hi + 4096, || {
            format!("free -b Swap used {} vs memory.swap.current {lo}..{hi}", v[1])
        });
        f.eq("free -b Swap used + free", v[1] + v[2], swap_max);

        let kv = parse_kv(section(out, "sysinfo"));
        let unit = kv_u64(&kv, "mem_unit", "sysinfo").max(1);
        f.eq("sysinfo totalswap", kv_u64(&kv, "totalswap", "sysinfo") * unit, swap_max);
        let freeswap = kv_u64(&kv, "freeswap", "sysinfo") * unit;
        f.check(swap_max - freeswap >= lo.saturating_sub(4096) && swap_max - freeswap <= hi + 4096, || {
            format!("sysinfo totalswap − freeswap = {}, memory.swap.current {lo}..{hi}", swap_max - freeswap)
        });
        f.finish(&format!("memory.swap.max 64 MiB with swap in use:\n{out}"));
    }

    /// memory.swap.max 0 (Kubernetes' NoSwap): no swap anywhere; "max": the machine's swap.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn zero_and_max() {
        require_v2();
        let host = host_meminfo();
        let cg = Cgroup::new(Some(128 * MIB));
        let si = c_program("sysinfo_show");
        let script = r#"cat /proc/meminfo; echo "swaps_lines=$(wc -l </proc/swaps)"; free -b; "$0""#;
        let mut f = Failures::default();
        for (value, total_kb) in [("0", 0), ("max", host["SwapTotal"])] {
            cg.write("memory.swap.max", value);
            f.eq(
                &format!("memory.swap.max {value} read back"),
                cg.read("memory.swap.max"),
                value.to_string(),
            );
            let o = cg.run(Layout::Host, &["sh", "-c", script, si.to_str().unwrap()]);
            let out = o.ok();
            let m = parse_meminfo(out);
            let kv = parse_kv(out);
            f.eq(&format!("swap.max {value}: meminfo SwapTotal kB"), m["SwapTotal"], total_kb);
            f.eq(
                &format!("swap.max {value}: free -b Swap total"),
                free_line(out, "Swap:", "free")[0],
                total_kb * 1024,
            );
            f.eq(
                &format!("swap.max {value}: sysinfo totalswap"),
                kv_u64(&kv, "totalswap", "si") * kv_u64(&kv, "mem_unit", "si").max(1),
                total_kb * 1024,
            );
            f.eq(
                &format!("swap.max {value}: /proc/swaps lines"),
                kv_u64(&kv, "swaps_lines", "swaps"),
                if total_kb == 0 { 1 } else { 2 },
            );
        }
        f.finish("memory.swap.max 0 and max");
    }
}

// ---------------------------------------------------------------------------------------------
// /proc/vmstat from v2's memory.stat
// ---------------------------------------------------------------------------------------------

mod vmstat {
    use super::*;

    fn stat_map(text: &str) -> BTreeMap<String, u64> {
        text.lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect()
    }

    /// With 64 MiB held by a hog: the gauges of /proc/vmstat are memory.stat's (in pages, stack
    /// in KiB), read between two reads of memory.stat; event counters lie between the two
    /// reads; counters memory.stat lacks are the machine's.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn counters_from_memory_stat() {
        require_v2();
        let cg = Cgroup::new(Some(256 * MIB));
        let hog = c_program("hog");
        let script = r#""$0" 1 64 0 5000 & sleep 1.5
cat "$1/memory.stat"; echo "current=$(cat "$1/memory.current")"; echo ==
cat /proc/vmstat; echo ==
cat "$1/memory.stat"; echo "current=$(cat "$1/memory.current")"
kill $!"#;
        let host_before = stat_map(&fs::read_to_string("/proc/vmstat").unwrap());
        let o =
            cg.run(Layout::Host, &["sh", "-c", script, hog.to_str().unwrap(), cg.dir().to_str().unwrap()]);
        let host_after = stat_map(&fs::read_to_string("/proc/vmstat").unwrap());
        let out = o.ok().replace("current=", "current ");
        let parts: Vec<&str> = out.split("==\n").collect();
        assert_eq!(parts.len(), 3, "unexpected output:\n{out}");
        let (a, v, b) = (stat_map(parts[0]), stat_map(parts[1]), stat_map(parts[2]));
        let mut f = Failures::default();
        // Gauges: between the two samples, with slack for the cat processes themselves.
        let slack = 256; // pages (1 MiB)
        let gauge = |f: &mut Failures, vm: &str, key: &str, unit: u64| {
            let (x, y) = (a[key] / unit, b[key] / unit);
            let (lo, hi) = (x.min(y).saturating_sub(slack), x.max(y) + slack);
            let got = v.get(vm).copied();
            f.check(got.is_some_and(|g| (lo..=hi).contains(&g)), || {
                format!("{vm} = {got:?}, memory.stat {key} / {unit} = {x} → {y}")
            });
        };
        for (vm, key) in [
            ("nr_anon_pages", "anon"),
            ("nr_file_pages", "file"),
            ("nr_inactive_anon", "inactive_anon"),
            ("nr_active_anon", "active_anon"),
            ("nr_inactive_file", "inactive_file"),
            ("nr_active_file", "active_file"),
            ("nr_shmem", "shmem"),
            ("nr_mapped", "file_mapped"),
            ("nr_slab_reclaimable", "slab_reclaimable"),
            ("nr_slab_unreclaimable", "slab_unreclaimable"),
            ("nr_page_table_pages", "pagetables"),
        ] {
            gauge(&mut f, vm, key, PAGE);
        }
        gauge(&mut f, "nr_kernel_stack", "kernel_stack", 1024);
        f.check(a["anon"] >= 64 * MIB, || {
            format!("memory.stat anon {} with a 64 MiB hog: the premise is wrong", a["anon"])
        });
        // nr_free_pages: memory.max − memory.current, in pages.
        let limit = cg.read_u64("memory.max");
        let free = v.get("nr_free_pages").copied().unwrap_or(0);
        let (c1, c2) = (a["current"], b["current"]);
        f.check(
            free * PAGE <= limit - c1.min(c2) + MIB && free * PAGE + 4 * MIB >= limit - c1.max(c2),
            || format!("nr_free_pages {free} vs (memory.max {limit} − memory.current {c1} → {c2}) / {PAGE}"),
        );
        // Event counters of the cgroup, where /proc/vmstat has the same name.
        for key in [
            "pgfault",
            "pgmajfault",
            "pgactivate",
            "pgdeactivate",
            "pgrefill",
            "workingset_refault_anon",
            "thp_fault_alloc",
        ] {
            if let (Some(&x), Some(&y), true) = (a.get(key), b.get(key), host_before.contains_key(key)) {
                let got = v.get(key).copied();
                f.check(got.is_some_and(|g| x <= g && g <= y), || {
                    format!("{key} = {got:?}, memory.stat {x} → {y}")
                });
            }
        }
        // Counters memory.stat has no equivalent for: the machine's, between two host reads.
        for key in ["pgalloc_normal", "pgfree", "pgpgin"] {
            if let (Some(&x), Some(&y)) = (host_before.get(key), host_after.get(key)) {
                let got = v.get(key).copied();
                f.check(got.is_some_and(|g| x <= g && g <= y), || format!("{key} = {got:?}, host {x} → {y}"));
            }
        }
        f.finish(&format!("/proc/vmstat from memory.stat:\n{out}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Uptime in a PID namespace, sysinfo.procs from pids.current
// ---------------------------------------------------------------------------------------------

mod tasks {
    use super::*;

    /// A PID namespace in a v2 cgroup: /proc/uptime counts from the namespace's init, and idle
    /// is the container's CPUs × uptime − the cgroup's CPU time (cpu.stat usage_usec).
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn uptime_in_a_pid_namespace() {
        require_v2();
        let cg = Cgroup::new(Some(256 * MIB));
        cg.write("cpu.max", "100000 100000");
        let script = r#"sleep 1.5; cat /proc/uptime; getconf _NPROCESSORS_ONLN; cat "$0/cpu.stat""#;
        let o = cg.run(
            Layout::Host,
            &["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script, cg.dir().to_str().unwrap()],
        );
        let out = o.ok();
        let mut lines = out.lines();
        let up: Vec<f64> =
            lines.next().unwrap_or("").split_whitespace().map(|t| t.parse().unwrap()).collect();
        let n: f64 = number(lines.next().unwrap_or(""), "getconf") as f64;
        let usage = out
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))
            .map(|u| number(u, "usage_usec") as f64 / 1e6)
            .unwrap();
        let mut f = Failures::default();
        f.eq("CPUs under cpu.max 1.0", n as u64, 1);
        f.check((1.5..4.0).contains(&up[0]), || {
            format!("/proc/uptime {} s, expected ~1.5 s since the namespace's init", up[0])
        });
        // idle = n × uptime − usage, with usage read a moment after /proc/uptime.
        let expected = n * up[0] - usage;
        f.check(up[1] >= 0.0 && (up[1] - expected.max(0.0)).abs() <= 0.5, || {
            format!("idle {} s, expected {n} × {} − cpu.stat usage {usage} s = {expected}", up[1], up[0])
        });
        f.finish(&format!("uptime in a PID namespace:\n{out}"));
    }

    /// sysinfo.procs is pids.current of the caller's cgroup: itself and three sleepers.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn procs_from_pids_current() {
        require_v2();
        let cg = Cgroup::new(None);
        let si = c_program("sysinfo_show");
        let script = r#"for i in 1 2 3; do sleep 60 </dev/null >/dev/null 2>&1 & done; exec "$0""#;
        let o = cg.run(Layout::Host, &["sh", "-c", script, si.to_str().unwrap()]);
        let after = cg.read_u64("pids.current");
        cg.write("cgroup.kill", "1");
        let kv = parse_kv(o.ok());
        let mut f = Failures::default();
        f.eq("pids.current after it exited (the sleepers)", after, 3);
        f.eq("sysinfo procs", kv_u64(&kv, "procs", "si"), after + 1);
        f.check(kv_u64(&kv, "raw_procs", "si") > after + 1, || "raw procs is not the machine's".into());
        f.finish("sysinfo.procs from pids.current");
    }
}

// ---------------------------------------------------------------------------------------------
// CPUs: cpu.max and cpuset.cpus
// ---------------------------------------------------------------------------------------------

mod cpu {
    use super::*;

    /// What every CPU-count consumer answers in `r`'s cgroup.
    fn counts(r: &common::Runner) -> BTreeMap<String, String> {
        let prog = c_program("cpu_counts");
        let script = r#"echo "getconf=$(getconf _NPROCESSORS_ONLN)"
echo "online=$(cat /sys/devices/system/cpu/online)"
echo "cpuinfo=$(grep '^processor' /proc/cpuinfo | awk '{print $3}' | paste -sd, -)"
echo "stat=$(grep '^cpu[0-9]' /proc/stat | cut -d' ' -f1 | sed 's/cpu//' | paste -sd, -)"
echo "nproc=$(nproc)"
echo "python=$(/usr/bin/python3 -c 'import os; print(os.cpu_count())')"
echo "node=$(node -e 'console.log(require("os").cpus().length)')"
"$0""#;
        parse_kv(r.run(&["sh", "-c", script, prog.to_str().unwrap()]).ok())
    }

    /// Checks every count and file against N = `n` and S = the window of `n` CPUs the library
    /// shows in the cgroup `dir` of the raw affinity mask the program reported.
    fn check_counts(f: &mut Failures, kv: &BTreeMap<String, String>, n: usize, dir: &Path, ctx: &str) {
        let raw: Vec<usize> = expand(kv.get("raw_list").map(String::as_str).unwrap_or(""))
            .split(',')
            .filter_map(|c| c.parse().ok())
            .collect();
        let set =
            common::shown_window(dir, &raw, n).iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        let set = set.as_str();
        for k in ["getconf", "python", "node", "get_nprocs", "sc_onln", "nproc", "self_count"] {
            f.eq(&format!("{ctx}: {k}"), kv.get(k).map(String::as_str), Some(n.to_string().as_str()));
        }
        f.eq(&format!("{ctx}: /proc/cpuinfo processors"), kv.get("cpuinfo").map(String::as_str), Some(set));
        f.eq(&format!("{ctx}: /proc/stat cpuN lines"), kv.get("stat").map(String::as_str), Some(set));
        let online = kv.get("online").cloned().unwrap_or_default();
        f.eq(&format!("{ctx}: /sys/devices/system/cpu/online as a list"), expand(&online), set.to_string());
        f.eq(
            &format!("{ctx}: sched_getaffinity"),
            kv.get("self_list").map(|l| expand(l)),
            Some(set.to_string()),
        );
    }

    /// `0-2,5` → `0,1,2,5`.
    fn expand(list: &str) -> String {
        let mut v = Vec::new();
        for part in list.trim().split(',').filter(|p| !p.is_empty()) {
            match part.split_once('-') {
                Some((a, b)) => v.extend(number(a, "list")..=number(b, "list")),
                None => v.push(number(part, "list")),
            }
        }
        v.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
    }

    fn machine_cpus() -> usize {
        expand(&fs::read_to_string("/sys/devices/system/cpu/online").unwrap()).split(',').count()
    }

    /// cpu.max 0.5: one CPU everywhere; the kernel enforces the quota (nr_throttled grows).
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn quota_half() {
        require_v2();
        assert!(machine_cpus() >= 4, "the CPU cases need 4 CPUs (VM_SMP)");
        let cg = Cgroup::new(None);
        cg.write("cpu.max", "50000 100000");
        let mut f = Failures::default();
        f.eq("cpu.max read back", cg.read("cpu.max"), "50000 100000".to_string());
        for layout in [Layout::Host, Layout::CgroupNs] {
            let kv = counts(&cg.runner(layout));
            check_counts(&mut f, &kv, 1, cg.dir(), &format!("cpu.max 0.5, {layout:?}"));
        }
        let kv = counts(&cg.runner(Layout::Host).env("CGSHIM_CPU_AFFINITY", "0"));
        f.eq("nproc with CGSHIM_CPU_AFFINITY=0: the real mask", kv.get("nproc"), kv.get("raw_count"));
        // The quota is real: a second of spinning is throttled.
        let before = cg.stat("cpu.stat", "nr_throttled");
        cg.runner(Layout::Host).no_preload().run(&["timeout", "1", "sh", "-c", "while :; do :; done"]);
        let after = cg.stat("cpu.stat", "nr_throttled");
        f.check(after > before, || {
            format!("cpu.stat nr_throttled {before} → {after}: the quota is not enforced")
        });
        f.finish("cpu.max 50000 100000");
    }

    /// cpu.max 1.5: two CPUs (a window of the affinity mask); a tighter parent wins.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn quota_one_and_half_and_tighter_parent() {
        require_v2();
        assert!(machine_cpus() >= 4, "the CPU cases need 4 CPUs (VM_SMP)");
        let parent = Cgroup::new(None);
        let child = parent.child("app", None);
        child.write("cpu.max", "150000 100000");
        let mut f = Failures::default();
        check_counts(
            &mut f,
            &counts(&parent.runner(Layout::Host).leaf(&child)),
            2,
            child.dir(),
            "cpu.max 1.5",
        );
        check_counts(
            &mut f,
            &counts(&child.runner(Layout::CgroupNs)),
            2,
            child.dir(),
            "cpu.max 1.5, cgroupns",
        );
        parent.write("cpu.max", "50000 50000");
        check_counts(
            &mut f,
            &counts(&parent.runner(Layout::Host).leaf(&child)),
            1,
            child.dir(),
            "parent cpu.max 1.0 over 1.5",
        );
        f.finish("cpu.max 150000 100000 and a tighter parent");
    }

    /// cpuset.cpus: the affinity mask is the set, and the quota picks a window of it.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn cpuset() {
        require_v2();
        assert!(machine_cpus() >= 4, "the CPU cases need 4 CPUs (VM_SMP)");
        let cg = Cgroup::new(None);
        cg.write("cpuset.cpus", "1,3");
        let mut f = Failures::default();
        f.eq("cpuset.cpus.effective", cg.read("cpuset.cpus.effective"), "1,3".to_string());
        let kv = counts(&cg.runner(Layout::Host));
        f.eq("raw affinity", kv.get("raw_list").map(String::as_str), Some("1,3"));
        check_counts(&mut f, &kv, 2, cg.dir(), "cpuset 1,3");
        cg.write("cpu.max", "50000 100000");
        check_counts(&mut f, &counts(&cg.runner(Layout::Host)), 1, cg.dir(), "cpuset 1,3 with cpu.max 0.5");
        f.finish("cpuset.cpus 1,3");
    }

    /// `/proc/stat` from `cpu.stat` under cpu.max 0.5 while a busy loop is throttled: the shown
    /// CPU's user + system is the cgroup's usage, its steal the throttled time, and its fields add
    /// up to the time since boot (no PID namespace here).
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn stat_from_cpu_stat() {
        require_v2();
        let cg = Cgroup::new(None);
        cg.write("cpu.max", "50000 100000");
        // cpu.stat and the uptime are read just before and just after /proc/stat: the served
        // figures must lie between (an emulated CPU takes a while between two programs).
        let script = format!(
            "(while :; do :; done) & b=$!; sleep 1.5; kill $b; wait; cat /proc/uptime; \
             cat {d}/cpu.stat; echo @; grep '^cpu' /proc/stat; echo @; cat {d}/cpu.stat; cat /proc/uptime",
            d = cg.dir().display()
        );
        let out = cg.run(Layout::Host, &["sh", "-c", &script]).ok().to_string();
        let parts: Vec<&str> = out.split("@\n").collect();
        let (head, stat, tail) = (
            parts.first().copied().unwrap_or(""),
            parts.get(1).copied().unwrap_or(""),
            parts.get(2).copied().unwrap_or(""),
        );
        let key = |text: &str, k: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k} ")))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map_or(-1.0, |v| v / 1e6)
        };
        let uptime = |text: &str, last: bool| -> f64 {
            let mut it = text.lines().filter(|l| l.split_whitespace().count() == 2 && l.contains('.'));
            let l = if last { it.next_back() } else { it.next() };
            l.and_then(|l| l.split_whitespace().next()).and_then(|w| w.parse().ok()).unwrap_or(0.0)
        };
        let (up, up_after) = (uptime(head, false), uptime(tail, true));
        let used = |t: &str| key(t, "user_usec") + key(t, "system_usec");
        let cpu: Vec<f64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .filter_map(|w| w.parse::<f64>().ok())
            .map(|t| t / 100.0)
            .collect();
        let per_cpu = stat.lines().count().saturating_sub(1);
        let mut f = Failures::default();
        f.eq("cpuN lines", per_cpu, 1);
        f.check(cpu.len() >= 8, || format!("no aggregate line:\n{out}"));
        if cpu.len() >= 8 {
            // Ticks are whole hundredths: allow 0.02 s on each side.
            let between = |v: f64, lo: f64, hi: f64| v >= lo - 0.02 && v <= hi + 0.02;
            f.check(between(cpu[0] + cpu[2], used(head), used(tail)), || {
                format!(
                    "user+system {} s not between cpu.stat's {} and {} s:\n{out}",
                    cpu[0] + cpu[2],
                    used(head),
                    used(tail)
                )
            });
            let (t0, t1) = (key(head, "throttled_usec"), key(tail, "throttled_usec"));
            f.check(t0 > 0.2 && between(cpu[7], t0, t1), || {
                format!("steal {} s not between throttled_usec {t0} and {t1} s:\n{out}", cpu[7])
            });
            let total: f64 = cpu.iter().sum();
            f.check(total >= up - 0.05 && total <= up_after + 0.05, || {
                format!("fields add up to {total} s, uptime {up} s before and {up_after} s after:\n{out}")
            });
        }
        f.finish("/proc/stat from cpu.stat");
    }

    /// `/proc/pressure/{cpu,memory,io}` are the caller's cgroup's files while CPU pressure builds
    /// elsewhere on the machine: the served totals lie between two reads of the cgroup's own
    /// file, and the idle cgroup's CPU pressure is far below the machine's.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn pressure_files_are_the_cgroups() {
        require_v2();
        let cg = Cgroup::new(None);
        let busy = Cgroup::new(None);
        busy.runner(Layout::Host).no_preload().run(&[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8; do timeout 2 sh -c 'while :; do :; done' & done; wait",
        ]);
        let total = |text: &str| -> Option<u64> {
            text.lines()
                .find(|l| l.starts_with("some "))?
                .split_whitespace()
                .find_map(|w| w.strip_prefix("total="))?
                .parse()
                .ok()
        };
        let mut f = Failures::default();
        for kind in ["cpu", "memory", "io"] {
            let before = total(&cg.read(&format!("{kind}.pressure")));
            let served = cg.run(Layout::Host, &["cat", &format!("/proc/pressure/{kind}")]).ok().to_string();
            let after = total(&cg.read(&format!("{kind}.pressure")));
            let machine = fs::read_to_string(format!("/proc/pressure/{kind}")).unwrap();
            let got = total(&served);
            f.check(before.is_some() && got >= before && got <= after, || {
                format!("/proc/pressure/{kind}: total {got:?} not between the cgroup's {before:?} and {after:?}:\n{served}")
            });
            f.eq(&format!("/proc/pressure/{kind}: lines"), served.lines().count(), machine.lines().count());
            if kind == "cpu" {
                f.check(total(&machine).unwrap_or(0) > got.unwrap_or(0) + 100_000, || {
                    format!(
                        "the machine's CPU pressure {machine:?} is not above the idle cgroup's {served:?}"
                    )
                });
            }
        }
        let plain = cg.runner(Layout::Host).no_preload().run(&["cat", "/proc/pressure/cpu"]).ok().to_string();
        f.check(total(&plain) > total(&cg.read("cpu.pressure")), || {
            "without the library: the machine's file".into()
        });
        f.finish("/proc/pressure");
    }

    /// nginx `worker_processes auto`: one worker per CPU it is shown.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn nginx_worker_processes_auto() {
        require_v2();
        let all = machine_cpus();
        assert!(all >= 4, "the CPU cases need 4 CPUs (VM_SMP)");
        let cg = Cgroup::new(None);
        let workers =
            |preload: bool| common::nginx_workers(&[cg.dir()], preload, Duration::from_millis(1500));
        let mut f = Failures::default();
        f.eq("workers without the library, no quota", workers(false), all);
        cg.write("cpu.max", "50000 100000");
        f.eq("workers under cpu.max 0.5", workers(true), 1);
        cg.write("cpu.max", "150000 100000");
        f.eq("workers under cpu.max 1.5", workers(true), 2);
        f.finish("nginx worker_processes auto");
    }
}

// ---------------------------------------------------------------------------------------------
// The cgshim command
// ---------------------------------------------------------------------------------------------

mod cli {
    use super::*;

    fn cgshim() -> String {
        common::cgshim_bin().to_string_lossy().into_owned()
    }

    /// `cgshim show --json` flattened to `path=json value` lines by Python's json module.
    fn show_json(r: &common::Runner) -> BTreeMap<String, String> {
        let py = r#"import json, sys
def walk(p, v):
    if isinstance(v, dict):
        for k, x in v.items(): walk(p + "." + k if p else k, x)
    elif isinstance(v, list):
        for i, x in enumerate(v): walk(p + "." + str(i), x)
    else: print(p + "=" + json.dumps(v))
walk("", json.load(sys.stdin))"#;
        let script = r#""$0" show --json | /usr/bin/python3 -c "$1""#;
        parse_kv(r.run(&["sh", "-c", script, &cgshim(), py]).ok())
    }

    fn s(v: &str) -> String {
        format!("\"{v}\"")
    }

    /// What `cgshim show --json` says in a v2 cgroup, against the kernel's own files.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn show_json_against_the_kernel() {
        require_v2();
        let cg = Cgroup::new(Some(256 * MIB));
        cg.write("memory.high", &(200 * MIB).to_string());
        cg.write("memory.swap.max", &(32 * MIB).to_string());
        cg.write("cpu.max", "50000 100000");
        let dir = cg.dir().to_string_lossy().into_owned();
        let mut f = Failures::default();
        for layout in [Layout::Host, Layout::CgroupNs] {
            let v = show_json(&cg.runner(layout).no_preload());
            let ctx = format!("{layout:?}");
            let d = if layout == Layout::Host { dir.clone() } else { "/sys/fs/cgroup".to_string() };
            let g = |k: &str| v.get(k).cloned().unwrap_or_else(|| "<absent>".into());
            f.eq(&format!("{ctx}: memory.cgroup.version"), g("memory.cgroup.version"), s("v2"));
            f.eq(&format!("{ctx}: memory.cgroup.layout"), g("memory.cgroup.layout"), s("mount-root"));
            f.eq(&format!("{ctx}: memory.cgroup.dir"), g("memory.cgroup.dir"), s(&d));
            f.eq(
                &format!("{ctx}: memory.cgroup.mountpoint"),
                g("memory.cgroup.mountpoint"),
                s("/sys/fs/cgroup"),
            );
            for (key, file) in
                [("limit", "memory.max"), ("high", "memory.high"), ("swap_limit", "memory.swap.max")]
            {
                f.eq(
                    &format!("{ctx}: levels.0.{key}.file"),
                    g(&format!("memory.levels.0.{key}.file")),
                    s(&format!("{d}/{file}")),
                );
                f.eq(
                    &format!("{ctx}: levels.0.{key}.text"),
                    g(&format!("memory.levels.0.{key}.text")),
                    s(&cg.read(file)),
                );
            }
            f.eq(&format!("{ctx}: memory.limit.bytes"), g("memory.limit.bytes"), cg.read("memory.max"));
            f.eq(&format!("{ctx}: memory.limit.file"), g("memory.limit.file"), s(&format!("{d}/memory.max")));
            f.eq(&format!("{ctx}: memory.swap_total"), g("memory.swap_total"), cg.read("memory.swap.max"));
            f.eq(&format!("{ctx}: meminfo_kB.MemTotal"), g("meminfo_kB.MemTotal"), (256 * 1024).to_string());
            f.eq(
                &format!("{ctx}: cpu.levels.0.quota.text"),
                g("cpu.levels.0.quota.text"),
                s(&cg.read("cpu.max")),
            );
            f.eq(&format!("{ctx}: cpu.quota.file"), g("cpu.quota.file"), s(&format!("{d}/cpu.max")));
            f.eq(&format!("{ctx}: cpu.n"), g("cpu.n"), "1".into());
            f.eq(&format!("{ctx}: tasks.file"), g("tasks.file"), s(&format!("{d}/pids.current")));
            f.eq(
                &format!("{ctx}: uptime.cpu_time_file"),
                g("uptime.cpu_time_file"),
                s(&format!("{d}/cpu.stat")),
            );
        }
        f.finish("cgshim show --json in a v2 cgroup");
    }

    /// `cgshim exec free -b` (no LD_PRELOAD of its own) shows memory.max.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn exec_free() {
        require_v2();
        let cg = Cgroup::new(Some(256 * MIB));
        let mut f = Failures::default();
        for layout in [Layout::Host, Layout::CgroupNs] {
            let o = cg.runner(layout).no_preload().run(&[&cgshim(), "exec", "free", "-b"]);
            f.eq(
                &format!("{layout:?}: cgshim exec free -b total"),
                free_line(o.ok(), "Mem:", "free")[0],
                cg.read_u64("memory.max"),
            );
        }
        let o = cg.runner(Layout::Host).no_preload().run(&["free", "-b"]);
        f.check(free_line(o.ok(), "Mem:", "free")[0] > 256 * MIB, || {
            "free -b without cgshim exec is not the machine's".into()
        });
        f.finish("cgshim exec in a v2 cgroup");
    }
}

// ---------------------------------------------------------------------------------------------
// Fail-open cases that depend on the hierarchy
// ---------------------------------------------------------------------------------------------

mod failopen {
    use super::*;

    /// The machine's figures, as the kernel gives them, for a process in `r`.
    fn check_host_view(f: &mut Failures, r: &common::Runner, ctx: &str) {
        let si = c_program("sysinfo_show");
        let script = r#"cat /proc/meminfo; echo "online=$(cat /sys/devices/system/cpu/online)"; "$0""#;
        let o = r.run(&["sh", "-c", script, si.to_str().unwrap()]);
        let out = o.ok();
        let m = parse_meminfo(out);
        let kv = parse_kv(out);
        let host = host_meminfo();
        f.eq(&format!("{ctx}: MemTotal"), m.get("MemTotal").copied(), Some(host["MemTotal"]));
        f.eq(&format!("{ctx}: SwapTotal"), m.get("SwapTotal").copied(), Some(host["SwapTotal"]));
        f.eq(
            &format!("{ctx}: sysinfo totalram"),
            kv_u64(&kv, "totalram", ctx),
            kv_u64(&kv, "raw_totalram", ctx),
        );
        f.eq(
            &format!("{ctx}: sysinfo totalswap"),
            kv_u64(&kv, "totalswap", ctx),
            kv_u64(&kv, "raw_totalswap", ctx),
        );
        f.eq(
            &format!("{ctx}: CPUs online"),
            kv.get("online").cloned(),
            Some(fs::read_to_string("/sys/devices/system/cpu/online").unwrap().trim().to_string()),
        );
    }

    /// A limited cgroup the process cannot see: cgroupfs masked by a tmpfs.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn cgroupfs_hidden() {
        require_v2();
        let cg = Cgroup::new(Some(256 * MIB));
        cg.write("cpu.max", "50000 100000");
        let mut f = Failures::default();
        check_host_view(&mut f, &cg.runner(Layout::NoCgroupfs), "tmpfs over /sys/fs/cgroup");
        f.finish("cgroupfs hidden");
    }

    /// The root cgroup (no memory.max, no cpu.max there): the machine's figures.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn root_cgroup() {
        require_v2();
        assert!(
            !Path::new(v2::ROOT).join("memory.max").exists(),
            "the v2 root has a memory.max: the premise is wrong"
        );
        let own = fs::read_to_string("/proc/self/cgroup").unwrap();
        assert_eq!(own.trim(), "0::/", "the test process should sit in the root cgroup");
        let si = c_program("sysinfo_show");
        let o =
            common::run_plain(&["sh", "-c", r#"cat /proc/meminfo; "$0""#, si.to_str().unwrap()], true, &[]);
        let m = parse_meminfo(o.ok());
        let host = host_meminfo();
        let mut f = Failures::default();
        f.eq("MemTotal in the root cgroup", m["MemTotal"], host["MemTotal"]);
        f.finish("root cgroup");
    }

    /// A cgroup whose parent does not hand the memory and cpu controllers down has no memory.*
    /// or cpu.* files; its processes are charged to the nearest ancestor that has them, and
    /// bounded by it. With host paths the library finds that ancestor and its limits; in a
    /// namespace rooted at the bare cgroup nothing above is visible: the machine's figures.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn controller_not_handed_down() {
        require_v2();
        let top = Cgroup::new(Some(256 * MIB));
        top.write("cpu.max", "50000 100000");
        let mid = top.child("mid", None);
        let leaf = mid.child("leaf", None);
        fs::write(mid.dir().join("cgroup.subtree_control"), "-memory -cpu").unwrap();
        assert!(!leaf.dir().join("memory.max").exists(), "leaf still has memory.max");
        assert!(!leaf.dir().join("cpu.max").exists(), "leaf still has cpu.max");
        let mut f = Failures::default();
        let r = top.runner(Layout::Host).leaf(&leaf);
        check_memory_view(&mut f, &r, top.read_u64("memory.max"), Consumers::Quick, "host paths");
        let o = top.runner(Layout::Host).leaf(&leaf).run(&["getconf", "_NPROCESSORS_ONLN"]);
        f.eq("getconf _NPROCESSORS_ONLN under the top's cpu.max 0.5", number(o.ok(), "getconf"), 1);
        check_host_view(&mut f, &leaf.runner(Layout::CgroupNs), "cgroupns rooted at the bare cgroup");
        f.finish("controllers not handed down below a limited cgroup");
    }
}

// ---------------------------------------------------------------------------------------------
// The v2 fixture trees against the kernel
// ---------------------------------------------------------------------------------------------

mod fixtures {
    use super::*;

    /// The keys of a `key value` file, in order.
    fn keys(text: &str) -> Vec<String> {
        text.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
    }

    /// Keys a fixture may carry that this kernel does not write, because a later kernel or
    /// another build configuration writes them (each one checked on the kernel that has it).
    const LATER_KEYS: [(&str, &str); 15] = [
        ("zswap", "CONFIG_ZSWAP"),
        ("zswapped", "CONFIG_ZSWAP"),
        ("zswpin", "CONFIG_ZSWAP"),
        ("zswpout", "CONFIG_ZSWAP"),
        ("zswpwb", "CONFIG_ZSWAP, 6.8"),
        ("pswpin", "6.13"),
        ("pswpout", "6.13"),
        ("hugetlb", "memory_hugetlb_accounting, 6.6"),
        ("pgdemote_khugepaged", "6.8"),
        ("pgscan_khugepaged", "6.8"),
        ("pgsteal_khugepaged", "6.8"),
        ("swpin_zero", "6.12"),
        ("pgscan_proactive", "after 6.12"),
        ("pgsteal_proactive", "after 6.12"),
        ("pgdemote_proactive", "after 6.12"),
    ];

    fn later(key: &str) -> bool {
        LATER_KEYS.iter().any(|(k, _)| *k == key)
            || [
                "pgdemote_kswapd",
                "pgdemote_direct",
                "pgpromote_success",
                "swpout_zero",
                "thp_swpout",
                "thp_swpout_fallback",
                "numa_pages_migrated",
                "numa_pte_updates",
                "numa_hint_faults",
                "nice_usec",
            ]
            .contains(&key)
    }

    /// Every cgroup directory of a fixture's v2 tree, with whether it stands for the real root.
    fn fixture_dirs(tree: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![tree.to_path_buf()];
        while let Some(d) = stack.pop() {
            if let Ok(rd) = fs::read_dir(&d) {
                let mut has_files = false;
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        stack.push(e.path());
                    } else {
                        has_files = true;
                    }
                }
                if has_files {
                    out.push(d);
                }
            }
        }
        out.sort();
        out
    }

    /// The v2 fixtures: file names, "max" sentinels and the keys of memory.stat and cpu.stat
    /// are what this kernel writes (or a later kernel does, named in LATER_KEYS), in its order.
    #[test]
    #[ignore = "needs a cgroup v2 kernel: scripts/vm-test.sh"]
    fn fixtures_match_the_kernel() {
        require_v2();
        // A real cgroup with every controller, some memory, a quota and swap, for reference.
        let parent = Cgroup::new(Some(256 * MIB));
        let cg = parent.child("ref", Some(128 * MIB));
        let hog = c_program("hog");
        cg.runner(Layout::Host).no_preload().run(&[hog.to_str().unwrap(), "1", "16", "0", "100"]).ok();
        let real_root: Vec<String> = names(Path::new(v2::ROOT));
        let real_leaf: Vec<String> = names(cg.dir());
        let real_mid: Vec<String> = names(parent.dir());
        let stat_keys = keys(&cg.read("memory.stat"));
        let cpu_keys = keys(&cg.read("cpu.stat"));
        let root_cpu_keys = keys(&fs::read_to_string(Path::new(v2::ROOT).join("cpu.stat")).unwrap());

        let mut f = Failures::default();
        let fixtures = common::workspace().join("tests/fixtures");
        let mut checked = 0;
        for e in fs::read_dir(&fixtures).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let root = e.path().join("root");
            let mi = fs::read_to_string(root.join("proc/self/mountinfo")).unwrap_or_default();
            for line in mi.lines().filter(|l| l.contains(" - cgroup2 ")) {
                let t: Vec<&str> = line.split_whitespace().collect();
                let mountpoint = t[4];
                let tree = root.join(mountpoint.trim_start_matches('/'));
                // Host paths (the process below the top, the mount rooted at /): the top is
                // the real root cgroup, which has none of a child's limit and usage files.
                // Anything else (a namespace root, a level below the top) is a child.
                let own = fs::read_to_string(root.join("proc/self/cgroup")).unwrap_or_default();
                let top_is_root = t[3] == "/" && own.lines().any(|l| l.starts_with("0::/") && l.len() > 4);
                for dir in fixture_dirs(&tree) {
                    checked += 1;
                    let rel = dir.strip_prefix(&root).unwrap().display().to_string();
                    let ctx = format!("{name}: /{rel}");
                    let here = names(&dir);
                    let is_child = !(dir == tree && top_is_root);
                    for n in &here {
                        let known = if is_child {
                            real_leaf.contains(n) || real_mid.contains(n)
                        } else {
                            real_root.contains(n)
                        };
                        f.check(known, || {
                            format!(
                                "{ctx}: file {n} is not one this kernel writes in a {} cgroup",
                                if is_child { "non-root" } else { "root" }
                            )
                        });
                    }
                    for (file, sentinel_ok) in [
                        ("memory.max", "max"),
                        ("memory.high", "max"),
                        ("memory.swap.max", "max"),
                        ("pids.max", "max"),
                    ] {
                        if let Ok(text) = fs::read_to_string(dir.join(file)) {
                            let v = text.trim();
                            let ok = text.ends_with('\n')
                                && (v == sentinel_ok || (v.parse::<u64>().is_ok() && !v.starts_with('-')));
                            f.check(ok || name.contains("malformed"), || format!("{ctx}/{file} = {text:?}: the kernel writes a number or `max` and a newline"));
                        }
                    }
                    if let Ok(text) = fs::read_to_string(dir.join("cpu.max")) {
                        let parts: Vec<&str> = text.trim().split(' ').collect();
                        let ok = text.ends_with('\n')
                            && parts.len() == 2
                            && (parts[0] == "max" || parts[0].parse::<u64>().is_ok())
                            && parts[1].parse::<u64>().is_ok();
                        f.check(ok || name.contains("malformed"), || {
                            format!("{ctx}/cpu.max = {text:?}: the kernel writes `max|QUOTA PERIOD`")
                        });
                    }
                    if let Ok(text) = fs::read_to_string(dir.join("memory.stat")) {
                        check_keys(
                            &mut f,
                            &format!("{ctx}/memory.stat"),
                            &keys(&text),
                            &stat_keys,
                            name.contains("malformed"),
                        );
                    }
                    if let Ok(text) = fs::read_to_string(dir.join("cpu.stat")) {
                        let real = if is_child { &cpu_keys } else { &root_cpu_keys };
                        check_keys(&mut f, &format!("{ctx}/cpu.stat"), &keys(&text), real, false);
                    }
                }
            }
        }
        f.check(checked >= 20, || format!("only {checked} fixture cgroup directories found"));
        f.finish("v2 fixtures against the kernel");
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| !e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every fixture key is one the kernel writes (or a later kernel does), and the keys both
    /// have come in the kernel's order.
    fn check_keys(f: &mut Failures, ctx: &str, fixture: &[String], real: &[String], malformed: bool) {
        if malformed {
            return;
        }
        let unknown: Vec<&String> = fixture.iter().filter(|k| !real.contains(k) && !later(k)).collect();
        f.check(unknown.is_empty(), || {
            format!("{ctx}: keys this kernel does not write: {unknown:?} (kernel: {real:?})")
        });
        let common_order: Vec<&String> = fixture.iter().filter(|k| real.contains(k)).collect();
        let real_order: Vec<&String> = real.iter().filter(|k| fixture.contains(k)).collect();
        f.check(common_order == real_order, || format!("{ctx}: key order differs from the kernel's:\n fixture {common_order:?}\n kernel  {real_order:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// For the harness: the C programs compile (scripts/vm-test.sh runs this on the host first, so
// that the guest, which has no compiler, finds them up to date)
// ---------------------------------------------------------------------------------------------

#[test]
fn guest_programs_compile() {
    let mut f = Failures::default();
    for e in fs::read_dir(common::workspace().join("tests/c")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".c") {
            let p = c_program(stem);
            f.check(fs::read(&p).map(|b| b.starts_with(b"\x7fELF")).unwrap_or(false), || {
                format!("{} is not an ELF file", p.display())
            });
        }
    }
    // The C API's programs, built with pkg-config against an installed prefix.
    for p in [
        common::api_program("api_probe", false),
        common::api_program("api_probe", true),
        common::api_readme_program(),
    ] {
        f.check(fs::read(&p).map(|b| b.starts_with(b"\x7fELF")).unwrap_or(false), || {
            format!("{} is not an ELF file", p.display())
        });
    }
    if common::have_program("musl-gcc") {
        // The programs the suites also run as musl builds.
        for stem in ["musl_meminfo", "noharm"] {
            let p = musl_program(stem);
            f.check(fs::read(&p).map(|b| b.starts_with(b"\x7fELF")).unwrap_or(false), || {
                format!("{} is not an ELF file", p.display())
            });
        }
    }
    f.finish("C programs");
}
