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
