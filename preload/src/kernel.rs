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

use crate::fds::{self, Dir, State};
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
    /// `/proc/self/status`, `/proc/thread-self/status`, `/proc/<own pid>/status`: the caller's
    /// own tasks only.
    Status = 8,
    /// `/sys/devices/system/cpu/cpuN/online`, any N.
    CpuNOnline = 9,
    PressureCpu = 10,
    PressureMemory = 11,
    PressureIo = 12,
}

const KINDS: [Kind; 12] = [
    Kind::Meminfo,
    Kind::Swaps,
    Kind::Uptime,
    Kind::Vmstat,
    Kind::Cpuinfo,
    Kind::Stat,
    Kind::CpuOnline,
    Kind::Status,
    Kind::CpuNOnline,
    Kind::PressureCpu,
    Kind::PressureMemory,
    Kind::PressureIo,
];

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x62656572;

impl Kind {
    pub fn from_u8(v: u8) -> Option<Kind> {
        KINDS.into_iter().find(|k| *k as u8 == v)
    }

    /// The canonical path (for the kinds of many files, the one the calling process reads).
    pub fn path(self) -> &'static CStr {
        match self {
            Kind::Meminfo => c"/proc/meminfo",
            Kind::Swaps => c"/proc/swaps",
            Kind::Uptime => c"/proc/uptime",
            Kind::Vmstat => c"/proc/vmstat",
            Kind::Cpuinfo => c"/proc/cpuinfo",
            Kind::Stat => c"/proc/stat",
            Kind::CpuOnline => c"/sys/devices/system/cpu/online",
            Kind::Status => c"/proc/self/status",
            Kind::CpuNOnline => c"/sys/devices/system/cpu/cpu0/online",
            Kind::PressureCpu => c"/proc/pressure/cpu",
            Kind::PressureMemory => c"/proc/pressure/memory",
            Kind::PressureIo => c"/proc/pressure/io",
        }
    }

    /// Whether the kernel generates the whole file in one go (`single_open` in procfs, one
    /// attribute in sysfs), so that one read larger than the file returns all of it. Not so for
    /// `/proc/cpuinfo`, `/proc/vmstat` and `/proc/swaps`, which come a buffer's worth per read.
    pub fn one_record(self) -> bool {
        !matches!(self, Kind::Cpuinfo | Kind::Vmstat | Kind::Swaps)
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
            Kind::Status => c"cgshim:status",
            Kind::CpuNOnline => c"cgshim:cpu-online",
            Kind::PressureCpu => c"cgshim:pressure-cpu",
            Kind::PressureMemory => c"cgshim:pressure-memory",
            Kind::PressureIo => c"cgshim:pressure-io",
        }
    }

    pub fn feature(self) -> Feature {
        match self {
            Kind::Meminfo => Feature::Meminfo,
            Kind::Swaps => Feature::Swaps,
            Kind::Uptime => Feature::Uptime,
            Kind::Vmstat => Feature::Vmstat,
            Kind::Cpuinfo | Kind::Stat | Kind::CpuOnline | Kind::Status | Kind::CpuNOnline => Feature::Cpu,
            Kind::PressureCpu | Kind::PressureMemory | Kind::PressureIo => Feature::Pressure,
        }
    }

    fn magic(self) -> i64 {
        match self {
            Kind::CpuOnline | Kind::CpuNOnline => SYSFS_MAGIC,
            _ => PROC_SUPER_MAGIC,
        }
    }

    /// Whether the kind names one file, whose identity is taken from its canonical path; the
    /// others (a process's own status, each CPU's `online`) are many files of one kind, known
    /// by their path and filesystem.
    fn is_single(self) -> bool {
        !matches!(self, Kind::Status | Kind::CpuNOnline)
    }

    /// Whether `dir`, the last component of the directory that holds a file of this kind's
    /// name, is that kind's directory.
    fn parent_is(self, dir: &[u8]) -> bool {
        match self {
            Kind::CpuOnline => dir == b"cpu",
            Kind::CpuNOnline => cpu_number(dir).is_some(),
            Kind::Status => dir == b"self" || dir == b"thread-self" || is_own_pid(dir),
            Kind::PressureCpu | Kind::PressureMemory | Kind::PressureIo => dir == b"pressure",
            _ => dir == b"proc",
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
            Kind::CpuOnline | Kind::CpuNOnline => b"online",
            Kind::Status => b"status",
            Kind::PressureCpu => b"cpu",
            Kind::PressureMemory => b"memory",
            Kind::PressureIo => b"io",
        }
    }
}

/// N of a `cpuN` directory name.
pub fn cpu_number(name: &[u8]) -> Option<usize> {
    let digits = name.strip_prefix(b"cpu")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    usize::try_from(cgshim::read::number::parse_u64(digits)?).ok()
}

/// Whether `name` is the calling process's PID in decimal.
fn is_own_pid(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > 10 || !name.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // SAFETY: getpid has no preconditions.
    let pid = u64::try_from(unsafe { libc::getpid() }).unwrap_or(0);
    cgshim::read::number::parse_u64(name) == Some(pid)
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
/// directory it is, or is the one that holds `kind`'s files: its own last component is `.`,
/// `..`, empty (`/meminfo`, `x//meminfo`) or that directory's name.
fn parent_fits(dir: &[u8], kind: Kind) -> bool {
    matches!(last_component(dir, 11), Some((last, _)) if last.is_empty() || last == b"." || last == b".." || kind.parent_is(last))
}

/// Whether a directory of class `d` may hold files of `kind`.
fn holds(d: Dir, kind: Kind) -> bool {
    match d {
        Dir::Any => true,
        Dir::Proc => kind.parent_is(b"proc"),
        Dir::Cpu => kind == Kind::CpuOnline,
        Dir::CpuN => kind == Kind::CpuNOnline,
        Dir::Own => kind == Kind::Status,
        Dir::Pressure => kind.parent_is(b"pressure"),
    }
}

/// The class of a directory by the last component of its path, if it may hold our files.
fn dir_class(last: &[u8]) -> Option<Dir> {
    match last {
        b"" | b"." | b".." => Some(Dir::Any),
        b"proc" => Some(Dir::Proc),
        b"cpu" => Some(Dir::Cpu),
        b"self" | b"thread-self" => Some(Dir::Own),
        b"pressure" => Some(Dir::Pressure),
        _ => cpu_number(last).map(|_| Dir::CpuN),
    }
}

/// Whether the last component of `path` is the name of a kind of file the library serves, in any
/// directory: what `cgshim exec`'s supervisor asks before it opens anything (nearly every path is
/// told no here at once).
pub fn has_served_name(path: &[u8]) -> bool {
    last_component(path, 7).is_some_and(|(name, _)| KINDS.iter().any(|k| k.name() == name))
}

/// The kinds of file a path the kernel has just opened may be: its last component names one of
/// ours and the one before it is the directory that holds it, or says nothing about it. Two
/// kinds share a name (`online`): both are returned, the one the directory names first.
fn named(dirfd: c_int, path: &[u8]) -> Option<(Kind, Option<Kind>)> {
    let (name, dir) = last_component(path, 7)?;
    let mut kinds = KINDS.into_iter().filter(|k| k.name() == name);
    let first = kinds.next()?;
    let second = kinds.next();
    let fits = |kind: Kind| match dir {
        Some(dir) => parent_fits(dir, kind),
        None => {
            dirfd == sys::AT_FDCWD
                || match fds::get(dirfd) {
                    State::Plain => false,
                    State::MaybeParent(d) => holds(d, kind),
                    _ => true,
                }
        }
    };
    match (fits(first), second.filter(|k| fits(*k))) {
        (true, other) => Some((first, other)),
        (false, Some(other)) => Some((other, None)),
        (false, None) => None,
    }
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
    // Our names end in `nfo`, `aps`, `ime`, `tat`, `ine`, `tus`, `cpu`, `ory`, `io`; the
    // directories that hold them in `roc`, `cpu`, `cpu` and digits, `elf` (`self`,
    // `thread-self`), `ure` (`pressure`); names that say nothing in `.` or `/`. Anything else is
    // plain at once.
    let tail = path.get(path.len().saturating_sub(3)..).unwrap_or(b"");
    let may_matter = matches!(tail, b"nfo" | b"aps" | b"ime" | b"tat" | b"ine" | b"roc" | b"cpu")
        || matches!(tail, b"tus" | b"ory" | b"elf" | b"ure")
        || tail.ends_with(b"io")
        || matches!(tail.last(), None | Some(b'.' | b'/'))
        || (tail.last().is_some_and(u8::is_ascii_digit)
            && path.windows(3).rev().take(8).any(|w| w == b"cpu"));
    if !may_matter {
        return State::Plain;
    }
    if flags & libc::O_ACCMODE == libc::O_RDONLY
        && flags & (libc::O_PATH | libc::O_DIRECTORY) == 0
        && let Some((kind, other)) = named(dirfd, path)
        && !crate::seal::sealed()
        && let Some(kind) = [Some(kind), other]
            .into_iter()
            .flatten()
            .find(|&k| crate::env::config().enabled(k.feature()) && is_kernel_file(fd, k))
    {
        return State::Kernel(kind);
    }
    // As a directory: `/proc`, `.../cpu`, `cpuN`, `self`, `thread-self`, `pressure`, `/`, or a
    // name that says nothing (`.`, `..`, `x/`).
    match last_component(path, 11).and_then(|(last, _)| dir_class(last)) {
        Some(d) => State::MaybeParent(d),
        None => State::Plain,
    }
}

/// The (device, inode) of the kernel's file of each kind: 0 = not taken yet, `NONE` = there is
/// none (the canonical path is missing or not on procfs/sysfs, e.g. under LXCFS).
static DEV: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
static INO: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
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

/// Whether the open file `fd` is the kernel's file of `kind`: the canonical file itself, or for
/// the kinds of many files, a regular file on the kind's filesystem (its path named it).
pub fn is_kernel_file(fd: c_int, kind: Kind) -> bool {
    if !kind.is_single() {
        return sys::fstat(fd).is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
            && sys::fs_magic(fd) == Some(kind.magic());
    }
    match (reference(kind), sys::identity(fd)) {
        (Some(r), Some(id)) => r == id,
        _ => false,
    }
}

/// The link of `fd` in `/proc/self/fd`, read into `target`.
fn fd_link(fd: c_int, target: &mut [u8]) -> Option<&[u8]> {
    let mut link = cgshim::buf::Buf::<32>::new();
    cgshim::buf::Sink::push(&mut link, b"/proc/self/fd/");
    cgshim::buf::Sink::push_u64(&mut link, u64::try_from(fd).ok()?);
    cgshim::buf::Sink::push_byte(&mut link, 0);
    let path = CStr::from_bytes_with_nul(link.as_bytes()).ok()?;
    let n = sys::readlink(path, target)?;
    target.get(..n)
}

/// N of the `cpuN/online` file open at `fd`, from its link in `/proc/self/fd`.
pub fn online_cpu(fd: c_int) -> Option<usize> {
    let mut target = [0u8; 96];
    let rest =
        fd_link(fd, &mut target)?.strip_prefix(b"/sys/devices/system/cpu/")?.strip_suffix(b"/online")?;
    cpu_number(rest)
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
                    .filter(|k| k.is_single())
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
    let mut target = [0u8; 64];
    memfd_kind(fd_link(fd, &mut target)?)
}

/// The kind of served content a memfd holds, by its link (`/memfd:cgshim:meminfo (deleted)`).
pub fn memfd_kind(link: &[u8]) -> Option<Kind> {
    let name = link.strip_prefix(b"/memfd:")?;
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
