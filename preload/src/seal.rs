//! Programs that sandbox themselves.
//!
//! A program that installs a seccomp filter after it started (OpenSSH's privilege-separated
//! child, Chromium and Firefox content processes, daemons using libseccomp, systemd's service
//! setup before exec) lists the system calls it will make from then on; one the library adds
//! could kill it. The library sees the filter go in (through `prctl(PR_SET_SECCOMP)` and
//! `syscall(SYS_seccomp)`, the two ways libc offers) and from that moment makes no system call
//! of its own: every hook calls the real function and nothing else, so the program runs as it
//! does without the library.

use core::sync::atomic::{AtomicBool, Ordering};

static SEALED: AtomicBool = AtomicBool::new(false);

/// Whether the program has restricted its system calls: the library only passes through.
#[inline]
pub fn sealed() -> bool {
    SEALED.load(Ordering::Relaxed)
}

/// Runs `install`, the program's call that may install a seccomp filter (or strict mode). The
/// library stops making system calls before it: once the call returns the filter applies.
/// Should it fail (-1), nothing was installed and the library carries on.
pub fn around_install(install: impl FnOnce() -> i64) -> i64 {
    let before = SEALED.swap(true, Ordering::SeqCst);
    let r = install();
    if r < 0 && !before {
        SEALED.store(false, Ordering::SeqCst);
    }
    r
}
