//! The core's [`Source`] over raw system calls, optionally under the test root.

use crate::sys;
use cgshim::buf::{Buf, Sink};
use cgshim::decide::source::Source;
use core::cell::Cell;

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
    /// Whether an open or read failed for want of a resource (EMFILE, ENFILE, ENOMEM, …)
    /// rather than because of the file: such a failure says nothing about the cgroup.
    transient: Cell<bool>,
}

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x63677270;
const SYSFS_MAGIC: i64 = 0x62656572;

fn is_transient(errno: i32) -> bool {
    matches!(errno, libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR | libc::ENOBUFS)
}

impl RawSource {
    pub fn new() -> Self {
        let root = crate::env::sysroot();
        Self { root, kernel_only: root.is_none() && crate::env::secure(), transient: Cell::new(false) }
    }

    /// A source for the live files of this process (never under the test root).
    pub fn live() -> Self {
        Self { root: None, kernel_only: false, transient: Cell::new(false) }
    }

    /// Whether kernel paths are read under a test root instead of `/`.
    pub fn rooted(&self) -> bool {
        self.root.is_some()
    }

    /// Whether a failure so far was for want of a resource (see the field).
    pub fn transient(&self) -> bool {
        self.transient.get()
    }

    fn failed(&self, errno: i32) {
        if is_transient(errno) {
            self.transient.set(true);
        }
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
        let fd = sys::with_fd_headroom(|| {
            sys::openat(
                sys::AT_FDCWD,
                p.as_bytes().as_ptr().cast(),
                // O_NONBLOCK: a FIFO put in place of a kernel file must not hang the program.
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK,
                0,
            )
        });
        if fd < 0 {
            self.failed(-fd);
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

    fn dir_identity(&self, path: &[u8]) -> Option<cgshim::decide::cpu::DirIdentity> {
        if self.root.is_some() {
            return None;
        }
        let p = c_path(None, path)?;
        let dir = Fd(sys::openat(
            sys::AT_FDCWD,
            p.as_bytes().as_ptr().cast(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        ));
        if dir.0 < 0 {
            return None;
        }
        let inode = sys::fstat(dir.0)?.st_ino;
        let mut files = 0u64;
        let mut buf = [0u8; 1024];
        loop {
            let n = usize::try_from(sys::getdents64(dir.0, &mut buf)).ok()?;
            if n == 0 {
                break;
            }
            // Each record: d_ino (8), d_off (8), d_reclen (2), d_type (1), name.
            let mut at = 0usize;
            while let Some(rec) = buf.get(at..n).filter(|r| r.len() >= 19) {
                let reclen = usize::from(u16::from_ne_bytes([rec[16], rec[17]]));
                if reclen == 0 {
                    return None;
                }
                files += u64::from(rec[18] != libc::DT_DIR);
                at += reclen;
            }
        }
        Some(cgshim::decide::cpu::DirIdentity { inode, files })
    }

    fn read(&self, file: &mut Fd, buf: &mut [u8]) -> Option<usize> {
        loop {
            let n = sys::read(file.0, buf);
            if n == -(libc::EINTR as isize) {
                continue;
            }
            if n < 0 {
                self.failed(n.unsigned_abs() as i32);
            }
            return usize::try_from(n).ok();
        }
    }
}
