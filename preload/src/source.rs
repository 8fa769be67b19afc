//! The core's [`Source`] over raw system calls, optionally under the test root.

use crate::sys;
use cgshim::buf::Buf;
use cgshim::decide::source::Source;

/// An fd of ours, closed on drop.
pub struct Fd(pub i32);

impl Drop for Fd {
    fn drop(&mut self) {
        sys::close(self.0);
    }
}

pub struct RawSource {
    root: Option<&'static [u8]>,
    /// Accept only files on procfs, cgroupfs or sysfs (secure mode: never parse a file a user
    /// could have put in place of a kernel file).
    kernel_only: bool,
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x63677270;
pub const SYSFS_MAGIC: i64 = 0x62656572;

impl RawSource {
    pub fn new() -> Self {
        let root = crate::env::sysroot();
        Self { root, kernel_only: root.is_none() && crate::env::secure() }
    }

    /// Whether kernel paths are read under a test root instead of `/`.
    pub fn rooted(&self) -> bool {
        self.root.is_some()
    }
}

/// `path` with a NUL appended, under `root` when given.
pub fn c_path(root: Option<&[u8]>, path: &[u8]) -> Option<Buf<1280>> {
    let mut p = Buf::<1280>::new();
    if let Some(r) = root {
        p.push(r.strip_suffix(b"/").unwrap_or(r));
    }
    p.push(path);
    p.push_byte(0);
    (!p.overflowed() && !path.contains(&0)).then_some(p)
}

impl Source for RawSource {
    type File = Fd;

    fn open(&self, path: &[u8]) -> Option<Fd> {
        let p = c_path(self.root, path)?;
        let fd = sys::openat(
            sys::AT_FDCWD,
            p.as_bytes().as_ptr().cast(),
            // O_NONBLOCK: a FIFO put in place of a kernel file must not hang the program.
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        );
        if fd < 0 {
            return None;
        }
        let fd = Fd(fd);
        if self.kernel_only {
            let magic = sys::fs_magic(fd.0)?;
            if ![PROC_SUPER_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, SYSFS_MAGIC].contains(&magic) {
                return None;
            }
        }
        Some(fd)
    }

    fn short_read_is_eof(&self) -> bool {
        self.root.is_none()
    }

    fn read(&self, file: &mut Fd, buf: &mut [u8]) -> Option<usize> {
        loop {
            let n = sys::read(file.0, buf);
            if n == -(libc::EINTR as isize) {
                continue;
            }
            return usize::try_from(n).ok();
        }
    }
}

pub const PROC_MAGIC: i64 = PROC_SUPER_MAGIC;
