//! The stdio family. The C library's own `fopen` opens the file (so every mode, `ccs=` included,
//! is its own); a stream on one of our files then gets the served content under its fd (see
//! `stream`). A rewind of such a stream refreshes it: procps keeps `/proc/stat` as a `FILE *`
//! and rewinds it before every sample, and glibc's `rewind` seeks internally, out of reach of
//! the `lseek` hook.

use crate::fds::{self, State};
use crate::real::{Real, typed};
use crate::{kernel, seal, stream};
use core::ffi::{CStr, c_char, c_int, c_long};

type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
type FreopenFn = unsafe extern "C" fn(*const c_char, *const c_char, *mut libc::FILE) -> *mut libc::FILE;
type FdopenFn = unsafe extern "C" fn(c_int, *const c_char) -> *mut libc::FILE;
type RewindFn = unsafe extern "C" fn(*mut libc::FILE);
type FseekFn = unsafe extern "C" fn(*mut libc::FILE, c_long, c_int) -> c_int;
type FseekoFn = unsafe extern "C" fn(*mut libc::FILE, i64, c_int) -> c_int;

static FOPEN: Real = Real::new(c"fopen");
static FOPEN64: Real = Real::new(c"fopen64");
static FREOPEN: Real = Real::new(c"freopen");
static FREOPEN64: Real = Real::new(c"freopen64");
static FDOPEN: Real = Real::new(c"fdopen");
static REWIND: Real = Real::new(c"rewind");
static FSEEK: Real = Real::new(c"fseek");
static FSEEKO: Real = Real::new(c"fseeko");
static FSEEKO64: Real = Real::new(c"fseeko64");

/// The open flags a stdio mode stands for, as far as the filter needs them.
///
/// # Safety
/// `mode` is the mode string the C library has just accepted.
unsafe fn mode_flags(mode: *const c_char) -> c_int {
    // SAFETY: the caller's contract.
    let m = unsafe { CStr::from_ptr(mode) }.to_bytes();
    let m = m.split(|&b| b == b',').next().unwrap_or(b"");
    match m.first() {
        Some(b'r') if !m.contains(&b'+') => libc::O_RDONLY,
        _ => libc::O_RDWR,
    }
}

/// Serves the stream just opened on `path`, if it is one of our files.
///
/// # Safety
/// `stream` is a stream the C library has just opened on `path` with `mode`.
unsafe fn opened(stream: *mut libc::FILE, path: *const c_char, mode: *const c_char) {
    if stream.is_null() || path.is_null() {
        return;
    }
    // SAFETY: a valid stream.
    let fd = unsafe { libc::fileno(stream) };
    // SAFETY: the C library accepted both strings.
    let (bytes, flags) = unsafe { (kernel::path_bytes(path), mode_flags(mode)) };
    match kernel::opened_state(fd, crate::sys::AT_FDCWD, bytes, flags) {
        State::Kernel(kind) => stream::adopt(fd, kind),
        state => fds::set(fd, state),
    }
}

/// # Safety
/// The caller's fopen arguments.
unsafe fn fopen_common(
    primary: &Real,
    fallback: &Real,
    path: *const c_char,
    mode: *const c_char,
) -> *mut libc::FILE {
    // SAFETY: forwarding the caller's arguments to the real fopen.
    let stream = match unsafe { typed::<FopenFn>(primary).or_else(|| typed::<FopenFn>(fallback)) } {
        Some(f) => unsafe { f(path, mode) },
        None => {
            crate::set_errno(libc::ENOSYS);
            return core::ptr::null_mut();
        }
    };
    // SAFETY: the stream was just opened on `path` with `mode`.
    unsafe { opened(stream, path, mode) };
    stream
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: forwarded libc contract.
    unsafe { fopen_common(&FOPEN, &FOPEN64, path, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: forwarded libc contract.
    unsafe { fopen_common(&FOPEN64, &FOPEN, path, mode) }
}

/// # Safety
/// The caller's freopen arguments.
unsafe fn freopen_common(
    primary: &Real,
    fallback: &Real,
    path: *const c_char,
    mode: *const c_char,
    stream: *mut libc::FILE,
) -> *mut libc::FILE {
    // SAFETY: forwarding the caller's arguments to the real freopen.
    let reopened = match unsafe { typed::<FreopenFn>(primary).or_else(|| typed::<FreopenFn>(fallback)) } {
        Some(f) => unsafe { f(path, mode, stream) },
        None => {
            crate::set_errno(libc::ENOSYS);
            return core::ptr::null_mut();
        }
    };
    // SAFETY: the stream was just reopened on `path` with `mode`.
    unsafe { opened(reopened, path, mode) };
    reopened
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen(
    path: *const c_char,
    mode: *const c_char,
    stream: *mut libc::FILE,
) -> *mut libc::FILE {
    // SAFETY: forwarded libc contract.
    unsafe { freopen_common(&FREOPEN, &FREOPEN64, path, mode, stream) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen64(
    path: *const c_char,
    mode: *const c_char,
    stream: *mut libc::FILE,
) -> *mut libc::FILE {
    // SAFETY: forwarded libc contract.
    unsafe { freopen_common(&FREOPEN64, &FREOPEN, path, mode, stream) }
}

/// A stream on an fd: if the fd is a served kernel file, it first gets the content itself.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE {
    if fds::needs_look(fd) && !seal::sealed() {
        let state = match fds::get(fd) {
            State::Unknown => kernel::classify(fd),
            s => s,
        };
        if let State::Kernel(kind) = state {
            stream::adopt_open_fd(fd, kind);
        }
    }
    // SAFETY: forwarding the caller's arguments to the real fdopen.
    match unsafe { typed::<FdopenFn>(&FDOPEN) } {
        Some(f) => unsafe { f(fd, mode) },
        None => {
            crate::set_errno(libc::ENOSYS);
            core::ptr::null_mut()
        }
    }
}

/// After a stream on a served file was repositioned to its start: fresh content.
///
/// # Safety
/// `stream` is a valid stream.
unsafe fn rewound(stream: *mut libc::FILE) {
    if stream.is_null() {
        return;
    }
    // SAFETY: a valid stream (the caller's contract).
    let fd = unsafe { libc::fileno(stream) };
    if let State::Memfd(kind) = fds::get(fd) {
        stream::refresh(fd, kind);
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rewind(stream: *mut libc::FILE) {
    // SAFETY: forwarding the caller's stream to the real rewind, then refreshing what it reads.
    unsafe {
        if let Some(f) = typed::<RewindFn>(&REWIND) {
            f(stream);
            rewound(stream);
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fseek(stream: *mut libc::FILE, offset: c_long, whence: c_int) -> c_int {
    // SAFETY: forwarding the caller's arguments to the real fseek.
    let r = match unsafe { typed::<FseekFn>(&FSEEK) } {
        Some(f) => unsafe { f(stream, offset, whence) },
        None => {
            crate::set_errno(libc::ENOSYS);
            -1
        }
    };
    if r == 0 && offset == 0 && whence == libc::SEEK_SET {
        // SAFETY: the stream was just repositioned to its start.
        unsafe { rewound(stream) };
    }
    r
}

macro_rules! fseeko_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(stream: *mut libc::FILE, offset: i64, whence: c_int) -> c_int {
            // SAFETY: forwarding the caller's arguments to the real function (64-bit `off_t`).
            let r = match unsafe { typed::<FseekoFn>(&$primary).or_else(|| typed::<FseekoFn>(&$fallback)) } {
                Some(f) => unsafe { f(stream, offset, whence) },
                None => {
                    crate::set_errno(libc::ENOSYS);
                    -1
                }
            };
            if r == 0 && offset == 0 && whence == libc::SEEK_SET {
                // SAFETY: the stream was just repositioned to its start.
                unsafe { rewound(stream) };
            }
            r
        }
    };
}

fseeko_hook!(fseeko, FSEEKO, FSEEKO64);
fseeko_hook!(fseeko64, FSEEKO64, FSEEKO);
