//! `cgshim exec`'s supervisor, for the programs `LD_PRELOAD` cannot reach: statically linked
//! ones (no dynamic loader) and Go ones (system calls without libc).
//!
//! The program runs as cgshim's child under a seccomp filter that hands its `open`/`openat`,
//! `sysinfo`, `sched_getaffinity` and `lseek(fd, 0, SEEK_SET)` calls to cgshim (seccomp user
//! notification). cgshim loads `libcgshim.so` itself (`dlopen`) and answers each call with the
//! library's own code: for a file the library serves, a memfd holding the served content is put
//! into the program as the opened fd (`SECCOMP_IOCTL_NOTIF_ADDFD`); `sysinfo` and
//! `sched_getaffinity` results are written into the program's memory; a rewind of a file it gave
//! refreshes it. Everything else, and anything that fails on cgshim's side, continues in the
//! kernel untouched (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
//!
//! cgshim lives exactly as long as the program: the program gets SIGKILL if cgshim dies
//! (`PR_SET_PDEATHSIG`), cgshim forwards the signals sent to it, reaps its children and exits
//! with the program's status. If the program leaves descendants behind that still run under the
//! filter, a detached copy of the supervisor keeps answering them until the last one is gone.

use crate::elf::{self, Reach};
use std::convert::Infallible;
use std::ffi::{CString, OsStr, OsString};
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The signals passed on to the program when another process sends them to cgshim.
const FORWARDED: [libc::c_int; 9] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGALRM,
];

#[cfg(target_arch = "x86_64")]
mod arch {
    pub const AUDIT_ARCH: u32 = 0xc000_003e;
    /// x32 system calls share the architecture number, with this bit set.
    pub const X32_BIT: u32 = 0x4000_0000;
    pub const OPEN: Option<i64> = Some(libc::SYS_open);
}

#[cfg(target_arch = "aarch64")]
mod arch {
    pub const AUDIT_ARCH: u32 = 0xc000_00b7;
    pub const X32_BIT: u32 = u32::MAX;
    pub const OPEN: Option<i64> = None;
}

type NamedFn = unsafe extern "C" fn(*const u8, usize) -> libc::c_int;
type OpenFn = unsafe extern "C" fn(*const libc::c_char, libc::c_int) -> libc::c_int;
type RefreshFn = unsafe extern "C" fn(libc::c_int, *const libc::c_char) -> libc::c_int;
type SysinfoFn = unsafe extern "C" fn(*mut libc::sysinfo) -> libc::c_int;
type NarrowFn = unsafe extern "C" fn(usize, *mut u8);

/// The library's answering functions (`preload/src/supervisor.rs`).
struct Api {
    named: NamedFn,
    open: OpenFn,
    refresh: RefreshFn,
    sysinfo: SysinfoFn,
    narrow: NarrowFn,
    /// A name that identifies the library in a process's maps.
    name: Vec<u8>,
}

impl Api {
    fn load(lib: &Path) -> Result<Api, String> {
        let own = env!("CARGO_PKG_VERSION");
        match crate::report::library_version(lib) {
            Some(v) if v == own => {}
            Some(v) => return Err(format!("{} is version {v}, this command {own}", lib.display())),
            None => return Err(format!("{} carries no cgshim version", lib.display())),
        }
        if std::env::current_exe().is_ok_and(|exe| elf::inspect(&exe) == Reach::Static) {
            return Err("this cgshim command is statically linked and cannot load libcgshim.so; \
                        the dynamically linked one (the .deb's, or cargo build) can"
                .to_string());
        }
        let c = CString::new(lib.as_os_str().as_bytes()).map_err(|_| "a NUL in the library path")?;
        // SAFETY: a NUL-terminated path. The library runs nothing at load time and its hooks
        // stay local to it (RTLD_LOCAL): this process's own calls do not go through them.
        let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a string owned by the C library, or NULL.
            let why = unsafe { libc::dlerror() };
            let why = if why.is_null() {
                "unknown error".to_string()
            } else {
                // SAFETY: a NUL-terminated string from dlerror.
                unsafe { std::ffi::CStr::from_ptr(why) }.to_string_lossy().into_owned()
            };
            return Err(format!("cannot load {}: {why}", lib.display()));
        }
        let sym = |name: &std::ffi::CStr| -> Result<*mut libc::c_void, String> {
            // SAFETY: a valid handle and a NUL-terminated name.
            let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
            if p.is_null() {
                Err(format!("{} lacks {}", lib.display(), name.to_string_lossy()))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol is the function of that name in preload/src/supervisor.rs, with
        // that signature (the library is this command's own version).
        unsafe {
            Ok(Api {
                named: std::mem::transmute::<*mut libc::c_void, NamedFn>(sym(c"cgshim_supervisor_named")?),
                open: std::mem::transmute::<*mut libc::c_void, OpenFn>(sym(c"cgshim_supervisor_open")?),
                refresh: std::mem::transmute::<*mut libc::c_void, RefreshFn>(sym(
                    c"cgshim_supervisor_refresh",
                )?),
                sysinfo: std::mem::transmute::<*mut libc::c_void, SysinfoFn>(sym(
                    c"cgshim_supervisor_sysinfo",
                )?),
                narrow: std::mem::transmute::<*mut libc::c_void, NarrowFn>(sym(c"cgshim_supervisor_narrow")?),
                name: lib.file_name().map_or(b"libcgshim".to_vec(), |n| n.as_bytes().to_vec()),
            })
        }
    }
}

fn errno() -> libc::c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn errno_name(e: libc::c_int) -> &'static str {
    match e {
        libc::EBUSY => "EBUSY",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::EFAULT => "EFAULT",
        libc::ENOMEM => "ENOMEM",
        libc::EMFILE => "EMFILE",
        _ => "error",
    }
}

/// Why a filter could not be installed, for the warning line.
fn refusal(e: libc::c_int) -> String {
    let why = match e {
        libc::EBUSY => "another seccomp listener already watches this process",
        libc::EPERM | libc::EACCES => "seccomp filters are not permitted here",
        libc::EINVAL | libc::ENOSYS => "the kernel lacks seccomp user notification (Linux 5.0)",
        _ => "seccomp refused the filter",
    };
    format!("{why} ({}: {})", errno_name(e), std::io::Error::from_raw_os_error(e))
}

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt: 0, jf: 0, k }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const fn arg_lo(i: u32) -> u32 {
    16 + 8 * i
}

/// The filter: read-only `open`, `openat`, `sysinfo`, `sched_getaffinity`, `lseek(fd, 0, SEEK_SET)` and
/// `execve`/`execveat` (which only tell that a task's code changes) go to the supervisor; every
/// other call (and every call of another ABI) is allowed.
fn filter() -> Vec<libc::sock_filter> {
    let notify = libc::SECCOMP_RET_USER_NOTIF;
    let allow = libc::SECCOMP_RET_ALLOW;
    let trapped = [libc::SYS_sysinfo, libc::SYS_execve, libc::SYS_execveat, libc::SYS_sched_getaffinity]
        .map(|n| n as u32);
    let mut p = vec![stmt(LD_W_ABS, ARCH), jump(JEQ_K, arch::AUDIT_ARCH, 1, 0), stmt(RET_K, allow)];
    p.push(stmt(LD_W_ABS, NR));
    p.push(jump(JGE_K, arch::X32_BIT, 0, 1));
    p.push(stmt(RET_K, allow));
    // Opens that cannot be of a served file stay in the kernel: `ls` and `find` open every
    // directory they list.
    let never = NEVER_SERVED as u32;
    let opens = [(Some(libc::SYS_openat), 2), (arch::OPEN, 1)];
    for (nr, flags) in opens.into_iter().filter_map(|(nr, f)| Some((nr? as u32, f))) {
        p.push(jump(JEQ_K, nr, 0, 4));
        p.push(stmt(LD_W_ABS, arg_lo(flags)));
        p.push(jump(JSET_K, never, 0, 1));
        p.push(stmt(RET_K, allow));
        p.push(stmt(RET_K, notify));
    }
    for nr in trapped {
        p.push(jump(JEQ_K, nr, 0, 1));
        p.push(stmt(RET_K, notify));
    }
    // lseek(fd, 0, SEEK_SET): the offset's two halves and the low half of `whence` are 0.
    p.push(jump(JEQ_K, libc::SYS_lseek as u32, 1, 0));
    p.push(stmt(RET_K, allow));
    p.push(stmt(LD_W_ABS, arg_lo(1)));
    p.push(jump(JEQ_K, 0, 0, 4));
    p.push(stmt(LD_W_ABS, arg_lo(1) + 4));
    p.push(jump(JEQ_K, 0, 0, 2));
    p.push(stmt(LD_W_ABS, arg_lo(2)));
    p.push(jump(JEQ_K, libc::SEEK_SET as u32, 1, 0));
    p.push(stmt(RET_K, allow));
    p.push(stmt(RET_K, notify));
    p
}

/// The open flags of an open that cannot be of a served file: for writing, creating, of a
/// directory, `O_PATH` (`O_RDONLY` is 0).
const NEVER_SERVED: libc::c_int =
    libc::O_ACCMODE | libc::O_CREAT | libc::O_DIRECTORY | libc::O_PATH | libc::O_TMPFILE;

/// What the program is started with, built before the fork (the child allocates nothing).
struct Launch {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Launch {
    fn new(path: &Path, argv0: &OsStr, args: &[OsString], preload: &OsStr) -> Result<Launch, String> {
        let c = |s: &[u8]| CString::new(s).map_err(|_| "an argument holds a NUL byte".to_string());
        let mut argv = vec![c(argv0.as_bytes())?];
        for a in args {
            argv.push(c(a.as_bytes())?);
        }
        let mut envp = Vec::new();
        for (k, v) in std::env::vars_os() {
            if k != "LD_PRELOAD" {
                envp.push(c(&[k.as_bytes(), b"=", v.as_bytes()].concat())?);
            }
        }
        envp.push(c(&[b"LD_PRELOAD=", preload.as_bytes()].concat())?);
        Ok(Launch { path: c(path.as_os_str().as_bytes())?, argv, envp })
    }
}

/// Sends `code` and, when given, the fd `fd` over the socket `sock`.
fn send(sock: libc::c_int, code: i32, fd: Option<libc::c_int>) {
    let mut data = code.to_ne_bytes();
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    // Room for one fd, aligned as cmsghdr needs.
    let mut control = [0u64; 4];
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        msg.msg_control = control.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE only computes.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::c_int>() as u32) } as usize;
        // SAFETY: the control buffer is large enough for one cmsghdr with one fd.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::c_int>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), fd);
        }
    }
    // SAFETY: a valid message on a valid socket.
    unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
}

/// Receives a code and perhaps an fd; `None` at the end of the stream.
fn receive(sock: libc::c_int) -> Option<(i32, Option<OwnedFd>)> {
    let mut data = [0u8; 4];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    let mut control = [0u64; 4];
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    let n = loop {
        // SAFETY: a valid message buffer.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 || errno() != libc::EINTR {
            break n;
        }
    };
    if n != 4 {
        return None;
    }
    let mut fd = None;
    // SAFETY: the kernel filled the control buffer; CMSG_* walk it within msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Some((i32::from_ne_bytes(data), fd))
}

/// Installs the filter in the calling process; the listener fd or the errno.
fn install_filter(prog: &libc::sock_fprog) -> Result<libc::c_int, libc::c_int> {
    let attempt = |flags: libc::c_ulong| {
        // SAFETY: a valid filter program.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                prog as *const libc::sock_fprog,
            )
        };
        if r >= 0 { Ok(r as libc::c_int) } else { Err(errno()) }
    };
    // SPEC_ALLOW (Linux 4.17, before any listener): before 5.16 a seccomp filter also turned on
    // the speculation mitigations (SSBD, IBPB on every switch) for the filtered program, a cost
    // to all of its code. This filter sandboxes nothing; the program runs as it would plain.
    let listen = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    // A Go program's preemption signals would otherwise interrupt and restart its trapped calls
    // over and over (Linux 5.19).
    let mut r = attempt(listen | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
    if r == Err(libc::EINVAL) {
        r = attempt(listen);
    }
    if r == Err(libc::EACCES) {
        // Without CAP_SYS_ADMIN a filter needs no_new_privs.
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } == 0 {
            r = attempt(listen | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
            if r == Err(libc::EINVAL) {
                r = attempt(listen);
            }
        }
    }
    r
}

/// The child between fork and exec: only async-signal-safe calls, no allocation.
fn child(
    sock: libc::c_int,
    parent: libc::pid_t,
    prog: &libc::sock_fprog,
    launch: &Launch,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    mask: &libc::sigset_t,
) -> ! {
    // SAFETY: plain system calls on values prepared before the fork.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
        match install_filter(prog) {
            Ok(listener) => {
                send(sock, 0, Some(listener));
                libc::close(listener);
            }
            Err(e) => {
                // cgshim runs the program itself, unsupervised.
                send(sock, e, None);
                libc::_exit(0);
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
        libc::execve(launch.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        send(sock, errno(), None);
        libc::_exit(127)
    }
}

/// Runs the program under supervision. Returns only when supervision cannot be set up (the
/// reason, for one warning line), with nothing started: the caller then runs the program as
/// without it.
pub fn run(
    lib: &Path,
    path: &Path,
    argv0: &OsStr,
    args: &[OsString],
    preload: &OsStr,
) -> Result<Infallible, String> {
    let api = Api::load(lib)?;
    let launch = Launch::new(path, argv0, args, preload)?;
    let argv: Vec<*const libc::c_char> =
        launch.argv.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let envp: Vec<*const libc::c_char> =
        launch.envp.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let mut filter = filter();
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_mut_ptr() };
    let inherited = inherited_fds();

    // SAFETY: sigset operations on local values.
    let (set, old) = unsafe {
        let mut set: libc::sigset_t = zeroed();
        let mut old: libc::sigset_t = zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED.iter().chain([libc::SIGCHLD].iter()) {
            libc::sigaddset(&mut set, *s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        (set, old)
    };
    let restore = || {
        // SAFETY: restoring the mask saved above.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    };
    let mut pair = [0; 2];
    // SAFETY: a valid array for two fds.
    if unsafe {
        libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, pair.as_mut_ptr())
    } != 0
    {
        restore();
        return Err(format!("socketpair: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fds from socketpair.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child only makes async-signal-safe calls before exec (see `child`).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        restore();
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        child(theirs.as_raw_fd(), parent, &prog, &launch, &argv, &envp, &old);
    }
    drop(theirs);
    let listener = match receive(ours.as_raw_fd()) {
        Some((0, Some(fd))) => fd,
        other => {
            let mut status = 0;
            // SAFETY: our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            restore();
            return Err(match other {
                Some((e, _)) if e != 0 => refusal(e),
                _ => "the program's process could not install the filter".to_string(),
            });
        }
    };
    let mut s = Supervisor::new(api, listener, pid);
    // The program is being executed (its execve is trapped too); an errno means it failed.
    if let Some(e) = s.until_exec(ours.as_raw_fd()) {
        let err = std::io::Error::from_raw_os_error(e);
        eprintln!("cgshim: cannot run {}: {err}", path.display());
        let mut status = 0;
        // SAFETY: our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        std::process::exit(if e == libc::ENOENT { 127 } else { 126 });
    }
    drop(ours);
    let_go(&inherited);
    // SAFETY: a valid signal set.
    let sigfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    // SAFETY: a fresh fd or -1 (then signals are polled by waitpid alone).
    let sigfd = (sigfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(sigfd) });
    let status = s.serve(sigfd.as_ref());
    if s.listener.is_some() {
        s.hand_off();
    }
    finish(status)
}

/// The fds the program inherits along with cgshim: every open one without `FD_CLOEXEC` (what
/// cgshim opens itself is close-on-exec).
fn inherited_fds() -> Vec<libc::c_int> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return vec![0, 1, 2] };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        // SAFETY: F_GETFD on a number; a closed one (the listing's own fd) gives -1.
        .filter(|&fd| matches!(unsafe { libc::fcntl(fd, libc::F_GETFD) }, f if f >= 0 && f & libc::FD_CLOEXEC == 0))
        .collect()
}

/// Once the program runs, cgshim lets go of what it inherited with it: its end of a pipe, a
/// readiness fd, a terminal. A program that closes its standard output, or an fd its parent
/// waits on, is then seen to close it, as when it runs plain. Standard input and output become
/// `/dev/null`; standard error too, unless `CGSHIM_DEBUG` asks the library for its lines there.
fn let_go(inherited: &[libc::c_int]) {
    let keep_stderr = std::env::var_os("CGSHIM_DEBUG").is_some();
    let (stdio, others): (Vec<libc::c_int>, Vec<libc::c_int>) = inherited.iter().partition(|&&fd| fd <= 2);
    to_dev_null(stdio.into_iter().filter(|&fd| !(keep_stderr && fd == 2)));
    for fd in others {
        // SAFETY: an fd this process inherited and never uses (nothing in it refers to it).
        unsafe { libc::close(fd) };
    }
}

/// Points each of `fds` (standard streams this process no longer uses) at `/dev/null`.
fn to_dev_null(fds: impl IntoIterator<Item = libc::c_int>) {
    // SAFETY: opening /dev/null, then dup2 onto fds nothing in this process reads or writes.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null < 0 {
            return;
        }
        let mut kept = false;
        for fd in fds {
            // A closed standard stream may be where /dev/null itself was opened: it stays.
            kept |= fd == null;
            libc::dup2(null, fd);
        }
        if !kept {
            libc::close(null);
        }
    }
}

/// Exits as the program did: its exit code, or the signal that killed it (without a second core
/// dump: the program's own was written by the kernel).
fn finish(status: libc::c_int) -> ! {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        // SAFETY: making this process not dumpable, resetting a disposition and the mask of this
        // process, then the signal itself.
        unsafe {
            // Not dumpable: no core at all. A zero RLIMIT_CORE would stop a core file only; a
            // core_pattern that pipes to a handler (systemd-coredump, apport) ignores it and
            // would record a crash of cgshim beside the program's.
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(sig);
        }
        std::process::exit(128 + sig);
    }
    std::process::exit(if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 1 });
}

struct Supervisor {
    api: Api,
    listener: Option<OwnedFd>,
    child: libc::pid_t,
    /// Whether ADDFD can send the response itself (Linux 5.14).
    addfd_send: bool,
    /// Whether each task seen has the library, until the next exec.
    tasks: std::collections::HashMap<libc::pid_t, bool>,
    /// What each executable seen is (by device and inode).
    executables: std::collections::HashMap<(u64, u64), Reach>,
    /// A buffer for reading maps, kept between calls.
    scratch: Vec<u8>,
    recent: Recent,
    tgids: Tgids,
    /// Whether `process_vm_readv` is refused here (a container engine's seccomp profile allows
    /// it only with CAP_SYS_PTRACE): paths are then read through `/proc/<pid>/mem`.
    no_vm_readv: bool,
}

/// Served content of the last millisecond, by the absolute path it was opened by.
#[derive(Default)]
struct Recent {
    entries: Vec<(Vec<u8>, CString, Vec<u8>, std::time::Instant)>,
}

impl Recent {
    const FRESH: std::time::Duration = std::time::Duration::from_millis(1);

    /// A new file (as the library makes them: same name, read-only) with the content served for
    /// `path` within the last millisecond.
    fn copy(&self, path: &[u8]) -> Option<OwnedFd> {
        let (_, name, content, at) = self.entries.iter().find(|e| e.0 == path)?;
        if at.elapsed() > Self::FRESH {
            return None;
        }
        // SAFETY: a NUL-terminated name.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a fresh fd.
        let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        std::os::unix::fs::FileExt::write_all_at(&file, content, 0).ok()?;
        let ro = std::fs::File::open(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
        Some(ro.into())
    }

    /// Keeps the content of `served`, the file just made for `path`.
    fn remember(&mut self, path: &std::ffi::CStr, served: &OwnedFd) {
        let Ok(link) = std::fs::read_link(format!("/proc/self/fd/{}", served.as_raw_fd())) else { return };
        let link = link.as_os_str().as_bytes();
        let Some(name) = link.strip_prefix(b"/memfd:").and_then(|n| n.strip_suffix(b" (deleted)")) else {
            return;
        };
        let Ok(name) = CString::new(name) else { return };
        let mut content = Vec::new();
        let mut file = std::fs::File::from(match served.try_clone() {
            Ok(f) => f,
            Err(_) => return,
        });
        if std::io::Read::read_to_end(&mut file, &mut content).is_err()
            || std::io::Seek::rewind(&mut file).is_err()
        {
            return;
        }
        let path = path.to_bytes().to_vec();
        self.entries.retain(|e| e.0 != path && e.3.elapsed() <= Self::FRESH);
        self.entries.push((path, name, content, std::time::Instant::now()));
    }
}

enum Answer {
    Continue,
    Value(i64),
    /// Already answered (by ADDFD), or the call is gone.
    Done,
}

impl Supervisor {
    fn new(api: Api, listener: OwnedFd, child: libc::pid_t) -> Supervisor {
        // Linux 6.6: wake the supervisor on the trapped task's CPU and the task on the
        // supervisor's, as for a direct call (a cross-CPU wake-up costs tens of microseconds).
        // Older kernels refuse the flag and keep the usual wake-ups.
        const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: libc::c_ulong = 1;
        // SAFETY: the flag is passed by value.
        unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
            )
        };
        Supervisor {
            api,
            listener: Some(listener),
            child,
            addfd_send: true,
            tasks: std::collections::HashMap::new(),
            executables: std::collections::HashMap::new(),
            scratch: Vec::with_capacity(64 << 10),
            recent: Recent::default(),
            tgids: Tgids::default(),
            no_vm_readv: false,
        }
    }

    /// Answers the child's calls until its exec has happened (the socket `sock`, closed on exec,
    /// reaches its end): `None`, or the exec's errno.
    fn until_exec(&mut self, sock: libc::c_int) -> Option<i32> {
        loop {
            let mut fds = [
                libc::pollfd { fd: sock, events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: self.listener_fd(), events: libc::POLLIN, revents: 0 },
            ];
            // SAFETY: a valid array of pollfds.
            if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return receive(sock).map(|(e, _)| e);
            }
            if fds[1].revents & libc::POLLIN != 0 {
                self.handle();
            }
            if fds[0].revents != 0 {
                return receive(sock).map(|(e, _)| e);
            }
        }
    }

    /// Serves until the program has exited; its wait status.
    fn serve(&mut self, sigfd: Option<&OwnedFd>) -> libc::c_int {
        loop {
            let mut fds = [
                libc::pollfd { fd: sigfd.map_or(-1, AsRawFd::as_raw_fd), events: libc::POLLIN, revents: 0 },
                libc::pollfd {
                    fd: self.listener.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // Without a signalfd, look at the child every 100 ms.
            let timeout = if sigfd.is_some() { -1 } else { 100 };
            // SAFETY: a valid array of pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
            if n < 0 && errno() != libc::EINTR {
                // Nothing left to wait on but the child itself.
                return wait_blocking(self.child);
            }
            let mut look = sigfd.is_none();
            if fds[1].revents & libc::POLLIN != 0 {
                self.handle();
            } else if fds[1].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                self.listener = None;
                look = true;
            }
            if fds[0].revents & libc::POLLIN != 0
                && let Some(fd) = sigfd
            {
                self.signals(fd);
                look = true;
            }
            if look && let Some(status) = self.reap() {
                // The filter's last user may be gone now that the child is reaped.
                self.drop_listener_if_unused();
                return status;
            }
        }
    }

    /// Passes on the signals sent to cgshim by another process (kill, docker stop); the ones the
    /// kernel sends to the whole foreground process group (^C) already reached the program.
    fn signals(&self, sigfd: &OwnedFd) {
        loop {
            // SAFETY: an all-zero signalfd_siginfo is valid.
            let mut info: libc::signalfd_siginfo = unsafe { zeroed() };
            let size = size_of::<libc::signalfd_siginfo>();
            // SAFETY: reading one record into a buffer of its size.
            let n = unsafe {
                libc::read(sigfd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size)
            };
            if n != size as isize {
                return;
            }
            let sig = info.ssi_signo as libc::c_int;
            if sig != libc::SIGCHLD && info.ssi_code <= 0 {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(self.child, sig) };
            }
        }
    }

    /// Reaps every exited child; the program's status once it has exited.
    fn reap(&self) -> Option<libc::c_int> {
        let mut found = None;
        loop {
            let mut status = 0;
            // SAFETY: a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return found;
            }
            if pid == self.child {
                found = Some(status);
            }
        }
    }

    fn drop_listener_if_unused(&mut self) {
        let Some(l) = &self.listener else { return };
        let mut fd = libc::pollfd { fd: l.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut fd, 1, 0) };
        if fd.revents & (libc::POLLHUP | libc::POLLERR) != 0 && fd.revents & libc::POLLIN == 0 {
            self.listener = None;
        }
    }

    /// The program has exited but descendants of it still run under the filter: a detached
    /// copy of the supervisor answers them until the last is gone, so they never see ENOSYS.
    fn hand_off(&mut self) {
        // SAFETY: fork; the child goes on serving with what it inherited.
        let pid = unsafe { libc::fork() };
        if pid != 0 {
            return;
        }
        // SAFETY: setsid has no preconditions.
        unsafe { libc::setsid() };
        to_dev_null(0..3);
        while let Some(l) = &self.listener {
            let mut fd = libc::pollfd { fd: l.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut fd, 1, -1) };
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if fd.revents & libc::POLLIN != 0 {
                self.handle();
            } else {
                self.listener = None;
            }
        }
        std::process::exit(0);
    }

    fn listener_fd(&self) -> libc::c_int {
        self.listener.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// Whether the notification `id` still waits (its task has not been killed, nor its call
    /// interrupted): what was learned about its process still holds.
    fn valid(&self, id: u64) -> bool {
        // SAFETY: a valid pointer to the id.
        unsafe { libc::ioctl(self.listener_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
    }

    /// Receives one trapped call and answers it.
    fn handle(&mut self) {
        // SAFETY: the kernel wants a zeroed struct.
        let mut req: libc::seccomp_notif = unsafe { zeroed() };
        // SAFETY: a valid struct of the kernel's size.
        if unsafe { libc::ioctl(self.listener_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
            // EINTR, or ENOENT: the call went away before it was received.
            return;
        }
        let answer = self.answer(&req);
        // SAFETY: an all-zero response is valid.
        let mut resp: libc::seccomp_notif_resp = unsafe { zeroed() };
        resp.id = req.id;
        match answer {
            Answer::Done => return,
            Answer::Continue => resp.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            Answer::Value(v) => resp.val = v,
        }
        // SAFETY: a valid response; ENOENT (the call is gone) needs nothing more.
        unsafe { libc::ioctl(self.listener_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }

    fn answer(&mut self, req: &libc::seccomp_notif) -> Answer {
        let nr = i64::from(req.data.nr);
        let args = req.data.args;
        let tid = req.pid as libc::pid_t;
        if nr == libc::SYS_openat {
            self.open(req, tid, args[0] as libc::c_int, args[1], args[2] as libc::c_int)
        } else if Some(nr) == arch::OPEN {
            self.open(req, tid, libc::AT_FDCWD, args[0], args[1] as libc::c_int)
        } else if nr == libc::SYS_sysinfo {
            self.sysinfo(req, tid, args[0])
        } else if nr == libc::SYS_sched_getaffinity {
            self.affinity(req, tid, args[0] as libc::pid_t, args[1] as usize, args[2])
        } else if nr == libc::SYS_execve || nr == libc::SYS_execveat {
            // What a task has loaded is about to change (a pid may also be reused by a child
            // of another process: the table only ever holds tasks seen since the last exec).
            self.tasks.clear();
            self.tgids.forget();
            Answer::Continue
        } else if nr == libc::SYS_lseek {
            self.rewound(req, tid, args[0] as libc::c_int);
            Answer::Continue
        } else {
            Answer::Continue
        }
    }

    /// `open`/`openat` of `path` (in the program's memory) relative to `dirfd`.
    fn open(
        &mut self,
        req: &libc::seccomp_notif,
        tid: libc::pid_t,
        dirfd: libc::c_int,
        path: u64,
        flags: libc::c_int,
    ) -> Answer {
        if flags & NEVER_SERVED != 0 {
            return Answer::Continue;
        }
        let Some(path) = read_path(tid, path, &mut self.no_vm_readv) else { return Answer::Continue };
        // SAFETY: the path's bytes.
        if unsafe { (self.api.named)(path.as_ptr(), path.len()) } == 0 || self.has_library(tid) {
            return Answer::Continue;
        }
        let Some(ours) = supervisor_path(&mut self.tgids, tid, dirfd, &path) else { return Answer::Continue };
        // An absolute path names the same file for every task: its content of the last
        // millisecond is served again, as the library serves usage of the last millisecond
        // (not to an O_NOFOLLOW open, which may name a link the kernel would refuse).
        let name = library_name(&mut self.tgids, tid, &path);
        let shared = ours == path && name.is_none() && flags & libc::O_NOFOLLOW == 0;
        if shared && let Some(copy) = self.recent.copy(&path) {
            return self.give(req.id, &copy, flags & libc::O_CLOEXEC);
        }
        let Ok(ours) = CString::new(ours) else { return Answer::Continue };
        // The program's O_NOFOLLOW too: a symbolic link it may not open is not served.
        let how =
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK | (flags & libc::O_NOFOLLOW);
        // SAFETY: a NUL-terminated path.
        let fd = unsafe { libc::open(ours.as_ptr(), how) };
        if fd < 0 {
            return Answer::Continue;
        }
        // SAFETY: a fresh fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A path through the task's cwd, fds or /proc directory named that task only if it is
        // still the one that asked (an absolute path names the same file for every task).
        if ours.as_bytes() != path.as_slice() && !self.valid(req.id) {
            return Answer::Done;
        }
        let Ok(name) = CString::new(name.unwrap_or(path)) else { return Answer::Continue };
        // SAFETY: a NUL-terminated name and an open fd.
        let served = unsafe { (self.api.open)(name.as_ptr(), fd.as_raw_fd()) };
        drop(fd);
        if served < 0 {
            return Answer::Continue;
        }
        // SAFETY: a fresh fd from the library.
        let served = unsafe { OwnedFd::from_raw_fd(served) };
        if shared {
            self.recent.remember(&name, &served);
        }
        self.give(req.id, &served, flags & libc::O_CLOEXEC)
    }

    /// Puts `file` into the program as the result of its open.
    fn give(&mut self, id: u64, file: &OwnedFd, cloexec: libc::c_int) -> Answer {
        let mut add = libc::seccomp_notif_addfd {
            id,
            flags: if self.addfd_send { libc::SECCOMP_ADDFD_FLAG_SEND as u32 } else { 0 },
            srcfd: file.as_raw_fd() as u32,
            newfd: 0,
            newfd_flags: cloexec as u32,
        };
        // SAFETY: a valid request.
        let mut r = unsafe { libc::ioctl(self.listener_fd(), libc::SECCOMP_IOCTL_NOTIF_ADDFD, &add) };
        if r < 0 && errno() == libc::EINVAL && self.addfd_send {
            // Before Linux 5.14: add the fd, then answer with its number.
            self.addfd_send = false;
            add.flags = 0;
            // SAFETY: as above.
            r = unsafe { libc::ioctl(self.listener_fd(), libc::SECCOMP_IOCTL_NOTIF_ADDFD, &add) };
        }
        match r {
            n if n >= 0 && self.addfd_send => Answer::Done,
            n if n >= 0 => Answer::Value(i64::from(n)),
            // The call is gone (interrupted, or its task killed).
            _ if errno() == libc::ENOENT => Answer::Done,
            // EMFILE and the like: the kernel's own open gives the program its own answer.
            _ => Answer::Continue,
        }
    }

    /// Whether the calling process has libcgshim.so loaded (a dynamically linked child of the
    /// program): its own hooks answer it. Known per task until the next `execve` anywhere under
    /// the filter; a static or Go executable cannot have it answer (one `stat` of the
    /// executable, cached by file); only other processes' maps are read.
    fn has_library(&mut self, tid: libc::pid_t) -> bool {
        if let Some(&known) = self.tasks.get(&tid) {
            return known;
        }
        let found = self.look_for_library(tid);
        if self.tasks.len() > 1 << 16 {
            self.tasks.clear();
        }
        self.tasks.insert(tid, found);
        found
    }

    fn look_for_library(&mut self, tid: libc::pid_t) -> bool {
        let Ok(exe) = std::fs::metadata(format!("/proc/{tid}/exe")) else { return false };
        let key = (exe.dev(), exe.ino());
        let reach = match self.executables.get(&key) {
            Some(r) => *r,
            None => {
                let r = elf::inspect(Path::new(&format!("/proc/{tid}/exe")));
                if self.executables.len() > 4096 {
                    self.executables.clear();
                }
                self.executables.insert(key, r);
                r
            }
        };
        if matches!(reach, Reach::Static | Reach::Go) {
            return false;
        }
        let Ok(mut maps) = std::fs::File::open(format!("/proc/{tid}/maps")) else { return false };
        let name = self.api.name.as_slice();
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        let found = std::io::Read::read_to_end(&mut maps, &mut text).is_ok()
            && text.split(|&b| b == b'\n').any(|line| {
                line.rsplit(|&b| b == b'/')
                    .next()
                    .is_some_and(|file| file == name || file.windows(9).any(|w| w == b"libcgshim"))
            });
        self.scratch = text;
        found
    }

    fn sysinfo(&self, req: &libc::seccomp_notif, tid: libc::pid_t, at: u64) -> Answer {
        if at == 0 {
            return Answer::Continue;
        }
        // SAFETY: all-zero is a valid struct sysinfo.
        let mut info: libc::sysinfo = unsafe { zeroed() };
        // SAFETY: a valid struct.
        if unsafe { (self.api.sysinfo)(&mut info) } != 0 {
            return Answer::Continue;
        }
        // SAFETY: the struct's bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&info as *const libc::sysinfo).cast::<u8>(),
                size_of::<libc::sysinfo>(),
            )
        };
        match self.write_memory(req.id, tid, at, bytes) {
            Some(true) => Answer::Value(0),
            Some(false) => Answer::Done,
            None => Answer::Continue,
        }
    }

    fn affinity(
        &self,
        req: &libc::seccomp_notif,
        tid: libc::pid_t,
        pid: libc::pid_t,
        size: usize,
        at: u64,
    ) -> Answer {
        // Other processes' masks are theirs; a size the kernel refuses gets the kernel's error.
        if (pid != 0 && pid != tid) || size == 0 || size > 1 << 16 || at == 0 {
            return Answer::Continue;
        }
        let mut mask = vec![0u8; size];
        // SAFETY: a buffer of `size` bytes.
        let n = unsafe { libc::syscall(libc::SYS_sched_getaffinity, tid, size, mask.as_mut_ptr()) };
        let Ok(n) = usize::try_from(n) else { return Answer::Continue };
        let Some(kernel) = mask.get_mut(..n) else { return Answer::Continue };
        // SAFETY: `n` writable bytes.
        unsafe { (self.api.narrow)(n, kernel.as_mut_ptr()) };
        match self.write_memory(req.id, tid, at, kernel) {
            Some(true) => Answer::Value(n as i64),
            Some(false) => Answer::Done,
            None => Answer::Continue,
        }
    }

    /// Writes `bytes` at `at` in the program's memory, through `/proc/<tid>/mem` opened while
    /// the call is known to be still waiting (so it is that task's memory). `Some(false)` when
    /// the call is gone, `None` when the memory cannot be written (the kernel then answers).
    fn write_memory(&self, id: u64, tid: libc::pid_t, at: u64, bytes: &[u8]) -> Option<bool> {
        use std::os::unix::fs::FileExt;
        let mem = std::fs::OpenOptions::new().write(true).open(format!("/proc/{tid}/mem")).ok()?;
        if !self.valid(id) {
            return Some(false);
        }
        (mem.write_at(bytes, at).ok()? == bytes.len()).then_some(true)
    }

    /// `lseek(fd, 0, SEEK_SET)`: if `fd` is a file the supervisor gave, it gets fresh content
    /// before the kernel moves the offset.
    fn rewound(&self, req: &libc::seccomp_notif, tid: libc::pid_t, fd: libc::c_int) {
        let link_path = format!("/proc/{tid}/fd/{fd}");
        let Ok(link) = std::fs::read_link(&link_path) else { return };
        let link = link.as_os_str().as_bytes();
        if !link.starts_with(b"/memfd:cgshim:") {
            return;
        }
        let Ok(rw) = std::fs::OpenOptions::new().read(true).write(true).open(&link_path) else { return };
        if !self.valid(req.id) {
            return;
        }
        let Ok(link) = CString::new(link) else { return };
        // SAFETY: an open fd and a NUL-terminated link.
        unsafe { (self.api.refresh)(rw.as_raw_fd(), link.as_ptr()) };
    }
}

fn wait_blocking(child: libc::pid_t) -> libc::c_int {
    let mut status = 0;
    loop {
        // SAFETY: a valid status pointer.
        let pid = unsafe { libc::waitpid(child, &mut status, 0) };
        if pid == child || (pid < 0 && errno() != libc::EINTR) {
            return status;
        }
    }
}

/// A NUL-terminated path in the program's memory, read page by page (a path may end just before
/// an unmapped page). `no_vm_readv` is set once `process_vm_readv` is refused.
fn read_path(tid: libc::pid_t, mut at: u64, no_vm_readv: &mut bool) -> Option<Vec<u8>> {
    const PAGE: u64 = 4096;
    let mut mem: Option<std::fs::File> = None;
    let mut out = Vec::new();
    while out.len() < libc::PATH_MAX as usize {
        // Most paths are short: a first piece of 256 bytes, then to the end of each page.
        let to_page_end = (PAGE - at % PAGE) as usize;
        let chunk = if out.is_empty() { to_page_end.min(256) } else { to_page_end };
        let start = out.len();
        out.resize(start + chunk, 0);
        let mut n = -1;
        if !*no_vm_readv {
            let local = libc::iovec { iov_base: out[start..].as_mut_ptr().cast(), iov_len: chunk };
            let remote = libc::iovec { iov_base: at as *mut libc::c_void, iov_len: chunk };
            // SAFETY: a local buffer of `chunk` bytes; the remote side is checked by the kernel.
            n = unsafe { libc::process_vm_readv(tid, &local, 1, &remote, 1, 0) };
            if n < 0 && matches!(errno(), libc::EPERM | libc::ENOSYS) {
                *no_vm_readv = true;
            }
        }
        if *no_vm_readv {
            if mem.is_none() {
                mem = std::fs::File::open(format!("/proc/{tid}/mem")).ok();
            }
            let m = mem.as_ref()?;
            n = std::os::unix::fs::FileExt::read_at(m, &mut out[start..], at).map_or(-1, |r| r as isize);
        }
        if n <= 0 {
            return None;
        }
        out.truncate(start + n as usize);
        if let Some(end) = out[start..].iter().position(|&b| b == 0) {
            out.truncate(start + end);
            return Some(out);
        }
        at += n as u64;
    }
    None
}

/// The path by which the supervisor opens what the program names: absolute paths as they are
/// (the program shares cgshim's root), relative ones through the program's cwd or directory fd.
/// `/proc/self` and `/proc/thread-self` become the program's own directories; a path that would
/// reach them any other way is left to the kernel (it would name the supervisor).
fn supervisor_path(tgids: &mut Tgids, tid: libc::pid_t, dirfd: libc::c_int, path: &[u8]) -> Option<Vec<u8>> {
    let own = |rest: &[u8], dir: String| [dir.as_bytes(), rest].concat();
    let out = if let Some(rest) = path.strip_prefix(b"/proc/self/") {
        own(rest, format!("/proc/{}/", tgids.of(tid)?))
    } else if let Some(rest) = path.strip_prefix(b"/proc/thread-self/") {
        own(rest, format!("/proc/{}/task/{tid}/", tgids.of(tid)?))
    } else if path.starts_with(b"/") {
        path.to_vec()
    } else if dirfd == libc::AT_FDCWD {
        own(path, format!("/proc/{tid}/cwd/"))
    } else {
        own(path, format!("/proc/{tid}/fd/{dirfd}/"))
    };
    let names_self = out.split(|&b| b == b'/').any(|c| c == b"self" || c == b"thread-self");
    (!names_self).then_some(out)
}

/// The name the library judges a path by, when it is not the path itself: the program's own
/// `/proc/<pid>/…` is its `/proc/self/…` (the library serves a process's own status only).
fn library_name(tgids: &mut Tgids, tid: libc::pid_t, path: &[u8]) -> Option<Vec<u8>> {
    let rest = path.strip_prefix(b"/proc/")?;
    let end = rest.iter().position(|&b| b == b'/')?;
    let (pid, rest) = rest.split_at(end);
    if pid.is_empty() || !pid.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let pid: u32 = std::str::from_utf8(pid).ok()?.parse().ok()?;
    (pid == tgids.of(tid)?).then(|| [b"/proc/self".as_slice(), rest].concat())
}

/// The thread group (process) of each task asked about, until the next exec.
#[derive(Default)]
struct Tgids(std::collections::HashMap<libc::pid_t, u32>);

impl Tgids {
    /// An exec changes which task leads a thread group; the next questions read `/proc` again.
    fn forget(&mut self) {
        self.0.clear();
    }

    /// The thread group of the task `tid`.
    fn of(&mut self, tid: libc::pid_t) -> Option<u32> {
        if let Some(&t) = self.0.get(&tid) {
            return Some(t);
        }
        let t = read_tgid(tid)?;
        if self.0.len() > 1 << 16 {
            self.0.clear();
        }
        self.0.insert(tid, t);
        Some(t)
    }
}

fn read_tgid(tid: libc::pid_t) -> Option<u32> {
    let status = std::fs::read(format!("/proc/{tid}/status")).ok()?;
    let line = status.split(|&b| b == b'\n').find(|l| l.starts_with(b"Tgid:"))?;
    std::str::from_utf8(&line[5..]).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_the_supervisor_opens() {
        let me = std::process::id() as libc::pid_t;
        let mut t = Tgids::default();
        assert_eq!(supervisor_path(&mut t, me, libc::AT_FDCWD, b"/proc/meminfo").unwrap(), b"/proc/meminfo");
        assert_eq!(
            supervisor_path(&mut t, me, libc::AT_FDCWD, b"/proc/self/status").unwrap(),
            format!("/proc/{me}/status").into_bytes()
        );
        assert_eq!(
            supervisor_path(&mut t, me, libc::AT_FDCWD, b"meminfo").unwrap(),
            format!("/proc/{me}/cwd/meminfo").into_bytes()
        );
        assert_eq!(
            supervisor_path(&mut t, me, 5, b"stat").unwrap(),
            format!("/proc/{me}/fd/5/stat").into_bytes()
        );
        assert!(supervisor_path(&mut t, me, libc::AT_FDCWD, b"self/status").is_none());
        assert!(supervisor_path(&mut t, me, libc::AT_FDCWD, b"/proc/./self/status").is_none());
        assert_eq!(
            library_name(&mut t, me, format!("/proc/{me}/status").as_bytes()).unwrap(),
            b"/proc/self/status"
        );
        assert!(library_name(&mut t, me, b"/proc/1/status").is_none() || me == 1);
        assert!(library_name(&mut t, me, b"/proc/meminfo").is_none());
    }

    #[test]
    fn filter_is_a_valid_program() {
        let f = filter();
        assert!(f.len() < 64);
        // Every jump lands inside the program.
        for (i, ins) in f.iter().enumerate() {
            if ins.code & 0x07 == libc::BPF_JMP as u16 {
                assert!(i + 1 + (ins.jt.max(ins.jf) as usize) < f.len(), "jump at {i} leaves the program");
            }
        }
        assert_eq!(f.last().unwrap().code, RET_K);
    }
}
