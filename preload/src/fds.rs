//! What the library knows about each fd number of the process: one byte per fd, kept by the
//! hooks that create, duplicate and close fds, so that the hot hooks (`read`, `lseek`, `close`)
//! decide with one atomic load whether an fd concerns us.
//!
//! Served fds also get an [`Entry`] when they need more than the byte: the position map of a
//! kernel file whose served content is shorter or longer than the kernel's, the rest of a
//! content read in pieces, or the identity of a memfd behind a stdio stream. Nothing here is
//! trusted blindly: an fd number can be closed and reused behind the library's back (a raw
//! `close`, a `dup2` inside libc), so every use of a served fd first checks that it is still
//! the file it was.

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use crate::kernel::Kind;

/// fd numbers at or above this are never served (their byte would not fit the table).
pub const MAX_FD: usize = 65536;

/// What an fd number is, as far as the library saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not seen since the program started (inherited across exec, or made by a call the library
    /// does not hook): looked at once, on its first read.
    Unknown,
    /// Opened through a hook and not one of ours; as a directory, not one that holds our files.
    Plain,
    /// Opened through a hook and not one of ours, but as a directory it may hold our files
    /// (`/proc`, `/sys/devices/system/cpu`, `/proc/self`, or a path ending in `.`).
    MaybeParent(Dir),
    /// Reused after a close the library saw: not one of ours, nothing known as a directory.
    Reused,
    /// The kernel's own file of this kind, whose reads the library serves.
    Kernel(Kind),
    /// A stdio stream's fd, holding the served content of this kind in a memfd.
    Memfd(Kind),
}

/// Which directory an fd opened as one may be, by the last component of its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Dir {
    /// `.`, `..`, `/`: any of them.
    Any = 2,
    Proc = 4,
    /// `/sys/devices/system/cpu`.
    Cpu = 5,
    /// `/sys/devices/system/cpu/cpuN`.
    CpuN = 6,
    /// `/proc/self`, `/proc/thread-self`.
    Own = 7,
    /// `/proc/pressure`.
    Pressure = 8,
}

const DIRS: [Dir; 6] = [Dir::Any, Dir::Proc, Dir::Cpu, Dir::CpuN, Dir::Own, Dir::Pressure];

const UNKNOWN: u8 = 0;
const PLAIN: u8 = 1;
const REUSED: u8 = 3;
const KERNEL: u8 = 0x10;
const MEMFD: u8 = 0x20;

static STATES: [AtomicU8; MAX_FD] = [const { AtomicU8::new(UNKNOWN) }; MAX_FD];

/// How many fds are served kernel files (so that an exec with none looks at nothing).
static KERNEL_FDS: AtomicUsize = AtomicUsize::new(0);

fn count(old: u8, new: u8) {
    let (was, is) = (is_kernel_byte(old), is_kernel_byte(new));
    if is && !was {
        KERNEL_FDS.fetch_add(1, Ordering::Relaxed);
    } else if was && !is {
        let _ = KERNEL_FDS.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

fn is_kernel_byte(b: u8) -> bool {
    b & KERNEL != 0 && b & MEMFD == 0
}

/// Calls `each` with every fd that is a served kernel file.
pub fn each_kernel_fd(mut each: impl FnMut(i32, Kind)) {
    if KERNEL_FDS.load(Ordering::Relaxed) == 0 {
        return;
    }
    for (fd, s) in STATES.iter().enumerate() {
        if let State::Kernel(kind) = decode(s.load(Ordering::Relaxed)) {
            each(fd as i32, kind);
        }
    }
}

fn slot(fd: i32) -> Option<&'static AtomicU8> {
    STATES.get(usize::try_from(fd).ok()?)
}

fn decode(b: u8) -> State {
    match b {
        PLAIN => State::Plain,
        b if b < KERNEL
            && let Some(d) = DIRS.into_iter().find(|d| *d as u8 == b) =>
        {
            State::MaybeParent(d)
        }
        REUSED => State::Reused,
        b if b & KERNEL != 0 => Kind::from_u8(b & 0x0f).map_or(State::Plain, State::Kernel),
        b if b & MEMFD != 0 => Kind::from_u8(b & 0x0f).map_or(State::Plain, State::Memfd),
        _ => State::Unknown,
    }
}

fn encode(s: State) -> u8 {
    match s {
        State::Unknown => UNKNOWN,
        State::Plain => PLAIN,
        State::MaybeParent(d) => d as u8,
        State::Reused => REUSED,
        State::Kernel(k) => KERNEL | k as u8,
        State::Memfd(k) => MEMFD | k as u8,
    }
}

/// The state of `fd`; fds outside the table are plain.
#[inline]
pub fn get(fd: i32) -> State {
    match slot(fd) {
        Some(s) => decode(s.load(Ordering::Relaxed)),
        None => State::Plain,
    }
}

/// Whether reads of `fd` may concern the library (one load, for the hot hooks).
#[inline]
pub fn needs_look(fd: i32) -> bool {
    slot(fd).is_some_and(|s| {
        let b = s.load(Ordering::Relaxed);
        b == UNKNOWN || b >= KERNEL
    })
}

/// Whether `fd` is served in any way (kernel file or memfd).
#[inline]
pub fn is_served(fd: i32) -> bool {
    slot(fd).is_some_and(|s| s.load(Ordering::Relaxed) >= KERNEL)
}

/// Records `state` for `fd`. A plain load and store: the kernel hands an fd number to one open
/// at a time, and every later use of a served fd checks it anyway.
#[inline]
pub fn set(fd: i32, state: State) {
    if let Some(s) = slot(fd) {
        let new = encode(state);
        let old = s.load(Ordering::Relaxed);
        if old == new {
            return;
        }
        s.store(new, Ordering::Relaxed);
        if old >= KERNEL || new >= KERNEL {
            count(old, new);
            if old >= KERNEL {
                release(fd);
            }
        }
    }
}

/// `new` became a duplicate of `old` (dup, dup2, dup3, F_DUPFD): it is the same file. A memfd
/// entry is copied so the duplicate can be checked too.
pub fn duplicated(old: i32, new: i32) {
    let state = get(old);
    set(new, state);
    if let State::Memfd(kind) = state
        && let Some(e) = find(old)
    {
        let id = (e.dev.load(Ordering::Relaxed), e.ino.load(Ordering::Relaxed));
        e.unlock();
        if let Some(n) = claim(new, kind) {
            n.dev.store(id.0, Ordering::Relaxed);
            n.ino.store(id.1, Ordering::Relaxed);
            n.unlock();
        }
    }
}

/// `fd` is about to be closed by the program.
#[inline]
pub fn closing(fd: i32) {
    if let Some(s) = slot(fd) {
        let old = s.load(Ordering::Relaxed);
        if old != REUSED {
            s.store(REUSED, Ordering::Relaxed);
            count(old, REUSED);
            if old >= KERNEL {
                release(fd);
            }
        }
    }
}

/// Every fd from `first` to `last` (inclusive) is about to be closed.
pub fn closing_range(first: u32, last: u32) {
    let end = usize::try_from(last).unwrap_or(usize::MAX).min(MAX_FD - 1);
    for fd in usize::try_from(first).unwrap_or(MAX_FD)..=end {
        closing(fd as i32);
    }
}

// ---------------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------------

/// Served fds that need more than their state byte at the same time.
const ENTRIES: usize = 64;

/// What the library keeps for one served fd. Used under its lock (`busy`), taken with one
/// atomic swap: a signal handler or a second thread that finds it busy works without it.
pub struct Entry {
    busy: AtomicBool,
    /// The fd plus one, or 0 when free (zero-initialised: the table costs nothing at load).
    fd1: AtomicI32,
    kind: AtomicU8,
    /// For a memfd: its (device, inode), to recognise it on later calls.
    pub dev: AtomicU64,
    pub ino: AtomicU64,
    /// For a kernel file: whether the fields below describe it.
    pub mapped: AtomicBool,
    /// Whether they describe the last positional read (`pread`, `sendfile` with an offset),
    /// not the file position.
    pub positional: AtomicBool,
    /// Where the next read continues the served content: for reads at the file position, the
    /// kernel's file position after the library's last read; for positional reads, the offset
    /// after the last one (in the served content, as the program counts).
    pub kernel_pos: AtomicU64,
    /// The position in the served content `kernel_pos` stands for.
    pub pos: AtomicU64,
    /// The length of the served content those positions refer to.
    pub len: AtomicU64,
    /// Bytes of `content` that hold the served content (0: none kept).
    pub kept: AtomicU64,
    content: AtomicPtr<u8>,
    capacity: AtomicUsize,
}

impl Entry {
    const fn new() -> Entry {
        Entry {
            busy: AtomicBool::new(false),
            fd1: AtomicI32::new(0),
            kind: AtomicU8::new(0),
            dev: AtomicU64::new(0),
            ino: AtomicU64::new(0),
            mapped: AtomicBool::new(false),
            positional: AtomicBool::new(false),
            kernel_pos: AtomicU64::new(0),
            pos: AtomicU64::new(0),
            len: AtomicU64::new(0),
            kept: AtomicU64::new(0),
            content: AtomicPtr::new(core::ptr::null_mut()),
            capacity: AtomicUsize::new(0),
        }
    }

    fn try_lock(&self) -> bool {
        !self.busy.swap(true, Ordering::Acquire)
    }

    pub fn unlock(&self) {
        self.busy.store(false, Ordering::Release);
    }

    /// Forgets the position map and kept content.
    pub fn reset(&self) {
        self.mapped.store(false, Ordering::Relaxed);
        self.positional.store(false, Ordering::Relaxed);
        self.kernel_pos.store(0, Ordering::Relaxed);
        self.pos.store(0, Ordering::Relaxed);
        self.len.store(0, Ordering::Relaxed);
        self.kept.store(0, Ordering::Relaxed);
    }

    /// Keeps `content` for the next reads (in a buffer of the entry's own, grown as needed).
    pub fn keep(&self, content: &[u8]) {
        self.kept.store(0, Ordering::Relaxed);
        let mut cap = self.capacity.load(Ordering::Relaxed);
        let mut buf = self.content.load(Ordering::Relaxed);
        if content.len() > cap {
            if !buf.is_null() {
                // SAFETY: the entry's own mapping, not in use (we hold the lock).
                unsafe { crate::sys::unmap(buf, cap) };
                self.content.store(core::ptr::null_mut(), Ordering::Relaxed);
                self.capacity.store(0, Ordering::Relaxed);
            }
            cap = content.len().div_ceil(65536).saturating_mul(65536);
            match crate::sys::map(cap) {
                Some(b) => buf = b,
                None => return,
            }
            self.content.store(buf, Ordering::Relaxed);
            self.capacity.store(cap, Ordering::Relaxed);
        }
        // SAFETY: `buf` maps `cap >= content.len()` writable bytes owned by the entry.
        unsafe { core::ptr::copy_nonoverlapping(content.as_ptr(), buf, content.len()) };
        self.kept.store(content.len() as u64, Ordering::Relaxed);
    }

    /// The content kept by [`Entry::keep`].
    pub fn kept(&self) -> Option<&[u8]> {
        let n = usize::try_from(self.kept.load(Ordering::Relaxed)).ok().filter(|&n| n > 0)?;
        let buf = self.content.load(Ordering::Relaxed);
        // SAFETY: `kept` bytes were written at `buf` by `keep`, under the lock we hold.
        (!buf.is_null()).then(|| unsafe { core::slice::from_raw_parts(buf, n) })
    }
}

static TABLE: [Entry; ENTRIES] = [const { Entry::new() }; ENTRIES];

/// The entry of `fd`, locked; `None` when it has none or it is busy.
pub fn find(fd: i32) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.fd1.load(Ordering::Relaxed) == fd.wrapping_add(1)).filter(|e| {
        if !e.try_lock() {
            return false;
        }
        if e.fd1.load(Ordering::Relaxed) == fd.wrapping_add(1) {
            true
        } else {
            e.unlock();
            false
        }
    })
}

/// A locked entry for `fd` (its own if it has one, else a free one, reset).
pub fn claim(fd: i32, kind: Kind) -> Option<&'static Entry> {
    if let Some(e) = find(fd) {
        e.kind.store(kind as u8, Ordering::Relaxed);
        return Some(e);
    }
    for e in &TABLE {
        if e.fd1.load(Ordering::Relaxed) != 0 {
            continue;
        }
        if !e.try_lock() {
            continue;
        }
        if e.fd1.compare_exchange(0, fd.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            e.kind.store(kind as u8, Ordering::Relaxed);
            e.reset();
            return Some(e);
        }
        e.unlock();
    }
    // Full: reclaim an entry whose fd is no longer the served file it was (closed behind our
    // back). Checking costs a system call per entry, so only now.
    for e in &TABLE {
        let other = e.fd1.load(Ordering::Relaxed);
        if other == fd.wrapping_add(1) || is_served(other.wrapping_sub(1)) || !e.try_lock() {
            continue;
        }
        if e.fd1.compare_exchange(other, fd.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            e.kind.store(kind as u8, Ordering::Relaxed);
            e.reset();
            return Some(e);
        }
        e.unlock();
    }
    None
}

/// Frees the entry of `fd`, if any (its content buffer stays mapped for the next user).
fn release(fd: i32) {
    for e in &TABLE {
        if e.fd1.load(Ordering::Relaxed) == fd.wrapping_add(1) && e.try_lock() {
            if e.fd1.load(Ordering::Relaxed) == fd.wrapping_add(1) {
                e.reset();
                e.fd1.store(0, Ordering::Relaxed);
            }
            e.unlock();
        }
    }
}
