//! Configuration from `CGSHIM_*` variables, read once, and the secure-mode rule: when the
//! program runs with AT_SECURE (setuid/setgid, file capabilities — reachable through
//! `/etc/ld.so.preload`), every variable is ignored, the debug log is off and no test root is used.

use cgshim::config::Config;
use core::ffi::{CStr, c_char};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

static CONFIG: AtomicU64 = AtomicU64::new(0);
static SYSROOT: AtomicPtr<c_char> = AtomicPtr::new(core::ptr::null_mut());

/// Whether the process is privileged relative to its environment (AT_SECURE, or differing
/// real and effective ids for C libraries that do not set the aux vector entry).
pub fn secure() -> bool {
    static SECURE: AtomicU64 = AtomicU64::new(0);
    match SECURE.load(Ordering::Relaxed) {
        1 => return false,
        2 => return true,
        _ => {}
    }
    // SAFETY: getauxval and the id getters have no preconditions.
    let secure = unsafe {
        libc::getauxval(libc::AT_SECURE) != 0
            || libc::getuid() != libc::geteuid()
            || libc::getgid() != libc::getegid()
    };
    SECURE.store(if secure { 2 } else { 1 }, Ordering::Relaxed);
    secure
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
