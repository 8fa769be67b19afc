//! The built library's ABI surface: exported functions equal the inventory in
//! preload/symbols.txt and cover every hook cgshim promises; nothing newer than GLIBC_2.17 is
//! required; libc.so.6 is the only NEEDED entry (so it loads on old glibc and into musl).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

fn tool(argv: &[&str]) -> String {
    let lib = common::lib_path();
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .arg(&lib)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (binutils installed?): {e}", argv[0]));
    assert!(
        out.status.success(),
        "{argv:?} {} failed: {}",
        lib.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Function symbols the library defines (`nm -D --defined-only`, type T).
fn exported_functions() -> BTreeSet<String> {
    tool(&["nm", "-D", "--defined-only"])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [_, "T", name] => Some(name.split('@').next().unwrap_or(name).to_string()),
                _ => None,
            }
        })
        .collect()
}

fn inventory() -> BTreeSet<String> {
    let p = common::workspace().join("preload/symbols.txt");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn exported_functions_equal_inventory() {
    let exported = exported_functions();
    let listed = inventory();
    let missing: Vec<_> = listed.difference(&exported).collect();
    let extra: Vec<_> = exported.difference(&listed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "nm -D --defined-only (type T) vs preload/symbols.txt:\n  listed but not exported: {missing:?}\n  exported but not listed: {extra:?}"
    );
}

#[test]
fn every_promised_hook_is_exported() {
    let exported = exported_functions();
    // Every hook the README promises: the open family, the reads, positions, duplicates and
    // closes of served fds, the rewinds that refresh served streams, the metadata of streams,
    // the memory answers, the CPU view and the seccomp seal.
    let promised = common::OPEN_ENTRIES.iter().copied().chain([
        "fdopen",
        "read",
        "readv",
        "preadv",
        "preadv2",
        "sendfile",
        "dup",
        "dup2",
        "dup3",
        "fcntl",
        "close",
        "close_range",
        "fstat",
        "statx",
        "fstatfs",
        "readlink",
        "prctl",
        "syscall",
        "lseek",
        "lseek64",
        "pread",
        "pread64",
        "rewind",
        "fseek",
        "fseeko",
        "fseeko64",
        "sysinfo",
        "sysconf",
        "get_phys_pages",
        "get_avphys_pages",
        "get_nprocs",
        "sched_getaffinity",
    ]);
    let missing: Vec<_> = promised.filter(|s| !exported.contains(*s)).collect();
    assert!(missing.is_empty(), "hooks not exported by libcgshim.so: {missing:?}");
}

/// The functions `include/cgshim.h` declares: `int cgshim_memory(struct cgshim_memory *m);` →
/// `cgshim_memory`.
fn header_functions() -> BTreeSet<String> {
    let p = common::workspace().join("include/cgshim.h");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    text.lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with('/') && l.ends_with(");"))
        .filter_map(|l| {
            let name = l.split('(').next()?.rsplit([' ', '*']).next()?;
            name.starts_with("cgshim_").then(|| name.to_string())
        })
        .collect()
}

#[test]
fn the_header_declares_exactly_the_exported_api() {
    let declared = header_functions();
    assert!(declared.contains("cgshim_memory"), "no declarations found in cgshim.h: {declared:?}");
    // `cgshim_supervisor_*` are the private interface of `cgshim exec`'s supervisor, not the API.
    let api = |set: BTreeSet<String>| -> BTreeSet<String> {
        set.into_iter().filter(|n| n.starts_with("cgshim_") && !n.starts_with("cgshim_supervisor_")).collect()
    };
    assert_eq!(declared, api(inventory()), "cgshim.h vs the cgshim_* entries of preload/symbols.txt");
    assert_eq!(
        declared,
        api(exported_functions()),
        "cgshim.h vs the cgshim_* functions libcgshim.so exports"
    );
}

/// The fields of a C struct in the header: `uint64_t total;` → ("u64", "total").
fn c_fields(header: &str, name: &str) -> Vec<(String, String)> {
    let body =
        header.split(&format!("struct {name} {{\n")).nth(1).unwrap_or_else(|| panic!("no struct {name}"));
    let body = &body[..body.find("\n};").unwrap()];
    body.lines()
        .map(str::trim)
        .filter(|l| ["uint32_t ", "int32_t ", "uint64_t ", "char "].iter().any(|t| l.starts_with(t)))
        .filter_map(|l| l.split_once(';').map(|(decl, _)| decl.trim()))
        .map(|decl| {
            let (ty, field) = decl.split_once(' ').unwrap();
            let ty = match ty {
                "uint32_t" => "u32".to_string(),
                "int32_t" => "i32".to_string(),
                "uint64_t" => "u64".to_string(),
                "char" => "u8".to_string(),
                other => panic!("struct {name}: unexpected C type {other}"),
            };
            match field.split_once('[') {
                Some((f, n)) => (format!("[{ty}; {}]", n.trim_end_matches(']')), f.to_string()),
                None => (ty, field.to_string()),
            }
        })
        .collect()
}

/// The fields of a `#[repr(C)]` Rust struct in preload/src/api.rs: `total: u64,` → ("u64",
/// "total"), with the constants the header spells as macros.
fn rust_fields(source: &str, name: &str) -> Vec<(String, String)> {
    let body = source
        .split(&format!("#[repr(C)]\nstruct {name} {{\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no struct {name}"));
    let body = &body[..body.find("\n}").unwrap()];
    body.lines()
        .filter_map(|l| l.trim().strip_suffix(',').and_then(|d| d.split_once(": ")))
        .map(|(f, ty)| {
            (
                ty.replace("PATH_SIZE", "CGSHIM_PATH_SIZE").replace("CPU_WORDS", "CGSHIM_CPU_WORDS"),
                f.to_string(),
            )
        })
        .collect()
}

#[test]
fn the_header_structs_are_the_librarys() {
    let header = fs::read_to_string(common::workspace().join("include/cgshim.h")).unwrap();
    let source = fs::read_to_string(common::workspace().join("preload/src/api.rs")).unwrap();
    for (c, rust) in [("cgshim_memory", "Memory"), ("cgshim_cpus", "Cpus")] {
        let c_side = c_fields(&header, c);
        assert!(c_side.len() > 10, "struct {c}: only {c_side:?}");
        assert_eq!(
            c_side,
            rust_fields(&source, rust),
            "struct {c} in cgshim.h vs {rust} in preload/src/api.rs"
        );
    }
    for (c_macro, rust_const) in [
        ("CGSHIM_PATH_SIZE", "PATH_SIZE"),
        ("CGSHIM_CPU_WORDS", "CPU_WORDS"),
        ("CGSHIM_MEMORY_VERSION", "MEMORY_VERSION"),
        ("CGSHIM_CPUS_VERSION", "CPUS_VERSION"),
    ] {
        let c_value = header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {c_macro} ")))
            .unwrap_or_else(|| panic!("cgshim.h defines no {c_macro}"))
            .trim();
        let rust_value = source
            .lines()
            .find_map(|l| l.strip_prefix(&format!("const {rust_const}: ")))
            .and_then(|l| l.split_once("= "))
            .map(|(_, v)| v.trim_end_matches(';'))
            .unwrap_or_else(|| panic!("preload/src/api.rs has no const {rust_const}"));
        assert_eq!(c_value, rust_value, "{c_macro} vs {rust_const}");
    }
}

/// Parses "GLIBC_2.34" → (2, 34, 0).
fn glibc_version(tok: &str) -> Option<(u32, u32, u32)> {
    let v = tok.strip_prefix("GLIBC_")?;
    let mut it = v.split('.').map(|n| n.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

#[test]
fn no_glibc_symbol_version_above_2_17() {
    let dump = tool(&["objdump", "-T"]);
    let mut bad = Vec::new();
    for line in dump.lines() {
        for tok in line.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
            if tok == "GLIBC_PRIVATE" {
                bad.push(line.trim().to_string());
            } else if let Some(v) = glibc_version(tok) {
                if v > (2, 17, 0) {
                    bad.push(line.trim().to_string());
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "symbols that need a glibc newer than 2.17 (or GLIBC_PRIVATE):\n  {}",
        bad.join("\n  ")
    );
}

#[test]
fn needs_only_libc() {
    let dynamic = tool(&["readelf", "-d"]);
    let needed: Vec<String> = dynamic
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1).and_then(|r| r.split(']').next()).map(str::to_string))
        .collect();
    assert_eq!(needed, vec!["libc.so.6".to_string()], "readelf -d NEEDED entries of libcgshim.so");
}
