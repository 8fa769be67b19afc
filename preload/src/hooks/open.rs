//! The path-open family. The kernel opens first; a successful open of one of our files is
//! recorded, and its reads are then served (see `serve`). Every other open costs a few byte
//! compares on a path the kernel has already accepted, and one store into the fd table.

use crate::fds;
use crate::kernel;
use crate::real::{Real, typed};
use crate::{libc_result, sys};
use core::ffi::{c_char, c_int};

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, libc::mode_t) -> c_int;
type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, libc::mode_t) -> c_int;
type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
type Openat2Fn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;

static OPEN: Real = Real::new(c"open");
static OPEN64: Real = Real::new(c"open64");
static OPENAT: Real = Real::new(c"openat");
static OPENAT64: Real = Real::new(c"openat64");
static OPEN_2: Real = Real::new(c"__open_2");
static OPEN64_2: Real = Real::new(c"__open64_2");
static OPENAT_2: Real = Real::new(c"__openat_2");
static OPENAT64_2: Real = Real::new(c"__openat64_2");

/// Records what the kernel just opened at `fd` for `path` (relative to `dirfd`).
///
/// # Safety
/// `fd >= 0` means the kernel accepted `path`, so it is a valid NUL-terminated string.
#[inline]
pub unsafe fn opened(dirfd: c_int, path: *const c_char, flags: c_int, fd: c_int) {
    if fd < 0 {
        return;
    }
    // SAFETY: the caller's contract.
    let bytes = unsafe { kernel::path_bytes(path) };
    fds::set(fd, kernel::opened_state(fd, dirfd, bytes, flags));
}

/// The real function's result, or the raw system call's when libc has no such symbol.
fn or_raw(real: Option<c_int>, dirfd: c_int, path: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
    match real {
        Some(fd) => fd,
        None => libc_result(i64::from(sys::openat(dirfd, path, flags, mode))) as c_int,
    }
}

macro_rules! path_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
            // SAFETY: the caller's arguments go unchanged to the real function of the same (or
            // the equivalent LFS) name; `opened` reads the path only after the kernel accepted it.
            unsafe {
                let real = typed::<OpenFn>(&$primary).or_else(|| typed::<OpenFn>(&$fallback));
                let fd = or_raw(real.map(|f| f(path, flags, mode)), sys::AT_FDCWD, path, flags, mode);
                opened(sys::AT_FDCWD, path, flags, fd);
                fd
            }
        }
    };
}

macro_rules! openat_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            dirfd: c_int,
            path: *const c_char,
            flags: c_int,
            mode: libc::mode_t,
        ) -> c_int {
            // SAFETY: as for the open hooks.
            unsafe {
                let real = typed::<OpenatFn>(&$primary).or_else(|| typed::<OpenatFn>(&$fallback));
                let fd = or_raw(real.map(|f| f(dirfd, path, flags, mode)), dirfd, path, flags, mode);
                opened(dirfd, path, flags, fd);
                fd
            }
        }
    };
}

path_hook!(open, OPEN, OPEN64);
path_hook!(open64, OPEN64, OPEN);
openat_hook!(openat, OPENAT, OPENAT64);
openat_hook!(openat64, OPENAT64, OPENAT);

macro_rules! fortified_hook {
    ($name:ident, $real:ident, $plain:ident) => {
        /// `_FORTIFY_SOURCE` variant: the real one runs, so its checks still do.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int) -> c_int {
            // SAFETY: as for the open hooks.
            unsafe {
                let real = match typed::<Open2Fn>(&$real) {
                    Some(f) => Some(f(path, flags)),
                    None => typed::<OpenFn>(&$plain).map(|f| f(path, flags, 0)),
                };
                let fd = or_raw(real, sys::AT_FDCWD, path, flags, 0);
                opened(sys::AT_FDCWD, path, flags, fd);
                fd
            }
        }
    };
}

macro_rules! fortified_at_hook {
    ($name:ident, $real:ident, $plain:ident) => {
        /// `_FORTIFY_SOURCE` variant of `openat`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
            // SAFETY: as for the open hooks.
            unsafe {
                let real = match typed::<Openat2Fn>(&$real) {
                    Some(f) => Some(f(dirfd, path, flags)),
                    None => typed::<OpenatFn>(&$plain).map(|f| f(dirfd, path, flags, 0)),
                };
                let fd = or_raw(real, dirfd, path, flags, 0);
                opened(dirfd, path, flags, fd);
                fd
            }
        }
    };
}

fortified_hook!(__open_2, OPEN_2, OPEN);
fortified_hook!(__open64_2, OPEN64_2, OPEN64);
fortified_at_hook!(__openat_2, OPENAT_2, OPENAT);
fortified_at_hook!(__openat64_2, OPENAT64_2, OPENAT64);
