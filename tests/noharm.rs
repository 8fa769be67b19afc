//! "Do no harm": the same program, run plain and with libcgshim.so in the same real cgroup,
//! differs only in the numbers the library means to change.
//!
//! Every case of `tests/c/noharm.c` (and a few shell scripts driving cp, install, tar, rsync,
//! stat and readlink) runs twice, without and with the library, in a real 256 MiB memory cgroup;
//! exit status, signal and the transcript (errno names, flags, positions, file metadata, the
//! shape of every content) must be equal line for line. The C cases run as glibc and as musl
//! programs. Lines starting with `value ` carry numbers the library does change; some cases
//! check them against the container's figures. A new case is one line in a table below.

#[macro_use]
mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

const LIMIT: u64 = 256 * MIB;
const LIMIT_KB: u64 = LIMIT / 1024;

/// The files the library serves.
const SERVED: [&str; 7] = [
    "/proc/meminfo",
    "/proc/vmstat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/cpuinfo",
    "/proc/stat",
    "/sys/devices/system/cpu/online",
];

/// The glibc and the musl build of `tests/c/noharm.c`.
fn programs() -> Vec<(&'static str, PathBuf)> {
    let mut v = vec![("glibc", c_program("noharm"))];
    if have_program("musl-gcc") {
        v.push(("musl", musl_program("noharm")));
    }
    v
}

fn status_text(o: &Outcome) -> String {
    match (o.status.code(), o.status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => "unknown status".into(),
    }
}

/// The transcript without its `value ` lines, and those lines.
fn split(out: &str) -> (Vec<&str>, Vec<&str>) {
    out.lines().partition(|l| !l.starts_with("value "))
}

/// Runs `argv` plain and preloaded in `cg` (host layout) and records every difference in `f`;
/// returns the preloaded run's `value ` lines (and the plain run's) for further checks.
///
/// The plain run is repeated (up to three times) while its transcript differs: the kernel's
/// own files are not always whole when read in pieces at offsets (one-byte `pread`s of
/// `/proc/vmstat` on a busy machine tear a line in about one run of twenty), and the shim's
/// run must match what the kernel gives, not its rare torn reads.
fn differential(cg: &Cgroup, argv: &[&str], f: &mut Failures) -> (Vec<String>, Vec<String>) {
    differential_or(cg, argv, None, f)
}

/// [`differential`], where the plain run of `whole` (the same file read whole) is an equally good
/// reference when the kernel's own pieces keep tearing.
fn differential_or(
    cg: &Cgroup,
    argv: &[&str],
    whole: Option<&[&str]>,
    f: &mut Failures,
) -> (Vec<String>, Vec<String>) {
    let shim = cg.run(Layout::Host, argv);
    let mut plain = cg.runner(Layout::Host).no_preload().run(argv);
    let candidates = [argv, argv, argv].into_iter().chain(whole);
    for next in candidates {
        if split(&plain.stdout).0 == split(&shim.stdout).0 && plain.status == shim.status {
            break;
        }
        plain = cg.runner(Layout::Host).no_preload().run(next);
    }
    let what = argv.join(" ");
    f.eq(&format!("{what}: outcome"), status_text(&shim), status_text(&plain));
    let (a, plain_values) = split(&plain.stdout);
    let (b, shim_values) = split(&shim.stdout);
    if a != b {
        let mut diff = String::new();
        for i in 0..a.len().max(b.len()) {
            let (x, y) = (a.get(i).copied().unwrap_or("<none>"), b.get(i).copied().unwrap_or("<none>"));
            if x != y {
                diff.push_str(&format!("\n      plain: {x}\n      shim:  {y}"));
            }
        }
        f.push(format!("{what}: transcripts differ:{diff}\n    shim stderr: {}", shim.stderr.trim()));
    }
    if a.is_empty() {
        f.push(format!(
            "{what}: the plain run printed nothing ({}): {}",
            status_text(&plain),
            plain.stderr.trim()
        ));
    }
    let owned = |v: Vec<&str>| v.into_iter().map(str::to_string).collect();
    (owned(shim_values), owned(plain_values))
}

/// `key=value` pairs of `value ` lines.
fn numbers(lines: &[String]) -> BTreeMap<String, i64> {
    lines
        .iter()
        .flat_map(|l| l.split_whitespace())
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// Runs every case in `cases` (arguments after the program) for both C libraries.
fn run_table(title: &str, cases: &[Vec<String>]) {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    for (libc, prog) in programs() {
        for case in cases {
            let mut argv = vec![prog.to_str().unwrap()];
            argv.extend(case.iter().map(String::as_str));
            let mut local = Failures::default();
            differential(&cg, &argv, &mut local);
            local.prefix_into(&format!("[{libc}] "), &mut f);
        }
    }
    f.finish(title);
}

fn case(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Stack
// ---------------------------------------------------------------------------------------------

/// Each hooked call needs at most 16 KiB of the caller's stack beyond what the plain call
/// needs, the first time and afterwards (the slow paths run on a stack of the library's own).
#[test]
fn stack_use_beyond_the_plain_call() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    let ops = [
        "open:/proc/meminfo",
        "open:/proc/vmstat",
        "open:/proc/stat",
        "open:/proc/cpuinfo",
        "fopen:/proc/meminfo",
        "fopen:/proc/stat",
        "sysinfo",
        "phys_pages",
        "nprocessors",
        "get_nprocs",
        "affinity",
    ];
    for (libc, prog) in programs() {
        for op in ops {
            let (shim, plain) = differential(&cg, &[prog.to_str().unwrap(), "stack-usage", op], &mut f);
            let (s, p) = (numbers(&shim), numbers(&plain));
            for phase in ["cold", "warm"] {
                let (Some(&s), Some(&p)) = (s.get(phase), p.get(phase)) else {
                    f.push(format!("[{libc}] {op}: no {phase} figure in {shim:?} / {plain:?}"));
                    continue;
                };
                f.check(s - p <= 16384, || {
                    format!("[{libc}] {op} ({phase}): {s} bytes of stack with the library, {p} without")
                });
            }
        }
    }
    f.finish("stack use of hooked calls");
}

/// Small pthread stacks, a 16 KiB sigaltstack, and threads with the C library's default stack
/// (musl: 128 KiB) that are already deep in their own frames.
#[test]
fn small_and_deep_stacks() {
    let mut cases =
        vec![case(&["small-stack", "32768"]), case(&["small-stack", "65536"]), case(&["sigaltstack"])];
    for op in ["open:/proc/meminfo", "open:/proc/vmstat", "open:/proc/stat", "fopen:/proc/meminfo", "sysinfo"]
    {
        cases.push(case(&["deep-thread", "100", op]));
    }
    run_table("small and deep stacks", &cases);
}

// ---------------------------------------------------------------------------------------------
// 2. Bad pointers
// ---------------------------------------------------------------------------------------------

/// Every pointer argument the library reads or writes: EFAULT where the C library reports it.
#[test]
fn bad_pointers() {
    run_table("bad pointers", &[case(&["bad-pointers"])]);
}

// ---------------------------------------------------------------------------------------------
// 3. A file bind-mounted over /proc/meminfo
// ---------------------------------------------------------------------------------------------

/// A regular file over /proc/meminfo (what LXCFS does, with FUSE) is someone else's: it must
/// read byte for byte the same with the library, through every spelling and whatever was read
/// before it, while the other files are still served.
#[test]
fn bind_mount_over_meminfo_is_never_rewritten() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let dir = scratch_dir("bind");
    let fake = dir.join("meminfo");
    let host = host_meminfo_text();
    let text: String = host
        .lines()
        .map(|l| {
            if l.starts_with("MemTotal:") { "MemTotal:        1234567 kB".to_string() } else { l.to_string() }
        })
        .map(|l| l + "\n")
        .collect();
    fs::write(&fake, text).unwrap();
    let mut f = Failures::default();
    for (libc, prog) in programs() {
        for order in [
            "meminfo",
            "vmstat,meminfo",
            "swaps,meminfo,./meminfo",
            "fopen-meminfo,vmstat,meminfo",
            "sysinfo,vmstat,meminfo,./meminfo,fopen-meminfo",
        ] {
            let script = "mount --bind \"$0\" /proc/meminfo && exec \"$@\"";
            let argv = [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                fake.to_str().unwrap(),
                prog.to_str().unwrap(),
                "meminfo-order",
                order,
            ];
            let mut local = Failures::default();
            differential(&cg, &argv, &mut local);
            local.prefix_into(&format!("[{libc}] "), &mut f);
        }
    }
    f.finish("a regular file bind-mounted over /proc/meminfo");
}

// ---------------------------------------------------------------------------------------------
// 4. Seccomp
// ---------------------------------------------------------------------------------------------

/// A program that installs a seccomp filter after it started (an allowlist that kills anything
/// else, or a filter that kills memfd_create), through prctl or syscall(SYS_seccomp), keeps
/// running as it does without the library.
#[test]
fn seccomp_filters_installed_by_the_program() {
    let mut cases = Vec::new();
    for how in ["prctl", "syscall"] {
        cases.push(case(&["seccomp-allowlist", how]));
        cases.push(case(&["seccomp-kill-memfd", how]));
    }
    run_table("seccomp filters installed after start", &cases);
}

// ---------------------------------------------------------------------------------------------
// 5. fd exhaustion
// ---------------------------------------------------------------------------------------------

/// RLIMIT_NOFILE at 3, 4 and 5 (soft, and soft and hard for a limit that leaves room): errors
/// are the kernel's, and files, sysinfo and sysconf describe one machine, the container.
#[test]
fn fd_limits() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    for (libc, prog) in programs() {
        for (n, kind) in
            [("3", "soft"), ("4", "soft"), ("5", "soft"), ("3", "hard"), ("5", "hard"), ("4", "hard")]
        {
            for how in ["open", "fopen"] {
                // At a hard limit of 4 a stream on one of our files takes the last fd: there is
                // none left for the memfd it needs (see the README's limits).
                if kind == "hard" && n == "4" && how == "fopen" {
                    continue;
                }
                let argv = [prog.to_str().unwrap(), "rlimit", n, kind, how];
                let (shim, _) = differential(&cg, &argv, &mut f);
                let v = numbers(&shim);
                if kind == "soft" || n != "3" {
                    f.eq(
                        &format!("[{libc}] rlimit {n} {kind} {how}: sysinfo total"),
                        v.get("totalram").copied(),
                        Some(LIMIT as i64),
                    );
                }
                if n != "3" {
                    f.eq(
                        &format!("[{libc}] rlimit {n} {kind} {how}: MemTotal"),
                        v.get("MemTotal").copied(),
                        Some(LIMIT_KB as i64),
                    );
                }
            }
        }
        let (shim, _) = differential(&cg, &[prog.to_str().unwrap(), "emfile-transient"], &mut f);
        f.eq(
            &format!("[{libc}] emfile-transient: container total"),
            numbers(&shim).get("totalram").copied(),
            Some(LIMIT as i64),
        );
    }
    f.finish("fd limits and a transient EMFILE");
}

// ---------------------------------------------------------------------------------------------
// 6. Flags and modes
// ---------------------------------------------------------------------------------------------

/// Every open flag on every served file (as root and as an unprivileged user: O_NOATIME), a
/// symlink named meminfo opened with O_NOFOLLOW, every fopen mode, fdopen.
#[test]
fn open_flags_and_stdio_modes() {
    let dir = scratch_dir("flags");
    let mut cases =
        vec![case(&["symlink", dir.to_str().unwrap()]), case(&["flags", "/proc/meminfo", "nobody"])];
    for file in SERVED {
        cases.push(case(&["flags", file]));
        cases.push(case(&["modes", file]));
    }
    run_table("open flags and stdio modes", &cases);
}

// ---------------------------------------------------------------------------------------------
// 7. Duplicates, fork, flags, locks, reads in pieces
// ---------------------------------------------------------------------------------------------

/// dup, dup2, F_DUPFD, fork, F_SETFL and flock share one open file description as on the
/// kernel's file; a rewind through any copy, pread and preadv at 0 give fresh content.
#[test]
fn duplicates_fork_and_rewinds() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    for (libc, prog) in programs() {
        for how in ["open", "stream"] {
            let (shim, _) = differential(&cg, &[prog.to_str().unwrap(), "sharing", how], &mut f);
            let stale: Vec<&String> = shim.iter().filter(|l| l.contains("fresh=0")).collect();
            f.check(stale.is_empty(), || {
                format!("[{libc}] sharing {how}: stale content after a rewind: {stale:?}")
            });
        }
    }
    f.finish("duplicates, fork and rewinds");
}

/// Reads in pieces of every size, with the position after each, on every served file; and
/// copies in pieces with `pread` and `sendfile` at advancing offsets (Python's
/// `shutil.copyfile`), which must see one whole file, ending where it ends.
#[test]
fn reads_in_pieces() {
    let mut cases = Vec::new();
    for file in SERVED {
        for size in ["1", "7", "32", "100", "1000", "4096"] {
            cases.push(case(&["pieces", file, size]));
        }
    }
    run_table("reads in pieces", &cases);
    // At offsets, the kernel itself tears `/proc/vmstat` now and then on a busy machine (each
    // piece may come from a newer generation): the shim's pieces must make one whole file, the
    // kernel's own pieces or its whole file being the reference.
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    for (libc, prog) in programs() {
        let prog = prog.to_str().unwrap();
        for file in SERVED {
            let whole = [prog, "pieces", file, "65536", "read"];
            for size in ["1", "100"] {
                for how in ["pread", "sendfile"] {
                    let mut local = Failures::default();
                    differential_or(&cg, &[prog, "pieces", file, size, how], Some(&whole), &mut local);
                    local.prefix_into(&format!("[{libc}] "), &mut f);
                }
            }
        }
    }
    f.finish("positional reads in pieces");
}

// ---------------------------------------------------------------------------------------------
// 8. What a served fd looks like
// ---------------------------------------------------------------------------------------------

/// fstat, fstatat, statx, fstatfs, the fd's link, seals, F_GETFL, mmap, SEEK_END/SEEK_DATA,
/// write, sendfile and copy_file_range on every served file, opened with open and with fopen.
#[test]
fn served_fds_look_like_the_kernels() {
    let cases: Vec<Vec<String>> = SERVED.iter().map(|f| case(&["metadata", f])).collect();
    run_table("metadata of served fds", &cases);
}

/// cp, install, tar, rsync, Python's shutil.copyfile (sendfile), cat, stat and readlink of every
/// served file succeed as without the library, and copy a file of the same shape.
#[test]
fn copies_of_served_files() {
    require_cgroups!();
    for tool in ["cp", "install", "tar", "rsync", "/usr/bin/python3", "readlink", "stat"] {
        if !have_program(tool) {
            return;
        }
    }
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    // tar's "file changed as we read it" compares the ctime of a stat by path with the open
    // file's: a procfs inode that the kernel drops and makes again between the two (memory
    // pressure from other tests) gets a new ctime, a race of the kernel's in either run.
    let script = r##"set +e
F=$0 D=$1
# The first word of each line, values (numbers, the swap device of a /proc/swaps entry) as #.
shape() { awk '{ sub(/[: \t].*/, ""); if ($0 ~ /^[0-9\/]/ || $0 == "none") $0 = "#"; print }' "$1" | md5sum | cut -c1-8; }
n=0
for copy in cp install tar rsync shutil cat; do
  out=$D/$copy; rm -f "$out"
  case $copy in
    cp) cp "$F" "$out" 2>&1 ;;
    install) install -m644 "$F" "$out" 2>&1 ;;
    tar) tar cf "$D/t.tar" --warning=no-file-changed "$F" 2>&1 | grep -v 'Removing leading'; tar xOf "$D/t.tar" > "$out" 2>&1 ;;
    rsync) rsync "$F" "$out" 2>&1 ;;
    shutil) /usr/bin/python3 -c 'import shutil,sys; shutil.copyfile(sys.argv[1], sys.argv[2])' "$F" "$out" 2>&1 ;;
    cat) cat "$F" > "$out" ;;
  esac
  echo "$copy: status $?, $(wc -l < "$out") lines, shape $(shape "$out")"
done
echo "sed from stdin: $(sed -n '$=' < "$F") lines"
echo "sort from stdin: $(sort < "$F" > "$D/sorted"; wc -l < "$D/sorted") lines"
echo "stat: $(stat -c '%F %a %h %s %b %B %u %g' "$F")"
echo "stat -f: $(stat -f -c '%T %b %s' "$F")"
echo "readlink: $(readlink /proc/self/fd/3 3<"$F")"
"##;
    for file in SERVED {
        let dir = scratch_dir(&format!("copies{}", file.replace('/', "_")));
        let argv = ["sh", "-c", script, file, dir.to_str().unwrap()];
        differential(&cg, &argv, &mut f);
    }
    f.finish("copies of served files");
}

/// A served file a command inherits (`sed < /proc/meminfo`: the shell opens it, the command
/// reads it through stdio) shows the container's values in the command too, whichever way the
/// command was started.
#[test]
fn inherited_served_fds_carry_the_content() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let script = r#"
sed -n '/^MemTotal/p' < /proc/meminfo
sort < /proc/meminfo | grep '^MemTotal'
cut -c1-40 < /proc/meminfo | grep '^MemTotal'
grep '^MemTotal' < /proc/meminfo
/usr/bin/python3 -c 'import subprocess; subprocess.run(["sed", "-n", "/^MemTotal/p"], stdin=open("/proc/meminfo"))'
/usr/bin/python3 -c 'import os; fd = os.open("/proc/meminfo", os.O_RDONLY); os.dup2(fd, 0); os.posix_spawnp("sed", ["sed", "-n", "/^MemTotal/p"], os.environ); os.wait()'
"#;
    let o = cg.run(Layout::Host, &["sh", "-c", script]);
    let totals: Vec<u64> = parse_meminfo_all(o.ok(), "MemTotal");
    assert_eq!(
        totals,
        vec![LIMIT_KB; 6],
        "MemTotal seen by commands reading an inherited /proc/meminfo: {}",
        o.stdout
    );
}

/// Every `Key: value` of `key` in the text, in order.
fn parse_meminfo_all(text: &str, key: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 9. Near the memory limit
// ---------------------------------------------------------------------------------------------

/// A poller that read /proc/meminfo once at start, then grew to within 64 KiB of a 64 MiB
/// limit, reads it 2000 times more back to back (open and read: Node, psutil, the JVM) or
/// 1000 times 1 ms apart (fopen: a stream gets a small memfd per open, freed at fclose):
/// it survives with the library as it does without.
#[test]
fn poller_near_its_memory_limit() {
    require_cgroups!();
    let mut f = Failures::default();
    for (libc, prog) in programs() {
        for args in [["65536", "2000", "open", "0"], ["65536", "1000", "fopen", "1000"]] {
            let cg = Cgroup::new(Some(64 * MIB));
            let mut argv = vec![prog.to_str().unwrap(), "near-limit"];
            argv.extend(args);
            let mut local = Failures::default();
            differential(&cg, &argv, &mut local);
            local.prefix_into(&format!("[{libc}] "), &mut f);
        }
    }
    f.finish("a poller near its memory limit");
}

/// A directory for one test's files, emptied first.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("noharm-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    // The O_NOATIME case runs as nobody: the directory must be writable for the symlink case.
    let _ = std::process::Command::new("chmod").args(["777", dir.to_str().unwrap()]).status();
    dir
}
