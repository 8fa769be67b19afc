//! The entry points of `cgshim exec`'s supervisor. A statically linked or Go program cannot load
//! the library, so the supervisor (its parent, which loads this library with `dlopen`) answers
//! the system calls it traps with seccomp user notification by asking these functions: the same
//! decisions, the same caches and the same rendering as a preloaded process, so a supervised and
//! a preloaded program in one cgroup see the same numbers.
//!
//! They are a private interface between the command and the library of the same version (the
//! command checks the version mark first), not part of `cgshim.h`.

use crate::fds::State;
use crate::kernel::{self, Kind};
use crate::{stream, sys};
use core::ffi::{CStr, c_char, c_int};

/// Whether the `len` bytes at `path`, a path a supervised program opens, end in the name of a
/// file the library serves (1) or not (0): the supervisor opens nothing for the others.
///
/// # Safety
/// `path` points to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cgshim_supervisor_named(path: *const u8, len: usize) -> c_int {
    if path.is_null() {
        return 0;
    }
    // SAFETY: the caller's guarantee.
    let path = unsafe { core::slice::from_raw_parts(path, len) };
    c_int::from(kernel::has_served_name(path))
}

/// A supervised program opened `path` and the supervisor opened the same file as `fd` (read
/// only): if it is one of the kernel files the library serves, a new file (close-on-exec, read
/// only, at offset 0) holding the served content, for the supervisor to give to the program.
/// Otherwise, or on any failure, a negative value: the program opens the kernel's file itself.
///
/// # Safety
/// `path` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cgshim_supervisor_open(path: *const c_char, fd: c_int) -> c_int {
    if path.is_null() || fd < 0 {
        return -libc::EINVAL;
    }
    // SAFETY: the caller's guarantee.
    let path = unsafe { CStr::from_ptr(path) }.to_bytes();
    match kernel::opened_state(fd, sys::AT_FDCWD, path, libc::O_RDONLY) {
        State::Kernel(kind) => stream::served_copy(fd, kind),
        _ => -libc::ENOENT,
    }
}

/// A supervised program rewound a file the supervisor gave it, whose link in `/proc/<pid>/fd`
/// is `link` (`/memfd:cgshim:meminfo (deleted)`); `rw` is that file opened anew for writing.
/// Rewrites it with fresh values, as a preloaded process's rewound stream is. 0 when rewritten,
/// a negative value when the file is not one of ours or cannot be refreshed here (a process's
/// own `status` and a CPU's `online` file are rendered from the program's own kernel file,
/// which the supervisor does not hold).
///
/// # Safety
/// `link` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cgshim_supervisor_refresh(rw: c_int, link: *const c_char) -> c_int {
    if link.is_null() || rw < 0 {
        return -libc::EINVAL;
    }
    // SAFETY: the caller's guarantee.
    let link = unsafe { CStr::from_ptr(link) }.to_bytes();
    let Some(kind) = kernel::memfd_kind(link) else { return -libc::ENOENT };
    if matches!(kind, Kind::Status | Kind::CpuNOnline) {
        return -libc::ENOTSUP;
    }
    if stream::rewrite(rw, rw, kind) { 0 } else { -libc::EIO }
}

/// `sysinfo(2)` as a preloaded process gets it.
#[unsafe(no_mangle)]
pub extern "C" fn cgshim_supervisor_sysinfo(info: *mut libc::sysinfo) -> c_int {
    crate::hooks::calls::answer_sysinfo(info)
}

/// Narrows `size` bytes of an affinity mask a supervised program's thread got from the kernel
/// to the shown set S, as `sched_getaffinity` does in a preloaded process.
///
/// # Safety
/// `mask` points to `size` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cgshim_supervisor_narrow(size: usize, mask: *mut u8) {
    crate::hooks::calls::narrow_mask(size, mask);
}
