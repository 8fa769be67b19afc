//! Configuration from `CGSHIM_*` variables, read once, and the secure-mode rule: when the
//! program runs with AT_SECURE (setuid/setgid, file capabilities — reachable through
//! `/etc/ld.so.preload`), every variable is ignored, the debug log is off and no test root is used.

use cgshim::config::Config;
use core::ffi::{CStr, c_char};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

static CONFIG: AtomicU64 = AtomicU64::new(0);
static SYSROOT: AtomicPtr<c_char> = AtomicPtr::new(core::ptr::null_mut());

/// Whether the process is privileged relative to its environment: the kernel's AT_SECURE
/// (setuid/setgid, file capabilities, an LSM's decision), read from the aux vector without a
/// system call. Linux sets it for every exec, so no libc needs the uid comparison as a fallback.
pub fn secure() -> bool {
    // SAFETY: getauxval has no preconditions.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

fn var(name: &CStr) -> &'static [u8] {
    // SAFETY: getenv takes a NUL-terminated name; the returned string lives in the environment,
    // which the library only reads (once, here).
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return b"";
    }
    // SAFETY: getenv returns a NUL-terminated string.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}

/// The configuration, loaded on first use.
pub fn config() -> Config {
    if let Some(c) = Config::from_bits(CONFIG.load(Ordering::Relaxed)) {
        return c;
    }
    let c = if secure() {
        Config::default()
    } else {
        let root = var(c"CGSHIM_SYSROOT");
        if !root.is_empty() {
            // SAFETY: getenv's pointer stays valid while the environment is not modified; the
            // test root is a test-only switch.
            SYSROOT.store(unsafe { libc::getenv(c"CGSHIM_SYSROOT".as_ptr()) }, Ordering::Relaxed);
        }
        Config::default()
            .with_disable(var(c"CGSHIM_DISABLE"))
            .with_debug(var(c"CGSHIM_DEBUG"))
            .with_cpu_affinity(var(c"CGSHIM_CPU_AFFINITY"))
    };
    CONFIG.store(c.to_bits(), Ordering::Relaxed);
    c
}

/// The test-only root that kernel paths are read under (`CGSHIM_SYSROOT`), if set.
pub fn sysroot() -> Option<&'static [u8]> {
    config();
    let p = SYSROOT.load(Ordering::Relaxed);
    if p.is_null() {
        return None;
    }
    // SAFETY: the pointer came from getenv and is NUL-terminated.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}
