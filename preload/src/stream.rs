//! stdio streams on served files.
//!
//! A `FILE *` reads its fd inside the C library, out of reach of the `read` hooks, so a stream
//! on one of our files must read the served content from the kernel: the stream's fd is turned
//! into a memfd holding it, under the same fd number, with the same close-on-exec flag and
//! status flags, opened read-only. A rewind of the stream (`rewind`, `fseek` to 0: procps `top`
//! keeps `/proc/stat` open this way) rewrites the memfd in place, so duplicates and forked
//! children of the fd see the new content as they would the kernel's.
//!
//! Where memfds are refused (a seccomp profile), an unlinked file in `/dev/shm` or `/tmp`
//! (`O_TMPFILE`) holds the content instead; with neither the stream reads the host's file.

use crate::fds::{self, State};
use crate::kernel::Kind;
use crate::source::{Fd, RawSource, c_path};
use crate::{content, log, seal, stack, sys};
use cgshim::buf::{Buf, Sink};
use core::ffi::{CStr, c_int};
use core::sync::atomic::{AtomicU8, Ordering};

const MFD_CLOEXEC: u32 = 1;
const MFD_NOEXEC_SEAL: u32 = 8;

/// What holds served content in this process: 0 not tried yet, then one of the below.
static BACKING: AtomicU8 = AtomicU8::new(0);
const MEMFD: u8 = 1;
const SHM: u8 = 2;
const TMP: u8 = 3;
const NOTHING: u8 = 4;

fn tmpfile(dir: &CStr) -> c_int {
    sys::with_fd_headroom(|| {
        sys::openat(sys::AT_FDCWD, dir.as_ptr(), libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC, 0o600)
    })
}

fn memfd(kind: Kind) -> c_int {
    let mut fd =
        sys::with_fd_headroom(|| sys::memfd_create(kind.memfd_name(), MFD_CLOEXEC | MFD_NOEXEC_SEAL));
    if fd == -libc::EINVAL {
        // Kernels before 6.3 do not know MFD_NOEXEC_SEAL.
        fd = sys::with_fd_headroom(|| sys::memfd_create(kind.memfd_name(), MFD_CLOEXEC));
    }
    fd
}

/// A new, empty, read-write file for served content, or a negative errno.
fn create(kind: Kind) -> c_int {
    let mut backing = BACKING.load(Ordering::Relaxed);
    loop {
        let fd = match backing {
            0 | MEMFD => memfd(kind),
            SHM => tmpfile(c"/dev/shm"),
            TMP => tmpfile(c"/tmp"),
            _ => return -libc::ENOSYS,
        };
        // Running out of fds or memory says nothing about what the process may create.
        if fd >= 0 || matches!(-fd, libc::EMFILE | libc::ENFILE | libc::ENOMEM) {
            if fd >= 0 && backing == 0 {
                BACKING.store(MEMFD, Ordering::Relaxed);
            }
            return fd;
        }
        backing = match backing {
            0 | MEMFD => SHM,
            SHM => TMP,
            _ => NOTHING,
        };
        BACKING.store(backing, Ordering::Relaxed);
        if backing == NOTHING {
            log::say(&[
                b"streams: no memfd and no O_TMPFILE in /dev/shm or /tmp: stdio reads the host's files",
            ]);
        }
    }
}

fn write_all(fd: c_int, mut rest: &[u8], mut at: i64) -> bool {
    while !rest.is_empty() {
        let n = sys::pwrite(fd, rest, at);
        if n == -(libc::EINTR as isize) {
            continue;
        }
        match usize::try_from(n).ok().filter(|&n| n > 0).and_then(|n| rest.get(n..).map(|r| (n, r))) {
            Some((n, r)) => {
                rest = r;
                at = at.saturating_add(n as i64);
            }
            None => return false,
        }
    }
    true
}

/// `/proc/self/fd/<fd>` opened anew with `flags`: a second open file description of the same
/// file (read-only for the program, read-write for a rewrite).
fn reopen(fd: c_int, flags: c_int) -> c_int {
    let mut link = Buf::<32>::new();
    link.push(b"/proc/self/fd/");
    link.push_u64(u64::try_from(fd).unwrap_or(0));
    let Some(path) = c_path(None, link.as_bytes()) else { return -libc::ENAMETOOLONG };
    sys::with_fd_headroom(|| sys::openat(sys::AT_FDCWD, path.as_bytes().as_ptr().cast(), flags, 0))
}

/// Status flags carried over to the served file.
const CARRIED: c_int = libc::O_NONBLOCK | libc::O_NOATIME | libc::O_ASYNC;

/// Puts `content` under `fd` (which stays open throughout), positioned at `pos`, and records
/// it in the fd table.
fn install(fd: c_int, kind: Kind, content: &[u8], pos: u64) -> bool {
    if !put(fd, kind, content, pos) {
        return false;
    }
    fds::set(fd, State::Memfd(kind));
    let Some((dev, ino)) = sys::identity(fd) else { return true };
    match fds::claim(fd, kind) {
        Some(e) => {
            e.dev.store(dev, Ordering::Relaxed);
            e.ino.store(ino, Ordering::Relaxed);
            e.unlock();
        }
        // Without an entry the fd cannot be recognised later: it keeps this content.
        None => fds::set(fd, State::Plain),
    }
    true
}

/// Puts `content` under `fd` (which stays open throughout), positioned at `pos`; the kernel's
/// side only.
fn put(fd: c_int, kind: Kind, content: &[u8], pos: u64) -> bool {
    let file = create(kind);
    if file < 0 {
        return false;
    }
    let file = Fd(file);
    let fd_flags = sys::fcntl(fd, libc::F_GETFD, 0);
    let status = sys::fcntl(fd, libc::F_GETFL, 0);
    if !write_all(file.0, content, 0) || fd_flags < 0 || status < 0 {
        return false;
    }
    let cloexec = if fd_flags & libc::FD_CLOEXEC != 0 { libc::O_CLOEXEC } else { 0 };
    if sys::dup3(file.0, fd, cloexec) < 0 {
        return false;
    }
    drop(file);
    // Read-only, as the kernel's file was: a write fails with EBADF and F_GETFL says O_RDONLY.
    let ro = reopen(fd, libc::O_RDONLY | libc::O_CLOEXEC | (status & CARRIED));
    if ro >= 0 {
        let ro = Fd(ro);
        sys::dup3(ro.0, fd, cloexec);
    } else {
        sys::fcntl(fd, libc::F_SETFL, libc::c_long::from(status & CARRIED));
    }
    sys::lseek(fd, i64::try_from(pos).unwrap_or(0), libc::SEEK_SET);
    true
}

/// A stream has just been opened on the kernel file `fd` of `kind`: serve it.
pub fn adopt(fd: c_int, kind: Kind) {
    if seal::sealed() || !crate::env::config().enabled(kind.feature()) {
        return;
    }
    let installed = stack::run(|arena| {
        let (template, rendered) = arena.halves();
        let src = RawSource::new();
        let host = template_from_fd(fd, kind, &src, template)?;
        let len = content::render(kind, &src, host, rendered, fd)?;
        Some(install(fd, kind, rendered.get(..len)?, 0))
    });
    if installed.flatten() != Some(true) {
        fds::set(fd, State::Plain);
    }
}

/// The host's text for `kind`, read from the kernel file `fd` from its start (in one read for a
/// file the kernel makes as one record).
fn template_from_fd<'a>(fd: c_int, kind: Kind, src: &RawSource, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let n = if src.rooted() {
        content::rooted_template(kind, src, buf)?
    } else if !content::needs_template(kind) {
        0
    } else if kind.one_record() {
        content::read_fresh(fd, buf)?
    } else {
        content::read_from_start(fd, buf)?
    };
    buf.get(..n)
}

/// A served kernel fd is about to become a stream (`fdopen`): it must hold the content itself,
/// from where the program stands in it.
pub fn adopt_open_fd(fd: c_int, kind: Kind) {
    if seal::sealed() || !crate::env::config().enabled(kind.feature()) {
        return;
    }
    if convert(fd, kind, true) != Some(true) {
        fds::set(fd, State::Plain);
    }
}

/// The program is about to exec with the served kernel fd `fd` open: the next program cannot
/// know it is ours, and reads it perhaps through stdio, so it gets the content itself. Nothing
/// is recorded: the memory is this process's (or, after vfork, its parent's) and is replaced or
/// left behind by the exec.
pub fn hand_over(fd: c_int, kind: Kind) {
    if !seal::sealed() && crate::env::config().enabled(kind.feature()) {
        convert(fd, kind, false);
    }
}

/// Puts the content of the served kernel fd `fd` under it, at the position the program is at.
fn convert(fd: c_int, kind: Kind, record: bool) -> Option<bool> {
    stack::run(|arena| {
        let (template, rendered) = arena.halves();
        let src = RawSource::new();
        let kernel_pos = u64::try_from(sys::lseek(fd, 0, libc::SEEK_CUR)).ok()?;
        let (content, pos) = match fds::find(fd) {
            Some(e) => {
                let mapped =
                    e.mapped.load(Ordering::Relaxed) && e.kernel_pos.load(Ordering::Relaxed) == kernel_pos;
                let pos = if mapped { e.pos.load(Ordering::Relaxed) } else { kernel_pos };
                let kept = e.kept().filter(|_| mapped).and_then(|k| {
                    let dst = rendered.get_mut(..k.len())?;
                    dst.copy_from_slice(k);
                    Some(k.len())
                });
                e.unlock();
                (kept, pos)
            }
            None => (None, kernel_pos),
        };
        let len = match content {
            Some(len) => len,
            None => {
                let host = template_from_fd(fd, kind, &src, template)?;
                content::render(kind, &src, host, rendered, fd)?
            }
        };
        let content = rendered.get(..len)?;
        Some(if record { install(fd, kind, content, pos) } else { put(fd, kind, content, pos) })
    })
    .flatten()
}

/// Whether `fd` is still the memfd the library put there.
pub fn still_ours(fd: c_int) -> bool {
    let Some(e) = fds::find(fd) else { return false };
    let id = (e.dev.load(Ordering::Relaxed), e.ino.load(Ordering::Relaxed));
    e.unlock();
    if sys::identity(fd) == Some(id) {
        return true;
    }
    fds::set(fd, State::Plain);
    false
}

/// The stream on `fd` was rewound: rewrite its content in place with fresh values.
pub fn refresh(fd: c_int, kind: Kind) {
    if seal::sealed() || !crate::env::config().enabled(kind.feature()) || !still_ours(fd) {
        return;
    }
    let rw = reopen(fd, libc::O_RDWR | libc::O_CLOEXEC);
    if rw < 0 {
        log::say(&[b"streams: cannot reopen a served stream to refresh it: it keeps its content"]);
        return;
    }
    let rw = Fd(rw);
    rewrite(rw.0, fd, kind);
}

/// Rewrites the served content of `kind` held by the file `rw` (open for writing) with fresh
/// values; `fd` is the file the program reads (the same content). Whether it was rewritten.
pub fn rewrite(rw: c_int, fd: c_int, kind: Kind) -> bool {
    stack::run(|arena| {
        let (template, rendered) = arena.halves();
        let src = RawSource::new();
        let host = fresh_template(fd, kind, &src, template)?;
        let len = content::render(kind, &src, host, rendered, fd)?;
        let content = rendered.get(..len)?;
        (write_all(rw, content, 0) && sys::ftruncate(rw, len as u64) >= 0).then_some(())
    })
    .flatten()
    .is_some()
}

/// A new file holding the served content of the kernel file `fd` of `kind`, open read-only and
/// close-on-exec at offset 0 (for `cgshim exec`'s supervisor, which gives it to the program that
/// opened `fd`'s path); a negative errno when there is none.
pub fn served_copy(fd: c_int, kind: Kind) -> c_int {
    stack::run(|arena| {
        let (template, rendered) = arena.halves();
        let src = RawSource::new();
        let host = template_from_fd(fd, kind, &src, template)?;
        let len = content::render(kind, &src, host, rendered, fd)?;
        let file = create(kind);
        if file < 0 {
            return Some(file);
        }
        let file = Fd(file);
        if !write_all(file.0, rendered.get(..len)?, 0) {
            return Some(-libc::EIO);
        }
        Some(reopen(file.0, libc::O_RDONLY | libc::O_CLOEXEC))
    })
    .flatten()
    .unwrap_or(-libc::ENODATA)
}

/// The host's text for a refresh: the kernel's file read anew; when no fd can be had, the
/// current content (its host lines are the host's as of the last refresh, its container lines
/// are rewritten again).
fn fresh_template<'a>(fd: c_int, kind: Kind, src: &RawSource, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    if src.rooted() {
        let n = content::rooted_template(kind, src, buf)?;
        return buf.get(..n);
    }
    if !content::needs_template(kind) {
        return Some(&[]);
    }
    let kernel = sys::with_fd_headroom(|| {
        sys::openat(
            sys::AT_FDCWD,
            kind.path().as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
            0,
        )
    });
    let n = if kernel >= 0 && crate::kernel::is_kernel_file(kernel, kind) {
        let mut f = Fd(kernel);
        content::read_all(src, &mut f, buf)?
    } else {
        if kernel >= 0 {
            sys::close(kernel);
        }
        content::read_from_start(fd, buf)?
    };
    buf.get(..n)
}
