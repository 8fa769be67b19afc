//! What a program learns about a stream's fd. Served kernel fds are the kernel's own and need
//! nothing here; a stdio stream on one of our files reads a memfd (see `stream`), so its
//! `fstat`, `statx`, `fstatfs`, its link in `/proc/self/fd` and its seals are answered as for
//! the kernel's file it stands for. Every other fd costs one load from the fd table.

use crate::fds::{self, State};
use crate::kernel::Kind;
use crate::real::{Real, typed};
use crate::{libc_result, seal, stream, sys};
use core::ffi::{CStr, c_char, c_int, c_void};

type FstatFn = unsafe extern "C" fn(c_int, *mut libc::stat) -> c_int;
type StatFn = unsafe extern "C" fn(*const c_char, *mut libc::stat) -> c_int;
type XstatFn = unsafe extern "C" fn(c_int, *const c_char, *mut libc::stat) -> c_int;
type StatfsFn = unsafe extern "C" fn(*const c_char, *mut libc::statfs) -> c_int;
type FxstatFn = unsafe extern "C" fn(c_int, c_int, *mut libc::stat) -> c_int;
type FstatatFn = unsafe extern "C" fn(c_int, *const c_char, *mut libc::stat, c_int) -> c_int;
type FxstatatFn = unsafe extern "C" fn(c_int, c_int, *const c_char, *mut libc::stat, c_int) -> c_int;
type StatxFn = unsafe extern "C" fn(c_int, *const c_char, c_int, u32, *mut u8) -> c_int;
type FstatfsFn = unsafe extern "C" fn(c_int, *mut libc::statfs) -> c_int;
type ReadlinkFn = unsafe extern "C" fn(*const c_char, *mut c_char, usize) -> isize;
type ReadlinkatFn = unsafe extern "C" fn(c_int, *const c_char, *mut c_char, usize) -> isize;

static STAT: Real = Real::new(c"stat");
static STAT64: Real = Real::new(c"stat64");
static XSTAT: Real = Real::new(c"__xstat");
static XSTAT64: Real = Real::new(c"__xstat64");
static STATFS: Real = Real::new(c"statfs");
static STATFS64: Real = Real::new(c"statfs64");
static FSTAT: Real = Real::new(c"fstat");
static FSTAT64: Real = Real::new(c"fstat64");
static FXSTAT: Real = Real::new(c"__fxstat");
static FXSTAT64: Real = Real::new(c"__fxstat64");
static FSTATAT: Real = Real::new(c"fstatat");
static FSTATAT64: Real = Real::new(c"fstatat64");
static FXSTATAT: Real = Real::new(c"__fxstatat");
static FXSTATAT64: Real = Real::new(c"__fxstatat64");
static STATX: Real = Real::new(c"statx");
static FSTATFS: Real = Real::new(c"fstatfs");
static FSTATFS64: Real = Real::new(c"fstatfs64");
static READLINK: Real = Real::new(c"readlink");
static READLINKAT: Real = Real::new(c"readlinkat");

const AT_EMPTY_PATH: c_int = 0x1000;

/// The kind of kernel file the stream fd `fd` stands for, if it is one.
#[inline]
fn stands_for(fd: c_int) -> Option<Kind> {
    if !fds::needs_look(fd) || seal::sealed() {
        return None;
    }
    let state = match fds::get(fd) {
        State::Unknown => crate::kernel::classify(fd),
        s => s,
    };
    match state {
        State::Memfd(kind) if stream::still_ours(fd) => Some(kind),
        _ => None,
    }
}

/// The answers for the kernel file of `kind` come from the C library's own path functions, so
/// that a bad buffer fails (or crashes) exactly as the program's call would have.
fn stat_of(kind: Kind, buf: *mut libc::stat, primary: &Real, fallback: &Real) -> c_int {
    // SAFETY: a NUL-terminated path and the caller's buffer, for the C library to check.
    match unsafe { typed::<StatFn>(primary).or_else(|| typed::<StatFn>(fallback)) } {
        Some(f) => unsafe { f(kind.path().as_ptr(), buf) },
        // SAFETY: the kernel checks `buf`.
        None => libc_result(i64::from(unsafe { sys::stat_into(kind.path(), buf) })) as c_int,
    }
}

/// `path` with `flags` names `dirfd` itself (`AT_EMPTY_PATH` and an empty path).
///
/// # Safety
/// `path` is the caller's argument: null, or a string the call will read anyway.
unsafe fn names_fd_itself(path: *const c_char, flags: c_int) -> bool {
    // SAFETY: read only when AT_EMPTY_PATH is set, where the C library reads it too.
    flags & AT_EMPTY_PATH != 0 && !path.is_null() && unsafe { *path } == 0
}

/// The arguments of an `*at` call on `dirfd` itself (`AT_EMPTY_PATH` and an empty path) when
/// `dirfd` is a stream's fd: the kernel file's path instead; any other call's unchanged.
///
/// # Safety
/// `path` is the caller's argument (see `names_fd_itself`).
unsafe fn redirected(dirfd: c_int, path: *const c_char, flags: c_int) -> (c_int, *const c_char, c_int) {
    // SAFETY: forwarded.
    match unsafe { names_fd_itself(path, flags) }.then(|| stands_for(dirfd)).flatten() {
        Some(kind) => (libc::AT_FDCWD, kind.path().as_ptr(), flags & !AT_EMPTY_PATH),
        None => (dirfd, path, flags),
    }
}

macro_rules! fstat_hook {
    ($name:ident, $primary:ident, $fallback:ident, $stat:ident, $stat_fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, buf: *mut libc::stat) -> c_int {
            if let Some(kind) = stands_for(fd) {
                return stat_of(kind, buf, &$stat, &$stat_fallback);
            }
            // SAFETY: forwarding the caller's arguments.
            match unsafe { typed::<FstatFn>(&$primary).or_else(|| typed::<FstatFn>(&$fallback)) } {
                Some(f) => unsafe { f(fd, buf) },
                None => libc_result(i64::from(unsafe { sys::fstat_into(fd, buf) })) as c_int,
            }
        }
    };
}

fstat_hook!(fstat, FSTAT, FSTAT64, STAT, STAT64);
fstat_hook!(fstat64, FSTAT64, FSTAT, STAT64, STAT);

macro_rules! fxstat_hook {
    ($name:ident, $real:ident, $xstat:ident) => {
        /// The `fstat` of programs built against glibc before 2.33.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(ver: c_int, fd: c_int, buf: *mut libc::stat) -> c_int {
            if let Some(kind) = stands_for(fd) {
                // SAFETY: the C library's own path stat checks `buf` as its fstat would.
                return match unsafe { typed::<XstatFn>(&$xstat) } {
                    Some(f) => unsafe { f(ver, kind.path().as_ptr(), buf) },
                    None => libc_result(i64::from(unsafe { sys::stat_into(kind.path(), buf) })) as c_int,
                };
            }
            // SAFETY: forwarding the caller's arguments.
            match unsafe { typed::<FxstatFn>(&$real) } {
                Some(f) => unsafe { f(ver, fd, buf) },
                None => libc_result(i64::from(unsafe { sys::fstat_into(fd, buf) })) as c_int,
            }
        }
    };
}

fxstat_hook!(__fxstat, FXSTAT, XSTAT);
fxstat_hook!(__fxstat64, FXSTAT64, XSTAT64);

macro_rules! fstatat_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            dirfd: c_int,
            path: *const c_char,
            buf: *mut libc::stat,
            flags: c_int,
        ) -> c_int {
            // SAFETY: the caller's path argument.
            let (dirfd, path, flags) = unsafe { redirected(dirfd, path, flags) };
            // SAFETY: the caller's arguments, or the kernel file's path in their place.
            match unsafe { typed::<FstatatFn>(&$primary).or_else(|| typed::<FstatatFn>(&$fallback)) } {
                Some(f) => unsafe { f(dirfd, path, buf, flags) },
                None => {
                    crate::set_errno(libc::ENOSYS);
                    -1
                }
            }
        }
    };
}

fstatat_hook!(fstatat, FSTATAT, FSTATAT64);
fstatat_hook!(fstatat64, FSTATAT64, FSTATAT);

macro_rules! fxstatat_hook {
    ($name:ident, $real:ident) => {
        /// The `fstatat` of programs built against glibc before 2.33.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            ver: c_int,
            dirfd: c_int,
            path: *const c_char,
            buf: *mut libc::stat,
            flags: c_int,
        ) -> c_int {
            // SAFETY: the caller's path argument.
            let (dirfd, path, flags) = unsafe { redirected(dirfd, path, flags) };
            // SAFETY: the caller's arguments, or the kernel file's path in their place.
            match unsafe { typed::<FxstatatFn>(&$real) } {
                Some(f) => unsafe { f(ver, dirfd, path, buf, flags) },
                None => {
                    crate::set_errno(libc::ENOSYS);
                    -1
                }
            }
        }
    };
}

fxstatat_hook!(__fxstatat, FXSTATAT);
fxstatat_hook!(__fxstatat64, FXSTATAT64);

#[unsafe(no_mangle)]
pub unsafe extern "C" fn statx(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mask: u32,
    buf: *mut u8,
) -> c_int {
    // SAFETY: the caller's path argument.
    let (dirfd, path, flags) = unsafe { redirected(dirfd, path, flags) };
    // SAFETY: the caller's arguments, or the kernel file's path in their place.
    match unsafe { typed::<StatxFn>(&STATX) } {
        Some(f) => unsafe { f(dirfd, path, flags, mask, buf) },
        None => {
            crate::set_errno(libc::ENOSYS);
            -1
        }
    }
}

macro_rules! fstatfs_hook {
    ($name:ident, $primary:ident, $fallback:ident, $statfs:ident, $statfs_fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, buf: *mut libc::statfs) -> c_int {
            if let Some(kind) = stands_for(fd) {
                // SAFETY: the C library's own path statfs checks `buf` as its fstatfs would.
                return match unsafe {
                    typed::<StatfsFn>(&$statfs).or_else(|| typed::<StatfsFn>(&$statfs_fallback))
                } {
                    Some(f) => unsafe { f(kind.path().as_ptr(), buf) },
                    None => libc_result(i64::from(unsafe { sys::statfs_into(kind.path(), buf) })) as c_int,
                };
            }
            // SAFETY: forwarding the caller's arguments.
            match unsafe { typed::<FstatfsFn>(&$primary).or_else(|| typed::<FstatfsFn>(&$fallback)) } {
                Some(f) => unsafe { f(fd, buf) },
                None => {
                    crate::set_errno(libc::ENOSYS);
                    -1
                }
            }
        }
    };
}

fstatfs_hook!(fstatfs, FSTATFS, FSTATFS64, STATFS, STATFS64);
fstatfs_hook!(fstatfs64, FSTATFS64, FSTATFS, STATFS64, STATFS);

/// The fd number a `/proc/self/fd/N` style path names (`/dev/fd/N`, `/proc/thread-self/fd/N`,
/// `/proc/<own pid>/fd/N`).
fn fd_link(path: &[u8]) -> Option<c_int> {
    let rest = path
        .strip_prefix(b"/dev/fd/")
        .or_else(|| path.strip_prefix(b"/proc/self/fd/"))
        .or_else(|| path.strip_prefix(b"/proc/thread-self/fd/"))
        .or_else(|| {
            let after = path.strip_prefix(b"/proc/")?;
            let slash = after.iter().position(|&b| b == b'/')?;
            let pid = cgshim::read::number::parse_u64(after.get(..slash)?)?;
            // SAFETY: getpid has no preconditions.
            (pid == u64::try_from(unsafe { libc::getpid() }).ok()?).then_some(())?;
            after.get(slash..)?.strip_prefix(b"/fd/")
        })?;
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    c_int::try_from(cgshim::read::number::parse_u64(rest)?).ok()
}

/// After a successful readlink of `path` into `buf` (`len` bytes written): the link of a
/// stream's fd reads as the kernel file it stands for.
///
/// # Safety
/// The kernel has just read `path` and written `len` bytes at `buf`.
unsafe fn relink(path: *const c_char, buf: *mut c_char, len: isize) -> isize {
    let Ok(written) = usize::try_from(len) else { return len };
    // SAFETY: the kernel accepted the path.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    let Some(kind) = fd_link(bytes).and_then(stands_for) else { return len };
    let target = kind.path().to_bytes();
    // Only over bytes the kernel wrote (the memfd's link is never shorter than our paths).
    if target.len() > written {
        return len;
    }
    // SAFETY: `target.len() <= written` bytes at `buf` were just written by the kernel.
    unsafe { core::ptr::copy_nonoverlapping(target.as_ptr(), buf.cast::<u8>(), target.len()) };
    target.len() as isize
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn readlink(path: *const c_char, buf: *mut c_char, size: usize) -> isize {
    // SAFETY: forwarding the caller's arguments.
    let r = match unsafe { typed::<ReadlinkFn>(&READLINK) } {
        Some(f) => unsafe { f(path, buf, size) },
        None => {
            crate::set_errno(libc::ENOSYS);
            -1
        }
    };
    // SAFETY: on success the kernel read `path` and wrote `r` bytes at `buf`.
    if r > 0 { unsafe { relink(path, buf, r) } } else { r }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn readlinkat(
    dirfd: c_int,
    path: *const c_char,
    buf: *mut c_char,
    size: usize,
) -> isize {
    // SAFETY: forwarding the caller's arguments.
    let r = match unsafe { typed::<ReadlinkatFn>(&READLINKAT) } {
        Some(f) => unsafe { f(dirfd, path, buf, size) },
        None => {
            crate::set_errno(libc::ENOSYS);
            -1
        }
    };
    // SAFETY: as for readlink; a path relative to `dirfd` never matches the absolute forms.
    if r > 0 { unsafe { relink(path, buf, r) } } else { r }
}

/// `fcntl` seal commands on a stream's fd answer as on the kernel's file (EINVAL).
pub fn seals_refused(fd: c_int, cmd: c_int) -> bool {
    (cmd == libc::F_GET_SEALS || cmd == libc::F_ADD_SEALS) && stands_for(fd).is_some()
}

type MmapFn = unsafe extern "C" fn(*mut c_void, usize, c_int, c_int, c_int, i64) -> *mut c_void;

static MMAP: Real = Real::new(c"mmap");
static MMAP64: Real = Real::new(c"mmap64");

/// Why the kernel's file of `kind` refuses a mapping with these arguments: it has no mmap at
/// all (procfs: EIO, sysfs: ENODEV), after the checks every file gets.
fn refused_mapping(kind: Kind, len: usize, prot: c_int, flags: c_int, offset: i64) -> c_int {
    let shared =
        flags & libc::MAP_TYPE == libc::MAP_SHARED || flags & libc::MAP_TYPE == libc::MAP_SHARED_VALIDATE;
    if len == 0 || offset & 0xfff != 0 {
        libc::EINVAL
    } else if shared && prot & libc::PROT_WRITE != 0 {
        libc::EACCES
    } else if kind == Kind::CpuOnline {
        libc::ENODEV
    } else {
        libc::EIO
    }
}

macro_rules! mmap_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        /// A stream's fd cannot be mapped, as the kernel file it stands for cannot.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            addr: *mut c_void,
            len: usize,
            prot: c_int,
            flags: c_int,
            fd: c_int,
            offset: i64,
        ) -> *mut c_void {
            if fd >= 0
                && flags & libc::MAP_ANONYMOUS == 0
                && let Some(kind) = stands_for(fd)
            {
                crate::set_errno(refused_mapping(kind, len, prot, flags, offset));
                return libc::MAP_FAILED;
            }
            // SAFETY: forwarding the caller's arguments.
            match unsafe { typed::<MmapFn>(&$primary).or_else(|| typed::<MmapFn>(&$fallback)) } {
                Some(f) => unsafe { f(addr, len, prot, flags, fd, offset) },
                None => {
                    crate::set_errno(libc::ENOSYS);
                    libc::MAP_FAILED
                }
            }
        }
    };
}

mmap_hook!(mmap, MMAP, MMAP64);
mmap_hook!(mmap64, MMAP64, MMAP);

/// `lseek` to the end, or to data or a hole, on a stream's fd: the kernel file's answer (asked
/// of the kernel file itself), and the stream's fd moves there too.
pub fn seek_like_kernel(fd: c_int, offset: i64, whence: c_int) -> Option<i64> {
    let kind = stands_for(fd)?;
    let kernel = sys::with_fd_headroom(|| {
        sys::openat(
            sys::AT_FDCWD,
            kind.path().as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK,
            0,
        )
    });
    if kernel < 0 {
        return None;
    }
    let r = sys::lseek(kernel, offset, whence);
    sys::close(kernel);
    if r >= 0 {
        sys::lseek(fd, r, libc::SEEK_SET);
    }
    Some(libc_result(r))
}
