//! The slow path: deciding whether an open is one of the files we serve, building the
//! container's content, and handing it out as a read-only, sealed memfd.

use crate::cache::{self, HostText};
use crate::source::{Fd, PROC_MAGIC, RawSource, c_path};
use crate::{answers, fdtable, log, sys};
use cgshim::buf::Buf;
use cgshim::config::Feature;
use cgshim::decide::memory::HostMemory;
use cgshim::decide::source::{read_file, read_open_file};
use core::ffi::{CStr, c_char, c_int};

/// A file we serve. The discriminant is what the fd table stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Meminfo = 1,
    Swaps = 2,
    Uptime = 3,
    Vmstat = 4,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Kind> {
        [Kind::Meminfo, Kind::Swaps, Kind::Uptime, Kind::Vmstat].into_iter().find(|k| *k as u8 == v)
    }

    fn proc_path(self) -> &'static [u8] {
        match self {
            Kind::Meminfo => b"/proc/meminfo",
            Kind::Swaps => b"/proc/swaps",
            Kind::Uptime => b"/proc/uptime",
            Kind::Vmstat => b"/proc/vmstat",
        }
    }

    fn memfd_name(self) -> &'static CStr {
        match self {
            Kind::Meminfo => c"cgshim:meminfo",
            Kind::Swaps => c"cgshim:swaps",
            Kind::Uptime => c"cgshim:uptime",
            Kind::Vmstat => c"cgshim:vmstat",
        }
    }

    fn feature(self) -> Feature {
        match self {
            Kind::Meminfo => Feature::Meminfo,
            Kind::Swaps => Feature::Swaps,
            Kind::Uptime => Feature::Uptime,
            Kind::Vmstat => Feature::Vmstat,
        }
    }
}

/// The served files fit this; a larger host file is passed through unchanged.
pub type Content = Buf<16384>;

/// The cheap filter on every open: a read-only open whose last path component names one of our
/// files. No system call, no lock, no allocation.
#[inline]
pub fn candidate(path: *const c_char, flags: c_int) -> Option<Kind> {
    if path.is_null()
        || flags & libc::O_ACCMODE != libc::O_RDONLY
        || flags & (libc::O_PATH | libc::O_DIRECTORY | libc::O_CREAT) != 0
    {
        return None;
    }
    // SAFETY: `path` is the caller's NUL-terminated path argument (the libc contract).
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    let name = bytes.rsplit(|&b| b == b'/').next()?;
    match name {
        b"meminfo" => Some(Kind::Meminfo),
        b"swaps" => Some(Kind::Swaps),
        b"uptime" => Some(Kind::Uptime),
        b"vmstat" => Some(Kind::Vmstat),
        _ => None,
    }
}

/// Opens `path` (relative to `dirfd`) the way the caller asked, and if it is the procfs file
/// of `kind`, returns a served fd instead. `None` means: call the real function.
pub fn open_virtual(dirfd: c_int, path: *const c_char, flags: c_int, kind: Kind) -> Option<c_int> {
    let config = crate::env::config();
    if !config.enabled(kind.feature()) {
        return None;
    }
    let src = RawSource::new();
    let mut host = HostText::new();
    // SAFETY: `path` is the caller's NUL-terminated path (already read by `candidate`).
    let literal = dirfd == sys::AT_FDCWD && unsafe { CStr::from_ptr(path) }.to_bytes() == kind.proc_path();
    // The kernel's own path, while a verified copy of the host file is cached, needs no real
    // open: that keeps repeated reads cheap. Every other spelling is resolved by the kernel.
    if !(kind == Kind::Meminfo && literal && !src.rooted() && cache::host_meminfo(&mut host)) {
        let real = sys::openat(dirfd, path, libc::O_RDONLY | libc::O_CLOEXEC, 0);
        if real < 0 {
            return None;
        }
        let mut real = Fd(real);
        // Only the kernel's file: a `meminfo` elsewhere, or one LXCFS already serves (FUSE), is
        // left alone.
        if sys::fs_magic(real.0)? != PROC_MAGIC {
            return None;
        }
        if src.rooted() {
            read_file(&src, kind.proc_path(), &mut host)?;
        } else {
            read_open_file(&src, &mut real, &mut host)?;
            if kind == Kind::Meminfo {
                cache::store_host_meminfo(host.as_bytes());
            }
        }
    }
    let mut content = Content::new();
    build(kind, &src, host.as_bytes(), &mut content)?;
    let fd = publish(kind, content.as_bytes(), flags & libc::O_CLOEXEC != 0)?;
    if let Some((dev, ino)) = sys::inode(fd) {
        fdtable::track(fd, kind as u8, dev, ino);
    }
    Some(fd)
}

/// Regenerates the content behind a served fd on a rewind. On any failure the fd keeps its
/// previous content.
pub fn refresh(fd: c_int) {
    let Some(kind) = fdtable::lookup(fd).and_then(Kind::from_u8) else {
        return;
    };
    let src = RawSource::new();
    let mut host = HostText::new();
    let fresh = match kind {
        Kind::Meminfo => host_meminfo(&src, &mut host),
        _ => read_file(&src, kind.proc_path(), &mut host),
    };
    if fresh.is_none() {
        return;
    }
    let mut content = Content::new();
    if build(kind, &src, host.as_bytes(), &mut content).is_none() {
        return;
    }
    let fd_flags = sys::fcntl(fd, libc::F_GETFD, 0);
    let offset = sys::lseek(fd, 0, libc::SEEK_CUR);
    if fd_flags < 0 || offset < 0 {
        return;
    }
    let Some(new) = publish(kind, content.as_bytes(), true) else {
        return;
    };
    let cloexec = if fd_flags & libc::FD_CLOEXEC != 0 { libc::O_CLOEXEC } else { 0 };
    if sys::dup3(new, fd, cloexec) >= 0 {
        sys::lseek(fd, offset, libc::SEEK_SET);
        if let Some((dev, ino)) = sys::inode(fd) {
            fdtable::track(fd, kind as u8, dev, ino);
        }
    }
    sys::close(new);
}

/// The host's `/proc/meminfo`: the cached template when fresh, else read (and cached).
fn host_meminfo(src: &RawSource, out: &mut HostText) -> Option<()> {
    if !src.rooted() && cache::host_meminfo(out) {
        return Some(());
    }
    read_file(src, b"/proc/meminfo", out)?;
    if !src.rooted() {
        cache::store_host_meminfo(out.as_bytes());
    }
    Some(())
}

/// The memory view for a file other than `/proc/meminfo`, with the host figures from the
/// host's meminfo.
fn view_for_other_file(src: &RawSource) -> Option<cgshim::decide::memory::MemoryView> {
    let mut meminfo = HostText::new();
    host_meminfo(src, &mut meminfo)?;
    answers::memory_view(src, HostMemory::from_meminfo(meminfo.as_bytes())?)
}

/// The container's version of the host file `host` (`None`: serve the host file).
fn build(kind: Kind, src: &RawSource, host: &[u8], out: &mut Content) -> Option<()> {
    match kind {
        Kind::Meminfo => {
            let view = answers::memory_view(src, HostMemory::from_meminfo(host)?)?;
            cgshim::show::meminfo::render(host, &view, out)
        }
        Kind::Swaps => cgshim::show::swaps::render(host, &view_for_other_file(src)?, out),
        Kind::Vmstat => {
            cgshim::show::vmstat::render(host, &view_for_other_file(src)?, crate::page_size(), out)
        }
        Kind::Uptime => {
            let up = answers::container_uptime(src)?;
            cgshim::show::uptime::render(up, answers::container_idle(src, up), out);
            Some(())
        }
    }
}

const MFD_CLOEXEC: u32 = 1;
const MFD_ALLOW_SEALING: u32 = 2;
const MFD_NOEXEC_SEAL: u32 = 8;
const F_ADD_SEALS: c_int = 1033;
const SEALS: libc::c_long = 1 | 2 | 4 | 8; // SEAL | SHRINK | GROW | WRITE

/// A read-only fd holding `content`: a sealed memfd, reopened read-only through
/// `/proc/self/fd` so that `write` fails with EBADF as on procfs.
fn publish(kind: Kind, content: &[u8], cloexec: bool) -> Option<c_int> {
    let mut mfd = sys::memfd_create(kind.memfd_name(), MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if mfd == -libc::EINVAL {
        // Kernels before 6.3 do not know MFD_NOEXEC_SEAL.
        mfd = sys::memfd_create(kind.memfd_name(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
    }
    if mfd < 0 {
        log::say(&[
            b"memfd_create failed (",
            log::num(mfd.unsigned_abs().into()).as_bytes(),
            b"): host values",
        ]);
        return None;
    }
    let mfd = Fd(mfd);
    let mut rest = content;
    while !rest.is_empty() {
        let n = sys::write(mfd.0, rest);
        if n == -(libc::EINTR as isize) {
            continue;
        }
        rest = rest.get(usize::try_from(n).ok().filter(|&n| n > 0)?..)?;
    }
    sys::fchmod(mfd.0, 0o444);
    sys::fcntl(mfd.0, F_ADD_SEALS, SEALS);
    let mut path = Buf::<32>::new();
    path.push(b"/proc/self/fd/");
    path.push_u64(u64::try_from(mfd.0).ok()?);
    let path = c_path(None, path.as_bytes())?;
    let cloexec = if cloexec { libc::O_CLOEXEC } else { 0 };
    let ro = Fd(sys::openat(sys::AT_FDCWD, path.as_bytes().as_ptr().cast(), libc::O_RDONLY | cloexec, 0));
    if ro.0 < 0 {
        return None;
    }
    // Hand out the memfd's number, the lowest free one when we started, as open(2) would.
    let mfd = core::mem::ManuallyDrop::new(mfd);
    if sys::dup3(ro.0, mfd.0, cloexec) < 0 {
        sys::close(mfd.0);
        return None;
    }
    Some(mfd.0)
}
