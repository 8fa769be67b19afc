//! The fd family: reads, seeks, duplicates and closes. For an fd the library does not serve
//! each costs one load from the fd table before the real function.

use crate::fds::{self, State};
use crate::real::{Real, typed};
use crate::serve::{self, Bufs};
use crate::{kernel, libc_result, seal, stream, sys};
use core::ffi::{c_int, c_long, c_uint, c_void};

type ReadFn = unsafe extern "C" fn(c_int, *mut c_void, usize) -> isize;
type ReadChkFn = unsafe extern "C" fn(c_int, *mut c_void, usize, usize) -> isize;
type PreadFn = unsafe extern "C" fn(c_int, *mut c_void, usize, i64) -> isize;
type PreadChkFn = unsafe extern "C" fn(c_int, *mut c_void, usize, i64, usize) -> isize;
type ReadvFn = unsafe extern "C" fn(c_int, *const libc::iovec, c_int) -> isize;
type PreadvFn = unsafe extern "C" fn(c_int, *const libc::iovec, c_int, i64) -> isize;
type Preadv2Fn = unsafe extern "C" fn(c_int, *const libc::iovec, c_int, i64, c_int) -> isize;
type LseekFn = unsafe extern "C" fn(c_int, i64, c_int) -> i64;
type CloseFn = unsafe extern "C" fn(c_int) -> c_int;
type CloseRangeFn = unsafe extern "C" fn(c_uint, c_uint, c_int) -> c_int;
type ClosefromFn = unsafe extern "C" fn(c_int);
type DupFn = unsafe extern "C" fn(c_int) -> c_int;
type Dup2Fn = unsafe extern "C" fn(c_int, c_int) -> c_int;
type Dup3Fn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
type FcntlFn = unsafe extern "C" fn(c_int, c_int, usize) -> c_int;
type SendfileFn = unsafe extern "C" fn(c_int, c_int, *mut i64, usize) -> isize;

static READ: Real = Real::new(c"read");
static READ_CHK: Real = Real::new(c"__read_chk");
static PREAD: Real = Real::new(c"pread");
static PREAD64: Real = Real::new(c"pread64");
static PREAD_CHK: Real = Real::new(c"__pread_chk");
static PREAD64_CHK: Real = Real::new(c"__pread64_chk");
static READV: Real = Real::new(c"readv");
static PREADV: Real = Real::new(c"preadv");
static PREADV64: Real = Real::new(c"preadv64");
static PREADV2: Real = Real::new(c"preadv2");
static PREADV64V2: Real = Real::new(c"preadv64v2");
static LSEEK: Real = Real::new(c"lseek");
static LSEEK64: Real = Real::new(c"lseek64");
static CLOSE: Real = Real::new(c"close");
static CLOSE_RANGE: Real = Real::new(c"close_range");
static CLOSEFROM: Real = Real::new(c"closefrom");
static DUP: Real = Real::new(c"dup");
static DUP2: Real = Real::new(c"dup2");
static DUP3: Real = Real::new(c"dup3");
static FCNTL: Real = Real::new(c"fcntl");
static FCNTL64: Real = Real::new(c"fcntl64");
static SENDFILE: Real = Real::new(c"sendfile");
static SENDFILE64: Real = Real::new(c"sendfile64");

fn enosys<T: From<i8>>() -> T {
    crate::set_errno(libc::ENOSYS);
    T::from(-1)
}

/// The read of an fd the fd table says may be ours: served, refreshed, or looked at once.
fn slow_read(fd: c_int, bufs: Bufs, offset: Option<i64>, real: &mut dyn FnMut() -> isize) -> isize {
    let state = match fds::get(fd) {
        State::Unknown if !seal::sealed() => kernel::classify(fd),
        s => s,
    };
    match state {
        State::Kernel(kind) => serve::read(fd, kind, bufs, offset, real),
        State::Memfd(kind) => {
            if offset == Some(0) {
                stream::refresh(fd, kind);
            }
            real()
        }
        _ => real(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize {
    // SAFETY: the caller's arguments, forwarded to the real read.
    let mut real = || match unsafe { typed::<ReadFn>(&READ) } {
        Some(f) => unsafe { f(fd, buf, count) },
        None => enosys(),
    };
    if fds::needs_look(fd) {
        return slow_read(fd, Bufs::One(buf.cast(), count), None, &mut real);
    }
    real()
}

/// `_FORTIFY_SOURCE` read: the real one runs, so its buffer check still does.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __read_chk(fd: c_int, buf: *mut c_void, count: usize, buflen: usize) -> isize {
    // SAFETY: the caller's arguments, forwarded to the real function.
    let mut real = || match unsafe { typed::<ReadChkFn>(&READ_CHK) } {
        Some(f) => unsafe { f(fd, buf, count, buflen) },
        None => enosys(),
    };
    if fds::needs_look(fd) && count <= buflen {
        return slow_read(fd, Bufs::One(buf.cast(), count), None, &mut real);
    }
    real()
}

macro_rules! pread_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        /// A read at offset 0 of a served file sees fresh content, as from the kernel.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, buf: *mut c_void, count: usize, offset: i64) -> isize {
            // SAFETY: the caller's arguments, forwarded to the real function.
            let mut real = || match unsafe {
                typed::<PreadFn>(&$primary).or_else(|| typed::<PreadFn>(&$fallback))
            } {
                Some(f) => unsafe { f(fd, buf, count, offset) },
                None => libc_result(unsafe { sys::pread_raw(fd, buf.cast(), count, offset) } as i64) as isize,
            };
            if fds::needs_look(fd) {
                return slow_read(fd, Bufs::One(buf.cast(), count), Some(offset), &mut real);
            }
            real()
        }
    };
}

pread_hook!(pread, PREAD, PREAD64);
pread_hook!(pread64, PREAD64, PREAD);

macro_rules! pread_chk_hook {
    ($name:ident, $real:ident) => {
        /// `_FORTIFY_SOURCE` pread.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            fd: c_int,
            buf: *mut c_void,
            count: usize,
            offset: i64,
            buflen: usize,
        ) -> isize {
            // SAFETY: the caller's arguments, forwarded to the real function.
            let mut real = || match unsafe { typed::<PreadChkFn>(&$real) } {
                Some(f) => unsafe { f(fd, buf, count, offset, buflen) },
                None => enosys(),
            };
            if fds::needs_look(fd) && count <= buflen {
                return slow_read(fd, Bufs::One(buf.cast(), count), Some(offset), &mut real);
            }
            real()
        }
    };
}

pread_chk_hook!(__pread_chk, PREAD_CHK);
pread_chk_hook!(__pread64_chk, PREAD64_CHK);

#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, count: c_int) -> isize {
    // SAFETY: the caller's arguments, forwarded to the real function.
    let mut real = || match unsafe { typed::<ReadvFn>(&READV) } {
        Some(f) => unsafe { f(fd, iov, count) },
        None => enosys(),
    };
    if fds::needs_look(fd) {
        return slow_read(fd, Bufs::Vec(iov, count), None, &mut real);
    }
    real()
}

macro_rules! preadv_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            fd: c_int,
            iov: *const libc::iovec,
            count: c_int,
            offset: i64,
        ) -> isize {
            // SAFETY: the caller's arguments, forwarded to the real function.
            let mut real =
                || match unsafe { typed::<PreadvFn>(&$primary).or_else(|| typed::<PreadvFn>(&$fallback)) } {
                    Some(f) => unsafe { f(fd, iov, count, offset) },
                    None => libc_result(unsafe { sys::preadv_raw(fd, iov, count, offset) } as i64) as isize,
                };
            if fds::needs_look(fd) {
                return slow_read(fd, Bufs::Vec(iov, count), Some(offset), &mut real);
            }
            real()
        }
    };
}

preadv_hook!(preadv, PREADV, PREADV64);
preadv_hook!(preadv64, PREADV64, PREADV);

macro_rules! preadv2_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        /// `preadv2`: offset -1 reads at (and moves) the file position, like `readv`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            fd: c_int,
            iov: *const libc::iovec,
            count: c_int,
            offset: i64,
            flags: c_int,
        ) -> isize {
            // SAFETY: the caller's arguments, forwarded to the real function.
            let mut real = || match unsafe {
                typed::<Preadv2Fn>(&$primary).or_else(|| typed::<Preadv2Fn>(&$fallback))
            } {
                Some(f) => unsafe { f(fd, iov, count, offset, flags) },
                None => enosys(),
            };
            if fds::needs_look(fd) {
                let at = (offset != -1).then_some(offset);
                return slow_read(fd, Bufs::Vec(iov, count), at, &mut real);
            }
            real()
        }
    };
}

preadv2_hook!(preadv2, PREADV2, PREADV64V2);
preadv2_hook!(preadv64v2, PREADV64V2, PREADV2);

macro_rules! lseek_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        /// On a served file the position is the served content's; a rewind of a stream's
        /// memfd rewrites it with fresh content (procps, dstat).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, offset: i64, whence: c_int) -> i64 {
            // SAFETY: the caller's arguments, forwarded to the real function.
            let mut real = |offset: i64, whence: c_int| match unsafe {
                typed::<LseekFn>(&$primary).or_else(|| typed::<LseekFn>(&$fallback))
            } {
                Some(f) => unsafe { f(fd, offset, whence) },
                None => libc_result(sys::lseek(fd, offset, whence)),
            };
            if fds::is_served(fd) {
                match fds::get(fd) {
                    State::Kernel(kind) => return serve::seek(fd, kind, offset, whence, &mut real),
                    State::Memfd(kind) if offset == 0 && whence == libc::SEEK_SET => {
                        stream::refresh(fd, kind)
                    }
                    State::Memfd(_) if whence != libc::SEEK_SET && whence != libc::SEEK_CUR => {
                        if let Some(r) = super::meta::seek_like_kernel(fd, offset, whence) {
                            return r;
                        }
                    }
                    _ => {}
                }
            }
            real(offset, whence)
        }
    };
}

lseek_hook!(lseek, LSEEK, LSEEK64);
lseek_hook!(lseek64, LSEEK64, LSEEK);

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    // Forgotten before the kernel frees the number: another thread may get it at once.
    fds::closing(fd);
    // SAFETY: the caller's argument, forwarded to the real close.
    match unsafe { typed::<CloseFn>(&CLOSE) } {
        Some(f) => unsafe { f(fd) },
        None => libc_result(i64::from(sys::close(fd))) as c_int,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    const CLOSE_RANGE_CLOEXEC: c_int = 4;
    if flags & CLOSE_RANGE_CLOEXEC == 0 && first <= last {
        fds::closing_range(first, last);
    }
    // SAFETY: the caller's arguments, forwarded to the real function.
    match unsafe { typed::<CloseRangeFn>(&CLOSE_RANGE) } {
        Some(f) => unsafe { f(first, last, flags) },
        None => enosys(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn closefrom(first: c_int) {
    fds::closing_range(u32::try_from(first).unwrap_or(0), u32::MAX);
    // SAFETY: the caller's argument, forwarded to the real function.
    if let Some(f) = unsafe { typed::<ClosefromFn>(&CLOSEFROM) } {
        unsafe { f(first) }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    // SAFETY: the caller's argument, forwarded to the real function.
    let new = match unsafe { typed::<DupFn>(&DUP) } {
        Some(f) => unsafe { f(fd) },
        None => enosys(),
    };
    if new >= 0 {
        fds::duplicated(fd, new);
    }
    new
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    // SAFETY: the caller's arguments, forwarded to the real function.
    let r = match unsafe { typed::<Dup2Fn>(&DUP2) } {
        Some(f) => unsafe { f(old, new) },
        None => enosys(),
    };
    if r >= 0 && old != new {
        fds::duplicated(old, r);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's arguments, forwarded to the real function.
    let r = match unsafe { typed::<Dup3Fn>(&DUP3) } {
        Some(f) => unsafe { f(old, new, flags) },
        None => enosys(),
    };
    if r >= 0 {
        fds::duplicated(old, r);
    }
    r
}

/// # Safety
/// The caller's fcntl arguments (the third is passed on as the machine word it was).
unsafe fn fcntl_common(primary: &Real, fallback: &Real, fd: c_int, cmd: c_int, arg: usize) -> c_int {
    if super::meta::seals_refused(fd, cmd) {
        crate::set_errno(libc::EINVAL);
        return -1;
    }
    // SAFETY: the caller's arguments, forwarded to the real function.
    let r = match unsafe { typed::<FcntlFn>(primary).or_else(|| typed::<FcntlFn>(fallback)) } {
        Some(f) => unsafe { f(fd, cmd, arg) },
        None => libc_result(i64::from(sys::fcntl(fd, cmd, arg as c_long))) as c_int,
    };
    if r >= 0 && (cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC) {
        fds::duplicated(fd, r);
    }
    r
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: forwarded.
    unsafe { fcntl_common(&FCNTL, &FCNTL64, fd, cmd, arg) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: forwarded.
    unsafe { fcntl_common(&FCNTL64, &FCNTL, fd, cmd, arg) }
}

macro_rules! sendfile_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        /// From a served file the content is the container's (Python's `shutil.copyfile`).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(out: c_int, fd: c_int, offset: *mut i64, count: usize) -> isize {
            // SAFETY: the caller's arguments (or a pipe, offset and count of the library's own),
            // forwarded to the real function.
            let mut real = |out: c_int, offset: *mut i64, count: usize| match unsafe {
                typed::<SendfileFn>(&$primary).or_else(|| typed::<SendfileFn>(&$fallback))
            } {
                Some(f) => unsafe { f(out, fd, offset, count) },
                None => enosys(),
            };
            if fds::needs_look(fd) {
                let state = match fds::get(fd) {
                    State::Unknown if !seal::sealed() => kernel::classify(fd),
                    s => s,
                };
                if let State::Kernel(kind) = state {
                    return serve::sendfile(out, fd, kind, offset, count, &mut real);
                }
            }
            real(out, offset, count)
        }
    };
}

sendfile_hook!(sendfile, SENDFILE, SENDFILE64);
sendfile_hook!(sendfile64, SENDFILE64, SENDFILE);
