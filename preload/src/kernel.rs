//! The kernel files the library serves, and how it recognises them.
//!
//! The kernel resolves every open first; the library then looks at what the caller got. A
//! file is ours only if it is the kernel's own file: same device and inode as the file at the
//! canonical path, which itself must sit on procfs (or sysfs). A regular file bind-mounted over
//! `/proc/meminfo`, LXCFS's FUSE file, `/sys/devices/system/node/node0/meminfo` or
//! `/proc/<pid>/stat` are not, whatever their name. The canonical files' identities are taken
//! once per process, on first need.
//!
//! Before the kernel is asked anything, a few byte compares on the path reject nearly every
//! open: the last component must name one of our files and the one before it must be the
//! directory that holds it, or say nothing about it (`meminfo`, `./meminfo`, `//meminfo`).

use crate::fds::{self, State};
use crate::sys;
use cgshim::config::Feature;
use core::ffi::{CStr, c_char, c_int};
use core::sync::atomic::{AtomicU64, Ordering};

/// A file we serve. The discriminant is what the fd table stores (1..=15).
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

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x62656572;

impl Kind {
    pub fn from_u8(v: u8) -> Option<Kind> {
        KINDS.into_iter().find(|k| *k as u8 == v)
    }

    pub fn path(self) -> &'static CStr {
        match self {
            Kind::Meminfo => c"/proc/meminfo",
            Kind::Swaps => c"/proc/swaps",
            Kind::Uptime => c"/proc/uptime",
            Kind::Vmstat => c"/proc/vmstat",
            Kind::Cpuinfo => c"/proc/cpuinfo",
            Kind::Stat => c"/proc/stat",
            Kind::CpuOnline => c"/sys/devices/system/cpu/online",
        }
    }

    pub fn memfd_name(self) -> &'static CStr {
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

    pub fn feature(self) -> Feature {
        match self {
            Kind::Meminfo => Feature::Meminfo,
            Kind::Swaps => Feature::Swaps,
            Kind::Uptime => Feature::Uptime,
            Kind::Vmstat => Feature::Vmstat,
            Kind::Cpuinfo | Kind::Stat | Kind::CpuOnline => Feature::Cpu,
        }
    }

    fn magic(self) -> i64 {
        match self {
            Kind::CpuOnline => SYSFS_MAGIC,
            _ => PROC_SUPER_MAGIC,
        }
    }

    /// The name of the directory that holds the file.
    fn parent(self) -> &'static [u8] {
        match self {
            Kind::CpuOnline => b"cpu",
            _ => b"proc",
        }
    }

    fn from_name(name: &[u8]) -> Option<Kind> {
        Some(match name {
            b"meminfo" => Kind::Meminfo,
            b"swaps" => Kind::Swaps,
            b"uptime" => Kind::Uptime,
            b"vmstat" => Kind::Vmstat,
            b"cpuinfo" => Kind::Cpuinfo,
            b"stat" => Kind::Stat,
            b"online" => Kind::CpuOnline,
            _ => return None,
        })
    }
}

/// Whether a directory component says nothing about which directory it is.
fn opaque(component: &[u8]) -> bool {
    matches!(component, b"" | b"." | b"..")
}

/// The cheap filter, run on a path the kernel has just opened successfully: the kind of file
/// it may be, or `None` for certain. No system call, no lock.
///
/// `dirfd` matters for a bare name: `openat(<fd of /proc/1234>, "stat")` (htop, for every
/// process) is rejected when the directory fd was opened through a hook under another name.
pub fn candidate(dirfd: c_int, path: &[u8], flags: c_int) -> Option<Kind> {
    if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & (libc::O_PATH | libc::O_DIRECTORY) != 0 {
        return None;
    }
    let mut components = path.rsplit(|&b| b == b'/');
    let kind = Kind::from_name(components.next()?)?;
    match components.next() {
        Some(parent) => (parent == kind.parent() || opaque(parent)).then_some(kind),
        None if dirfd == sys::AT_FDCWD => Some(kind),
        None => (fds::get(dirfd) != State::Plain).then_some(kind),
    }
}

/// What a successfully opened path tells about the fd as a directory.
pub fn directory_state(path: &[u8]) -> State {
    let last = path.rsplit(|&b| b == b'/').find(|c| !c.is_empty()).unwrap_or(b"");
    if opaque(last) || last == b"proc" || last == b"cpu" || !path.iter().any(|&b| b != b'/') {
        State::MaybeParent
    } else {
        State::Plain
    }
}

/// The (device, inode) of the kernel's file of each kind: 0 = not taken yet, `NONE` = there is
/// none (the canonical path is missing or not on procfs/sysfs, e.g. under LXCFS).
static DEV: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static INO: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
const NONE: u64 = u64::MAX;

/// The identity of the kernel's file of `kind`, taken on first use.
pub fn reference(kind: Kind) -> Option<(u64, u64)> {
    let i = kind as usize;
    let (dev_slot, ino_slot) = (DEV.get(i)?, INO.get(i)?);
    let ino = ino_slot.load(Ordering::Acquire);
    if ino == NONE {
        return None;
    }
    if ino != 0 {
        return Some((dev_slot.load(Ordering::Relaxed), ino));
    }
    let found = (sys::path_fs_magic(kind.path()) == Some(kind.magic()))
        .then(|| sys::stat(kind.path()))
        .flatten()
        .filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_ino != 0);
    match found {
        Some(st) => {
            dev_slot.store(st.st_dev, Ordering::Relaxed);
            ino_slot.store(st.st_ino, Ordering::Release);
            Some((st.st_dev, st.st_ino))
        }
        None => {
            ino_slot.store(NONE, Ordering::Release);
            None
        }
    }
}

/// Whether the open file `fd` is the kernel's file of `kind`.
pub fn is_kernel_file(fd: c_int, kind: Kind) -> bool {
    match (reference(kind), sys::identity(fd)) {
        (Some(r), Some(id)) => r == id,
        _ => false,
    }
}

/// Looks once at an fd the library has not seen open (inherited across exec, or made by a call
/// it does not hook) and records what it is: one `fstat`. The canonical files are consulted
/// only for a file that could be on procfs or sysfs; the fd's link only for an unlinked file
/// that could be a memfd the library filled before an exec (see `stream::hand_over`).
pub fn classify(fd: c_int) -> State {
    let state = match sys::fstat(fd) {
        Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG && libc::major(st.st_dev) == 0 => {
            if st.st_nlink == 0 {
                handed_over(fd).map_or(State::Plain, State::Memfd)
            } else if st.st_size == 0 || st.st_size == 4096 {
                let id = (st.st_dev, st.st_ino);
                KINDS
                    .into_iter()
                    .find(|&k| crate::env::config().enabled(k.feature()) && reference(k) == Some(id))
                    .map_or(State::Plain, State::Kernel)
            } else {
                State::Plain
            }
        }
        Some(_) => State::Plain,
        // Not open (EBADF): nothing to remember; the program's own call reports it.
        None => return State::Unknown,
    };
    fds::set(fd, state);
    if let State::Memfd(kind) = state {
        match (sys::identity(fd), fds::claim(fd, kind)) {
            (Some((dev, ino)), Some(e)) => {
                e.dev.store(dev, core::sync::atomic::Ordering::Relaxed);
                e.ino.store(ino, core::sync::atomic::Ordering::Relaxed);
                e.unlock();
            }
            (_, Some(e)) => e.unlock(),
            _ => {}
        }
    }
    state
}

/// The kind of served content a memfd holds, by its name (`/memfd:cgshim:meminfo (deleted)`).
fn handed_over(fd: c_int) -> Option<Kind> {
    let mut link = cgshim::buf::Buf::<32>::new();
    cgshim::buf::Sink::push(&mut link, b"/proc/self/fd/");
    cgshim::buf::Sink::push_u64(&mut link, u64::try_from(fd).ok()?);
    cgshim::buf::Sink::push_byte(&mut link, 0);
    let path = CStr::from_bytes_with_nul(link.as_bytes()).ok()?;
    let mut target = [0u8; 64];
    let n = sys::readlink(path, &mut target)?;
    let name = target.get(..n)?.strip_prefix(b"/memfd:")?;
    KINDS
        .into_iter()
        .find(|k| name.strip_prefix(k.memfd_name().to_bytes()).is_some_and(|rest| rest == b" (deleted)"))
}

/// The bytes of a path the kernel has just accepted.
///
/// # Safety
/// `path` must be a valid NUL-terminated string: the kernel has just read it successfully.
pub unsafe fn path_bytes<'a>(path: *const c_char) -> &'a [u8] {
    // SAFETY: the caller's guarantee.
    unsafe { CStr::from_ptr(path) }.to_bytes()
}
