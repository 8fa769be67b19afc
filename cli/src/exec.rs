//! `cgshim exec`: replace this process with the program, `libcgshim.so` first in `LD_PRELOAD`.
//! Because it is an `execve`, not a child, the exit status, signals, stdio, the process id and
//! the cgroup are the program's own. A program the library cannot reach (static, Go) is run
//! under the supervisor instead (`supervise.rs`).

use crate::elf::{self, Reach};
use crate::library::{self, LibError};
use crate::raw::RawFsSource;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The exit codes of `env`, `nice`, `timeout`: the wrapper failed, the program cannot run, the
/// program does not exist. Usage errors exit with 2, as every other command does.
pub const EXIT_CANNOT_WRAP: u8 = 125;
pub const EXIT_NOT_EXECUTABLE: u8 = 126;
pub const EXIT_NOT_FOUND: u8 = 127;
pub const EXIT_USAGE: u8 = 2;

/// `LD_PRELOAD` with `lib` first. Entries are separated by spaces or colons; every existing
/// entry is kept in order (an existing copy of `lib` itself moves to the front).
pub fn preload_value(lib: &Path, existing: Option<&OsStr>) -> OsString {
    let lib = lib.as_os_str().as_bytes();
    let mut out = lib.to_vec();
    if let Some(existing) = existing {
        for entry in existing.as_bytes().split(|&b| b == b' ' || b == b':' || b == b'\t' || b == b'\n') {
            if !entry.is_empty() && entry != lib {
                out.push(b' ');
                out.extend_from_slice(entry);
            }
        }
    }
    OsString::from_vec(out)
}

pub enum Lookup {
    Found(PathBuf),
    /// Found, but not executable (`EACCES`).
    NotExecutable(PathBuf),
    NotFound,
}

fn executable(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a NUL-terminated path; access(2) only reads it.
    path.is_file() && unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0
}

/// The program as `execvp` would find it: a name with a slash as it is, else the first
/// executable regular file of that name along `PATH` (an empty entry is the current directory).
fn resolve(program: &OsStr) -> Lookup {
    resolve_in(program, std::env::var_os("PATH").as_deref())
}

/// [`resolve`] along the directory list `path` (None: a default list).
pub fn resolve_in(program: &OsStr, path: Option<&OsStr>) -> Lookup {
    let bytes = program.as_bytes();
    if bytes.contains(&b'/') {
        let p = PathBuf::from(program);
        return if executable(&p) {
            Lookup::Found(p)
        } else if p.exists() {
            Lookup::NotExecutable(p)
        } else {
            Lookup::NotFound
        };
    }
    if bytes.is_empty() {
        return Lookup::NotFound;
    }
    let path = path.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let mut denied = None;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() { Path::new(".") } else { Path::new(OsStr::from_bytes(dir)) };
        let candidate = dir.join(program);
        if executable(&candidate) {
            return Lookup::Found(candidate);
        }
        if denied.is_none() && candidate.is_file() {
            denied = Some(candidate);
        }
    }
    denied.map_or(Lookup::NotFound, Lookup::NotExecutable)
}

/// What the library cannot reach about `program`, and the program it concerns (a script's
/// interpreter, when that is what runs).
fn unreachable(program: &Path) -> Option<(Reach, PathBuf)> {
    let target = match elf::script_interpreter(program) {
        Some((_, Some(name))) => match resolve(OsStr::new(&name)) {
            Lookup::Found(p) => p,
            _ => return None,
        },
        Some((interpreter, None)) => PathBuf::from(interpreter),
        None => program.to_path_buf(),
    };
    // The dynamic loader itself (`ld-linux-x86-64.so.2 prog`) has no PT_INTERP but reads
    // LD_PRELOAD for the program it loads.
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if name.starts_with("ld-") && name.contains(".so") {
        return None;
    }
    match elf::inspect(&target) {
        r @ (Reach::Static | Reach::Go) => Some((r, target)),
        Reach::Dynamic | Reach::Unknown => None,
    }
}

/// Concrete settings for a Go program from this cgroup's view (the library's own rules):
/// `GOMEMLIMIT` and `GOMAXPROCS`, or descriptions where a value is unknown.
fn go_settings() -> (String, String) {
    let src = RawFsSource;
    let limit = crate::raw::read_all(b"/proc/meminfo")
        .and_then(|t| cgshim::decide::memory::HostMemory::from_meminfo(&t))
        .and_then(|host| {
            let cg = cgshim::decide::discover::find(&src, &cgshim::decide::discover::MEMORY).ok()?;
            cgshim::decide::memory::read(&src, &cg, host).ok()
        })
        .map(|v| v.limit);
    let n = crate::report::cpu(&src, crate::raw::affinity()).set.ok().map(|s| s.count());
    let memlimit = match limit {
        // Leave a tenth for what the Go runtime does not count (stacks, cgo, the binary).
        Some(l) => format!("GOMEMLIMIT={}MiB", l / 10 * 9 / (1 << 20)),
        None => "GOMEMLIMIT to about 90% of the container's memory limit".to_string(),
    };
    let procs = n.map_or("GOMAXPROCS to the CPU limit".to_string(), |n| format!("GOMAXPROCS={n}"));
    (memlimit, procs)
}

fn warn(reach: Reach, target: &Path, program: &Path) {
    let what = if target == program {
        format!("{}", program.display())
    } else {
        format!("{} (run by {})", program.display(), target.display())
    };
    let text = match reach {
        Reach::Go => {
            let (memlimit, procs) = go_settings();
            format!(
                "cgshim: warning: {what} is a Go program: Go makes its system calls without the C library, \
                 so libcgshim.so cannot reach it and it sees the host's memory and CPUs. Go 1.25 and later \
                 size GOMAXPROCS from the cgroup's CPU limit by themselves, but Go never sizes its heap from \
                 the memory limit: set {memlimit} (and {procs} before Go 1.25) in its environment. \
                 Running it anyway."
            )
        }
        _ => format!(
            "cgshim: warning: {} is statically linked: libcgshim.so cannot load into it, so {} sees the \
             host's memory and CPUs. Use a dynamically linked build, or give the program its limits \
             directly (its own options or environment variables). Running it anyway.",
            target.display(),
            if target == program { "it".to_string() } else { program.display().to_string() }
        ),
    };
    eprintln!("{text}");
}

/// When `cgshim exec` supervises the program.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Supervise {
    /// Static and Go programs.
    WhenNeeded,
    Always,
    Never,
}

pub fn run(lib: Option<&Path>, mode: Supervise, command: &[OsString]) -> ExitCode {
    let Some((program, args)) = command.split_first() else {
        eprintln!("cgshim: exec needs a PROGRAM to run (see cgshim exec --help)");
        return ExitCode::from(EXIT_USAGE);
    };
    let lib = match library::find(lib) {
        Ok(l) => l,
        Err(LibError::BadOption(msg)) => {
            eprintln!("cgshim: {msg}");
            return ExitCode::from(EXIT_USAGE);
        }
        Err(LibError::NotFound(msg)) => {
            eprintln!("cgshim: {msg}");
            return ExitCode::from(EXIT_CANNOT_WRAP);
        }
    };
    let path = match resolve(program) {
        Lookup::Found(p) => p,
        Lookup::NotExecutable(p) => {
            eprintln!("cgshim: {}: permission denied (not executable)", p.display());
            return ExitCode::from(EXIT_NOT_EXECUTABLE);
        }
        Lookup::NotFound => {
            let where_ =
                if program.as_bytes().contains(&b'/') { "no such file" } else { "not found in PATH" };
            eprintln!("cgshim: {}: {where_}", program.to_string_lossy());
            return ExitCode::from(EXIT_NOT_FOUND);
        }
    };
    let preload = preload_value(&lib, std::env::var_os("LD_PRELOAD").as_deref());
    let unreached = unreachable(&path);
    if mode == Supervise::Always || (mode == Supervise::WhenNeeded && unreached.is_some()) {
        let Err(why) = crate::supervise::run(&lib, &path, program, args, &preload);
        eprintln!(
            "cgshim: warning: cannot supervise {}: {why}; it runs without supervision{}",
            path.display(),
            if unreached.is_some() { " and sees the host's memory and CPUs" } else { "" }
        );
    } else if let Some((reach, target)) = unreached {
        warn(reach, &target, &path);
    }
    let err = Command::new(&path).arg0(program).args(args).env("LD_PRELOAD", preload).exec();
    eprintln!("cgshim: cannot run {}: {err}", path.display());
    ExitCode::from(match err.kind() {
        std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
        _ => EXIT_NOT_EXECUTABLE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preload_keeps_existing_entries() {
        let lib = Path::new("/l/libcgshim.so");
        assert_eq!(preload_value(lib, None), OsString::from("/l/libcgshim.so"));
        assert_eq!(preload_value(lib, Some(OsStr::new(""))), OsString::from("/l/libcgshim.so"));
        assert_eq!(
            preload_value(lib, Some(OsStr::new("/a.so:/b.so  /c.so"))),
            OsString::from("/l/libcgshim.so /a.so /b.so /c.so")
        );
        assert_eq!(
            preload_value(lib, Some(OsStr::new("/a.so /l/libcgshim.so"))),
            OsString::from("/l/libcgshim.so /a.so")
        );
    }
}
