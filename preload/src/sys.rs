//! Raw system calls. The library's own I/O goes straight to the kernel: through libc it would
//! re-enter our own hooks, and it would clobber the caller's `errno`.
//! Every function returns the kernel's result: a negative errno on failure.

use core::arch::asm;
use core::ffi::{CStr, c_char, c_int, c_long};

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const READ: i64 = 0;
    pub const WRITE: i64 = 1;
    pub const CLOSE: i64 = 3;
    pub const FSTAT: i64 = 5;
    pub const LSEEK: i64 = 8;
    pub const MMAP: i64 = 9;
    pub const MPROTECT: i64 = 10;
    pub const MUNMAP: i64 = 11;
    pub const PREAD64: i64 = 17;
    pub const PWRITE64: i64 = 18;
    pub const PREADV: i64 = 295;
    pub const FCNTL: i64 = 72;
    pub const FTRUNCATE: i64 = 77;
    pub const SYSINFO: i64 = 99;
    pub const STATFS: i64 = 137;
    pub const FSTATFS: i64 = 138;
    pub const SCHED_GETAFFINITY: i64 = 204;
    pub const OPENAT: i64 = 257;
    pub const NEWFSTATAT: i64 = 262;
    pub const READLINKAT: i64 = 267;
    pub const DUP3: i64 = 292;
    pub const PRLIMIT64: i64 = 302;
    pub const MEMFD_CREATE: i64 = 319;
    pub const PIPE2: i64 = 293;
    pub const GETDENTS64: i64 = 217;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const READ: i64 = 63;
    pub const WRITE: i64 = 64;
    pub const CLOSE: i64 = 57;
    pub const FSTAT: i64 = 80;
    pub const LSEEK: i64 = 62;
    pub const MMAP: i64 = 222;
    pub const MPROTECT: i64 = 226;
    pub const MUNMAP: i64 = 215;
    pub const PREAD64: i64 = 67;
    pub const PWRITE64: i64 = 68;
    pub const PREADV: i64 = 69;
    pub const FCNTL: i64 = 25;
    pub const FTRUNCATE: i64 = 46;
    pub const SYSINFO: i64 = 179;
    pub const STATFS: i64 = 43;
    pub const FSTATFS: i64 = 44;
    pub const SCHED_GETAFFINITY: i64 = 123;
    pub const OPENAT: i64 = 56;
    pub const NEWFSTATAT: i64 = 79;
    pub const READLINKAT: i64 = 78;
    pub const DUP3: i64 = 24;
    pub const PRLIMIT64: i64 = 261;
    pub const MEMFD_CREATE: i64 = 279;
    pub const PIPE2: i64 = 59;
    pub const GETDENTS64: i64 = 61;
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn syscall6(n: i64, a: i64, b: i64, c: i64, d: i64, e: i64, f: i64) -> i64 {
    let ret: i64;
    // SAFETY: the x86-64 Linux syscall convention; rcx and r11 are clobbered by `syscall`. The
    // caller guarantees the arguments are valid for syscall `n`.
    unsafe {
        asm!("syscall", inlateout("rax") n => ret, in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d,
             in("r8") e, in("r9") f, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn syscall6(n: i64, a: i64, b: i64, c: i64, d: i64, e: i64, f: i64) -> i64 {
    let ret: i64;
    // SAFETY: the AArch64 Linux syscall convention (number in x8, result in x0). The caller
    // guarantees the arguments are valid for syscall `n`.
    unsafe {
        asm!("svc 0", in("x8") n, inlateout("x0") a => ret, in("x1") b, in("x2") c, in("x3") d,
             in("x4") e, in("x5") f, options(nostack));
    }
    ret
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("libcgshim supports x86_64 and aarch64 Linux");

#[inline(always)]
unsafe fn syscall4(n: i64, a: i64, b: i64, c: i64, d: i64) -> i64 {
    // SAFETY: forwarded from the caller; unused registers carry zero.
    unsafe { syscall6(n, a, b, c, d, 0, 0) }
}

pub const AT_FDCWD: c_int = -100;

/// `openat(2)`; `path` must be NUL-terminated.
pub fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: u32) -> c_int {
    // SAFETY: the kernel validates the path pointer (EFAULT); callers pass NUL-terminated paths.
    unsafe { syscall4(nr::OPENAT, dirfd as i64, path as i64, flags as i64, mode as i64) as c_int }
}

pub fn read(fd: c_int, buf: &mut [u8]) -> isize {
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { syscall4(nr::READ, fd as i64, buf.as_mut_ptr() as i64, buf.len() as i64, 0) as isize }
}

pub fn pread(fd: c_int, buf: &mut [u8], offset: i64) -> isize {
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { syscall4(nr::PREAD64, fd as i64, buf.as_mut_ptr() as i64, buf.len() as i64, offset) as isize }
}

/// `pread64(2)` into memory the caller names by pointer (a program's buffer, to have the
/// kernel check that it is writable: EFAULT instead of a crash).
///
/// # Safety
/// None beyond the kernel's own checks: a bad pointer makes the call fail with EFAULT.
pub unsafe fn pread_raw(fd: c_int, buf: *mut u8, len: usize, offset: i64) -> isize {
    // SAFETY: the kernel validates the buffer.
    unsafe { syscall4(nr::PREAD64, fd as i64, buf as i64, len as i64, offset) as isize }
}

/// `preadv(2)` into a program's iovec array (see [`pread_raw`]).
///
/// # Safety
/// None beyond the kernel's own checks.
pub unsafe fn preadv_raw(fd: c_int, iov: *const libc::iovec, count: c_int, offset: i64) -> isize {
    // SAFETY: the kernel validates the array and the buffers.
    unsafe { syscall6(nr::PREADV, fd as i64, iov as i64, count as i64, offset, 0, 0) as isize }
}

pub fn write(fd: c_int, buf: &[u8]) -> isize {
    // SAFETY: `buf` is valid for reads of its length.
    unsafe { syscall4(nr::WRITE, fd as i64, buf.as_ptr() as i64, buf.len() as i64, 0) as isize }
}

pub fn pwrite(fd: c_int, buf: &[u8], offset: i64) -> isize {
    // SAFETY: `buf` is valid for reads of its length.
    unsafe { syscall4(nr::PWRITE64, fd as i64, buf.as_ptr() as i64, buf.len() as i64, offset) as isize }
}

pub fn close(fd: c_int) -> c_int {
    // SAFETY: closing an fd has no memory-safety requirement.
    unsafe { syscall4(nr::CLOSE, fd as i64, 0, 0, 0) as c_int }
}

pub fn lseek(fd: c_int, offset: i64, whence: c_int) -> i64 {
    // SAFETY: no pointers involved.
    unsafe { syscall4(nr::LSEEK, fd as i64, offset, whence as i64, 0) }
}

pub fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: only integer-argument commands are used.
    unsafe { syscall4(nr::FCNTL, fd as i64, cmd as i64, arg, 0) as c_int }
}

pub fn ftruncate(fd: c_int, len: u64) -> c_int {
    // SAFETY: no pointers involved.
    unsafe { syscall4(nr::FTRUNCATE, fd as i64, len as i64, 0, 0) as c_int }
}

pub fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: no pointers involved.
    unsafe { syscall4(nr::DUP3, old as i64, new as i64, flags as i64, 0) as c_int }
}

pub fn memfd_create(name: &CStr, flags: u32) -> c_int {
    // SAFETY: `name` is NUL-terminated.
    unsafe { syscall4(nr::MEMFD_CREATE, name.as_ptr() as i64, flags as i64, 0, 0) as c_int }
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub fn pipe() -> Option<(c_int, c_int)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: a writable array of two ints.
    let r = unsafe { syscall4(nr::PIPE2, fds.as_mut_ptr() as i64, libc::O_CLOEXEC as i64, 0, 0) };
    (r == 0).then_some((fds[0], fds[1]))
}

pub fn sysinfo(info: &mut libc::sysinfo) -> c_int {
    // SAFETY: `info` is a valid, writable struct sysinfo.
    unsafe { syscall4(nr::SYSINFO, info as *mut libc::sysinfo as i64, 0, 0, 0) as c_int }
}

/// `readlinkat(AT_FDCWD, path)` into `buf`; the length read.
pub fn readlink(path: &CStr, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: a NUL-terminated path and a writable buffer of the given length.
    let n = unsafe {
        syscall4(
            nr::READLINKAT,
            AT_FDCWD as i64,
            path.as_ptr() as i64,
            buf.as_mut_ptr() as i64,
            buf.len() as i64,
        )
    };
    usize::try_from(n).ok()
}

/// The CPUs the calling thread may run on.
pub fn affinity() -> Option<cgshim::read::cpulist::CpuSet> {
    let mut mask = [0u8; cgshim::read::cpulist::MAX_CPUS / 8];
    // SAFETY: a writable mask of the given size in bytes.
    let n = unsafe { syscall4(nr::SCHED_GETAFFINITY, 0, mask.len() as i64, mask.as_mut_ptr() as i64, 0) };
    let set = cgshim::read::cpulist::CpuSet::from_mask(mask.get(..usize::try_from(n).ok()?)?);
    (set.count() > 0).then_some(set)
}

/// The soft and hard limit of `resource` (`RLIMIT_*`) of the calling process.
pub fn rlimit(resource: c_int) -> Option<libc::rlimit> {
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a null new limit and a writable old one.
    let r =
        unsafe { syscall4(nr::PRLIMIT64, 0, i64::from(resource), 0, &mut old as *mut libc::rlimit as i64) };
    (r == 0).then_some(old)
}

/// The soft and hard `RLIMIT_NOFILE`.
fn nofile() -> Option<libc::rlimit> {
    rlimit(libc::RLIMIT_NOFILE as c_int)
}

fn set_nofile(limit: &libc::rlimit) -> bool {
    // SAFETY: a valid new limit and a null old one.
    let r = unsafe {
        syscall4(nr::PRLIMIT64, 0, libc::RLIMIT_NOFILE as i64, limit as *const libc::rlimit as i64, 0)
    };
    r == 0
}

/// Runs `make`, a system call that creates an fd. When it fails only because the process is at
/// its fd limit (EMFILE), the limit is raised by one for the retry and put back at once:
/// a program that has exactly used up its fds must still see the container's values, and the fd
/// the library needs is closed again before it returns.
pub fn with_fd_headroom(mut make: impl FnMut() -> c_int) -> c_int {
    let fd = make();
    if fd != -libc::EMFILE {
        return fd;
    }
    let Some(old) = nofile() else { return fd };
    // Above the soft limit when there is room below the hard one; above the hard one too for a
    // process allowed to raise it (CAP_SYS_RESOURCE).
    let raised = libc::rlimit {
        rlim_cur: old.rlim_cur.saturating_add(1),
        rlim_max: old.rlim_max.max(old.rlim_cur.saturating_add(1)),
    };
    if !set_nofile(&raised) {
        return fd;
    }
    let retry = make();
    set_nofile(&old);
    retry
}

const PROT_NONE: i64 = 0;
const PROT_READ_WRITE: i64 = 0x1 | 0x2;
const MAP_PRIVATE_ANONYMOUS_NORESERVE: i64 = 0x02 | 0x20 | 0x4000;

/// A fresh anonymous mapping of `len` bytes, `None` when the kernel refuses. Pages cost nothing
/// until touched.
pub fn map(len: usize) -> Option<*mut u8> {
    // SAFETY: a fresh anonymous mapping; no existing memory is affected.
    let p =
        unsafe { syscall6(nr::MMAP, 0, len as i64, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS_NORESERVE, -1, 0) };
    (!(-4095..0).contains(&p)).then_some(p as *mut u8)
}

/// Makes the first page of a mapping inaccessible (a stack guard).
pub fn guard(base: *mut u8) -> bool {
    // SAFETY: `base` is the page-aligned start of a mapping of ours.
    unsafe { syscall4(nr::MPROTECT, base as i64, 4096, PROT_NONE, 0) == 0 }
}

/// Unmaps a region obtained from [`map`].
///
/// # Safety
/// Nothing may use the region afterwards.
pub unsafe fn unmap(base: *mut u8, len: usize) {
    // SAFETY: the caller owns the region.
    unsafe { syscall4(nr::MUNMAP, base as i64, len as i64, 0, 0) };
}

/// The filesystem magic of an open file (`statfs.f_type`).
pub fn fs_magic(fd: c_int) -> Option<i64> {
    // SAFETY: all-zero is a valid `struct statfs`.
    let mut sfs: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: the struct is valid and writable.
    let r = unsafe { syscall4(nr::FSTATFS, fd as i64, &mut sfs as *mut libc::statfs as i64, 0, 0) };
    (r == 0).then_some(sfs.f_type as i64)
}

/// The filesystem magic of the file at `path` (links followed).
pub fn path_fs_magic(path: &CStr) -> Option<i64> {
    // SAFETY: all-zero is a valid `struct statfs`.
    let mut sfs: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a writable struct.
    let r = unsafe { syscall4(nr::STATFS, path.as_ptr() as i64, &mut sfs as *mut libc::statfs as i64, 0, 0) };
    (r == 0).then_some(sfs.f_type as i64)
}

/// `fstat(2)` of an open file.
pub fn fstat(fd: c_int) -> Option<libc::stat> {
    // SAFETY: all-zero is a valid `struct stat`.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: the struct is valid and writable.
    let r = unsafe { syscall4(nr::FSTAT, fd as i64, &mut st as *mut libc::stat as i64, 0, 0) };
    (r == 0).then_some(st)
}

/// `stat(2)` of a path (links followed).
pub fn stat(path: &CStr) -> Option<libc::stat> {
    // SAFETY: all-zero is a valid `struct stat`.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a writable struct.
    let r = unsafe {
        syscall4(nr::NEWFSTATAT, AT_FDCWD as i64, path.as_ptr() as i64, &mut st as *mut libc::stat as i64, 0)
    };
    (r == 0).then_some(st)
}

/// `stat(2)` of a path into the caller's buffer (a program's `struct stat`).
///
/// # Safety
/// None beyond the kernel's checks of `buf` (EFAULT).
pub unsafe fn stat_into(path: &CStr, buf: *mut libc::stat) -> c_int {
    // SAFETY: a NUL-terminated path; the kernel checks the buffer.
    unsafe { syscall4(nr::NEWFSTATAT, AT_FDCWD as i64, path.as_ptr() as i64, buf as i64, 0) as c_int }
}

/// `fstat(2)` into the caller's buffer.
///
/// # Safety
/// None beyond the kernel's checks of `buf` (EFAULT).
pub unsafe fn fstat_into(fd: c_int, buf: *mut libc::stat) -> c_int {
    // SAFETY: the kernel checks the buffer.
    unsafe { syscall4(nr::FSTAT, fd as i64, buf as i64, 0, 0) as c_int }
}

/// `statfs(2)` of a path into the caller's buffer.
///
/// # Safety
/// None beyond the kernel's checks of `buf` (EFAULT).
pub unsafe fn statfs_into(path: &CStr, buf: *mut libc::statfs) -> c_int {
    // SAFETY: a NUL-terminated path; the kernel checks the buffer.
    unsafe { syscall4(nr::STATFS, path.as_ptr() as i64, buf as i64, 0, 0) as c_int }
}

/// Reads directory entries of `fd` into `buf` (`getdents64(2)`): bytes read, 0 at the end,
/// or `-errno`.
pub fn getdents64(fd: c_int, buf: &mut [u8]) -> isize {
    // SAFETY: the buffer is writable for its length.
    unsafe { syscall4(nr::GETDENTS64, fd as i64, buf.as_mut_ptr() as i64, buf.len() as i64, 0) as isize }
}

/// The (device, inode) of an open file.
pub fn identity(fd: c_int) -> Option<(u64, u64)> {
    fstat(fd).map(|st| (st.st_dev, st.st_ino))
}
