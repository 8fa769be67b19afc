//! Behaviour around the edges: pass-through when there is nothing to show (no limit, no
//! cgroupfs, CGSHIM_DISABLE=1), the debug switch, nested cgroups (effective limit = min over
//! the cgroup and its visible ancestors), properties of the served fd, fd-number reuse, files
//! that merely look like meminfo, and that the test programs themselves call what they claim.

#[macro_use]
mod common;

use common::{
    Cgroup, Failures, LAYOUTS, Layout, MIB, c_program, field, host_meminfo_text, host_memtotal_kb,
    imported_symbols, kv_u64, page_size, parse_kv, parse_meminfo, run_plain,
};
use std::fs;

const LIMIT: u64 = 256 * MIB;
const LIMIT_KB: u64 = LIMIT / 1024;

use common::OPEN_ENTRIES as ENTRIES;

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// The test programs are what they claim (no library needed)
// ---------------------------------------------------------------------------------------------

#[test]
fn c_programs_import_the_entry_points_they_test() {
    let mut f = Failures::default();
    let cases: [(&str, &[&str]); 3] = [
        ("meminfo_open", &ENTRIES),
        ("rewind", &["open", "lseek", "lseek64", "pread", "pread64", "read"]),
        ("sysinfo_show", &["sysinfo", "sysconf", "get_phys_pages", "get_avphys_pages", "syscall"]),
    ];
    for (prog, syms) in cases {
        let imported = imported_symbols(&c_program(prog));
        for s in syms {
            f.check(imported.iter().any(|i| i == s), || format!("{prog} does not import {s}: {imported:?}"));
        }
    }
    f.finish("test programs call the intended libc entry points");
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// A preloaded library must load silently into anything, limit or not.
#[test]
fn loads_silently_into_true() {
    let o = run_plain(&["/bin/true"], true, &[]);
    o.ok();
    assert!(o.stderr.is_empty(), "LD_PRELOAD=libcgshim.so /bin/true wrote to stderr: {}", o.stderr);
}

#[test]
fn quiet_by_default_in_a_limited_cgroup() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let sysinfo = c_program("sysinfo_show");
    let mut f = Failures::default();
    for argv in [vec!["cat", "/proc/meminfo"], vec![sysinfo.to_str().unwrap()], vec!["free"]] {
        let o = cg.run(Layout::Host, &argv);
        o.ok();
        f.check(o.stderr.is_empty(), || {
            format!("{argv:?} stderr not empty without CGSHIM_DEBUG: {:?}", o.stderr)
        });
    }
    f.finish("no output on stderr unless asked");
}

// ---------------------------------------------------------------------------------------------
// Pass-through
// ---------------------------------------------------------------------------------------------

/// No limit anywhere visible: every answer is the host's, the file byte-identical in its
/// first line (MemTotal), sysinfo/sysconf equal to the raw kernel answer.
fn no_limit_passthrough(layout: Layout) {
    let cg = Cgroup::new(None);
    let host_text = host_meminfo_text();
    let host_first = first_line(&host_text).to_string();
    let host_kb = host_memtotal_kb();
    let mut f = Failures::default();

    let o = cg.run(layout, &["cat", "/proc/meminfo"]);
    f.eq("cat /proc/meminfo first line", first_line(o.ok()).to_string(), host_first.clone());
    let served_keys = common::meminfo_keys(&o.stdout);
    f.check(served_keys == common::meminfo_keys(&host_text), || {
        "field list differs from the host file".into()
    });

    let prog = c_program("meminfo_open");
    for e in ENTRIES {
        let o = cg.run(layout, &[prog.to_str().unwrap(), e]);
        if !o.status.success() {
            f.push(format!("meminfo_open {e}: exited {} {}", o.status, o.stderr.trim()));
            continue;
        }
        f.eq(&format!("meminfo_open {e} first line"), first_line(&o.stdout).to_string(), host_first.clone());
    }

    let si = c_program("sysinfo_show");
    let o = cg.run(layout, &[si.to_str().unwrap()]);
    let kv = parse_kv(o.ok());
    let g = |k: &str| kv_u64(&kv, k, "sysinfo_show");
    f.eq("sysinfo totalram (hooked vs raw)", g("totalram"), g("raw_totalram"));
    f.eq("sysinfo mem_unit (hooked vs raw)", g("mem_unit"), g("raw_mem_unit"));
    f.eq("meminfo MemTotal seen by sysinfo_show", g("before_MemTotal"), host_kb);
    let raw_pages = g("raw_totalram") * g("raw_mem_unit") / g("sc_pagesize");
    f.eq("sysconf(_SC_PHYS_PAGES)", g("sc_phys_pages"), raw_pages);
    f.eq("get_phys_pages()", g("get_phys_pages"), raw_pages);

    let o = cg.run(layout, &["free", "-b"]);
    let total: u64 = o
        .ok()
        .lines()
        .find(|l| l.starts_with("Mem:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    f.eq("free -b total", total, host_kb * 1024);
    f.finish(&format!("no limit => host values, {layout:?} layout"));
}

#[test]
fn no_limit_passthrough_host() {
    require_cgroups!();
    no_limit_passthrough(Layout::Host);
}

#[test]
fn no_limit_passthrough_cgroupns() {
    require_cgroups!();
    no_limit_passthrough(Layout::CgroupNs);
}

#[test]
fn no_limit_passthrough_bind_mount() {
    require_cgroups!();
    no_limit_passthrough(Layout::BindMount);
}

/// The cgroup filesystem is hidden (a tmpfs over /sys/fs/cgroup) although the process sits in
/// a 256 MiB cgroup: nothing can be discovered, so the host values pass through (fail open).
#[test]
fn no_cgroupfs_passthrough() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let host_first = first_line(&host_meminfo_text()).to_string();
    let mut f = Failures::default();
    let o = cg.run(Layout::NoCgroupfs, &["cat", "/proc/meminfo"]);
    f.eq("cat /proc/meminfo first line", first_line(o.ok()).to_string(), host_first);
    let si = c_program("sysinfo_show");
    let o = cg.run(Layout::NoCgroupfs, &[si.to_str().unwrap()]);
    let kv = parse_kv(o.ok());
    let g = |k: &str| kv_u64(&kv, k, "sysinfo_show");
    f.eq("sysinfo totalram (hooked vs raw)", g("totalram"), g("raw_totalram"));
    f.eq(
        "sysconf(_SC_PHYS_PAGES)",
        g("sc_phys_pages"),
        g("raw_totalram") * g("raw_mem_unit") / g("sc_pagesize"),
    );
    f.finish("cgroupfs hidden => host values");
}

/// CGSHIM_DISABLE=1 inside a 256 MiB cgroup: the host's numbers everywhere.
#[test]
fn disable_switch_passes_through() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let host_first = first_line(&host_meminfo_text()).to_string();
    let host_kb = host_memtotal_kb();
    let mut f = Failures::default();
    for layout in LAYOUTS {
        let r = cg.runner(layout).env("CGSHIM_DISABLE", "1");
        let o = r.run(&["cat", "/proc/meminfo"]);
        f.eq(&format!("{layout:?}: cat first line"), first_line(o.ok()).to_string(), host_first.clone());
        let prog = c_program("meminfo_open");
        let o = r.run(&[prog.to_str().unwrap(), "fopen64"]);
        f.eq(
            &format!("{layout:?}: fopen64 MemTotal"),
            field(&parse_meminfo(o.ok()), "MemTotal", "meminfo_open fopen64"),
            host_kb,
        );
        let si = c_program("sysinfo_show");
        let o = r.run(&[si.to_str().unwrap()]);
        let kv = parse_kv(o.ok());
        let g = |k: &str| kv_u64(&kv, k, "sysinfo_show");
        f.eq(&format!("{layout:?}: sysinfo totalram (hooked vs raw)"), g("totalram"), g("raw_totalram"));
        f.eq(
            &format!("{layout:?}: sysconf(_SC_PHYS_PAGES)"),
            g("sc_phys_pages"),
            g("raw_totalram") * g("raw_mem_unit") / g("sc_pagesize"),
        );
        f.eq(&format!("{layout:?}: get_phys_pages()"), g("get_phys_pages"), g("sc_phys_pages"));
    }
    f.finish("CGSHIM_DISABLE=1 => host values");
}

/// CGSHIM_DEBUG=1 logs decisions on stderr, each line prefixed `cgshim:`, and changes nothing
/// on stdout.
#[test]
fn debug_switch_logs_with_prefix() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.runner(Layout::Host).env("CGSHIM_DEBUG", "1").run(&["cat", "/proc/meminfo"]);
    let out = o.ok();
    let mut f = Failures::default();
    f.eq("MemTotal with CGSHIM_DEBUG=1", field(&parse_meminfo(out), "MemTotal", "cat"), LIMIT_KB);
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    f.check(!lines.is_empty(), || "CGSHIM_DEBUG=1: nothing logged on stderr".into());
    for l in &lines {
        f.check(l.starts_with("cgshim:"), || {
            format!("CGSHIM_DEBUG=1: stderr line without `cgshim:` prefix: {l:?}")
        });
    }
    f.finish("CGSHIM_DEBUG=1");
}

// ---------------------------------------------------------------------------------------------
// Nested cgroups: effective limit = min over the cgroup and its visible ancestors
// ---------------------------------------------------------------------------------------------

/// (MemTotal kB from cat, sysinfo totalram bytes, sysconf phys pages) of a process in `leaf`,
/// with `root` as the visible top of the layout.
fn nested_view(root: &Cgroup, leaf: &Cgroup, layout: Layout) -> (u64, u64, u64) {
    let o = root.runner(layout).leaf(leaf).run(&["cat", "/proc/meminfo"]);
    let kb = field(&parse_meminfo(o.ok()), "MemTotal", "cat /proc/meminfo");
    let si = c_program("sysinfo_show");
    let o = root.runner(layout).leaf(leaf).run(&[si.to_str().unwrap()]);
    let kv = parse_kv(o.ok());
    let g = |k: &str| kv_u64(&kv, k, "sysinfo_show");
    (kb, g("totalram") * g("mem_unit"), g("sc_phys_pages"))
}

fn nested(layout: Layout) {
    let ps = page_size();
    let mut f = Failures::default();
    let mut expect = |what: &str, got: (u64, u64, u64), bytes: u64| {
        f.eq(&format!("{what}: MemTotal kB"), got.0, bytes / 1024);
        f.eq(&format!("{what}: sysinfo totalram bytes"), got.1, bytes);
        f.eq(&format!("{what}: sysconf(_SC_PHYS_PAGES)"), got.2, bytes / ps);
    };

    let parent = Cgroup::new(Some(LIMIT));
    let tight = parent.child("tight", Some(128 * MIB));
    let open = parent.child("unlimited", None);
    expect("128 MiB child of a 256 MiB parent", nested_view(&parent, &tight, layout), 128 * MIB);
    expect("child without a limit of a 256 MiB parent", nested_view(&parent, &open, layout), LIMIT);
    expect("the 256 MiB parent itself", nested_view(&parent, &parent, layout), LIMIT);

    let small = Cgroup::new(Some(128 * MIB));
    let big = small.child("big", Some(LIMIT));
    let deeper = big.child("deeper", None);
    expect("256 MiB child of a 128 MiB parent", nested_view(&small, &big, layout), 128 * MIB);
    expect("unlimited grandchild of 128 MiB > 256 MiB", nested_view(&small, &deeper, layout), 128 * MIB);

    f.finish(&format!("nested cgroups, {layout:?} layout (visible root = the parent)"));
}

#[test]
fn nested_limits_host() {
    require_cgroups!();
    nested(Layout::Host);
}

#[test]
fn nested_limits_cgroupns() {
    require_cgroups!();
    nested(Layout::CgroupNs);
}

/// Bind mount of the parent (an ancestor of the process's cgroup) over the controller mount.
#[test]
fn nested_limits_bind_mount_of_ancestor() {
    require_cgroups!();
    nested(Layout::BindMount);
}

// ---------------------------------------------------------------------------------------------
// The served fd
// ---------------------------------------------------------------------------------------------

#[test]
fn served_fd_properties() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("fdprops");
    let mut f = Failures::default();
    for entry in ["open", "fopen"] {
        for cloexec in ["0", "1"] {
            let ctx = format!("fdprops {entry} cloexec={cloexec}");
            let o = cg.run(Layout::Host, &[prog.to_str().unwrap(), entry, cloexec]);
            let out = o.ok();
            let kv = parse_kv(out);
            let g = |k: &str| kv.get(k).cloned().unwrap_or_default();
            // Everything but the numbers as the kernel's own file shows it (run without the
            // library in the same cgroup).
            let plain = parse_kv(
                cg.runner(Layout::Host).no_preload().run(&[prog.to_str().unwrap(), entry, cloexec]).ok(),
            );
            for key in ["write_ret", "write_errno", "cloexec", "isreg", "seals", "mode"] {
                f.eq(
                    &format!("{ctx}: {key} (as without the library)"),
                    g(key),
                    plain.get(key).cloned().unwrap_or_default(),
                );
            }
            f.eq(&format!("{ctx}: write() errno (EBADF=9)"), g("write_errno"), "9".to_string());
            f.eq(&format!("{ctx}: FD_CLOEXEC"), g("cloexec"), cloexec.to_string());
            f.eq(&format!("{ctx}: O_ACCMODE (O_RDONLY=0)"), g("accmode"), "0".to_string());
            f.eq(
                &format!("{ctx}: second read() (whole file in the first read(4096))"),
                g("second_read"),
                "0".to_string(),
            );
            let first: usize = g("first_read").parse().unwrap_or(0);
            f.check(first > 0 && first < 4096, || format!("{ctx}: first read(4096) returned {first}"));
            let content = out
                .split_once("second_read=")
                .map(|(_, r)| r.split_once('\n').map(|x| x.1).unwrap_or(""))
                .unwrap_or("");
            f.eq(&format!("{ctx}: bytes of the first read"), content.len(), first);
            f.check(content.ends_with('\n'), || format!("{ctx}: content does not end with a newline"));
            let m = parse_meminfo(content);
            f.eq(&format!("{ctx}: MemTotal"), m.get("MemTotal").copied(), Some(LIMIT_KB));
        }
    }
    f.finish("properties of the served /proc/meminfo fd");
}

/// After the served fd is gone, its number is reused for an ordinary file: a rewind or a pread
/// at 0 on it must return that file's bytes, and the file must stay untouched on disk.
#[test]
fn fd_number_reuse_is_not_served() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("fdreuse");
    let dir =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fdreuse-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let mut f = Failures::default();
    let content = "MemTotal:        1234 kB\nnot /proc/meminfo, an ordinary file\n";
    for mode in ["close", "fclose", "rawclose", "dup2"] {
        let other = dir.join(format!("other-{mode}"));
        fs::write(&other, content).unwrap();
        let o = cg.run(Layout::Host, &[prog.to_str().unwrap(), mode, other.to_str().unwrap()]);
        let out = o.ok();
        f.check(out.starts_with("same_fd=1\n"), || {
            format!("{mode}: fd number was not reused ({out:?}); test inconclusive")
        });
        let section = |name: &str| -> String {
            let start = format!("--{name}--\n");
            out.split_once(&start)
                .map(|(_, r)| r.split("--").next().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        f.eq(&format!("{mode}: bytes after lseek(fd, 0) + read"), section("lseek"), content.to_string());
        f.eq(&format!("{mode}: bytes of pread(fd, 0)"), section("pread"), content.to_string());
        f.eq(
            &format!("{mode}: file on disk afterwards"),
            fs::read_to_string(&other).unwrap(),
            content.to_string(),
        );
    }
    let _ = fs::remove_dir_all(&dir);
    f.finish("reused fd numbers");
}

/// A file called `meminfo` that is not /proc's (relative to another cwd or dirfd) passes
/// through untouched.
#[test]
fn other_files_named_meminfo_untouched() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("meminfo_open");
    let p = prog.to_str().unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fake-proc-{}", std::process::id()));
    fs::create_dir_all(dir.join("proc")).unwrap();
    let fake = "MemTotal:        1234 kB\nMemFree:          100 kB\nMemAvailable:     200 kB\n";
    fs::write(dir.join("meminfo"), fake).unwrap();
    fs::write(dir.join("proc/meminfo"), fake).unwrap();
    let d = dir.to_str().unwrap();
    let fake_path = format!("{d}/proc/meminfo");
    let cases: Vec<Vec<&str>> = vec![
        vec![p, "open", "meminfo", "-C", d],
        vec![p, "fopen64", "meminfo", "-C", d],
        vec![p, "open", "proc/meminfo", "-C", d],
        vec![p, "openat", "meminfo", "-d", d],
        vec![p, "__openat64_2", "meminfo", "-d", d],
        vec![p, "open", &fake_path],
        vec![p, "fopen", &fake_path],
    ];
    let mut f = Failures::default();
    for argv in &cases {
        let o = cg.run(Layout::Host, argv);
        f.eq(&format!("meminfo_open {}", argv[1..].join(" ")), o.ok().to_string(), fake.to_string());
    }
    let _ = fs::remove_dir_all(&dir);
    f.finish("files named meminfo that are not /proc/meminfo");
}

// ---------------------------------------------------------------------------------------------
// Robustness: threads, fd exhaustion, no memfd, unusual open flags
// ---------------------------------------------------------------------------------------------

/// 8 threads × 200 rounds of open/fopen/rewind/sysinfo at once: every answer right, no fd leaked.
#[test]
fn concurrent_threads_agree_and_leak_no_fds() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("threads");
    let o = cg.run(Layout::Host, &[prog.to_str().unwrap(), "8", "200", &LIMIT_KB.to_string()]);
    let kv = parse_kv(o.ok());
    let g = |k: &str| kv_u64(&kv, k, "threads");
    let mut f = Failures::default();
    f.eq("answers with a wrong MemTotal or failed calls", g("bad"), 0);
    f.eq("open fds after all threads closed theirs", g("fds_after"), g("fds_before"));
    f.finish(&format!("concurrent use from 8 threads (stderr: {})", o.stderr.trim()));
}

fn failopen(mode: &str) -> (i64, u64, u64) {
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("failopen");
    let o = cg.run(Layout::Host, &[prog.to_str().unwrap(), mode]);
    let kv = parse_kv(o.ok());
    let ctx = format!("failopen {mode}");
    (common::kv_i64(&kv, "ret", &ctx), kv_u64(&kv, "errno", &ctx), kv_u64(&kv, "MemTotal", &ctx))
}

/// One free fd number left: the real open() would succeed, so the shim's must too (serving
/// either the container's or, failing open, the host's values).
#[test]
fn fail_open_with_one_free_fd() {
    require_cgroups!();
    let (ret, errno, total) = failopen("emfile1");
    let host = host_memtotal_kb();
    assert!(
        ret >= 0,
        "open(/proc/meminfo) with one free fd failed (errno {errno}); the real open succeeds there"
    );
    assert!(
        total == LIMIT_KB || total == host,
        "open with one free fd: MemTotal {total} kB is neither the container's {LIMIT_KB} nor the host's {host}"
    );
}

/// No free fd number: the real open() fails with EMFILE, and so must the shim's.
#[test]
fn fail_open_with_no_free_fd_keeps_emfile() {
    require_cgroups!();
    let (ret, errno, _) = failopen("emfile0");
    assert_eq!((ret, errno), (-1, 24), "open(/proc/meminfo) with no free fd: expected -1/EMFILE(24)");
}

/// memfd_create denied by seccomp: the open must still succeed (container or host values).
#[test]
fn fail_open_without_memfd_create() {
    require_cgroups!();
    let (ret, errno, total) = failopen("nomemfd");
    let host = host_memtotal_kb();
    assert!(ret >= 0, "open(/proc/meminfo) failed (errno {errno}) when memfd_create is denied by seccomp");
    assert!(
        total == LIMIT_KB || total == host,
        "memfd_create denied: MemTotal {total} kB is neither the container's {LIMIT_KB} nor the host's {host}"
    );
}

/// open()/fopen() of /proc/meminfo with flags other than a plain read: whether the open and a
/// read succeed (and with which errno) must be what the kernel says without the shim; a write
/// must fail in both.
#[test]
fn open_flags_keep_kernel_semantics() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let prog = c_program("openflags");
    let p = prog.to_str().unwrap();
    let plain = cg.runner(Layout::Host).no_preload().run(&[p]);
    let shim = cg.run(Layout::Host, &[p]);
    let norm = |s: &str| -> Vec<String> {
        s.lines().map(|l| l.replace("write0=E5", "write0=Err").replace("write0=E9", "write0=Err")).collect()
    };
    let (a, b) = (norm(plain.ok()), norm(shim.ok()));
    let mut f = Failures::default();
    f.eq("number of cases", b.len(), a.len());
    for (real, got) in a.iter().zip(&b) {
        f.check(real == got, || format!("kernel: {real:?}  preloaded: {got:?}"));
    }
    f.finish("open flag semantics on /proc/meminfo (E<n> = errno)");
}
