//! `cgshim runtime`: an OCI runtime in front of the real one (runc, crun). For `create` and
//! `run` it mounts the host's `libcgshim.so` read-only into the container and puts it first in
//! the process's `LD_PRELOAD` (the bundle's `config.json`); for `exec --process FILE` into a
//! container that has the library it does the same to FILE. Then it replaces itself with the
//! real runtime, arguments untouched, so that the engine talks to runc or crun as before.
//!
//! It never costs a container: whatever goes wrong (no config, a malformed one, no library), the
//! file stays as it was, one line goes to the runtime's log, and the real runtime runs.

mod args;
mod log;
pub mod spec;

use crate::exec::{EXIT_CANNOT_WRAP, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, Lookup, resolve_in};
use crate::library::{self, LibError};
use args::Command;
use log::{Level, Log};
use spec::{Outcome, SpecError};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

/// The name under which the binary acts as `cgshim runtime` with the default real runtime;
/// `cgshim-runtime-NAME` picks NAME (`cgshim-runtime-crun`).
pub const INVOKED_NAME: &str = "cgshim-runtime";

/// The real runtimes looked for, in order, when none is named.
const DEFAULT_RUNTIMES: &[&str] = &["runc", "crun"];

/// Where runtimes live when the engine's `PATH` is short (runc is in /usr/sbin on Debian).
const SYSTEM_DIRS: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct Options<'a> {
    /// `--runtime`, or the NAME of `cgshim-runtime-NAME`.
    pub runtime: Option<&'a OsStr>,
    /// `--lib`: the host's library (default: found as for `cgshim exec`).
    pub lib: Option<&'a Path>,
}

/// If the binary was invoked as `cgshim-runtime[-NAME]`: the runtime it names (None: default).
pub fn invoked_as(argv0: &OsStr) -> Option<Option<OsString>> {
    let name = Path::new(argv0).file_name()?.to_str()?;
    let rest = name.strip_prefix(INVOKED_NAME)?;
    match rest.strip_prefix('-') {
        None if rest.is_empty() => Some(None),
        Some(runtime) if !runtime.is_empty() => Some(Some(OsString::from(runtime))),
        _ => None,
    }
}

pub fn run(opts: &Options, argv: &[OsString]) -> ExitCode {
    let call = args::parse(argv);
    let log = Log { path: call.log.clone(), json: call.log_json, debug: call.debug };
    let runtime = match real_runtime(opts.runtime) {
        Ok(p) => p,
        Err((code, msg)) => {
            fatal(&log, &msg);
            return ExitCode::from(code);
        }
    };
    let name =
        runtime.file_name().map_or_else(|| runtime.display().to_string(), |n| n.to_string_lossy().into());
    let undo = match &call.command {
        Command::Create { config, bundle } => prepare_bundle(config, bundle, opts.lib, &name, &log),
        Command::Exec { process, id } => prepare_exec(process, id, &call.global, &runtime, &log),
        Command::Other => None,
    };
    let err = std::process::Command::new(&runtime).args(argv).exec();
    if let Some(undo) = undo {
        undo.restore(&log);
    }
    fatal(&log, &format!("cgshim: cannot run {}: {err}", runtime.display()));
    ExitCode::from(if err.kind() == io::ErrorKind::NotFound { EXIT_NOT_FOUND } else { EXIT_NOT_EXECUTABLE })
}

/// An error that stops the container: the engine shows standard error (podman) or the log's
/// last error line (containerd, Docker), so it goes to both.
fn fatal(log: &Log, msg: &str) {
    log.line(Level::Error, msg);
    if log.path.is_some() {
        eprintln!("{msg}");
    }
}

fn find_runtime(name: &OsStr) -> Lookup {
    match resolve_in(name, std::env::var_os("PATH").as_deref()) {
        Lookup::NotFound if !name.as_encoded_bytes().contains(&b'/') => {
            resolve_in(name, Some(OsStr::new(SYSTEM_DIRS)))
        }
        other => other,
    }
}

/// The real runtime: the one named, else runc, else crun. Never cgshim itself (that would call
/// itself forever).
fn real_runtime(named: Option<&OsStr>) -> Result<PathBuf, (u8, String)> {
    let found = match named {
        Some(name) => match find_runtime(name) {
            Lookup::Found(p) => p,
            Lookup::NotExecutable(p) => {
                return Err((
                    EXIT_NOT_EXECUTABLE,
                    format!("cgshim: the runtime {} is not executable", p.display()),
                ));
            }
            Lookup::NotFound => {
                let where_ = if name.as_encoded_bytes().contains(&b'/') { "" } else { " in PATH" };
                return Err((
                    EXIT_NOT_FOUND,
                    format!("cgshim: the runtime {} is not found{where_}", Path::new(name).display()),
                ));
            }
        },
        None => DEFAULT_RUNTIMES
            .iter()
            .find_map(|n| match find_runtime(OsStr::new(n)) {
                Lookup::Found(p) => Some(p),
                _ => None,
            })
            .ok_or_else(|| {
                (
                    EXIT_NOT_FOUND,
                    "cgshim: neither runc nor crun is found in PATH or the system directories; name the real \
                     runtime with --runtime PATH"
                        .to_string(),
                )
            })?,
    };
    let me = std::env::current_exe().and_then(fs::canonicalize).ok();
    if me.is_some() && fs::canonicalize(&found).ok() == me {
        return Err((
            EXIT_CANNOT_WRAP,
            format!(
                "cgshim: the runtime {} is cgshim itself; name the real runtime with --runtime PATH",
                found.display()
            ),
        ));
    }
    Ok(found)
}

/// The original text of a file that was replaced, put back if the real runtime cannot run.
struct Undo {
    path: PathBuf,
    original: Vec<u8>,
}

impl Undo {
    fn restore(self, log: &Log) {
        if let Err(e) = replace_file(&self.path, &self.original) {
            log.line(Level::Error, &format!("cgshim: cannot restore {}: {e}", self.path.display()));
        }
    }
}

/// Replaces `path` with `text` atomically: a temporary file beside it with the same mode and
/// owner, renamed over it. A reader sees the old file or the new one, never a part. No fsync:
/// bundles are rebuilt by their engine after a host crash, and a start must stay cheap.
fn replace_file(path: &Path, text: &[u8]) -> io::Result<()> {
    let meta = fs::metadata(path)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{name}.cgshim-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(meta.mode() & 0o7777).open(&tmp)?;
        f.write_all(text)?;
        if meta.uid() != euid() || meta.gid() != egid() {
            // Best effort: an unprivileged runtime keeps its own files anyway.
            let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
        }
        f.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn euid() -> u32 {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

fn egid() -> u32 {
    // SAFETY: getegid has no arguments and cannot fail.
    unsafe { libc::getegid() }
}

/// Reads a small regular file without following a final symlink and without blocking on a FIFO:
/// the file is inside a container image, which may hold anything.
fn read_image_file(path: &Path, limit: u64) -> Option<Vec<u8>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut out = Vec::new();
    f.take(limit).read_to_end(&mut out).ok()?;
    Some(out)
}

/// The host's library, checked as a container will need it: a regular ELF file every user can
/// read (a non-root process could not load it otherwise, and the loader would complain at every
/// program start).
fn host_library(explicit: Option<&Path>) -> Result<String, String> {
    let found = library::find(explicit).map_err(|e| match e {
        LibError::BadOption(m) | LibError::NotFound(m) => m,
    })?;
    let path = fs::canonicalize(&found).map_err(|e| format!("{}: {e}", found.display()))?;
    let meta = fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.mode() & 0o004 == 0 {
        return Err(format!(
            "{} is not readable by every user (mode {:04o}): non-root processes could not load it",
            path.display(),
            meta.mode() & 0o7777
        ));
    }
    let mut magic = [0u8; 4];
    File::open(&path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if &magic != b"\x7fELF" {
        return Err(format!("{} is not an ELF library", path.display()));
    }
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{} is not valid UTF-8, which config.json needs", path.display()))
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8, so not JSON", path.display()))
}

/// Edits the bundle's config; returns how to undo it.
fn prepare_bundle(
    config: &Path,
    bundle: &Path,
    lib: Option<&Path>,
    runtime: &str,
    log: &Log,
) -> Option<Undo> {
    let warn =
        |what: String, consequence: &str| log.line(Level::Warning, &format!("cgshim: {what}; {consequence}"));
    let as_is = format!("{runtime} runs the bundle as it is");
    // A symlinked config is edited where it lives.
    let config = fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    let text = match read_text(&config) {
        Ok(t) => t,
        Err(e) => {
            warn(e, &as_is);
            return None;
        }
    };
    let image_preloads = |root: Option<&str>| {
        let rootfs = bundle.join(root?);
        let text = read_image_file(&rootfs.join("etc/ld.so.preload"), 64 * 1024)?;
        spec::preload_file_lists_library(&text).map(|e| format!("/etc/ld.so.preload entry {e}"))
    };
    let edited = match spec::edit_config(&text, || host_library(lib), image_preloads) {
        Ok(Outcome::Edited(t)) => t,
        Ok(Outcome::Skipped(why)) => {
            log.line(
                Level::Debug,
                &format!("cgshim: {} left as it is: {}", config.display(), why.describe()),
            );
            return None;
        }
        Err(SpecError::Library(e)) => {
            warn(e, "the container starts without libcgshim.so");
            return None;
        }
        Err(SpecError::Malformed(e)) => {
            warn(format!("{}: {e}", config.display()), &format!("{as_is} (left unchanged)"));
            return None;
        }
    };
    match replace_file(&config, edited.as_bytes()) {
        Ok(()) => {
            log.line(
                Level::Debug,
                &format!(
                    "cgshim: {}: the library is mounted at {}",
                    config.display(),
                    spec::LIB_IN_CONTAINER
                ),
            );
            Some(Undo { path: config, original: text.into_bytes() })
        }
        Err(e) => {
            warn(
                format!("cannot write {}: {e}", config.display()),
                "the container starts without libcgshim.so",
            );
            None
        }
    }
}

/// Edits an exec's process file when the container it joins has the library.
fn prepare_exec(process: &Path, id: &OsStr, global: &[OsString], runtime: &Path, log: &Log) -> Option<Undo> {
    let warn = |what: String| {
        log.line(Level::Warning, &format!("cgshim: {what}; the process starts without libcgshim.so"))
    };
    let state = match std::process::Command::new(runtime)
        .args(global)
        .arg("state")
        .arg(id)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            warn(format!("{} state {}: {}", runtime.display(), id.to_string_lossy(), why.trim()));
            return None;
        }
        Err(e) => {
            warn(format!("cannot run {} state: {e}", runtime.display()));
            return None;
        }
    };
    let bundle = match spec::state_bundle(&String::from_utf8_lossy(&state.stdout)) {
        Ok(b) => PathBuf::from(b),
        Err(e) => {
            warn(e.to_string());
            return None;
        }
    };
    let config = bundle.join("config.json");
    match read_text(&config).map(|t| spec::has_library_mount(&t)) {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            log.line(Level::Debug, &format!("cgshim: {} does not mount the library", config.display()));
            return None;
        }
        Ok(Err(e)) => {
            warn(format!("{}: {e}", config.display()));
            return None;
        }
        Err(e) => {
            warn(e);
            return None;
        }
    }
    let text = match read_text(process) {
        Ok(t) => t,
        Err(e) => {
            warn(e);
            return None;
        }
    };
    match spec::edit_process(&text) {
        Ok(Outcome::Edited(edited)) => match replace_file(process, edited.as_bytes()) {
            Ok(()) => Some(Undo { path: process.to_path_buf(), original: text.into_bytes() }),
            Err(e) => {
                warn(format!("cannot write {}: {e}", process.display()));
                None
            }
        },
        Ok(Outcome::Skipped(why)) => {
            log.line(
                Level::Debug,
                &format!("cgshim: {} left as it is: {}", process.display(), why.describe()),
            );
            None
        }
        Err(e) => {
            warn(format!("{}: {e}", process.display()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_names() {
        assert_eq!(invoked_as(OsStr::new("/usr/local/bin/cgshim-runtime")), Some(None));
        assert_eq!(invoked_as(OsStr::new("cgshim-runtime-crun")), Some(Some(OsString::from("crun"))));
        assert_eq!(invoked_as(OsStr::new("cgshim")), None);
        assert_eq!(invoked_as(OsStr::new("cgshim-runtime-")), None);
        assert_eq!(invoked_as(OsStr::new("cgshim-runtimex")), None);
    }

    #[test]
    fn replace_file_keeps_mode_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("cgshim-replace-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("config.json");
        fs::write(&f, "old").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&f, b"new").unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "new");
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        assert!(replace_file(&dir.join("missing.json"), b"x").is_err());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
