//! `cgshim show`: the report as one JSON object (schema in docs/reference.md) or as text for people.

use crate::json::Json;
use crate::report::{
    Cgroup, CpuReport, MemLevel, MemoryReport, Reading, Reason, Report, RlimitReport, SoftHard, UptimeReport,
};
use cgshim::config::Feature;
use cgshim::decide::discover::NotFound;
use cgshim::read::cpulist::CpuSet;
use std::fmt::Write;

/// Bumped only when a field changes meaning or disappears; new fields keep the version.
pub const SCHEMA_VERSION: u64 = 1;

/// The keys of `/proc/meminfo` that `show` reports.
const MEMINFO_KEYS: [&str; 5] = ["MemTotal", "MemFree", "MemAvailable", "SwapTotal", "SwapFree"];

fn list(set: &CpuSet) -> String {
    let mut out = Vec::new();
    set.write_list(&mut |b| out.extend_from_slice(b));
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/uptime`'s format: seconds with two decimals.
fn seconds(ns: u64) -> String {
    let mut b = cgshim::buf::Buf::<64>::new();
    cgshim::show::uptime::render(ns, 0, &mut b);
    String::from_utf8_lossy(b.as_bytes()).split(' ').next().unwrap_or("0.00").to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

fn reason_json(r: Option<&Reason>) -> Json {
    Json::opt(r, |r| Json::Obj(vec![("code", Json::str(r.code)), ("message", Json::str(&r.message))]))
}

fn cgroup_json(cg: &Result<Cgroup, NotFound>) -> Json {
    Json::opt(cg.as_ref().ok(), |cg| {
        Json::Obj(vec![
            ("version", Json::str(cg.version.name())),
            ("layout", Json::str(cg.layout.name())),
            ("dir", Json::bytes(&cg.dir)),
            ("mountpoint", Json::bytes(&cg.mountpoint)),
        ])
    })
}

fn not_found_json(cg: &Result<Cgroup, NotFound>, what: &str) -> Json {
    match cg {
        Ok(_) => Json::Null,
        Err(why) => reason_json(Some(&Reason::not_found(*why, what))),
    }
}

fn reading_json(r: &Reading) -> Json {
    Json::Obj(vec![
        ("file", Json::bytes(&r.file)),
        ("text", Json::opt(r.text.as_deref(), Json::str)),
        ("bytes", Json::opt(r.bytes, Json::Num)),
    ])
}

fn level_json(l: &MemLevel) -> Json {
    Json::Obj(vec![
        ("dir", Json::bytes(&l.dir)),
        ("has_files", Json::Bool(l.present)),
        ("limit", reading_json(&l.limit)),
        ("high", Json::opt(l.high.as_ref(), reading_json)),
        ("usage", reading_json(&l.usage)),
        ("swap_limit", reading_json(&l.swap_limit)),
        ("limit_counts", Json::Bool(l.limit_counts)),
        ("headroom", Json::opt(l.headroom, Json::Num)),
    ])
}

fn memory_json(m: &MemoryReport) -> Json {
    let view = m.view.as_ref().ok();
    let limit = view.zip(m.limit_source.as_ref()).map(|(v, (level, file))| {
        Json::Obj(vec![
            ("bytes", Json::Num(v.limit)),
            ("set_by", Json::str(if level.is_some() { "level" } else { "hierarchical_memory_limit" })),
            ("level", Json::opt(*level, |i| Json::Num(i as u64))),
            ("dir", Json::opt(level.and_then(|i| m.levels.get(i)), |l| Json::bytes(&l.dir))),
            ("file", Json::bytes(file)),
        ])
    });
    let host = m.host.as_ref();
    Json::Obj(vec![
        ("cgroup", cgroup_json(&m.cgroup)),
        ("not_found", not_found_json(&m.cgroup, "memory controller")),
        ("levels", Json::Arr(m.levels.iter().map(level_json).collect())),
        ("hierarchical_memory_limit", Json::opt(m.hierarchical.as_ref(), reading_json)),
        ("limit", limit.unwrap_or(Json::Null)),
        ("free", Json::opt(view.map(|v| v.free), Json::Num)),
        ("available", Json::opt(view.map(|v| v.available), Json::Num)),
        ("swap_total", Json::opt(view.map(|v| v.swap_total), Json::Num)),
        ("swap_free", Json::opt(view.map(|v| v.swap_free), Json::Num)),
        ("virtualized", Json::Bool(view.is_some())),
        ("reason", reason_json(m.view.as_ref().err())),
        (
            "host",
            Json::Obj(vec![
                ("MemTotal", Json::opt(host.map(|h| h.total), Json::Num)),
                ("MemAvailable", Json::opt(host.and_then(|h| h.available), Json::Num)),
                ("SwapTotal", Json::opt(host.map(|h| h.swap_total), Json::Num)),
            ]),
        ),
    ])
}

fn rlimits_json(r: &RlimitReport) -> Json {
    let limit = |l: Option<SoftHard>| {
        Json::opt(l, |l| {
            Json::Obj(vec![("soft", Json::opt(l.soft, Json::Num)), ("hard", Json::opt(l.hard, Json::Num))])
        })
    };
    Json::Obj(vec![
        ("RLIMIT_AS", limit(r.address_space)),
        ("RLIMIT_DATA", limit(r.data)),
        ("vm_size", Json::opt(r.vm_size, Json::Num)),
        ("vm_data", Json::opt(r.vm_data, Json::Num)),
        ("binding", Json::str(r.binding.name())),
        ("room", Json::Num(r.room)),
    ])
}

fn meminfo_json(r: &Report) -> Json {
    let Some((served, why)) = &r.meminfo else {
        return Json::Null;
    };
    let mut fields = vec![("virtualized", Json::Bool(why.is_none())), ("reason", reason_json(why.as_ref()))];
    for key in MEMINFO_KEYS {
        fields.push((key, Json::opt(cgshim::read::meminfo::value(served, key.as_bytes()), Json::Num)));
    }
    Json::Obj(fields)
}

fn cpu_json(c: &CpuReport) -> Json {
    let levels = c.levels.iter().map(|l| {
        let q = l.parsed.flatten();
        Json::Obj(vec![
            ("dir", Json::bytes(&l.dir)),
            ("quota", reading_json(&l.quota)),
            ("period", Json::opt(l.period.as_ref(), reading_json)),
            ("quota_us", Json::opt(q.map(|q| q.quota), Json::Num)),
            ("period_us", Json::opt(q.map(|q| q.period), Json::Num)),
            ("unlimited", Json::Bool(l.parsed == Some(None))),
        ])
    });
    let quota = c.quota.as_ref().ok().copied().flatten().map(|(q, at)| {
        let level = c.levels.get(at);
        Json::Obj(vec![
            ("quota_us", Json::Num(q.quota)),
            ("period_us", Json::Num(q.period)),
            ("cpus", Json::Num(q.cpus())),
            ("level", Json::Num(at as u64)),
            ("dir", Json::opt(level, |l| Json::bytes(&l.dir))),
            ("file", Json::opt(level, |l| Json::bytes(&l.quota.file))),
        ])
    });
    let set = c.set.as_ref().ok();
    Json::Obj(vec![
        ("cgroup", cgroup_json(&c.cgroup)),
        ("not_found", not_found_json(&c.cgroup, "cpu controller")),
        ("levels", Json::Arr(levels.collect())),
        ("quota", quota.unwrap_or(Json::Null)),
        (
            "affinity",
            Json::opt(c.affinity.as_ref(), |a| {
                Json::Obj(vec![("list", Json::Str(list(a))), ("count", Json::Num(a.count()))])
            }),
        ),
        ("seed", Json::Num(c.seed)),
        ("n", Json::opt(set.map(CpuSet::count), Json::Num)),
        ("set", Json::opt(set.map(list), Json::Str)),
        ("virtualized", Json::Bool(set.is_some())),
        ("reason", reason_json(c.set.as_ref().err())),
    ])
}

fn uptime_json(u: &UptimeReport) -> Json {
    let ok = u.result.as_ref().ok();
    Json::Obj(vec![
        ("pid_namespace", Json::opt(u.pid_ns.as_deref(), Json::bytes)),
        ("in_pid_namespace", Json::opt(u.in_namespace, Json::Bool)),
        ("init_start_ticks", Json::opt(u.init_start_ticks, Json::Num)),
        ("cpu_time_cgroup", cgroup_json(&u.cpuacct)),
        ("cpu_time_file", Json::opt(u.busy.as_ref(), |(f, _)| Json::bytes(f))),
        ("cpu_time_ns", Json::opt(u.busy.as_ref().and_then(|(_, b)| *b), Json::Num)),
        ("seconds", Json::opt(ok, |(up, _)| Json::Decimal(seconds(*up)))),
        ("idle_seconds", Json::opt(ok, |(_, idle)| Json::Decimal(seconds(*idle)))),
        ("virtualized", Json::Bool(ok.is_some())),
        ("reason", reason_json(u.result.as_ref().err())),
    ])
}

pub fn json(r: &Report) -> String {
    let names = |f: &dyn Fn(Feature) -> bool| {
        Json::Arr(Feature::ALL.iter().filter(|x| f(**x)).map(|x| Json::str(x.name())).collect())
    };
    let var = |v: &Option<Vec<u8>>| Json::opt(v.as_deref(), Json::bytes);
    let config = Json::Obj(vec![
        ("CGSHIM_DISABLE", var(&r.env.disable)),
        ("CGSHIM_CPU_AFFINITY", var(&r.env.cpu_affinity)),
        ("CGSHIM_DEBUG", var(&r.env.debug)),
        ("all_disabled", Json::Bool(r.config.all_disabled())),
        ("disabled_features", names(&|f| !r.config.enabled(f))),
        (
            "unknown_disable_names",
            Json::Arr(r.env.unknown_disable_names().iter().map(|n| Json::str(n)).collect()),
        ),
        ("cpu_affinity", Json::Bool(r.config.cpu_affinity)),
        ("debug", Json::Bool(r.config.debug)),
    ]);
    let sysinfo = Json::opt(r.sysinfo.as_ref(), |s| {
        Json::Obj(vec![
            ("mem_unit", Json::Num(s.mem_unit)),
            ("totalram", Json::Num(s.totalram)),
            ("freeram", Json::Num(s.freeram)),
            ("sharedram", Json::Num(s.sharedram)),
            ("bufferram", Json::Num(s.bufferram)),
            ("totalswap", Json::Num(s.totalswap)),
            ("freeswap", Json::Num(s.freeswap)),
            ("uptime", Json::Num(s.uptime)),
            ("procs", Json::Num(s.procs)),
        ])
    });
    let sysconf = Json::Obj(vec![
        ("page_size", Json::Num(r.sysconf.page_size)),
        ("_SC_PHYS_PAGES", Json::opt(r.sysconf.phys_pages, Json::Num)),
        ("_SC_AVPHYS_PAGES", Json::opt(r.sysconf.avphys_pages, Json::Num)),
        ("_SC_NPROCESSORS_ONLN", Json::opt(r.sysconf.nprocessors_onln, Json::Num)),
    ]);
    let tasks = Json::Obj(vec![
        ("cgroup", cgroup_json(&r.tasks.cgroup)),
        ("file", Json::opt(r.tasks.file.as_deref(), Json::bytes)),
        ("count", Json::opt(r.tasks.count.as_ref().ok().copied(), Json::Num)),
        ("virtualized", Json::Bool(r.tasks.count.is_ok())),
        ("reason", reason_json(r.tasks.count.as_ref().err())),
    ]);
    let interfaces = r.interfaces.iter().map(|i| {
        Json::Obj(vec![
            ("name", Json::str(i.name)),
            ("feature", Json::str(i.feature.name())),
            ("enabled", Json::Bool(i.enabled)),
            ("virtualized", Json::Bool(i.result.is_ok())),
            ("reason", reason_json(i.result.as_ref().err())),
        ])
    });
    Json::Obj(vec![
        ("schema_version", Json::Num(SCHEMA_VERSION)),
        ("cgshim_version", Json::str(env!("CARGO_PKG_VERSION"))),
        ("root", Json::Str(r.root.as_ref().map_or("/".into(), |p| p.display().to_string()))),
        ("config", config),
        ("memory", memory_json(&r.memory)),
        ("rlimits", rlimits_json(&r.rlimits)),
        ("meminfo_kB", meminfo_json(r)),
        ("sysinfo", sysinfo),
        ("sysconf", sysconf),
        ("cpu", cpu_json(&r.cpu)),
        ("uptime", uptime_json(&r.uptime)),
        ("tasks", tasks),
        ("interfaces", Json::Arr(interfaces.collect())),
        (
            "streams",
            Json::Obj(vec![
                ("backing", Json::opt(r.streams.as_ref().ok().copied(), Json::str)),
                ("reason", reason_json(r.streams.as_ref().err())),
            ]),
        ),
        (
            "libraries",
            Json::Arr(
                r.libraries
                    .iter()
                    .map(|l| {
                        Json::Obj(vec![
                            ("path", Json::Str(l.path.display().to_string())),
                            ("via", Json::str(l.via)),
                            ("version", Json::opt(l.version.as_deref(), Json::str)),
                            (
                                "matches_command",
                                Json::Bool(l.version.as_deref() == Some(env!("CARGO_PKG_VERSION"))),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
    .render()
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

/// `268435456 (256.0 MiB)`.
fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{b} ({v:.1} {})", UNITS[unit])
}

fn reading_text(r: &Reading) -> String {
    match (&r.text, r.bytes) {
        (None, _) => "(missing)".into(),
        (Some(_), Some(b)) => bytes(b),
        (Some(t), None) if matches!(t.as_str(), "max" | "-1") => format!("{t} (no limit)"),
        (Some(t), None) => format!("{t:?} (not a number)"),
    }
}

/// A limit file's value; one at or above the host's memory is no limit (v1's sentinel).
fn limit_text(r: &Reading, host_total: Option<u64>) -> String {
    match (r.bytes, host_total) {
        (Some(b), Some(total)) if b >= total => format!("{b} (no limit: at or above the host's memory)"),
        _ => reading_text(r),
    }
}

fn cgroup_text(out: &mut String, cg: &Result<Cgroup, NotFound>, what: &str) {
    match cg {
        Ok(cg) => {
            let _ = writeln!(
                out,
                "  cgroup        {} ({} layout), mounted at {}\n  directory     {}",
                cg.version.name(),
                cg.layout.name(),
                text(&cg.mountpoint),
                text(&cg.dir)
            );
        }
        Err(why) => {
            let _ = writeln!(out, "  cgroup        none: {}", Reason::not_found(*why, what).message);
        }
    }
}

fn memory_text(out: &mut String, r: &Report) {
    let m = &r.memory;
    out.push_str("Memory\n");
    cgroup_text(out, &m.cgroup, "memory controller");
    // v1 memsw limits count memory + swap.
    let swap_cap = m.host.map(|h| h.total.saturating_add(h.swap_total));
    for (i, l) in m.levels.iter().enumerate() {
        let _ =
            writeln!(out, "  level {i}       {}{}", text(&l.dir), if i == 0 { "  (own cgroup)" } else { "" });
        if !l.present {
            out.push_str("                no memory controller files at this level\n");
            continue;
        }
        let total = m.host.map(|h| h.total);
        let name = |r: &Reading| text(r.file.rsplit(|&b| b == b'/').next().unwrap_or(&r.file));
        let _ = writeln!(out, "    limit       {}  [{}]", limit_text(&l.limit, total), name(&l.limit));
        if let Some(h) = &l.high {
            let _ = writeln!(out, "    high        {}  [{}]", limit_text(h, total), name(h));
        }
        let _ = writeln!(out, "    usage       {}  [{}]", reading_text(&l.usage), name(&l.usage));
        if l.swap_limit.text.is_some() {
            let _ = writeln!(
                out,
                "    swap limit  {}  [{}]",
                limit_text(&l.swap_limit, swap_cap),
                name(&l.swap_limit)
            );
        }
        if let Some(h) = l.headroom {
            let _ = writeln!(out, "    headroom    {}", bytes(h));
        }
    }
    if let Some(h) = &m.hierarchical {
        let _ = writeln!(
            out,
            "  hierarchical_memory_limit {}  [{}]",
            limit_text(h, m.host.map(|h| h.total)),
            text(&h.file)
        );
    }
    match (&m.view, &m.limit_source) {
        (Ok(v), Some((level, file))) => {
            let by = match level {
                Some(0) => "the own cgroup".to_string(),
                Some(i) => format!("level {i}, an ancestor"),
                None => "hierarchical_memory_limit (an ancestor outside the mount)".to_string(),
            };
            let _ = writeln!(out, "  limit         {} set by {by}: {}", bytes(v.limit), text(file));
            let _ = writeln!(out, "  free          {} (the smallest headroom)", bytes(v.free));
            let _ = writeln!(out, "  available     {}", bytes(v.available));
            let _ =
                writeln!(out, "  swap          {} total, {} free", bytes(v.swap_total), bytes(v.swap_free));
        }
        (Err(why), _) => {
            let _ = writeln!(out, "  host values   {} [{}]", why.message, why.code);
        }
        _ => {}
    }
    if let Some(h) = &m.host {
        let _ = writeln!(out, "  host          MemTotal {}", bytes(h.total));
    }
    if let Some((served, why)) = &r.meminfo {
        let values: Vec<String> = MEMINFO_KEYS
            .iter()
            .filter_map(|k| cgshim::read::meminfo::value(served, k.as_bytes()).map(|v| format!("{k} {v} kB")))
            .collect();
        let how = match why {
            None => "the cgroup's".to_string(),
            Some(w) if m.view.is_err() => format!("the host's ({})", w.code),
            Some(w) => format!("the host's: {}", w.message),
        };
        let _ = writeln!(out, "  /proc/meminfo {how}\n                {}", values.join(", "));
    }
}

fn rlimits_text(out: &mut String, r: &RlimitReport) {
    out.push_str("Rlimits (this process's; the programs it starts inherit them)\n");
    for (name, limit, used) in [
        ("RLIMIT_AS", r.address_space, r.vm_size.map(|u| format!("in use {} (VmSize)", bytes(u)))),
        ("RLIMIT_DATA", r.data, r.vm_data.map(|u| format!("in use {} (data and stack)", bytes(u)))),
    ] {
        let value = |v: Option<u64>| v.map_or("unlimited".to_string(), bytes);
        let limit = match limit {
            Some(l) => format!("{}, hard {}", value(l.soft), value(l.hard)),
            None => "(unreadable)".into(),
        };
        let _ = writeln!(out, "  {name:<13} {limit}{}", used.map(|u| format!("; {u}")).unwrap_or_default());
    }
    let _ = writeln!(out, "  binds first   {}, with {} left", r.binding.name(), bytes(r.room));
}

fn cpu_text(out: &mut String, c: &CpuReport) {
    out.push_str("CPUs\n");
    cgroup_text(out, &c.cgroup, "cpu controller");
    for (i, l) in c.levels.iter().enumerate() {
        let q = match (l.parsed, &l.quota.text) {
            (_, None) => "(no quota file)".to_string(),
            (Some(None), _) => "no quota".to_string(),
            (Some(Some(q)), _) => format!("{} µs per {} µs = {} CPU(s)", q.quota, q.period, q.cpus()),
            (None, Some(t)) => format!("{t:?} (cannot be parsed)"),
        };
        let file = text(l.quota.file.rsplit(|&b| b == b'/').next().unwrap_or(&l.quota.file));
        let _ = writeln!(out, "  level {i}       {}\n    quota       {q}  [{file}]", text(&l.dir));
    }
    match &c.quota {
        Ok(Some((q, at))) => {
            let file = c.levels.get(*at).map(|l| text(&l.quota.file)).unwrap_or_default();
            let _ = writeln!(out, "  quota         {} CPU(s), the tightest, from {file}", q.cpus());
        }
        Ok(None) => out.push_str("  quota         none: N is the number of CPUs in the affinity mask\n"),
        Err(_) => {}
    }
    if let Some(a) = &c.affinity {
        let _ = writeln!(out, "  affinity      {} ({} CPUs)", list(a), a.count());
    }
    match &c.set {
        Ok(s) => {
            let _ =
                writeln!(out, "  shown         N = {}, S = {} (window seed {})", s.count(), list(s), c.seed);
        }
        Err(why) => {
            let _ = writeln!(out, "  host values   {} [{}]", why.message, why.code);
        }
    }
}

fn uptime_text(out: &mut String, u: &UptimeReport) {
    out.push_str("Uptime\n");
    match &u.result {
        Ok((up, idle)) => {
            let _ = writeln!(
                out,
                "  /proc/uptime  {} {} (since the PID namespace's init started; {})",
                seconds(*up),
                seconds(*idle),
                u.pid_ns.as_deref().map(text).unwrap_or_default()
            );
        }
        Err(why) => {
            let _ = writeln!(out, "  /proc/uptime  the host's: {} [{}]", why.message, why.code);
        }
    }
}

pub fn text_report(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cgshim {}: what a process here sees with libcgshim.so{}\n",
        env!("CARGO_PKG_VERSION"),
        r.root.as_ref().map(|p| format!(" (kernel files read under {})", p.display())).unwrap_or_default()
    );
    memory_text(&mut out, r);
    out.push('\n');
    rlimits_text(&mut out, &r.rlimits);
    out.push('\n');
    cpu_text(&mut out, &r.cpu);
    out.push('\n');
    uptime_text(&mut out, &r.uptime);
    out.push_str("\nTasks\n");
    match (&r.tasks.count, &r.tasks.file) {
        (Ok(n), Some(f)) => {
            let _ = writeln!(out, "  sysinfo.procs {n}  [{}]", text(f));
        }
        (Err(why), _) => {
            let _ = writeln!(out, "  sysinfo.procs the host's: {} [{}]", why.message, why.code);
        }
        _ => {}
    }
    out.push_str("\nVirtualized\n");
    for i in &r.interfaces {
        let state = match &i.result {
            Ok(()) => "yes".to_string(),
            Err(why) if matches!(why.code, "disabled" | "opt-out") => format!("no: {}", why.message),
            Err(why) => format!("no ({})", why.code),
        };
        let _ = writeln!(out, "  {:<32} {state}", i.name);
    }
    let streams = match &r.streams {
        Ok(backing) => format!("yes, through a {backing}"),
        Err(why) => format!("no ({})", why.code),
    };
    let _ = writeln!(out, "  {:<32} {streams}", "stdio streams (fopen)");
    out.push_str("\nVersions\n");
    let _ = writeln!(out, "  cgshim command       {}", env!("CARGO_PKG_VERSION"));
    if r.libraries.is_empty() {
        out.push_str("  library              none preloaded here (LD_PRELOAD, /etc/ld.so.preload)\n");
    }
    for l in &r.libraries {
        let version = match l.version.as_deref() {
            Some(v) if v == env!("CARGO_PKG_VERSION") => v.to_string(),
            Some(v) => format!("{v} (differs from the command's)"),
            None => "unknown (the file cannot be read or is not a cgshim library)".to_string(),
        };
        let _ = writeln!(out, "  library              {} ({}): {version}", l.path.display(), l.via);
    }
    out.push_str("\nConfiguration\n");
    let var = |v: &Option<Vec<u8>>| v.as_deref().map_or("(unset)".to_string(), |v| format!("{:?}", text(v)));
    let _ = writeln!(out, "  CGSHIM_DISABLE       {}", var(&r.env.disable));
    let _ = writeln!(out, "  CGSHIM_CPU_AFFINITY  {}", var(&r.env.cpu_affinity));
    let _ = writeln!(out, "  CGSHIM_DEBUG         {}", var(&r.env.debug));
    let unknown = r.env.unknown_disable_names();
    if !unknown.is_empty() {
        let _ = writeln!(out, "  unknown names in CGSHIM_DISABLE (ignored): {}", unknown.join(", "));
    }
    out
}
