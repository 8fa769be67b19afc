//! The two ways libc offers to install a seccomp filter: `prctl(PR_SET_SECCOMP, …)` and
//! `syscall(SYS_seccomp, SECCOMP_SET_MODE_{STRICT,FILTER}, …)` (libseccomp uses the second and
//! falls back to the first). Either seals the library (see `seal`).

use crate::real::{Real, typed};
use crate::seal;
use core::ffi::{c_int, c_long, c_ulong};

type PrctlFn = unsafe extern "C" fn(c_int, c_ulong, c_ulong, c_ulong, c_ulong) -> c_int;
type SyscallFn = unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;

static PRCTL: Real = Real::new(c"prctl");
static SYSCALL: Real = Real::new(c"syscall");

const PR_SET_SECCOMP: c_int = 22;
const SECCOMP_SET_MODE_STRICT: c_long = 0;
const SECCOMP_SET_MODE_FILTER: c_long = 1;

/// `prctl` is variadic in C; every option takes at most four further machine words, which
/// arrive in the same registers whether or not the caller passed them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn prctl(option: c_int, a2: c_ulong, a3: c_ulong, a4: c_ulong, a5: c_ulong) -> c_int {
    // SAFETY: forwarding the caller's arguments to the real function.
    let real = || match unsafe { typed::<PrctlFn>(&PRCTL) } {
        Some(f) => unsafe { f(option, a2, a3, a4, a5) },
        None => {
            crate::set_errno(libc::ENOSYS);
            -1
        }
    };
    if option == PR_SET_SECCOMP {
        return seal::around_install(|| i64::from(real())) as c_int;
    }
    real()
}

/// `syscall` is variadic in C; it passes six machine words to the kernel whatever the number,
/// and so does this hook.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn syscall(
    nr: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    // SAFETY: forwarding the caller's arguments to the real function.
    let real = || match unsafe { typed::<SyscallFn>(&SYSCALL) } {
        Some(f) => unsafe { f(nr, a1, a2, a3, a4, a5, a6) },
        None => {
            crate::set_errno(libc::ENOSYS);
            -1
        }
    };
    if nr == libc::SYS_seccomp && (a1 == SECCOMP_SET_MODE_STRICT || a1 == SECCOMP_SET_MODE_FILTER) {
        return seal::around_install(real) as c_long;
    }
    real()
}
