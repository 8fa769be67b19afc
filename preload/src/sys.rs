//! Raw system calls. The library's own I/O goes straight to the kernel: through libc it would
//! re-enter our own `open`/`lseek` hooks, and it would clobber the caller's `errno`.
//! Every function returns the kernel's result: a negative errno on failure.

use core::arch::asm;
use core::ffi::{c_char, c_int, c_long};

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const READ: i64 = 0;
    pub const WRITE: i64 = 1;
    pub const CLOSE: i64 = 3;
    pub const FSTAT: i64 = 5;
    pub const LSEEK: i64 = 8;
    pub const PREAD64: i64 = 17;
    pub const FCNTL: i64 = 72;
    pub const FCHMOD: i64 = 91;
    pub const SYSINFO: i64 = 99;
    pub const FSTATFS: i64 = 138;
    pub const OPENAT: i64 = 257;
    pub const DUP3: i64 = 292;
    pub const MEMFD_CREATE: i64 = 319;
    pub const READLINKAT: i64 = 267;
    pub const SCHED_GETAFFINITY: i64 = 204;
    pub const MMAP: i64 = 9;
    pub const NEWFSTATAT: i64 = 262;
    pub const MUNMAP: i64 = 11;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const READ: i64 = 63;
    pub const WRITE: i64 = 64;
    pub const CLOSE: i64 = 57;
    pub const FSTAT: i64 = 80;
    pub const LSEEK: i64 = 62;
    pub const PREAD64: i64 = 67;
    pub const FCNTL: i64 = 25;
    pub const FCHMOD: i64 = 52;
    pub const SYSINFO: i64 = 179;
    pub const FSTATFS: i64 = 44;
    pub const OPENAT: i64 = 56;
    pub const DUP3: i64 = 24;
    pub const MEMFD_CREATE: i64 = 279;
    pub const READLINKAT: i64 = 78;
    pub const SCHED_GETAFFINITY: i64 = 123;
    pub const MMAP: i64 = 222;
    pub const NEWFSTATAT: i64 = 79;
    pub const MUNMAP: i64 = 215;
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn syscall4(n: i64, a: i64, b: i64, c: i64, d: i64) -> i64 {
    let ret: i64;
    // SAFETY: the x86-64 Linux syscall convention; rcx and r11 are clobbered by `syscall`. The
    // caller guarantees the arguments are valid for syscall `n`.
    unsafe {
        asm!("syscall", inlateout("rax") n => ret, in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn syscall4(n: i64, a: i64, b: i64, c: i64, d: i64) -> i64 {
    let ret: i64;
    // SAFETY: the AArch64 Linux syscall convention (number in x8, result in x0). The caller
    // guarantees the arguments are valid for syscall `n`.
    unsafe {
        asm!("svc 0", in("x8") n, inlateout("x0") a => ret, in("x1") b, in("x2") c, in("x3") d,
             options(nostack));
    }
    ret
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn syscall6(n: i64, a: i64, b: i64, c: i64, d: i64, e: i64, f: i64) -> i64 {
    let ret: i64;
    // SAFETY: as for `syscall4`, with r8 and r9 carrying the fifth and sixth arguments.
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
    // SAFETY: as for `syscall4`, with x4 and x5 carrying the fifth and sixth arguments.
    unsafe {
        asm!("svc 0", in("x8") n, inlateout("x0") a => ret, in("x1") b, in("x2") c, in("x3") d,
             in("x4") e, in("x5") f, options(nostack));
    }
    ret
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("libcgshim supports x86_64 and aarch64 Linux");

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

pub fn write(fd: c_int, buf: &[u8]) -> isize {
    // SAFETY: `buf` is valid for reads of its length.
    unsafe { syscall4(nr::WRITE, fd as i64, buf.as_ptr() as i64, buf.len() as i64, 0) as isize }
}

pub fn close(fd: c_int) -> c_int {
    // SAFETY: closing an fd has no memory-safety requirement.
    unsafe { syscall4(nr::CLOSE, fd as i64, 0, 0, 0) as c_int }
}

pub fn lseek(fd: c_int, offset: i64, whence: c_int) -> i64 {
    // SAFETY: no pointers involved.
    unsafe { syscall4(nr::LSEEK, fd as i64, offset, whence as i64, 0) }
}

/// `pread64(2)` into a raw buffer (used only as the fallback of the `pread` hooks).
///
/// # Safety
/// `buf` must be valid for writes of `len` bytes, or the kernel returns EFAULT.
pub unsafe fn pread(fd: c_int, buf: *mut u8, len: usize, offset: i64) -> isize {
    // SAFETY: forwarded from the caller.
    unsafe { syscall4(nr::PREAD64, fd as i64, buf as i64, len as i64, offset) as isize }
}

pub fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int {
    // SAFETY: only integer-argument commands are used.
    unsafe { syscall4(nr::FCNTL, fd as i64, cmd as i64, arg, 0) as c_int }
}

pub fn fchmod(fd: c_int, mode: u32) -> c_int {
    // SAFETY: no pointers involved.
    unsafe { syscall4(nr::FCHMOD, fd as i64, mode as i64, 0, 0) as c_int }
}

pub fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: no pointers involved.
    unsafe { syscall4(nr::DUP3, old as i64, new as i64, flags as i64, 0) as c_int }
}

pub fn memfd_create(name: &core::ffi::CStr, flags: u32) -> c_int {
    // SAFETY: `name` is NUL-terminated.
    unsafe { syscall4(nr::MEMFD_CREATE, name.as_ptr() as i64, flags as i64, 0, 0) as c_int }
}

pub fn sysinfo(info: &mut libc::sysinfo) -> c_int {
    // SAFETY: `info` is a valid, writable struct sysinfo.
    unsafe { syscall4(nr::SYSINFO, info as *mut libc::sysinfo as i64, 0, 0, 0) as c_int }
}

/// `readlinkat(AT_FDCWD, path)` into `buf`; the length read.
pub fn readlink(path: &core::ffi::CStr, buf: &mut [u8]) -> Option<usize> {
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

/// An anonymous private mapping used as a large scratch buffer, unmapped on drop. Pages cost
/// nothing until touched.
pub struct Mapping {
    ptr: *mut u8,
    cap: usize,
    len: usize,
}

impl Mapping {
    pub fn new(cap: usize) -> Option<Mapping> {
        const PROT_READ_WRITE: i64 = 0x1 | 0x2;
        const MAP_PRIVATE_ANONYMOUS: i64 = 0x02 | 0x20;
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let p = unsafe { syscall6(nr::MMAP, 0, cap as i64, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0) };
        if !(0..).contains(&p) && p > -4096 {
            return None;
        }
        Some(Mapping { ptr: p as *mut u8, cap, len: 0 })
    }

    pub fn filled(&self) -> &[u8] {
        // SAFETY: `ptr` maps `cap` bytes and `len <= cap` bytes have been written.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn spare(&mut self) -> &mut [u8] {
        // SAFETY: the unwritten tail of the mapping, exclusively borrowed through `self`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.add(self.len), self.cap - self.len) }
    }

    pub fn advance(&mut self, n: usize) {
        self.len = self.len.saturating_add(n).min(self.cap);
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region this value owns.
        unsafe { syscall4(nr::MUNMAP, self.ptr as i64, self.cap as i64, 0, 0) };
    }
}

/// The filesystem magic of an open file (`statfs.f_type`).
pub fn fs_magic(fd: c_int) -> Option<i64> {
    // SAFETY: all-zero is a valid `struct statfs`.
    let mut sfs: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: the struct is valid and writable.
    let r = unsafe { syscall4(nr::FSTATFS, fd as i64, &mut sfs as *mut libc::statfs as i64, 0, 0) };
    (r == 0).then_some(sfs.f_type as i64)
}

/// Whether `path` (relative to `dirfd`, links followed) is a regular file, without opening it:
/// opening a FIFO would block, or complete a writer's open.
pub fn is_regular_file(dirfd: c_int, path: *const c_char) -> bool {
    // SAFETY: all-zero is a valid `struct stat`.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: the caller's NUL-terminated path and a writable struct.
    let r =
        unsafe { syscall4(nr::NEWFSTATAT, dirfd as i64, path as i64, &mut st as *mut libc::stat as i64, 0) };
    r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// The (device, inode) of an open file.
pub fn inode(fd: c_int) -> Option<(u64, u64)> {
    // SAFETY: all-zero is a valid `struct stat`.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: the struct is valid and writable.
    let r = unsafe { syscall4(nr::FSTAT, fd as i64, &mut st as *mut libc::stat as i64, 0, 0) };
    (r == 0).then_some((st.st_dev as u64, st.st_ino as u64))
}
