//! The C API of libcgshim.so (`include/cgshim.h`), used as new programs use it: a C program
//! built with `pkg-config --cflags --libs cgshim` against what `cgshim install --prefix` put in
//! place, and the same program reaching the library through `dlopen`, each preloaded and not,
//! in real cgroups (v1 here, v2 in the VM suite). Its answers are compared with the
//! `/proc/meminfo` the library serves in the same process and with `cgshim show --json` in the
//! same cgroup; an older, smaller struct, rlimits set with `prlimit`, the host's values with
//! their reasons, threads and signal handlers, and the README's C and Python examples.

#[macro_use]
mod common;

use common::{Cgroup, Failures, Layout, MIB, Outcome, kv_u64, parse_kv, run_plain};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const LIMIT: u64 = 256 * MIB;
const UNLIMITED: u64 = u64::MAX;
/// Two processes in one cgroup differ by their own memory: free and available may move by this
/// much between the probe and `cgshim show`.
const SLACK: u64 = 24 * MIB;

type Map = BTreeMap<String, String>;

fn v2() -> bool {
    common::v2::active()
}

fn limit_file() -> &'static str {
    if v2() { "memory.max" } else { "memory.limit_in_bytes" }
}

fn quota_file() -> &'static str {
    if v2() { "cpu.max" } else { "cpu.cfs_quota_us" }
}

fn cgshim() -> String {
    common::cgshim_bin().to_string_lossy().into_owned()
}

fn prefix_lib() -> String {
    common::api_prefix().join("lib").to_string_lossy().into_owned()
}

/// The probe, linked or through `dlopen`.
fn probe(dlopen: bool) -> String {
    common::api_program("api_probe", dlopen).to_string_lossy().into_owned()
}

/// `cgshim show --json` flattened by Python's json module to `a.b.0.c` → value (strings bare,
/// everything else as JSON text).
fn flatten(json: &str) -> Map {
    let py = r#"import json, sys
def walk(p, v):
    if isinstance(v, dict):
        for k, x in v.items(): walk(p + "." + k if p else k, x)
    elif isinstance(v, list):
        for i, x in enumerate(v): walk(p + "." + str(i), x)
    else: print(p + "=" + (v if isinstance(v, str) else json.dumps(v)))
walk("", json.load(sys.stdin))"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", py])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    child.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 could not parse cgshim show --json:\n{json}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(m: &'a Map, key: &str, ctx: &str) -> &'a str {
    m.get(key).unwrap_or_else(|| panic!("{ctx}: no {key} in {m:?}")).as_str()
}

fn num(m: &Map, key: &str, ctx: &str) -> u64 {
    kv_u64(m, key, ctx)
}

/// A JSON number or `null` (as CGSHIM_UNLIMITED).
fn num_or_unlimited(m: &Map, key: &str, ctx: &str) -> u64 {
    match get(m, key, ctx) {
        "null" => UNLIMITED,
        v => v.parse().unwrap_or_else(|_| panic!("{ctx}: {key} = {v}")),
    }
}

fn version_number(v: &str) -> u64 {
    match v {
        "v1" => 1,
        "v2" => 2,
        other => panic!("cgroup version {other}"),
    }
}

fn near(f: &mut Failures, what: &str, got: u64, expected: u64) {
    f.check(got.abs_diff(expected) <= SLACK, || format!("{what}: {got} is not within {SLACK} of {expected}"));
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The served `/proc/meminfo` the probe read around its call, against the call's numbers.
fn check_served(f: &mut Failures, ctx: &str, m: &Map) {
    let kb = |k: &str| num(m, k, ctx);
    f.eq(&format!("{ctx}: total / 1024 vs MemTotal"), kb("total") / 1024, kb("meminfo_MemTotal"));
    // Free and available are live: the cgroup's usage may move by a few pages between the call
    // and the file's reading (the file is read after the call, so usually later than its 1 ms).
    // Within 1 MiB: a few hundred pages, far below what a wrong source would be off by.
    for (call, file) in [("free", "meminfo_MemFree"), ("available", "meminfo_MemAvailable")] {
        let (got, expected) = (kb(call), kb(file) * 1024);
        f.check(got.abs_diff(expected) <= MIB, || {
            format!("{ctx}: {call} {got} is not within 1 MiB of {file} {expected} bytes")
        });
    }
    f.eq(&format!("{ctx}: swap_limit / 1024 vs SwapTotal"), kb("swap_limit") / 1024, kb("meminfo_SwapTotal"));
    f.eq(
        &format!("{ctx}: (swap_limit - swap_usage) / 1024 vs SwapFree"),
        (kb("swap_limit") - kb("swap_usage")) / 1024,
        kb("meminfo_SwapFree"),
    );
}

/// The memory answer of a process in a 256 MiB cgroup against `cgshim show --json` there.
fn check_limited(f: &mut Failures, ctx: &str, m: &Map, show: &Map) {
    f.eq(&format!("{ctx}: virtualized"), get(m, "virtualized", ctx), "1");
    f.eq(&format!("{ctx}: reason"), get(m, "reason_name", ctx), "none");
    f.eq(&format!("{ctx}: total"), num(m, "total", ctx), LIMIT);
    f.eq(&format!("{ctx}: limit"), num(m, "limit", ctx), num(show, "memory.limit.bytes", ctx));
    f.eq(&format!("{ctx}: limit_source"), get(m, "limit_source", ctx), limit_file());
    f.eq(
        &format!("{ctx}: limit_source vs show's memory.limit.file"),
        get(m, "limit_source", ctx),
        basename(get(show, "memory.limit.file", ctx)),
    );
    f.eq(&format!("{ctx}: limit_level"), get(m, "limit_level", ctx), get(show, "memory.limit.level", ctx));
    f.eq(
        &format!("{ctx}: cgroup_version"),
        num(m, "cgroup_version", ctx),
        version_number(get(show, "memory.cgroup.version", ctx)),
    );
    f.eq(&format!("{ctx}: cgroup_path"), get(m, "cgroup_path", ctx), get(show, "memory.cgroup.dir", ctx));
    f.eq(
        &format!("{ctx}: high"),
        num(m, "high", ctx),
        // v1 has no memory.high (`high` is null); v2's reading has `bytes`, null for `max`.
        match show.contains_key("memory.levels.0.high.bytes") {
            true => num_or_unlimited(show, "memory.levels.0.high.bytes", ctx),
            false => UNLIMITED,
        },
    );
    f.eq(&format!("{ctx}: swap_limit"), num(m, "swap_limit", ctx), num(show, "memory.swap_total", ctx));
    f.eq(&format!("{ctx}: host_total"), num(m, "host_total", ctx), num(show, "memory.host.MemTotal", ctx));
    near(f, &format!("{ctx}: free"), num(m, "free", ctx), num(show, "memory.free", ctx));
    near(f, &format!("{ctx}: available"), num(m, "available", ctx), num(show, "memory.available", ctx));
    near(f, &format!("{ctx}: usage"), num(m, "usage", ctx), num(show, "memory.levels.0.usage.bytes", ctx));
    f.eq(&format!("{ctx}: binding"), get(m, "binding", ctx), get(show, "rlimits.binding", ctx));
    f.eq(&format!("{ctx}: binding"), get(m, "binding", ctx), limit_file());
    f.eq(&format!("{ctx}: room is available"), num(m, "room", ctx), num(m, "available", ctx));
}

fn show_json(runner: common::Runner<'_>) -> Map {
    flatten(runner.run(&[&cgshim(), "show", "--json"]).ok())
}

#[test]
fn memory_linked_and_dlopened_in_every_layout() {
    require_cgroups!();
    if !common::have_program("pkg-config") || !common::have_program("/usr/bin/python3") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    let host_kb = common::host_memtotal_kb();
    for layout in common::LAYOUTS {
        let show = show_json(cg.runner(layout).no_preload());
        for (dlopen, preload) in [(false, true), (false, false), (true, true), (true, false)] {
            let how = if dlopen { "dlopen" } else { "linked" };
            let ctx = format!("{layout:?}, {how}, {}", if preload { "preloaded" } else { "not preloaded" });
            let mut runner = cg.runner(layout);
            if !preload {
                runner = runner.no_preload();
            }
            if dlopen && !preload {
                runner = runner.env("LD_LIBRARY_PATH", &prefix_lib());
            }
            let o = runner.run(&[&probe(dlopen), "memory"]);
            let m = parse_kv(o.ok());
            f.eq(&format!("{ctx}: how"), get(&m, "how", &ctx), how);
            f.eq(&format!("{ctx}: size filled"), num(&m, "size", &ctx), 1184);
            f.eq(&format!("{ctx}: version"), num(&m, "version", &ctx), 1);
            f.eq(&format!("{ctx}: copies of the library"), num(&m, "copies", &ctx), 1);
            check_limited(&mut f, &ctx, &m, &show);
            if dlopen && !preload {
                // Loaded late and privately, the library answers calls but hooks nothing: the
                // program's own /proc/meminfo is the host's.
                f.eq(&format!("{ctx}: unhooked MemTotal"), num(&m, "meminfo_MemTotal", &ctx), host_kb);
            } else {
                // Preloaded, or linked (the library comes before libc in the program's own
                // search order): the program's files are served, and the call agrees with them.
                check_served(&mut f, &ctx, &m);
            }
        }
    }
    f.finish("cgshim_memory in a 256 MiB cgroup");
}

// ---------------------------------------------------------------------------------------------
// CPUs
// ---------------------------------------------------------------------------------------------

const CPU_ROOT: &str = "/sys/fs/cgroup/cpu";
static CPU_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A cgroup with a CPU quota: on v1 a directory of the `cpu` hierarchy, on v2 a cgroup of the
/// unified one with `cpu.max`.
struct CpuPlace {
    v1_dir: Option<PathBuf>,
    v2: Option<Cgroup>,
}

impl CpuPlace {
    fn new(quota_us: Option<u64>) -> CpuPlace {
        if v2() {
            let cg = Cgroup::new(None);
            let max = quota_us.map_or("max 100000".to_string(), |q| format!("{q} 100000"));
            fs::write(cg.dir().join("cpu.max"), &max).expect("write cpu.max");
            return CpuPlace { v1_dir: None, v2: Some(cg) };
        }
        let n = CPU_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(CPU_ROOT).join(format!("cgshim-api-{}-{n}", std::process::id()));
        let _ = fs::remove_dir(&dir);
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        fs::write(dir.join("cpu.cfs_period_us"), "100000").unwrap();
        if let Some(q) = quota_us {
            fs::write(dir.join("cpu.cfs_quota_us"), q.to_string()).unwrap();
        }
        CpuPlace { v1_dir: Some(dir), v2: None }
    }

    fn run(&self, argv: &[&str], env: &[(&str, &str)]) -> Outcome {
        if let Some(cg) = &self.v2 {
            let mut r = cg.runner(Layout::Host);
            for (k, v) in env {
                r = r.env(k, v);
            }
            return r.run(argv);
        }
        let dir = self.v1_dir.as_ref().unwrap();
        let script = format!("echo $$ > {}/cgroup.procs && exec \"$@\"", dir.display());
        let mut full = vec!["sh", "-c", script.as_str(), "sh"];
        full.extend_from_slice(argv);
        run_plain(&full, true, env)
    }
}

impl Drop for CpuPlace {
    fn drop(&mut self) {
        if let Some(dir) = &self.v1_dir {
            for _ in 0..100 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            eprintln!("warning: could not remove {}", dir.display());
        }
    }
}

fn cpu_cgroups_available() -> bool {
    if v2() || Path::new(CPU_ROOT).join("cpu.cfs_quota_us").is_file() {
        return true;
    }
    let why = format!("{CPU_ROOT} is not a cgroup v1 cpu hierarchy");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and this test needs a cpu cgroup: {why}");
    }
    eprintln!("SKIPPED: {why}");
    false
}

#[test]
fn cpus_match_the_served_set_and_show() {
    require_cgroups!();
    if !common::have_program("pkg-config")
        || !common::have_program("/usr/bin/python3")
        || !cpu_cgroups_available()
    {
        return;
    }
    let mut f = Failures::default();
    let affinity = parse_kv(
        run_plain(
            &["/usr/bin/python3", "-c", "import os; print('n=%d' % len(os.sched_getaffinity(0)))"],
            false,
            &[],
        )
        .ok(),
    )["n"]
        .parse::<u64>()
        .unwrap();
    let mut cases = vec![(Some(50_000), 1, 500), (None, affinity, UNLIMITED)];
    if affinity >= 2 {
        cases.push((Some(150_000), 2, 1500));
    }
    for (quota, n, millis) in cases {
        let place = CpuPlace::new(quota);
        let show = flatten(place.run(&[&cgshim(), "show", "--json"], &[]).ok());
        for dlopen in [false, true] {
            let ctx = format!("quota {quota:?}, {}", if dlopen { "dlopen" } else { "linked" });
            let m = parse_kv(place.run(&[&probe(dlopen), "cpus"], &[]).ok());
            f.eq(&format!("{ctx}: virtualized"), get(&m, "virtualized", &ctx), "1");
            f.eq(&format!("{ctx}: count"), num(&m, "count", &ctx), n);
            f.eq(&format!("{ctx}: count vs show cpu.n"), num(&m, "count", &ctx), num(&show, "cpu.n", &ctx));
            f.eq(
                &format!("{ctx}: count vs sysconf"),
                num(&m, "count", &ctx),
                num(&m, "nprocessors_onln", &ctx),
            );
            f.eq(&format!("{ctx}: quota_millis"), num(&m, "quota_millis", &ctx), millis);
            let source = match quota {
                Some(q) if q.div_ceil(100_000) <= affinity => quota_file(),
                _ => "affinity",
            };
            f.eq(&format!("{ctx}: count_source"), get(&m, "count_source", &ctx), source);
            if let Some(q) = quota {
                f.eq(&format!("{ctx}: quota_us"), num(&m, "quota_us", &ctx), q);
                f.eq(&format!("{ctx}: period_us"), num(&m, "period_us", &ctx), 100_000);
                f.eq(
                    &format!("{ctx}: quota vs show"),
                    num(&m, "quota_us", &ctx),
                    num(&show, "cpu.quota.quota_us", &ctx),
                );
            }
            f.eq(
                &format!("{ctx}: set vs show cpu.set"),
                expand(get(&m, "set", &ctx)),
                expand(get(&show, "cpu.set", &ctx)),
            );
            f.eq(
                &format!("{ctx}: set vs sched_getaffinity"),
                get(&m, "set", &ctx),
                get(&m, "sched_getaffinity", &ctx),
            );
            f.eq(
                &format!("{ctx}: affinity_count"),
                num(&m, "affinity_count", &ctx),
                num(&show, "cpu.affinity.count", &ctx),
            );
            f.eq(
                &format!("{ctx}: cgroup_path"),
                get(&m, "cgroup_path", &ctx),
                get(&show, "cpu.cgroup.dir", &ctx),
            );
            f.eq(
                &format!("{ctx}: cgroup_version"),
                num(&m, "cgroup_version", &ctx),
                version_number(get(&show, "cpu.cgroup.version", &ctx)),
            );
        }
    }
    f.finish("cgshim_cpus");
}

/// `0-2,5` or `0,1,2,5` → the CPU numbers.
fn expand(list: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()),
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The ABI: sizes, older structs, errors, names
// ---------------------------------------------------------------------------------------------

/// The enum constants of cgshim.h with the name each comment quotes: `CGSHIM_SOURCE_HOST = 1,
/// /* "host": … */` → (kind, 1, "host").
fn header_names() -> Vec<(String, i64, String)> {
    let header = fs::read_to_string(common::workspace().join("include/cgshim.h")).unwrap();
    let mut out = Vec::new();
    for line in header.lines() {
        let line = line.trim();
        for kind in ["SOURCE", "REASON"] {
            let Some(rest) = line.strip_prefix(&format!("CGSHIM_{kind}_")) else { continue };
            let (_, rest) = rest.split_once('=').unwrap();
            let digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
            let name = line.split('"').nth(1).unwrap_or_else(|| panic!("no quoted name in {line:?}"));
            out.push((kind.to_lowercase(), digits.parse().unwrap(), name.to_string()));
        }
    }
    out
}

#[test]
fn older_structs_sizes_errors_and_names() {
    if !common::have_program("pkg-config") {
        return;
    }
    let mut f = Failures::default();
    for dlopen in [false, true] {
        for preload in [true, false] {
            let ctx = format!("{}, preload {preload}", if dlopen { "dlopen" } else { "linked" });
            let env: Vec<(&str, String)> =
                if dlopen && !preload { vec![("LD_LIBRARY_PATH", prefix_lib())] } else { vec![] };
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let run = |what: &str| parse_kv(run_plain(&[&probe(dlopen), what], preload, &env).ok());

            let s = run("small");
            f.eq(&format!("{ctx}: older memory struct"), num(&s, "memory_result", &ctx), 0);
            f.eq(&format!("{ctx}: filled = its size"), num(&s, "memory_size", &ctx), 40);
            f.eq(&format!("{ctx}: bytes after it untouched"), get(&s, "memory_after_untouched", &ctx), "1");
            f.check(num(&s, "memory_total", &ctx) > 0 && num(&s, "memory_available", &ctx) > 0, || {
                format!("{ctx}: the older struct's fields were not filled: {s:?}")
            });
            f.eq(
                &format!("{ctx}: a size inside a field: whole fields only"),
                num(&s, "partial_size", &ctx),
                32,
            );
            f.eq(
                &format!("{ctx}: the cut field untouched"),
                get(&s, "partial_available_untouched", &ctx),
                "1",
            );
            f.eq(&format!("{ctx}: older cpus struct"), num(&s, "cpus_size", &ctx), 24);
            f.eq(&format!("{ctx}: cpus bytes after it"), get(&s, "cpus_after_untouched", &ctx), "1");
            f.check(num(&s, "cpus_count", &ctx) >= 1, || format!("{ctx}: count not filled: {s:?}"));

            let a = run("abi");
            f.eq(
                &format!("{ctx}: memory struct size = header's"),
                num(&a, "memory_filled", &ctx),
                num(&a, "memory_header", &ctx),
            );
            f.eq(
                &format!("{ctx}: cpus struct size = header's"),
                num(&a, "cpus_filled", &ctx),
                num(&a, "cpus_header", &ctx),
            );
            f.eq(
                &format!("{ctx}: memory version"),
                num(&a, "memory_version", &ctx),
                num(&a, "header_memory_version", &ctx),
            );
            f.eq(
                &format!("{ctx}: cpus version"),
                num(&a, "cpus_version", &ctx),
                num(&a, "header_cpus_version", &ctx),
            );
            f.eq(
                &format!("{ctx}: CGSHIM_FILLED"),
                (get(&a, "filled_room", &ctx), get(&a, "filled_path", &ctx)),
                ("1", "1"),
            );
            f.eq(
                &format!("{ctx}: cgshim_version"),
                get(&a, "version_string", &ctx),
                env!("CARGO_PKG_VERSION"),
            );

            let e = run("errors");
            for key in ["null", "tiny", "cpus_null"] {
                f.eq(&format!("{ctx}: {key} result"), get(&e, &format!("{key}_result"), &ctx), "-1");
                f.eq(&format!("{ctx}: {key} errno"), num(&e, &format!("{key}_errno"), &ctx), libc_einval());
            }

            let n = run("names");
            let names = header_names();
            f.check(names.len() == 23, || {
                format!("cgshim.h: expected 11 sources and 12 reasons, found {names:?}")
            });
            for (kind, value, name) in &names {
                f.eq(
                    &format!("{ctx}: {kind} {value}"),
                    get(&n, &format!("{kind}_{value}"), &ctx),
                    name.as_str(),
                );
            }
            for kind in ["source", "reason"] {
                f.eq(&format!("{ctx}: {kind} -1"), get(&n, &format!("{kind}_-1"), &ctx), "unknown");
                f.eq(&format!("{ctx}: {kind} 12"), get(&n, &format!("{kind}_12"), &ctx), "unknown");
            }
        }
    }
    f.finish("the ABI");
}

fn libc_einval() -> u64 {
    22
}

// ---------------------------------------------------------------------------------------------
// Rlimits
// ---------------------------------------------------------------------------------------------

#[test]
fn rlimits_set_with_prlimit_are_reported_and_the_binding_one_named() {
    require_cgroups!();
    if !common::have_program("prlimit")
        || !common::have_program("pkg-config")
        || !common::have_program("/usr/bin/python3")
    {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    let gib4 = (4096 * MIB).to_string();
    let mib128 = (128 * MIB).to_string();
    let mib64 = (64 * MIB).to_string();
    // (prlimit options, RLIMIT_AS, RLIMIT_DATA, what binds first)
    let cases: [(Vec<String>, u64, u64, &str); 4] = [
        (vec![], UNLIMITED, UNLIMITED, limit_file()),
        (vec![format!("--as={mib128}")], 128 * MIB, UNLIMITED, "RLIMIT_AS"),
        (vec![format!("--data={mib64}")], UNLIMITED, 64 * MIB, "RLIMIT_DATA"),
        (vec![format!("--as={gib4}"), format!("--data={gib4}")], 4096 * MIB, 4096 * MIB, limit_file()),
    ];
    for (opts, as_limit, data_limit, binding) in cases {
        let ctx = format!("prlimit {opts:?}");
        let with = |argv: &[&str]| {
            let mut full: Vec<&str> = vec!["prlimit"];
            full.extend(opts.iter().map(String::as_str));
            full.push("--");
            full.extend_from_slice(argv);
            cg.run(Layout::Host, &full)
        };
        let show = flatten(with(&[&cgshim(), "show", "--json"]).ok());
        let text = with(&[&cgshim(), "show"]);
        for dlopen in [false, true] {
            let ctx = format!("{ctx}, {}", if dlopen { "dlopen" } else { "linked" });
            let m = parse_kv(with(&[&probe(dlopen), "memory"]).ok());
            f.eq(&format!("{ctx}: rlimit_as"), num(&m, "rlimit_as", &ctx), as_limit);
            f.eq(&format!("{ctx}: rlimit_data"), num(&m, "rlimit_data", &ctx), data_limit);
            f.eq(&format!("{ctx}: binding"), get(&m, "binding", &ctx), binding);
            f.eq(&format!("{ctx}: show's binding"), get(&show, "rlimits.binding", &ctx), binding);
            f.eq(
                &format!("{ctx}: show's RLIMIT_AS"),
                num_or_unlimited(&show, "rlimits.RLIMIT_AS.soft", &ctx),
                as_limit,
            );
            f.eq(
                &format!("{ctx}: show's RLIMIT_DATA"),
                num_or_unlimited(&show, "rlimits.RLIMIT_DATA.soft", &ctx),
                data_limit,
            );
            let room = num(&m, "room", &ctx);
            let expected = match binding {
                "RLIMIT_AS" => as_limit - num(&m, "vm_size", &ctx),
                "RLIMIT_DATA" => data_limit - num(&m, "vm_data", &ctx),
                _ => num(&m, "available", &ctx),
            };
            f.eq(&format!("{ctx}: room"), room, expected);
            f.check(
                num(&m, "vm_size", &ctx) > num(&m, "vm_data", &ctx) && num(&m, "vm_data", &ctx) > 0,
                || format!("{ctx}: vm_size {} and vm_data {} from statm", m["vm_size"], m["vm_data"]),
            );
            // /proc/meminfo stays the cgroup's: a virtual-memory limit is not physical memory.
            f.eq(&format!("{ctx}: MemTotal"), num(&m, "meminfo_MemTotal", &ctx), LIMIT / 1024);
        }
        f.check(text.ok().contains(&format!("binds first   {binding}, with ")), || {
            format!("{ctx}: cgshim show's text names {binding}:\n{}", text.stdout)
        });
    }
    f.finish("rlimits");
}

// ---------------------------------------------------------------------------------------------
// The host's values, and why
// ---------------------------------------------------------------------------------------------

#[test]
fn host_values_come_with_their_reason() {
    require_cgroups!();
    if !common::have_program("pkg-config") || !common::have_program("/usr/bin/python3") {
        return;
    }
    let mut f = Failures::default();
    let limited = Cgroup::new(Some(LIMIT));
    let unlimited = Cgroup::new(None);
    // (what, runner, reason, whether a cgroup is named)
    let places = [
        ("cgroupfs hidden", limited.runner(Layout::NoCgroupfs), "no-mount", false),
        ("no limit", unlimited.runner(Layout::Host), "unlimited", true),
        (
            "CGSHIM_DISABLE=meminfo",
            limited.runner(Layout::Host).env("CGSHIM_DISABLE", "meminfo"),
            "disabled",
            false,
        ),
    ];
    for (what, runner, reason, named) in places {
        let show = flatten(runner.run(&[&cgshim(), "show", "--json"]).ok());
        for dlopen in [false, true] {
            let ctx = format!("{what}, {}", if dlopen { "dlopen" } else { "linked" });
            let m = parse_kv(runner.run(&[&probe(dlopen), "memory"]).ok());
            f.eq(&format!("{ctx}: virtualized"), get(&m, "virtualized", &ctx), "0");
            f.eq(&format!("{ctx}: reason"), get(&m, "reason_name", &ctx), reason);
            if reason != "disabled" {
                f.eq(&format!("{ctx}: show's reason"), get(&show, "memory.reason.code", &ctx), reason);
            } else {
                f.eq(
                    &format!("{ctx}: show's meminfo reason"),
                    get(&show, "meminfo_kB.reason.code", &ctx),
                    reason,
                );
            }
            f.eq(&format!("{ctx}: limit"), num(&m, "limit", &ctx), UNLIMITED);
            f.eq(&format!("{ctx}: limit_source"), get(&m, "limit_source", &ctx), "host");
            f.eq(&format!("{ctx}: binding"), get(&m, "binding", &ctx), "host");
            f.eq(&format!("{ctx}: total = host_total"), num(&m, "total", &ctx), num(&m, "host_total", &ctx));
            f.eq(
                &format!("{ctx}: host_total vs show"),
                num(&m, "host_total", &ctx),
                num(&show, "memory.host.MemTotal", &ctx),
            );
            // The file served is the host's, and the call gives its numbers.
            check_served(&mut f, &ctx, &m);
            if named {
                f.eq(
                    &format!("{ctx}: cgroup_path"),
                    get(&m, "cgroup_path", &ctx),
                    get(&show, "memory.cgroup.dir", &ctx),
                );
                f.check(num(&m, "cgroup_version", &ctx) > 0, || format!("{ctx}: no cgroup version"));
            } else if reason == "no-mount" {
                f.eq(&format!("{ctx}: cgroup_path"), get(&m, "cgroup_path", &ctx), "");
                f.eq(&format!("{ctx}: cgroup_version"), num(&m, "cgroup_version", &ctx), 0);
            }
        }
    }
    // An unreadable limit file, in a fixture tree (root reads every real cgroup file).
    let root = common::workspace().join("tests/fixtures/malformed-limit/root");
    let root_s = root.to_string_lossy().into_owned();
    let show = flatten(run_plain(&[&cgshim(), "show", "--json", "--root", &root_s], false, &[]).ok());
    for dlopen in [false, true] {
        let ctx = format!("malformed limit file, {}", if dlopen { "dlopen" } else { "linked" });
        let m = parse_kv(run_plain(&[&probe(dlopen), "memory"], true, &[("CGSHIM_SYSROOT", &root_s)]).ok());
        f.eq(&format!("{ctx}: reason"), get(&m, "reason_name", &ctx), "unreadable");
        f.eq(&format!("{ctx}: show's reason"), get(&show, "memory.reason.code", &ctx), "unreadable");
        f.eq(&format!("{ctx}: total"), num(&m, "total", &ctx), num(&show, "memory.host.MemTotal", &ctx));
        f.eq(
            &format!("{ctx}: cgroup_path"),
            get(&m, "cgroup_path", &ctx),
            get(&show, "memory.cgroup.dir", &ctx),
        );
    }
    // The CPU view switched off: the kernel's mask.
    let m = parse_kv(run_plain(&[&probe(false), "cpus"], true, &[("CGSHIM_DISABLE", "cpu")]).ok());
    f.eq("CGSHIM_DISABLE=cpu: reason", get(&m, "reason_name", "cpus"), "disabled");
    f.eq("CGSHIM_DISABLE=cpu: count", num(&m, "count", "cpus"), num(&m, "affinity_count", "cpus"));
    f.eq("CGSHIM_DISABLE=cpu: set", get(&m, "set", "cpus"), get(&m, "sched_getaffinity", "cpus"));
    f.finish("the host's values");
}

#[test]
fn threads_and_signal_handlers_get_the_same_answer() {
    require_cgroups!();
    if !common::have_program("pkg-config") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    for dlopen in [false, true] {
        let ctx = if dlopen { "dlopen" } else { "linked" };
        let m = parse_kv(cg.run(Layout::Host, &[&probe(dlopen), "threads"]).ok());
        f.eq(&format!("{ctx}: calls from 8 threads that disagree"), num(&m, "thread_bad", ctx), 0);
        f.eq(&format!("{ctx}: calls from a signal handler that disagree"), num(&m, "handler_bad", ctx), 0);
        f.check(num(&m, "handler_calls", ctx) > 0, || format!("{ctx}: the timer never interrupted a call"));
    }
    f.finish("threads and signal handlers");
}

// ---------------------------------------------------------------------------------------------
// The README's examples
// ---------------------------------------------------------------------------------------------

#[test]
fn readme_c_example_builds_with_pkg_config_and_runs() {
    require_cgroups!();
    if !common::have_program("pkg-config") || !common::have_program("/usr/bin/python3") {
        return;
    }
    let example = common::api_readme_program().to_string_lossy().into_owned();
    let cg = Cgroup::new(Some(LIMIT));
    let show = show_json(cg.runner(Layout::Host));
    let mut f = Failures::default();
    for preload in [true, false] {
        let mut r = cg.runner(Layout::Host);
        if !preload {
            r = r.no_preload();
        }
        let out = r.run(&[&example]).ok().to_string();
        let lines: Vec<&str> = out.lines().collect();
        let ctx = format!("README C example, preload {preload}");
        f.check(lines.len() == 3, || format!("{ctx}: three lines expected:\n{out}"));
        let first = lines.first().copied().unwrap_or("");
        f.check(first.starts_with(&format!("memory {LIMIT}, available ")), || format!("{ctx}: {first}"));
        f.check(first.ends_with(&format!("({})", limit_file())), || format!("{ctx}: {first}"));
        let second = lines.get(1).copied().unwrap_or("");
        f.check(
            second.starts_with(&format!("bound first by {}, ", limit_file())) && second.ends_with(" left"),
            || format!("{ctx}: {second}"),
        );
        let n = num(&show, "cpu.n", &ctx);
        f.check(lines.get(2).is_some_and(|l| l.starts_with(&format!("cpus {n}, quota "))), || {
            format!("{ctx}: {out}")
        });
    }
    f.finish("the README's C example");
}

#[test]
fn readme_python_example_runs() {
    require_cgroups!();
    if !common::have_program("/usr/bin/python3") || !common::have_program("pkg-config") {
        return;
    }
    let code = common::readme_api_example("python");
    let limited = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    let lib = prefix_lib();
    // Preloaded (ctypes finds the loaded copy by its name), and loaded by ctypes alone.
    let runs = [
        ("preloaded", limited.runner(Layout::Host), format!("({})", limit_file())),
        (
            "ctypes alone",
            limited.runner(Layout::Host).no_preload().env("LD_LIBRARY_PATH", &lib),
            format!("({})", limit_file()),
        ),
        ("cgroupfs hidden", limited.runner(Layout::NoCgroupfs), "(no-mount)".to_string()),
    ];
    for (what, runner, why) in runs {
        let show = flatten(runner.run(&[&cgshim(), "show", "--json"]).ok());
        let out = runner.run(&["/usr/bin/python3", "-c", &code]).ok().trim().to_string();
        let total = if why == "(no-mount)" { num(&show, "memory.host.MemTotal", what) } else { LIMIT };
        f.check(out.starts_with(&format!("memory {total}, available ")) && out.ends_with(&why), || {
            format!("{what}: the Python example printed {out:?}, expected memory {total} … {why}")
        });
    }
    f.finish("the README's Python example");
}
