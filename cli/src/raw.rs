//! Raw system calls for everything the command reads from the kernel.
//!
//! `cgshim` may itself run with `libcgshim.so` preloaded (an image with `/etc/ld.so.preload`, or
//! `cgshim exec cgshim show`). Then libc's `open`, `sysinfo`, `sysconf` and `sched_getaffinity`
//! answer with the container's view, and `show` would explain the view by the view. So every
//! read under `/proc` and `/sys`, `sysinfo(2)` and the affinity mask go straight to the kernel
//! through `syscall(2)`, exactly as the library's own I/O does.

use cgshim::decide::source::Source;
use cgshim::read::cpulist::{CpuSet, MAX_CPUS};
use std::ffi::CString;

/// An fd opened here, closed on drop.
pub struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closing an fd this value owns; no memory is involved.
        unsafe { libc::syscall(libc::SYS_close, self.0) };
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Opens `path` read-only with `openat(2)`.
pub fn open(path: &[u8]) -> Option<Fd> {
    let c = CString::new(path).ok()?;
    loop {
        // SAFETY: a NUL-terminated path; the kernel copies it and validates the flags.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                c.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                0,
            )
        };
        if fd >= 0 {
            return Some(Fd(libc::c_int::try_from(fd).ok()?));
        }
        if errno() != libc::EINTR {
            return None;
        }
    }
}

/// `read(2)` into `buf`, retried on EINTR.
pub fn read(fd: &Fd, buf: &mut [u8]) -> Option<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::syscall(libc::SYS_read, fd.0, buf.as_mut_ptr(), buf.len()) };
        if n >= 0 {
            return usize::try_from(n).ok();
        }
        if errno() != libc::EINTR {
            return None;
        }
    }
}

/// The whole content of a kernel file.
pub fn read_all(path: &[u8]) -> Option<Vec<u8>> {
    let fd = open(path)?;
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = read(&fd, &mut chunk)?;
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(chunk.get(..n)?);
    }
}

/// The target of a symbolic link (`/proc/self/ns/pid`).
pub fn readlink(path: &[u8]) -> Option<Vec<u8>> {
    let c = CString::new(path).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: a NUL-terminated path and a buffer valid for writes of its length.
    let n = unsafe {
        libc::syscall(libc::SYS_readlinkat, libc::AT_FDCWD, c.as_ptr(), buf.as_mut_ptr(), buf.len())
    };
    buf.truncate(usize::try_from(n).ok()?);
    Some(buf)
}

/// What would hold the served content of a stdio stream in this process, as the library
/// chooses it: a memfd, else an unlinked file (`O_TMPFILE`) in /dev/shm or /tmp; `None` when a
/// seccomp profile refuses memfds and neither directory takes such a file.
pub fn stream_backing() -> Option<&'static str> {
    // SAFETY: a NUL-terminated name and plain flags (MFD_CLOEXEC).
    let fd = unsafe { libc::syscall(libc::SYS_memfd_create, c"cgshim:probe".as_ptr(), 1u32) };
    if fd >= 0 {
        // SAFETY: closing the fd just created.
        unsafe { libc::syscall(libc::SYS_close, fd) };
        return Some("memfd");
    }
    for (dir, name) in [(c"/dev/shm", "tmpfile in /dev/shm"), (c"/tmp", "tmpfile in /tmp")] {
        // SAFETY: a NUL-terminated directory path and constant flags.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat,
                libc::AT_FDCWD,
                dir.as_ptr(),
                libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
                0o600,
            )
        };
        if fd >= 0 {
            // SAFETY: closing the fd just created.
            unsafe { libc::syscall(libc::SYS_close, fd) };
            return Some(name);
        }
    }
    None
}

/// The kernel's `sysinfo(2)`, which the library's hook would otherwise rewrite.
pub fn sysinfo() -> Option<libc::sysinfo> {
    // SAFETY: all-zero is a valid `struct sysinfo`.
    let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, writable struct sysinfo.
    let r = unsafe { libc::syscall(libc::SYS_sysinfo, &mut info as *mut libc::sysinfo) };
    (r == 0).then_some(info)
}

/// The CPUs the calling thread may run on, from the kernel (never the library's answer).
pub fn affinity() -> Option<CpuSet> {
    let mut mask = [0u8; MAX_CPUS / 8];
    // SAFETY: a writable mask of the given size in bytes; pid 0 is the calling thread.
    let n = unsafe { libc::syscall(libc::SYS_sched_getaffinity, 0, mask.len(), mask.as_mut_ptr()) };
    let set = CpuSet::from_mask(mask.get(..usize::try_from(n).ok()?)?);
    (set.count() > 0).then_some(set)
}

/// Nanoseconds on the boot clock, the clock `/proc/uptime` and process start times use.
pub fn boot_clock_ns() -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// An auxiliary-vector entry (`AT_PAGESZ`, `AT_CLKTCK`), or `default` when absent.
pub fn auxval(key: libc::c_ulong, default: u64) -> u64 {
    // SAFETY: getauxval has no preconditions and is not hooked by the library.
    match unsafe { libc::getauxval(key) } {
        0 => default,
        v => v,
    }
}

/// The core's [`Source`] over raw system calls, on the live system.
pub struct RawFsSource;

impl Source for RawFsSource {
    type File = Fd;

    fn open(&self, path: &[u8]) -> Option<Fd> {
        open(path)
    }

    fn read(&self, file: &mut Fd, buf: &mut [u8]) -> Option<usize> {
        read(file, buf)
    }

    fn short_read_is_eof(&self) -> bool {
        true
    }

    /// The library's rule (inode, and entries that are not directories), through std: the
    /// library hooks neither `stat` of a directory nor its listing.
    fn dir_identity(&self, path: &[u8]) -> Option<cgshim::decide::cpu::DirIdentity> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let dir = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
        let inode = std::fs::metadata(dir).ok()?.ino();
        let mut files = 0u64;
        for entry in std::fs::read_dir(dir).ok()? {
            files += u64::from(!entry.ok()?.file_type().ok()?.is_dir());
        }
        Some(cgshim::decide::cpu::DirIdentity { inode, files })
    }
}
