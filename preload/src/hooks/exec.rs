//! Exec and spawn. A served kernel fd that stays open across exec (`sort < /proc/meminfo`: the
//! shell opens the file, the command inherits it) reaches a program that cannot know it is
//! ours and may read it through stdio, out of reach of the read hooks: just before the exec,
//! such an fd gets the served content itself (see `stream::hand_over`). With no served fd open,
//! an exec costs one load.

use crate::real::{Real, typed};
use crate::{fds, stream, sys};
use core::ffi::{c_char, c_int, c_void};

type ExecveFn = unsafe extern "C" fn(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
type ExecvFn = unsafe extern "C" fn(*const c_char, *const *const c_char) -> c_int;
type FexecveFn = unsafe extern "C" fn(c_int, *const *const c_char, *const *const c_char) -> c_int;
type ExecveatFn =
    unsafe extern "C" fn(c_int, *const c_char, *const *const c_char, *const *const c_char, c_int) -> c_int;
type SpawnFn = unsafe extern "C" fn(
    *mut libc::pid_t,
    *const c_char,
    *const c_void,
    *const c_void,
    *const *const c_char,
    *const *const c_char,
) -> c_int;

static EXECVE: Real = Real::new(c"execve");
static EXECV: Real = Real::new(c"execv");
static EXECVP: Real = Real::new(c"execvp");
static EXECVPE: Real = Real::new(c"execvpe");
static FEXECVE: Real = Real::new(c"fexecve");
static EXECVEAT: Real = Real::new(c"execveat");
static POSIX_SPAWN: Real = Real::new(c"posix_spawn");
static POSIX_SPAWNP: Real = Real::new(c"posix_spawnp");

/// Every served kernel fd the next program inherits gets its content.
fn before_exec() {
    fds::each_kernel_fd(|fd, kind| {
        let flags = sys::fcntl(fd, libc::F_GETFD, 0);
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            stream::hand_over(fd, kind);
        }
    });
}

fn enosys() -> c_int {
    crate::set_errno(libc::ENOSYS);
    -1
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execve(
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    before_exec();
    // SAFETY: forwarding the caller's arguments.
    match unsafe { typed::<ExecveFn>(&EXECVE) } {
        Some(f) => unsafe { f(path, argv, envp) },
        None => enosys(),
    }
}

macro_rules! execv_hook {
    ($name:ident, $real:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, argv: *const *const c_char) -> c_int {
            before_exec();
            // SAFETY: forwarding the caller's arguments.
            match unsafe { typed::<ExecvFn>(&$real) } {
                Some(f) => unsafe { f(path, argv) },
                None => enosys(),
            }
        }
    };
}

execv_hook!(execv, EXECV);
execv_hook!(execvp, EXECVP);

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execvpe(
    file: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    before_exec();
    // SAFETY: forwarding the caller's arguments.
    match unsafe { typed::<ExecveFn>(&EXECVPE) } {
        Some(f) => unsafe { f(file, argv, envp) },
        None => enosys(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int {
    before_exec();
    // SAFETY: forwarding the caller's arguments.
    match unsafe { typed::<FexecveFn>(&FEXECVE) } {
        Some(f) => unsafe { f(fd, argv, envp) },
        None => enosys(),
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn execveat(
    dirfd: c_int,
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    flags: c_int,
) -> c_int {
    before_exec();
    // SAFETY: forwarding the caller's arguments.
    match unsafe { typed::<ExecveatFn>(&EXECVEAT) } {
        Some(f) => unsafe { f(dirfd, path, argv, envp, flags) },
        None => enosys(),
    }
}

macro_rules! spawn_hook {
    ($name:ident, $real:ident) => {
        /// The child of `posix_spawn` inherits the fds as an exec does.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            pid: *mut libc::pid_t,
            path: *const c_char,
            actions: *const c_void,
            attr: *const c_void,
            argv: *const *const c_char,
            envp: *const *const c_char,
        ) -> c_int {
            before_exec();
            // SAFETY: forwarding the caller's arguments.
            match unsafe { typed::<SpawnFn>(&$real) } {
                Some(f) => unsafe { f(pid, path, actions, attr, argv, envp) },
                None => libc::ENOSYS,
            }
        }
    };
}

spawn_hook!(posix_spawn, POSIX_SPAWN);
spawn_hook!(posix_spawnp, POSIX_SPAWNP);
