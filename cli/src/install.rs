//! `cgshim install` and `cgshim uninstall`: put `libcgshim.so` into `PREFIX/lib/`, with the C
//! API's header (`PREFIX/include/cgshim.h`) and pkg-config file (`PREFIX/lib/pkgconfig/cgshim.pc`)
//! for programs that ask the library directly, and, on request, one line into
//! `/etc/ld.so.preload`; take exactly those away again. Both work on the
//! live system or on a directory tree (`--root`, an image being built), need no daemon and run
//! in a Dockerfile `RUN`.
//!
//! A line in `/etc/ld.so.preload` naming a library that cannot load makes every program on the
//! machine print an error or fail to start, so the line is only written after the installed
//! copy has been loaded into `/bin/true` successfully. Every file is replaced atomically (a temp
//! file in the same directory, fsync, rename), so a crash leaves the old or the new file.

use crate::library::{self, LibError};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const PRELOAD_FILE: &str = "etc/ld.so.preload";

/// The C API's header, as built into this command.
const HEADER: &str = include_str!("../../include/cgshim.h");

/// `cgshim.pc` for an install at `prefix` (as programs inside the root see it). The run path
/// lets a program linked with `-lcgshim` find the library where it was installed, without
/// `ldconfig`.
fn pkg_config(prefix: &Path) -> String {
    format!(
        "prefix={}\nlibdir=${{prefix}}/lib\nincludedir=${{prefix}}/include\n\n\
         Name: cgshim\n\
         Description: The memory and CPUs this process may use, asked of libcgshim.so\n\
         Version: {}\n\
         Libs: -L${{libdir}} -Wl,-rpath,${{libdir}} -lcgshim\n\
         Cflags: -I${{includedir}}\n",
        prefix.display(),
        env!("CARGO_PKG_VERSION")
    )
}

/// A failed command: the message and the exit code (2 for usage, 1 otherwise).
pub struct Failure(pub String, pub u8);

fn fail<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(msg.into(), 1))
}

fn usage<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(msg.into(), 2))
}

pub fn exit(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg, code)) => {
            eprintln!("cgshim: {msg}");
            ExitCode::from(code)
        }
    }
}

/// The paths one install touches.
struct Layout {
    root: PathBuf,
    /// The library as programs inside the root see it: `PREFIX/lib/libcgshim.so`.
    inside: PathBuf,
    /// The same file from here.
    library: PathBuf,
    preload: PathBuf,
    /// The prefix as programs inside the root see it.
    prefix: PathBuf,
    /// The development files from here: (path inside the root, path from here).
    header: (PathBuf, PathBuf),
    pkg_config: (PathBuf, PathBuf),
}

/// `inside` under `root` (`/` leaves it unchanged).
fn under(root: &Path, inside: &Path) -> PathBuf {
    root.join(inside.strip_prefix("/").unwrap_or(inside))
}

fn layout(prefix: &Path, root: &Path) -> Result<Layout, Failure> {
    if !prefix.is_absolute() || prefix.components().any(|c| matches!(c, Component::ParentDir)) {
        return usage(format!("--prefix {}: must be an absolute path without `..`", prefix.display()));
    }
    if !root.is_dir() {
        return usage(format!("--root {}: not a directory", root.display()));
    }
    let prefix: PathBuf = prefix.components().filter(|c| !matches!(c, Component::CurDir)).collect();
    let inside = prefix.join("lib").join(library::LIB_NAME);
    library::check_entry(&inside).or_else(|e| usage(format!("--prefix: {e}")))?;
    let header = prefix.join("include").join("cgshim.h");
    let pc = prefix.join("lib").join("pkgconfig").join("cgshim.pc");
    Ok(Layout {
        root: root.to_path_buf(),
        library: under(root, &inside),
        preload: under(root, Path::new(PRELOAD_FILE)),
        inside,
        header: (header.clone(), under(root, &header)),
        pkg_config: (pc.clone(), under(root, &pc)),
        prefix,
    })
}

/// `/etc/ld.so.preload` as programs inside the root call it, for messages.
fn preload_name(l: &Layout) -> String {
    if l.root == Path::new("/") { "/etc/ld.so.preload".into() } else { l.preload.display().to_string() }
}

// ---------------------------------------------------------------------------------------------
// The C library of the root
// ---------------------------------------------------------------------------------------------

/// Whether the root's programs use musl, which has no `/etc/ld.so.preload`: a musl dynamic
/// loader and no glibc one (Alpine's gcompat `ld-linux` is a link to the musl loader).
pub fn is_musl(root: &Path) -> bool {
    let (mut musl, mut glibc) = (false, false);
    for dir in ["lib", "lib64", "usr/lib", "usr/lib64"] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("ld-musl-") {
                musl = true;
            } else if name.starts_with("ld-linux") && name.contains(".so") {
                let target = fs::read_link(entry.path()).map(|t| t.to_string_lossy().into_owned());
                if target.is_ok_and(|t| t.contains("musl")) {
                    musl = true;
                } else {
                    glibc = true;
                }
            }
        }
    }
    if musl || glibc || root != Path::new("/") {
        return musl && !glibc;
    }
    // Neither loader where expected on the live system: ask ldd (musl's prints "musl libc").
    Command::new("ldd")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| [o.stdout, o.stderr].iter().any(|t| String::from_utf8_lossy(t).contains("musl")))
}

// ---------------------------------------------------------------------------------------------
// Proving that the library loads
// ---------------------------------------------------------------------------------------------

/// What the dynamic loader prints when a preloaded object cannot be used. glibc ignores an
/// `LD_PRELOAD` entry it cannot open (and still exits 0), and refuses to start a program when
/// the object's dependencies or symbol versions are missing.
const LOADER_ERRORS: [&str; 5] = [
    "cannot be preloaded",
    "error while loading",
    "not found (required by",
    // musl's loader.
    "Error loading shared library",
    "Error relocating",
];

fn true_program(root: &Path) -> PathBuf {
    let mut candidates = Vec::new();
    if root != Path::new("/") {
        candidates.push(root.join("bin/true"));
        candidates.push(root.join("usr/bin/true"));
    }
    candidates.push(PathBuf::from("/bin/true"));
    candidates.push(PathBuf::from("/usr/bin/true"));
    let fallback = candidates[candidates.len() - 2].clone();
    candidates.into_iter().find(|p| p.is_file()).unwrap_or(fallback)
}

/// Runs `true` with `lib` preloaded: it must exit 0 and the loader must not complain.
pub fn check_loads(lib: &Path, root: &Path) -> Result<(), String> {
    let program = true_program(root);
    let what = format!("LD_PRELOAD={} {}", lib.display(), program.display());
    let mut child = Command::new(&program)
        .env_clear()
        .env("LD_PRELOAD", lib)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} did not finish within 30 s"));
            }
            Err(e) => return Err(format!("waiting for {what}: {e}")),
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let stderr = stderr.trim();
    if !status.success() || LOADER_ERRORS.iter().any(|e| stderr.contains(e)) {
        let said = if stderr.is_empty() { String::new() } else { format!(": {stderr}") };
        return Err(format!("{what} failed ({status}){said}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Atomic file replacement
// ---------------------------------------------------------------------------------------------

fn sync_dir(dir: &Path) {
    // Makes the rename durable; some filesystems refuse fsync on a directory, which is fine.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{name}.cgshim-{}.tmp", std::process::id()))
}

/// Writes `bytes` to a new temp file next to `target`, with `mode`, flushed to disk.
fn write_temp(target: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, Failure> {
    let tmp = temp_path(target);
    let _ = fs::remove_file(&tmp);
    let written = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        f.write_all(bytes)?;
        // The umask may have taken bits away from `mode`.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return fail(format!("cannot write {}: {e}", tmp.display()));
    }
    Ok(tmp)
}

fn commit(tmp: &Path, target: &Path) -> Result<(), Failure> {
    if let Err(e) = fs::rename(tmp, target) {
        let _ = fs::remove_file(tmp);
        return fail(format!("cannot rename {} to {}: {e}", tmp.display(), target.display()));
    }
    if let Some(dir) = target.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Replaces `target` with `bytes`, keeping its mode and owner (new files: 0644).
fn replace(target: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let meta = fs::metadata(target).ok();
    let tmp = write_temp(target, bytes, meta.as_ref().map_or(0o644, |m| m.mode() & 0o7777))?;
    if let Some(m) = &meta {
        let _ = std::os::unix::fs::chown(&tmp, Some(m.uid()), Some(m.gid()));
    }
    commit(&tmp, target)
}

// ---------------------------------------------------------------------------------------------
// /etc/ld.so.preload
// ---------------------------------------------------------------------------------------------

/// The file with `entry` appended as one line, or `None` when it already names `entry` (the
/// loader splits the file at whitespace and colons). The file's other bytes and its trailing
/// newline state are kept: `a\n` → `a\nE\n`, `a` → `a\nE`, an empty file → `E`; a missing file
/// (`None`) → `E\n`.
pub fn add_entry(original: Option<&[u8]>, entry: &[u8]) -> Option<Vec<u8>> {
    let Some(text) = original else {
        let mut out = entry.to_vec();
        out.push(b'\n');
        return Some(out);
    };
    if text.split(|b| b" \t\n\r:".contains(b)).any(|token| token == entry) {
        return None;
    }
    let mut out = text.to_vec();
    if !text.is_empty() && !text.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(entry);
    if text.ends_with(b"\n") {
        out.push(b'\n');
    }
    Some(out)
}

/// The file without the lines that are `entry` (surrounding whitespace ignored), or `None` when
/// there is none: the exact inverse of [`add_entry`] on an existing file.
pub fn remove_entry(text: &[u8], entry: &[u8]) -> Option<Vec<u8>> {
    let trailing = text.ends_with(b"\n");
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if trailing {
        lines.pop();
    }
    let before = lines.len();
    lines.retain(|line| line.trim_ascii() != entry);
    if lines.len() == before {
        return None;
    }
    let mut out = lines.join(&b'\n');
    if trailing && !lines.is_empty() {
        out.push(b'\n');
    }
    Some(out)
}

fn read_preload(l: &Layout) -> Result<Option<Vec<u8>>, Failure> {
    match fs::symlink_metadata(&l.preload) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => fail(format!("cannot read {}: {e}", preload_name(l))),
        Ok(m) if m.file_type().is_symlink() => {
            fail(format!("{} is a symbolic link; edit its target by hand", preload_name(l)))
        }
        Ok(_) => {
            fs::read(&l.preload).map(Some).or_else(|e| fail(format!("cannot read {}: {e}", preload_name(l))))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The commands
// ---------------------------------------------------------------------------------------------

pub struct InstallOptions<'a> {
    pub prefix: &'a Path,
    pub preload_file: bool,
    pub root: &'a Path,
    pub lib: Option<&'a Path>,
}

pub fn install(opts: &InstallOptions) -> Result<(), Failure> {
    let l = layout(opts.prefix, opts.root)?;
    let inside = l.inside.display().to_string();
    if opts.preload_file && is_musl(&l.root) {
        // The one line the user needs, alone on stdout; the explanation on stderr.
        println!("ENV LD_PRELOAD={inside}");
        return fail(format!(
            "--preload-file: this system uses musl, whose dynamic loader has no /etc/ld.so.preload. \
             Install without --preload-file and set LD_PRELOAD instead, e.g. in a Dockerfile:\n  \
             ENV LD_PRELOAD={inside}\nNothing was changed."
        ));
    }
    let source = match library::find(opts.lib) {
        Ok(p) => p,
        Err(LibError::BadOption(msg)) => return usage(msg),
        Err(LibError::NotFound(msg)) => return fail(msg),
    };
    let bytes = fs::read(&source).or_else(|e| fail(format!("cannot read {}: {e}", source.display())))?;
    let dir = l.library.parent().unwrap_or(&l.root);
    fs::create_dir_all(dir).or_else(|e| fail(format!("cannot create {}: {e}", dir.display())))?;

    // The copy is loaded from its final directory before it takes the final name, so a library
    // that does not load leaves nothing behind when it is refused.
    let tmp = write_temp(&l.library, &bytes, 0o755)?;
    if let Err(why) = check_loads(&tmp, &l.root) {
        if opts.preload_file {
            let _ = fs::remove_file(&tmp);
            return fail(format!(
                "refusing to install {}: it does not load into a program: {why}\n\
                 A library in /etc/ld.so.preload that cannot load breaks every program; nothing was changed.",
                source.display()
            ));
        }
        eprintln!("cgshim: warning: {} does not load into a program: {why}", source.display());
    }
    let same = fs::read(&l.library).is_ok_and(|old| old == bytes)
        && fs::metadata(&l.library).is_ok_and(|m| m.mode() & 0o7777 == 0o755);
    if same {
        let _ = fs::remove_file(&tmp);
        println!("{inside} is already installed");
    } else {
        commit(&tmp, &l.library)?;
        println!("installed {inside}{}", root_note(&l));
    }

    install_development_files(&l)?;

    if !opts.preload_file {
        println!(
            "to preload it: ENV LD_PRELOAD={inside} (Dockerfile), `cgshim install --preload-file`, \
             or `cgshim exec PROGRAM`"
        );
        return Ok(());
    }
    let original = read_preload(&l)?;
    match add_entry(original.as_deref(), inside.as_bytes()) {
        None => println!("{} already lists {inside}", preload_name(&l)),
        Some(text) => {
            if let Some(etc) = l.preload.parent() {
                fs::create_dir_all(etc).or_else(|e| fail(format!("cannot create {}: {e}", etc.display())))?;
            }
            replace(&l.preload, &text)?;
            println!("added {inside} to {}", preload_name(&l));
        }
    }
    Ok(())
}

/// The header and `cgshim.pc` (mode 0644), each replaced atomically unless already in place.
fn install_development_files(l: &Layout) -> Result<(), Failure> {
    let pc = pkg_config(&l.prefix);
    for ((inside, path), bytes) in [(&l.header, HEADER.as_bytes()), (&l.pkg_config, pc.as_bytes())] {
        let inside = inside.display();
        let same = fs::read(path).is_ok_and(|old| old == bytes)
            && fs::metadata(path).is_ok_and(|m| m.mode() & 0o7777 == 0o644);
        if same {
            println!("{inside} is already installed");
            continue;
        }
        let dir = path.parent().unwrap_or(&l.root);
        fs::create_dir_all(dir).or_else(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        let tmp = write_temp(path, bytes, 0o644)?;
        commit(&tmp, path)?;
        println!("installed {inside}{}", root_note(l));
    }
    Ok(())
}

fn root_note(l: &Layout) -> String {
    if l.root == Path::new("/") { String::new() } else { format!(" under {}", l.root.display()) }
}

pub fn uninstall(prefix: &Path, root: &Path) -> Result<(), Failure> {
    let l = layout(prefix, root)?;
    let inside = l.inside.display().to_string();
    let mut did = false;
    // The preload line goes first: a line naming a missing library makes every program complain.
    if let Some(text) = read_preload(&l)?
        && let Some(rest) = remove_entry(&text, inside.as_bytes())
    {
        let mut created = inside.clone().into_bytes();
        created.push(b'\n');
        if rest.is_empty() && text == created {
            // Exactly what install writes into a new file: install created it.
            fs::remove_file(&l.preload)
                .or_else(|e| fail(format!("cannot remove {}: {e}", preload_name(&l))))?;
            if let Some(etc) = l.preload.parent() {
                sync_dir(etc);
            }
            println!("removed {} (it held only {inside})", preload_name(&l));
        } else {
            replace(&l.preload, &rest)?;
            println!("removed {inside} from {}", preload_name(&l));
        }
        did = true;
    }
    match fs::remove_file(&l.library) {
        Ok(()) => {
            if let Some(dir) = l.library.parent() {
                sync_dir(dir);
            }
            println!("removed {inside}{}", root_note(&l));
            did = true;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return fail(format!("cannot remove {}: {e}", l.library.display())),
    }
    for (inside, path) in [&l.header, &l.pkg_config] {
        match fs::remove_file(path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    sync_dir(dir);
                }
                println!("removed {}{}", inside.display(), root_note(&l));
                did = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return fail(format!("cannot remove {}: {e}", path.display())),
        }
    }
    if !did {
        println!("nothing to remove: {inside} is not installed{}", root_note(&l));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: &[u8] = b"/usr/local/lib/libcgshim.so";

    #[test]
    fn preload_lines_round_trip_byte_for_byte() {
        for original in
            [&b""[..], b"\n", b"/a.so", b"/a.so\n", b"/a.so\n\n/b.so", b"/a.so\r\n/b.so\r\n", b"  \n"]
        {
            let added = add_entry(Some(original), E).unwrap();
            assert!(added.ends_with(b"\n") == original.ends_with(b"\n"), "{original:?} -> {added:?}");
            assert_eq!(add_entry(Some(&added), E), None, "idempotent for {original:?}");
            assert_eq!(remove_entry(&added, E).unwrap(), original, "restores {original:?}");
            assert_eq!(remove_entry(original, E), None);
        }
        let created = add_entry(None, E).unwrap();
        assert_eq!(created, b"/usr/local/lib/libcgshim.so\n");
        assert_eq!(remove_entry(&created, E).unwrap(), b"");
        assert_eq!(add_entry(Some(b"/a.so /usr/local/lib/libcgshim.so:/b.so"), E), None);
    }
}
