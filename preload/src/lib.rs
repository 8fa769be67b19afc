//! `libcgshim.so`: preloaded into a program, it makes the program see its cgroup's memory.
//!
//! This crate is the thin unsafe shell around the pure `cgshim` core: the exported C symbols,
//! the lookup of the real libc functions, raw-syscall file reads, the served memfds and the table
//! of fds handed out. Every hook is a cheap check followed either by the real function or by the
//! slow path in [`serve`]; any failure on the slow path ends in the real function, so a broken
//! cgroup tree can never break the program. Nothing runs at load time.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)] // The exported functions have their libc contracts.

mod answers;
mod cache;
mod env;
mod fdtable;
mod log;
mod real;
mod serve;
mod source;
mod sys;

use core::ffi::{c_char, c_int, c_long, c_void};
use real::{Real, typed};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Unreachable by construction (the core is panic-free); abort rather than unwind into C.
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, libc::mode_t) -> c_int;
type OpenatFn = unsafe extern "C" fn(c_int, *const c_char, c_int, libc::mode_t) -> c_int;
type Open2Fn = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
type Openat2Fn = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
type FopenFn = unsafe extern "C" fn(*const c_char, *const c_char) -> *mut libc::FILE;
type FreopenFn = unsafe extern "C" fn(*const c_char, *const c_char, *mut libc::FILE) -> *mut libc::FILE;
type LseekFn = unsafe extern "C" fn(c_int, i64, c_int) -> i64;
type PreadFn = unsafe extern "C" fn(c_int, *mut c_void, usize, i64) -> isize;
type SysinfoFn = unsafe extern "C" fn(*mut libc::sysinfo) -> c_int;
type SysconfFn = unsafe extern "C" fn(c_int) -> c_long;
type PagesFn = unsafe extern "C" fn() -> c_long;
type NprocsFn = unsafe extern "C" fn() -> c_int;
type RewindFn = unsafe extern "C" fn(*mut libc::FILE);
type FseekFn = unsafe extern "C" fn(*mut libc::FILE, c_long, c_int) -> c_int;
type FseekoFn = unsafe extern "C" fn(*mut libc::FILE, i64, c_int) -> c_int;
type GetaffinityFn = unsafe extern "C" fn(libc::pid_t, usize, *mut u8) -> c_int;

static OPEN: Real = Real::new(c"open");
static OPEN64: Real = Real::new(c"open64");
static OPENAT: Real = Real::new(c"openat");
static OPENAT64: Real = Real::new(c"openat64");
static OPEN_2: Real = Real::new(c"__open_2");
static OPEN64_2: Real = Real::new(c"__open64_2");
static OPENAT_2: Real = Real::new(c"__openat_2");
static OPENAT64_2: Real = Real::new(c"__openat64_2");
static FOPEN: Real = Real::new(c"fopen");
static FOPEN64: Real = Real::new(c"fopen64");
static FREOPEN: Real = Real::new(c"freopen");
static FREOPEN64: Real = Real::new(c"freopen64");
static LSEEK: Real = Real::new(c"lseek");
static LSEEK64: Real = Real::new(c"lseek64");
static PREAD: Real = Real::new(c"pread");
static PREAD64: Real = Real::new(c"pread64");
static SYSINFO: Real = Real::new(c"sysinfo");
static SYSCONF: Real = Real::new(c"sysconf");
static GET_PHYS_PAGES: Real = Real::new(c"get_phys_pages");
static GET_AVPHYS_PAGES: Real = Real::new(c"get_avphys_pages");
static GET_NPROCS: Real = Real::new(c"get_nprocs");
static REWIND: Real = Real::new(c"rewind");
static FSEEK: Real = Real::new(c"fseek");
static FSEEKO: Real = Real::new(c"fseeko");
static FSEEKO64: Real = Real::new(c"fseeko64");
static SCHED_GETAFFINITY: Real = Real::new(c"sched_getaffinity");

fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot (glibc and musl).
    unsafe { *libc::__errno_location() = e };
}

/// A raw syscall's result in libc's convention (-1 and errno).
fn libc_result(r: i64) -> i64 {
    if r < 0 {
        set_errno(r.unsigned_abs() as c_int);
        -1
    } else {
        r
    }
}

/// The shared body of every path-open hook.
///
/// # Safety
/// `path` must be a valid NUL-terminated string or null, `real` one of the open-family pointers
/// matching `call`.
#[inline(always)]
unsafe fn open_common(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    call: impl FnOnce() -> Option<c_int>,
) -> c_int {
    if let Some(kind) = serve::candidate(path, flags)
        && let Some(fd) = serve::open_virtual(dirfd, path, flags, kind)
    {
        return fd;
    }
    match call() {
        Some(fd) => fd,
        None => libc_result(i64::from(sys::openat(dirfd, path, flags, 0o666))) as c_int,
    }
}

macro_rules! path_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int, mode: libc::mode_t) -> c_int {
            // SAFETY: our caller's arguments are forwarded unchanged to the real function of
            // the same (or the equivalent LFS) name.
            unsafe {
                open_common(sys::AT_FDCWD, path, flags, || {
                    let f = typed::<OpenFn>(&$primary).or_else(|| typed::<OpenFn>(&$fallback))?;
                    Some(f(path, flags, mode))
                })
            }
        }
    };
}

macro_rules! openat_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(
            dirfd: c_int,
            path: *const c_char,
            flags: c_int,
            mode: libc::mode_t,
        ) -> c_int {
            // SAFETY: as for the open hooks.
            unsafe {
                open_common(dirfd, path, flags, || {
                    let f = typed::<OpenatFn>(&$primary).or_else(|| typed::<OpenatFn>(&$fallback))?;
                    Some(f(dirfd, path, flags, mode))
                })
            }
        }
    };
}

path_hook!(open, OPEN, OPEN64);
path_hook!(open64, OPEN64, OPEN);
openat_hook!(openat, OPENAT, OPENAT64);
openat_hook!(openat64, OPENAT64, OPENAT);

macro_rules! fortified_hook {
    ($name:ident, $real:ident, $plain:ident) => {
        /// `_FORTIFY_SOURCE` variant: a non-match goes to the real one so its checks still run.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(path: *const c_char, flags: c_int) -> c_int {
            // SAFETY: as for the open hooks.
            unsafe {
                open_common(sys::AT_FDCWD, path, flags, || match typed::<Open2Fn>(&$real) {
                    Some(f) => Some(f(path, flags)),
                    None => typed::<OpenFn>(&$plain).map(|f| f(path, flags, 0)),
                })
            }
        }
    };
}

macro_rules! fortified_at_hook {
    ($name:ident, $real:ident, $plain:ident) => {
        /// `_FORTIFY_SOURCE` variant of `openat`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
            // SAFETY: as for the open hooks.
            unsafe {
                open_common(dirfd, path, flags, || match typed::<Openat2Fn>(&$real) {
                    Some(f) => Some(f(dirfd, path, flags)),
                    None => typed::<OpenatFn>(&$plain).map(|f| f(dirfd, path, flags, 0)),
                })
            }
        }
    };
}

fortified_hook!(__open_2, OPEN_2, OPEN);
fortified_hook!(__open64_2, OPEN64_2, OPEN64);
fortified_at_hook!(__openat_2, OPENAT_2, OPENAT);
fortified_at_hook!(__openat64_2, OPENAT64_2, OPENAT64);

/// For a pure read mode (`r`, `rb`, `re`, …: no `+`, `w` or `a`), whether it asks for
/// close-on-exec (`e`).
fn read_mode(mode: *const c_char) -> Option<bool> {
    if mode.is_null() {
        return None;
    }
    // SAFETY: `mode` is the caller's NUL-terminated mode string.
    let m = unsafe { core::ffi::CStr::from_ptr(mode) }.to_bytes();
    (m.first() == Some(&b'r') && !m.iter().any(|c| matches!(c, b'+' | b'w' | b'a')))
        .then(|| m.contains(&b'e'))
}

/// The served fd for a stdio open, when `path` is ours.
fn stdio_candidate(path: *const c_char, mode: *const c_char) -> Option<(c_int, serve::Kind)> {
    let cloexec = read_mode(mode)?;
    let kind = serve::candidate(path, libc::O_RDONLY)?;
    serve::open_virtual(sys::AT_FDCWD, path, if cloexec { libc::O_CLOEXEC } else { 0 }, kind)
        .map(|fd| (fd, kind))
}

/// # Safety
/// `path` and `mode` are the caller's fopen arguments.
unsafe fn fopen_common(
    primary: &Real,
    fallback: &Real,
    path: *const c_char,
    mode: *const c_char,
) -> *mut libc::FILE {
    if let Some((fd, _)) = stdio_candidate(path, mode) {
        // SAFETY: errno access and fdopen on an fd we own, with the caller's mode.
        unsafe {
            let saved = *libc::__errno_location();
            let stream = libc::fdopen(fd, mode);
            if !stream.is_null() {
                set_errno(saved);
                return stream;
            }
            sys::close(fd);
            set_errno(saved);
        }
    }
    // SAFETY: forwarding the caller's arguments to the real fopen.
    match unsafe { typed::<FopenFn>(primary).or_else(|| typed::<FopenFn>(fallback)) } {
        Some(f) => unsafe { f(path, mode) },
        None => {
            set_errno(libc::ENOSYS);
            core::ptr::null_mut()
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: forwarded libc contract.
    unsafe { fopen_common(&FOPEN, &FOPEN64, path, mode) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: forwarded libc contract.
    unsafe { fopen_common(&FOPEN64, &FOPEN, path, mode) }
}

/// # Safety
/// The caller's freopen arguments.
unsafe fn freopen_common(
    primary: &Real,
    fallback: &Real,
    path: *const c_char,
    mode: *const c_char,
    stream: *mut libc::FILE,
) -> *mut libc::FILE {
    // SAFETY: the real freopen, looked up under its own name.
    let Some(real) = (unsafe { typed::<FreopenFn>(primary).or_else(|| typed::<FreopenFn>(fallback)) }) else {
        set_errno(libc::ENOSYS);
        return core::ptr::null_mut();
    };
    if let Some((fd, kind)) = stdio_candidate(path, mode) {
        // The stream is reopened on the served content through its /proc/self/fd link, keeping
        // freopen's own semantics (same FILE*, its mode, its fd number when possible).
        let mut link = cgshim::buf::Buf::<32>::new();
        link.push(b"/proc/self/fd/");
        link.push_u64(fd as u64);
        if let Some(cpath) = source::c_path(None, link.as_bytes()) {
            // SAFETY: a NUL-terminated path, the caller's mode and stream.
            let reopened = unsafe { real(cpath.as_bytes().as_ptr().cast(), mode, stream) };
            sys::close(fd);
            if !reopened.is_null() {
                // SAFETY: a valid stream returned by freopen.
                let n = unsafe { libc::fileno(reopened) };
                if let Some((dev, ino)) = sys::inode(n) {
                    fdtable::track(n, kind as u8, dev, ino);
                }
            }
            return reopened;
        }
        sys::close(fd);
    }
    // SAFETY: forwarding the caller's arguments.
    unsafe { real(path, mode, stream) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen(
    path: *const c_char,
    mode: *const c_char,
    stream: *mut libc::FILE,
) -> *mut libc::FILE {
    // SAFETY: forwarded libc contract.
    unsafe { freopen_common(&FREOPEN, &FREOPEN64, path, mode, stream) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn freopen64(
    path: *const c_char,
    mode: *const c_char,
    stream: *mut libc::FILE,
) -> *mut libc::FILE {
    // SAFETY: forwarded libc contract.
    unsafe { freopen_common(&FREOPEN64, &FREOPEN, path, mode, stream) }
}

macro_rules! lseek_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        /// A rewind of a served fd regenerates its content (procps, dstat).
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, offset: i64, whence: c_int) -> i64 {
            if offset == 0 && whence == libc::SEEK_SET && fdtable::maybe_tracked(fd) {
                serve::refresh(fd);
            }
            // SAFETY: forwarding the caller's arguments.
            match unsafe { typed::<LseekFn>(&$primary).or_else(|| typed::<LseekFn>(&$fallback)) } {
                Some(f) => unsafe { f(fd, offset, whence) },
                None => libc_result(sys::lseek(fd, offset, whence)),
            }
        }
    };
}

lseek_hook!(lseek, LSEEK, LSEEK64);
lseek_hook!(lseek64, LSEEK64, LSEEK);

macro_rules! pread_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        /// A read at offset 0 of a served fd sees fresh content, like a rewind.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(fd: c_int, buf: *mut c_void, count: usize, offset: i64) -> isize {
            if offset == 0 && fdtable::maybe_tracked(fd) {
                serve::refresh(fd);
            }
            // SAFETY: forwarding the caller's arguments.
            match unsafe { typed::<PreadFn>(&$primary).or_else(|| typed::<PreadFn>(&$fallback)) } {
                Some(f) => unsafe { f(fd, buf, count, offset) },
                None => libc_result(unsafe { sys::pread(fd, buf.cast(), count, offset) } as i64) as isize,
            }
        }
    };
}

pread_hook!(pread, PREAD, PREAD64);
pread_hook!(pread64, PREAD64, PREAD);

/// The kernel's answer, through libc when it has the symbol.
fn real_sysinfo(info: *mut libc::sysinfo) -> c_int {
    // SAFETY: the caller's pointer, forwarded.
    match unsafe { typed::<SysinfoFn>(&SYSINFO) } {
        Some(f) => unsafe { f(info) },
        // SAFETY: the caller passed a valid struct pointer (or the kernel reports EFAULT).
        None => libc_result(i64::from(sys::sysinfo(unsafe { &mut *info }))) as c_int,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysinfo(info: *mut libc::sysinfo) -> c_int {
    let r = real_sysinfo(info);
    if r != 0
        || info.is_null()
        || !env::config().enabled(cgshim::config::Feature::Sysinfo)
        || !serve::files_available()
    {
        return r;
    }
    // SAFETY: the real call succeeded, so `info` is a valid, filled struct.
    let info = unsafe { &mut *info };
    if let Some(view) = answers::memory_view_from_sysinfo(info) {
        let m = cgshim::show::sysinfo::sysinfo_memory(&view, info.mem_unit);
        info.totalram = m.totalram as _;
        info.freeram = m.freeram as _;
        info.sharedram = m.sharedram as _;
        info.bufferram = m.bufferram as _;
        info.totalswap = m.totalswap as _;
        info.freeswap = m.freeswap as _;
    }
    let src = source::RawSource::new();
    if env::config().enabled(cgshim::config::Feature::Uptime)
        && let Some(up) = answers::container_uptime(&src)
    {
        info.uptime = cgshim::show::uptime::sysinfo_seconds(up).try_into().unwrap_or(info.uptime);
    }
    if let Some(n) = answers::procs(&src) {
        info.procs = n.try_into().unwrap_or(u16::MAX);
    }
    r
}

pub(crate) fn page_size() -> u64 {
    // SAFETY: getauxval has no preconditions.
    let p = unsafe { libc::getauxval(libc::AT_PAGESZ) };
    if p == 0 { 4096 } else { p }
}

/// The container's `_SC_PHYS_PAGES` (`avail == false`) or `_SC_AVPHYS_PAGES`, if virtualized.
fn pages(avail: bool) -> Option<c_long> {
    if !env::config().enabled(cgshim::config::Feature::Sysconf) || !serve::files_available() {
        return None;
    }
    // SAFETY: all-zero is a valid struct sysinfo.
    let mut info: libc::sysinfo = unsafe { core::mem::zeroed() };
    if sys::sysinfo(&mut info) != 0 {
        return None;
    }
    let view = answers::memory_view_from_sysinfo(&info)?;
    let pages = if avail {
        cgshim::show::sysinfo::avphys_pages(&view, page_size())
    } else {
        cgshim::show::sysinfo::phys_pages(&view, page_size())
    };
    c_long::try_from(pages).ok()
}

/// The number of CPUs the container may use at once, if the CPU view is on.
fn container_cpus() -> Option<u64> {
    if !env::config().enabled(cgshim::config::Feature::Cpu) || !serve::files_available() {
        return None;
    }
    answers::cpu_set(&source::RawSource::new()).map(|s| s.count())
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysconf(name: c_int) -> c_long {
    if name == libc::_SC_NPROCESSORS_ONLN
        && let Some(n) = container_cpus()
    {
        return c_long::try_from(n).unwrap_or(c_long::MAX);
    }
    if name == libc::_SC_PHYS_PAGES || name == libc::_SC_AVPHYS_PAGES {
        let errno = unsafe { *libc::__errno_location() };
        if let Some(p) = pages(name == libc::_SC_AVPHYS_PAGES) {
            set_errno(errno);
            return p;
        }
    }
    // SAFETY: forwarding to the real sysconf.
    match unsafe { typed::<SysconfFn>(&SYSCONF) } {
        Some(f) => unsafe { f(name) },
        None => {
            set_errno(libc::EINVAL);
            -1
        }
    }
}

macro_rules! pages_hook {
    ($name:ident, $real:ident, $avail:expr, $sc:expr) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name() -> c_long {
            if let Some(p) = pages($avail) {
                return p;
            }
            // SAFETY: forwarding to the real function, or to sysconf as musl itself does.
            match unsafe { typed::<PagesFn>(&$real) } {
                Some(f) => unsafe { f() },
                None => unsafe { sysconf($sc) },
            }
        }
    };
}

pages_hook!(get_phys_pages, GET_PHYS_PAGES, false, libc::_SC_PHYS_PAGES);
pages_hook!(get_avphys_pages, GET_AVPHYS_PAGES, true, libc::_SC_AVPHYS_PAGES);

/// `get_nprocs()`: glibc reads `/sys/devices/system/cpu/online` internally, out of reach of the
/// open hooks, so the function itself answers the container's count.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn get_nprocs() -> c_int {
    if let Some(n) = container_cpus() {
        return c_int::try_from(n).unwrap_or(c_int::MAX);
    }
    // SAFETY: forwarding to the real function, or to sysconf as musl itself does.
    match unsafe { typed::<NprocsFn>(&GET_NPROCS) } {
        Some(f) => unsafe { f() },
        None => c_int::try_from(unsafe { sysconf(libc::_SC_NPROCESSORS_ONLN) }).unwrap_or(1),
    }
}

/// Whether `pid` names the calling process or one of its threads.
fn is_own_task(pid: libc::pid_t) -> bool {
    // SAFETY: getpid has no preconditions.
    if pid == 0 || pid == unsafe { libc::getpid() } {
        return true;
    }
    let mut path = cgshim::buf::Buf::<48>::new();
    path.push(b"/proc/self/task/");
    path.push_u64(u64::try_from(pid).unwrap_or(0));
    source::c_path(None, path.as_bytes()).is_some_and(|p| {
        let fd = source::Fd(sys::openat(
            sys::AT_FDCWD,
            p.as_bytes().as_ptr().cast(),
            libc::O_PATH | libc::O_CLOEXEC,
            0,
        ));
        fd.0 >= 0
    })
}

/// `sched_getaffinity`: with `CGSHIM_CPU_AFFINITY=1`, the calling process's threads get the
/// first N CPUs of their real mask (nproc, Python, Node, the JVM and Ruby count these). Off by
/// default: a program that pins its threads to the mask would crowd N CPUs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sched_getaffinity(pid: libc::pid_t, size: usize, mask: *mut u8) -> c_int {
    // SAFETY: forwarding the caller's arguments to the real function.
    let r = match unsafe { typed::<GetaffinityFn>(&SCHED_GETAFFINITY) } {
        Some(f) => unsafe { f(pid, size, mask) },
        None => {
            set_errno(libc::ENOSYS);
            -1
        }
    };
    let config = env::config();
    if r != 0
        || mask.is_null()
        || !config.cpu_affinity
        || !config.enabled(cgshim::config::Feature::Cpu)
        || !is_own_task(pid)
    {
        return r;
    }
    if let Some(n) = container_cpus() {
        // SAFETY: the real call succeeded, so `mask` holds `size` writable bytes.
        let bytes = unsafe { core::slice::from_raw_parts_mut(mask, size) };
        cgshim::read::cpulist::CpuSet::from_mask(bytes).first(n).write_mask(bytes);
    }
    r
}

/// After a stdio rewind of a served file, the fd under the stream gets fresh content: procps
/// (`top`, `vmstat`) keeps `/proc/stat` open as a `FILE*` and calls `rewind` before every sample,
/// and glibc's `rewind` seeks internally, out of reach of the `lseek` hook.
///
/// # Safety
/// `stream` is a valid stream the caller has just repositioned to the start.
unsafe fn refresh_stream(stream: *mut libc::FILE) {
    if stream.is_null() {
        return;
    }
    // SAFETY: a valid stream (the caller's contract).
    let fd = unsafe { libc::fileno(stream) };
    if fdtable::maybe_tracked(fd) {
        serve::refresh(fd);
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rewind(stream: *mut libc::FILE) {
    // SAFETY: forwarding the caller's stream to the real rewind, then refreshing what it reads.
    unsafe {
        if let Some(f) = typed::<RewindFn>(&REWIND) {
            f(stream);
            refresh_stream(stream);
        }
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn fseek(stream: *mut libc::FILE, offset: c_long, whence: c_int) -> c_int {
    // SAFETY: forwarding the caller's arguments to the real fseek.
    let r = match unsafe { typed::<FseekFn>(&FSEEK) } {
        Some(f) => unsafe { f(stream, offset, whence) },
        None => {
            set_errno(libc::ENOSYS);
            -1
        }
    };
    if r == 0 && offset == 0 && whence == libc::SEEK_SET {
        // SAFETY: the stream was just repositioned to its start.
        unsafe { refresh_stream(stream) };
    }
    r
}

macro_rules! fseeko_hook {
    ($name:ident, $primary:ident, $fallback:ident) => {
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(stream: *mut libc::FILE, offset: i64, whence: c_int) -> c_int {
            // SAFETY: forwarding the caller's arguments to the real function (64-bit `off_t`).
            let r = match unsafe { typed::<FseekoFn>(&$primary).or_else(|| typed::<FseekoFn>(&$fallback)) } {
                Some(f) => unsafe { f(stream, offset, whence) },
                None => {
                    set_errno(libc::ENOSYS);
                    -1
                }
            };
            if r == 0 && offset == 0 && whence == libc::SEEK_SET {
                // SAFETY: the stream was just repositioned to its start.
                unsafe { refresh_stream(stream) };
            }
            r
        }
    };
}

fseeko_hook!(fseeko, FSEEKO, FSEEKO64);
fseeko_hook!(fseeko64, FSEEKO64, FSEEKO);
