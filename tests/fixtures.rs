//! Every scenario under `tests/fixtures/` (a whole cgroup + proc tree, with the numbers the
//! library must produce computed by hand in its `expected` file), checked twice: through the
//! pure core on the tree, and black-box through `libcgshim.so` with `CGSHIM_SYSROOT` pointing at
//! the tree (the only way to run cgroup v2 layouts on a v1 machine).

mod common;

use cgshim::buf::Buf;
use cgshim::decide::discover::{self, MEMORY};
use cgshim::decide::memory::{self, HostMemory, MemoryView};
#[path = "../cli/src/std_source.rs"]
mod std_source;
use cgshim::show;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std_source::StdSource;

struct Scenario {
    name: String,
    root: PathBuf,
    passthrough: bool,
    expected: BTreeMap<String, u64>,
}

fn scenarios() -> Vec<Scenario> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).expect("tests/fixtures") {
        let path = entry.expect("fixture entry").path();
        let Ok(text) = fs::read_to_string(path.join("expected")) else {
            continue;
        };
        let mut expected = BTreeMap::new();
        let mut passthrough = false;
        for line in text.lines().map(|l| l.split('#').next().unwrap_or("").trim()) {
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                [] => {}
                ["passthrough"] => passthrough = true,
                [key, value] => {
                    let v =
                        value.parse().unwrap_or_else(|_| panic!("{}: bad value in {line:?}", path.display()));
                    expected.insert(key.to_string(), v);
                }
                _ => panic!("{}: unparsable line {line:?}", path.display()),
            }
        }
        assert!(
            passthrough == expected.is_empty(),
            "{}: expected must be `passthrough` or values",
            path.display()
        );
        out.push(Scenario {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            root: path.join("root"),
            passthrough,
            expected,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 10, "expected the fixture scenarios, found {}", out.len());
    out
}

fn host_of(root: &Path) -> (String, HostMemory) {
    let text = fs::read_to_string(root.join("proc/meminfo")).expect("fixture proc/meminfo");
    let host = HostMemory::from_meminfo(text.as_bytes()).expect("MemTotal");
    (text, host)
}

fn view_of(s: &Scenario) -> Option<MemoryView> {
    let src = StdSource::new(&s.root);
    let (_, host) = host_of(&s.root);
    let cg = discover::find(&src, &MEMORY).ok()?;
    memory::read(&src, &cg, host).ok()
}

#[test]
fn core_renders_the_hand_computed_numbers() {
    let mut failures = common::Failures::default();
    for s in scenarios() {
        let view = view_of(&s);
        if s.passthrough {
            failures.check(view.is_none(), || format!("{}: expected pass-through, got a view", s.name));
            continue;
        }
        let Some(view) = view else {
            failures.push(format!("{}: no view (pass-through) but numbers were expected", s.name));
            continue;
        };
        let (host_text, _) = host_of(&s.root);
        let mut out = Buf::<16384>::new();
        show::meminfo::render(host_text.as_bytes(), &view, &mut out).expect("render");
        let rendered = common::parse_meminfo(std::str::from_utf8(out.as_bytes()).unwrap());
        let sys = show::sysinfo::sysinfo_memory(&view, 1);
        let vmstat = fs::read(s.root.join("proc/vmstat")).ok().map(|host| {
            let mut out = Buf::<16384>::new();
            show::vmstat::render(&host, &view, 4096, &mut out).expect("render vmstat");
            parse_vmstat(std::str::from_utf8(out.as_bytes()).unwrap())
        });
        for (key, &want) in &s.expected {
            let got = match key.split_once('.') {
                Some(("meminfo", field)) => rendered.get(field).copied(),
                Some(("vmstat", field)) => vmstat
                    .as_ref()
                    .unwrap_or_else(|| panic!("{}: {key} needs root/proc/vmstat", s.name))
                    .get(field)
                    .copied(),
                Some(("sysinfo", "totalram")) => Some(sys.totalram),
                Some(("sysinfo", "freeram")) => Some(sys.freeram),
                Some(("sysinfo", "sharedram")) => Some(sys.sharedram),
                Some(("sysinfo", "bufferram")) => Some(sys.bufferram),
                Some(("sysinfo", "totalswap")) => Some(sys.totalswap),
                Some(("sysinfo", "freeswap")) => Some(sys.freeswap),
                Some(("sysconf", "PHYS_PAGES")) => Some(show::sysinfo::phys_pages(&view, 4096)),
                Some(("sysconf", "AVPHYS_PAGES")) => Some(show::sysinfo::avphys_pages(&view, 4096)),
                _ => panic!("{}: unknown expected key {key}", s.name),
            };
            failures.eq(&format!("{}: {key}", s.name), got, Some(want));
        }
        // The layout of the host file survives: same keys in the same order.
        failures.eq(
            &format!("{}: line keys", s.name),
            common::meminfo_keys(std::str::from_utf8(out.as_bytes()).unwrap()),
            common::meminfo_keys(&host_text),
        );
        let free = rendered["MemFree"];
        let avail = rendered["MemAvailable"];
        let total = rendered["MemTotal"];
        failures.check(free <= avail && avail <= total, || {
            format!("{}: MemFree {free} ≤ MemAvailable {avail} ≤ MemTotal {total} violated", s.name)
        });
    }
    failures.finish("fixture scenarios through the core");
}

#[test]
fn library_serves_the_same_numbers_under_a_test_root() {
    let mut failures = common::Failures::default();
    for s in scenarios() {
        let root = s.root.to_str().unwrap();
        let out = common::run_plain(&["cat", "/proc/meminfo"], true, &[("CGSHIM_SYSROOT", root)]);
        let served = common::parse_meminfo(out.ok());
        let (host_text, _) = host_of(&s.root);
        if s.passthrough {
            // Pass-through means the real file: the machine's own MemTotal.
            failures.eq(
                &format!("{}: MemTotal", s.name),
                served.get("MemTotal").copied(),
                Some(common::host_memtotal_kb()),
            );
            continue;
        }
        for (key, &want) in &s.expected {
            if let Some(field) = key.strip_prefix("meminfo.") {
                failures.eq(&format!("{}: {key}", s.name), served.get(field).copied(), Some(want));
            }
        }
        if s.expected.keys().any(|k| k.starts_with("vmstat.")) {
            let out = common::run_plain(&["cat", "/proc/vmstat"], true, &[("CGSHIM_SYSROOT", root)]);
            let served = parse_vmstat(out.ok());
            for (key, &want) in &s.expected {
                if let Some(field) = key.strip_prefix("vmstat.") {
                    failures.eq(
                        &format!("{}: {key} (library)", s.name),
                        served.get(field).copied(),
                        Some(want),
                    );
                }
            }
        }
        failures.eq(
            &format!("{}: line keys", s.name),
            common::meminfo_keys(out.ok()),
            common::meminfo_keys(&host_text),
        );
    }
    failures.finish("fixture scenarios through libcgshim.so");
}

/// `/proc/vmstat` text (`name value` lines) as a map.
fn parse_vmstat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}
