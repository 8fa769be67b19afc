//! The slow path: deciding whether an open is one of the files we serve, building the
//! container's content, and handing it out as a read-only, sealed memfd.

use crate::cache::{self, HostText};
use crate::source::{Fd, PROC_MAGIC, RawSource, SYSFS_MAGIC, c_path};
use crate::{answers, fdtable, log, sys};
use cgshim::buf::Buf;
use cgshim::config::Feature;
use cgshim::decide::memory::{HostMemory, MemoryView};
use cgshim::decide::source::{Source, read_file, read_open_file};
use cgshim::read::cpulist::CpuSet;
use core::ffi::{CStr, c_char, c_int};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// A file we serve. The discriminant is what the fd table stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Meminfo = 1,
    Swaps = 2,
    Uptime = 3,
    Vmstat = 4,
    Cpuinfo = 5,
    Stat = 6,
    CpuOnline = 7,
}

const KINDS: [Kind; 7] =
    [Kind::Meminfo, Kind::Swaps, Kind::Uptime, Kind::Vmstat, Kind::Cpuinfo, Kind::Stat, Kind::CpuOnline];

impl Kind {
    pub fn from_u8(v: u8) -> Option<Kind> {
        KINDS.into_iter().find(|k| *k as u8 == v)
    }

    fn path(self) -> &'static [u8] {
        match self {
            Kind::Meminfo => b"/proc/meminfo",
            Kind::Swaps => b"/proc/swaps",
            Kind::Uptime => b"/proc/uptime",
            Kind::Vmstat => b"/proc/vmstat",
            Kind::Cpuinfo => b"/proc/cpuinfo",
            Kind::Stat => b"/proc/stat",
            Kind::CpuOnline => b"/sys/devices/system/cpu/online",
        }
    }

    fn memfd_name(self) -> &'static CStr {
        match self {
            Kind::Meminfo => c"cgshim:meminfo",
            Kind::Swaps => c"cgshim:swaps",
            Kind::Uptime => c"cgshim:uptime",
            Kind::Vmstat => c"cgshim:vmstat",
            Kind::Cpuinfo => c"cgshim:cpuinfo",
            Kind::Stat => c"cgshim:stat",
            Kind::CpuOnline => c"cgshim:online",
        }
    }

    fn feature(self) -> Feature {
        match self {
            Kind::Meminfo => Feature::Meminfo,
            Kind::Swaps => Feature::Swaps,
            Kind::Uptime => Feature::Uptime,
            Kind::Vmstat => Feature::Vmstat,
            Kind::Cpuinfo | Kind::Stat | Kind::CpuOnline => Feature::Cpu,
        }
    }

    fn fs_magic(self) -> i64 {
        match self {
            Kind::CpuOnline => SYSFS_MAGIC,
            _ => PROC_MAGIC,
        }
    }

    /// Files whose name is not unique on their filesystem (`/proc/<pid>/stat`,
    /// `/sys/devices/system/cpu/cpuN/online`) are recognised by inode.
    fn reference(self) -> Option<&'static Reference> {
        match self {
            Kind::Stat => Some(&STAT_REFERENCE),
            Kind::CpuOnline => Some(&ONLINE_REFERENCE),
            _ => None,
        }
    }

    /// The CPU files can be large (hundreds of KiB on big hosts) and are streamed.
    fn is_cpu(self) -> bool {
        matches!(self, Kind::Cpuinfo | Kind::Stat | Kind::CpuOnline)
    }
}

/// The (device, inode) of a kernel file, taken on first use (0 = not yet).
struct Reference {
    dev: AtomicU64,
    ino: AtomicU64,
}

static STAT_REFERENCE: Reference = Reference { dev: AtomicU64::new(0), ino: AtomicU64::new(0) };
static ONLINE_REFERENCE: Reference = Reference { dev: AtomicU64::new(0), ino: AtomicU64::new(0) };

impl Reference {
    fn matches(&self, kind: Kind, id: (u64, u64)) -> bool {
        let mut ino = self.ino.load(Ordering::Relaxed);
        if ino == 0 {
            let Some(path) = c_path(None, kind.path()) else { return false };
            let fd = Fd(sys::openat(
                sys::AT_FDCWD,
                path.as_bytes().as_ptr().cast(),
                libc::O_RDONLY | libc::O_CLOEXEC,
                0,
            ));
            let Some((dev, i)) = (fd.0 >= 0).then(|| sys::inode(fd.0)).flatten() else { return false };
            self.dev.store(dev, Ordering::Relaxed);
            self.ino.store(i, Ordering::Relaxed);
            ino = i;
        }
        id == (self.dev.load(Ordering::Relaxed), ino)
    }
}

/// The served files built in memory fit this; a larger host file is passed through unchanged.
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
    let mut components = bytes.rsplit(|&b| b == b'/');
    let name = components.next()?;
    let parent = components.next();
    match name {
        b"meminfo" => Some(Kind::Meminfo),
        b"swaps" => Some(Kind::Swaps),
        b"uptime" => Some(Kind::Uptime),
        b"vmstat" => Some(Kind::Vmstat),
        b"cpuinfo" => Some(Kind::Cpuinfo),
        // `/proc/<pid>/stat`, `/proc/self/task/<tid>/stat` are opened by the thousand by ps
        // and top: recognise them without a system call.
        b"stat"
            if !parent.is_some_and(|p| {
                p == b"self" || p == b"thread-self" || p.iter().all(u8::is_ascii_digit) && !p.is_empty()
            }) =>
        {
            Some(Kind::Stat)
        }
        b"online" if parent.is_none_or(|p| p == b"cpu" || p.is_empty() || p == b".") => Some(Kind::CpuOnline),
        _ => None,
    }
}

/// The host file's text: small files on the stack, the CPU files in a mapping.
#[allow(clippy::large_enum_variant)] // No allocator: the small variant lives on the stack, briefly.
enum HostData {
    Small(HostText),
    Big(sys::Mapping),
}

impl HostData {
    fn bytes(&self) -> &[u8] {
        match self {
            HostData::Small(t) => t.as_bytes(),
            HostData::Big(m) => m.filled(),
        }
    }
}

/// Reads the rest of `fd` into a fresh mapping (at most 4 MiB).
fn read_big(src: &RawSource, fd: &mut Fd) -> Option<sys::Mapping> {
    let mut map = sys::Mapping::new(4 << 20)?;
    loop {
        let spare = map.spare();
        if spare.is_empty() {
            return None;
        }
        let n = src.read(fd, spare)?;
        if n == 0 {
            return Some(map);
        }
        map.advance(n);
    }
}

/// Reads the host file of `kind` from `fd` (or from the test root).
fn read_host(kind: Kind, src: &RawSource, fd: Option<&mut Fd>) -> Option<HostData> {
    let mut own;
    let fd = match fd {
        Some(fd) if !src.rooted() => fd,
        _ => {
            own = src.open(kind.path())?;
            &mut own
        }
    };
    if kind.is_cpu() {
        return read_big(src, fd).map(HostData::Big);
    }
    let mut text = HostText::new();
    read_open_file(src, fd, &mut text)?;
    if kind == Kind::Meminfo && !src.rooted() {
        cache::store_host_meminfo(text.as_bytes());
    }
    Some(HostData::Small(text))
}

/// Opens `path` (relative to `dirfd`) the way the caller asked, and if it is the kernel file of
/// `kind`, returns a served fd instead. `None` means: call the real function.
pub fn open_virtual(dirfd: c_int, path: *const c_char, flags: c_int, kind: Kind) -> Option<c_int> {
    if !crate::env::config().enabled(kind.feature()) {
        return None;
    }
    let src = RawSource::new();
    let mut cached = HostText::new();
    // SAFETY: `path` is the caller's NUL-terminated path (already read by `candidate`).
    let literal = dirfd == sys::AT_FDCWD && unsafe { CStr::from_ptr(path) }.to_bytes() == kind.path();
    // The kernel's own meminfo path, while a verified copy of the host file is cached, needs no
    // real open: that keeps repeated reads cheap. Every other spelling is resolved by the kernel.
    let host = if kind == Kind::Meminfo && literal && !src.rooted() && cache::host_meminfo(&mut cached) {
        HostData::Small(cached)
    } else {
        // Kernel files are regular files; anything else (a FIFO named `meminfo`) is left to the
        // real function untouched.
        if !sys::is_regular_file(dirfd, path) {
            return None;
        }
        let real = sys::openat(dirfd, path, libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK, 0);
        if real < 0 {
            return None;
        }
        let mut real = Fd(real);
        // Only the kernel's file: a `meminfo` elsewhere, or one LXCFS already serves (FUSE), is
        // left alone.
        if sys::fs_magic(real.0)? != kind.fs_magic() {
            return None;
        }
        if let Some(reference) = kind.reference()
            && !reference.matches(kind, sys::inode(real.0)?)
        {
            return None;
        }
        read_host(kind, &src, Some(&mut real))?
    };
    let fd = serve(kind, &src, host.bytes(), flags & libc::O_CLOEXEC != 0)?;
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
    let mut cached = HostText::new();
    let host = if kind == Kind::Meminfo && !src.rooted() && cache::host_meminfo(&mut cached) {
        Some(HostData::Small(cached))
    } else {
        read_host(kind, &src, None)
    };
    let Some(host) = host else { return };
    let fd_flags = sys::fcntl(fd, libc::F_GETFD, 0);
    let offset = sys::lseek(fd, 0, libc::SEEK_CUR);
    if fd_flags < 0 || offset < 0 {
        return;
    }
    let Some(new) = serve(kind, &src, host.bytes(), true) else {
        return;
    };
    let new = Fd(new);
    let cloexec = if fd_flags & libc::FD_CLOEXEC != 0 { libc::O_CLOEXEC } else { 0 };
    if sys::dup3(new.0, fd, cloexec) >= 0 {
        sys::lseek(fd, offset, libc::SEEK_SET);
        if let Some((dev, ino)) = sys::inode(fd) {
            fdtable::track(fd, kind as u8, dev, ino);
        }
    }
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
fn view_for_other_file(src: &RawSource) -> Option<MemoryView> {
    let mut meminfo = HostText::new();
    host_meminfo(src, &mut meminfo)?;
    answers::memory_view(src, HostMemory::from_meminfo(meminfo.as_bytes())?)
}

/// Builds the container's version of the host file `host` and publishes it (`None`: serve the
/// host file).
fn serve(kind: Kind, src: &RawSource, host: &[u8], cloexec: bool) -> Option<c_int> {
    if kind.is_cpu() {
        let set: CpuSet = answers::cpu_set(src)?;
        return publish(kind, cloexec, |emit| match kind {
            Kind::Cpuinfo => {
                cgshim::show::cpu::cpuinfo(host, &set, emit);
                Some(())
            }
            Kind::Stat => cgshim::show::cpu::stat(host, &set, emit),
            _ => {
                cgshim::show::cpu::online(&set, emit);
                Some(())
            }
        });
    }
    let mut content = Content::new();
    match kind {
        Kind::Meminfo => {
            let view = answers::memory_view(src, HostMemory::from_meminfo(host)?)?;
            cgshim::show::meminfo::render(host, &view, &mut content)?;
        }
        Kind::Swaps => cgshim::show::swaps::render(host, &view_for_other_file(src)?, &mut content)?,
        Kind::Vmstat => {
            cgshim::show::vmstat::render(host, &view_for_other_file(src)?, crate::page_size(), &mut content)?
        }
        _ => {
            let up = answers::container_uptime(src)?;
            cgshim::show::uptime::render(up, answers::container_idle(src, up), &mut content);
        }
    }
    publish(kind, cloexec, |emit| {
        emit(content.as_bytes());
        Some(())
    })
}

const MFD_CLOEXEC: u32 = 1;
const MFD_ALLOW_SEALING: u32 = 2;
const MFD_NOEXEC_SEAL: u32 = 8;
const F_ADD_SEALS: c_int = 1033;
const SEALS: libc::c_long = 1 | 2 | 4 | 8; // SEAL | SHRINK | GROW | WRITE

/// Buffered writes into the memfd being filled.
struct Writer {
    fd: c_int,
    buf: Buf<4096>,
    failed: bool,
}

impl Writer {
    fn push(&mut self, bytes: &[u8]) {
        if self.buf.len().saturating_add(bytes.len()) > 4096 {
            self.flush();
        }
        if bytes.len() > 4096 {
            self.failed |= !write_all(self.fd, bytes);
        } else {
            self.buf.push(bytes);
        }
    }

    fn flush(&mut self) {
        self.failed |= !write_all(self.fd, self.buf.as_bytes());
        self.buf.clear();
    }
}

/// Writes all of `bytes` to `fd`; `false` on an error.
fn write_all(fd: c_int, mut rest: &[u8]) -> bool {
    while !rest.is_empty() {
        let n = sys::write(fd, rest);
        if n == -(libc::EINTR as isize) {
            continue;
        }
        match usize::try_from(n).ok().filter(|&n| n > 0).and_then(|n| rest.get(n..)) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    true
}

/// 0: not known yet, 1: memfds can be created, 2: they cannot (a seccomp profile denies them).
static FILES: AtomicU8 = AtomicU8::new(0);

/// A sealable memfd, or `None` (remembered for the process) when the kernel or a seccomp
/// profile refuses them.
fn create_memfd(name: &CStr) -> Option<c_int> {
    let mut mfd = sys::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
    if mfd == -libc::EINVAL {
        // Kernels before 6.3 do not know MFD_NOEXEC_SEAL.
        mfd = sys::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    }
    if mfd < 0 {
        if FILES.swap(2, Ordering::Relaxed) != 2 {
            log::say(&[
                b"memfd_create is refused (errno ",
                log::num(mfd.unsigned_abs().into()).as_bytes(),
                b"): host values everywhere, so that files and calls agree",
            ]);
        }
        return None;
    }
    FILES.store(1, Ordering::Relaxed);
    Some(mfd)
}

/// Whether this process can be handed served files. The calls (`sysinfo`, `sysconf`,
/// `get_nprocs`) answer the container's values only when the files can too: programs that mix
/// both (Busybox `free` takes totals from `sysinfo` and cache from `/proc/meminfo`) must never
/// see two different machines. Probed once, on first need.
pub fn files_available() -> bool {
    match FILES.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => create_memfd(c"cgshim:probe").map(sys::close).is_some(),
    }
}

/// A read-only fd holding what `fill` emits: a sealed memfd, reopened read-only through
/// `/proc/self/fd` so that `write` fails with EBADF as on procfs, at the lowest free fd number.
fn publish(
    kind: Kind,
    cloexec: bool,
    fill: impl FnOnce(&mut dyn FnMut(&[u8])) -> Option<()>,
) -> Option<c_int> {
    let mfd = Fd(create_memfd(kind.memfd_name())?);
    let mut writer = Writer { fd: mfd.0, buf: Buf::new(), failed: false };
    fill(&mut |bytes| writer.push(bytes))?;
    writer.flush();
    if writer.failed {
        return None;
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
