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

    fn name(self) -> &'static [u8] {
        match self {
            Kind::Meminfo => b"meminfo",
            Kind::Swaps => b"swaps",
            Kind::Uptime => b"uptime",
            Kind::Vmstat => b"vmstat",
            Kind::Cpuinfo => b"cpuinfo",
            Kind::Stat => b"stat",
            Kind::CpuOnline => b"online",
        }
    }
}

/// The last component of `path` if it is at most `max` bytes long, and what comes before its
/// slash (`None` for a bare name). A backward look at `max + 1` bytes: longer components are
/// none of our names.
fn last_component(path: &[u8], max: usize) -> Option<(&[u8], Option<&[u8]>)> {
    let from = path.len().saturating_sub(max + 1);
    let tail = path.get(from..)?;
    match tail.iter().rposition(|&b| b == b'/') {
        Some(i) => Some((tail.get(i + 1..)?, Some(path.get(..from + i)?))),
        None if from == 0 => Some((path, None)),
        None => None,
    }
}

/// Whether a directory `dir` (a path without its last component) says nothing about which
/// directory it is, or is the one named `name`: its own last component is `.`, `..`, empty
/// (`/meminfo`, `x//meminfo`) or `name`.
fn parent_fits(dir: &[u8], name: &[u8]) -> bool {
    matches!(last_component(dir, 4), Some((last, _)) if last.is_empty() || last == b"." || last == b".." || last == name)
}

/// The kind of file a path the kernel has just opened may be: its last component names one of
/// ours and the one before it is the directory that holds it, or says nothing about it.
fn named(dirfd: c_int, path: &[u8]) -> Option<Kind> {
    let (name, dir) = last_component(path, 7)?;
    let kind = KINDS.into_iter().find(|k| k.name() == name)?;
    let fits = match dir {
        Some(dir) => parent_fits(dir, kind.parent()),
        None => dirfd == sys::AT_FDCWD || fds::get(dirfd) != State::Plain,
    };
    fits.then_some(kind)
}

/// What the library records for an fd the kernel has just opened on `path` (relative to
/// `dirfd`) with `flags`: the kind of file it may be, checked against the kernel's file only
/// then (one `fstat`), or what the path tells about the fd as a directory. No system call,
/// lock, allocation or scan for any other path: a few compares at its end.
///
/// `dirfd` matters for a bare name: `openat(<fd of /proc/1234>, "stat")` (htop, for every
/// process) is rejected without a system call when the directory fd was opened through a hook
/// under another name.
pub fn opened_state(fd: c_int, dirfd: c_int, path: &[u8], flags: c_int) -> State {
    // Our names end in `nfo`, `aps`, `ime`, `tat`, `ine`; the directories that hold them in
    // `roc` and `cpu`; names that say nothing in `.` or `/`. Anything else is plain at once.
    let tail = path.get(path.len().saturating_sub(3)..).unwrap_or(b"");
    let may_matter = matches!(tail, b"nfo" | b"aps" | b"ime" | b"tat" | b"ine" | b"roc" | b"cpu")
        || matches!(tail.last(), None | Some(b'.' | b'/'));
    if !may_matter {
        return State::Plain;
    }
    if flags & libc::O_ACCMODE == libc::O_RDONLY
        && flags & (libc::O_PATH | libc::O_DIRECTORY) == 0
        && let Some(kind) = named(dirfd, path)
        && !crate::seal::sealed()
        && crate::env::config().enabled(kind.feature())
        && is_kernel_file(fd, kind)
    {
        return State::Kernel(kind);
    }
    // As a directory: `/proc`, `.../cpu`, `/`, or a name that says nothing (`.`, `..`, `x/`).
    match last_component(path, 4) {
        Some((last, _))
            if last.is_empty() || last == b"." || last == b".." || last == b"proc" || last == b"cpu" =>
        {
            State::MaybeParent
        }
        _ => State::Plain,
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
