//! The fds we handed out, so that a rewind (`lseek(fd, 0, SEEK_SET)`, `pread(fd, …, 0)`) can
//! regenerate their content: procps and dstat keep `/proc/meminfo` open and rewind it each sample.
//!
//! Lock-free: one atomic word per fd number holds the inode of the memfd we served there. An fd
//! number can be closed and reused behind our back (we do not hook `close`), so every use first
//! checks that the fd still refers to that inode on the memfd filesystem; otherwise the entry is
//! dropped and the fd is left alone.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// fd numbers at or above this are served but not refreshed on rewind.
pub const MAX_FD: usize = 4096;

static INODES: [AtomicU64; MAX_FD] = [const { AtomicU64::new(0) }; MAX_FD];
static KINDS: [AtomicU8; MAX_FD] = [const { AtomicU8::new(0) }; MAX_FD];
/// The device of the memfd filesystem (the same for every memfd).
static MEMFD_DEV: AtomicU64 = AtomicU64::new(u64::MAX);

pub fn track(fd: i32, kind: u8, dev: u64, ino: u64) {
    let Some(slot) = usize::try_from(fd).ok().filter(|&f| f < MAX_FD) else {
        return;
    };
    MEMFD_DEV.store(dev, Ordering::Relaxed);
    if let (Some(i), Some(k)) = (INODES.get(slot), KINDS.get(slot)) {
        k.store(kind, Ordering::Relaxed);
        i.store(ino, Ordering::Release);
    }
}

/// The kind of file served at `fd`, if `fd` still is the memfd we served (one atomic load when
/// it is not ours).
pub fn lookup(fd: i32) -> Option<u8> {
    let slot = usize::try_from(fd).ok().filter(|&f| f < MAX_FD)?;
    let ino = INODES.get(slot)?.load(Ordering::Acquire);
    if ino == 0 {
        return None;
    }
    let kind = KINDS.get(slot)?.load(Ordering::Relaxed);
    match crate::sys::inode(fd) {
        Some((dev, i)) if i == ino && dev == MEMFD_DEV.load(Ordering::Relaxed) => Some(kind),
        _ => {
            // Closed and reused for another file: forget it, never touch it.
            let _ = INODES.get(slot)?.compare_exchange(ino, 0, Ordering::AcqRel, Ordering::Relaxed);
            None
        }
    }
}

/// Cheap pre-check for the rewind hooks: is anything recorded at `fd`?
#[inline]
pub fn maybe_tracked(fd: i32) -> bool {
    usize::try_from(fd).ok().and_then(|f| INODES.get(f)).is_some_and(|i| i.load(Ordering::Relaxed) != 0)
}
