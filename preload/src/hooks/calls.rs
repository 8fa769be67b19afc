//! The calls that answer numbers: `sysinfo`, `sysconf`, `get_phys_pages`, `get_avphys_pages`,
//! `get_nprocs`, `sched_getaffinity`. The real function runs first (its errors, EFAULT for a bad
//! pointer included, are the program's answer); the container's figures then replace the
//! host's, computed on a private stack.

use crate::real::{Real, typed};
use crate::source::{self, RawSource};
use crate::{answers, env, libc_result, seal, stack, sys};
use cgshim::buf::Sink;
use cgshim::config::Feature;
use core::ffi::{c_int, c_long};

type SysinfoFn = unsafe extern "C" fn(*mut libc::sysinfo) -> c_int;
type SysconfFn = unsafe extern "C" fn(c_int) -> c_long;
type PagesFn = unsafe extern "C" fn() -> c_long;
type NprocsFn = unsafe extern "C" fn() -> c_int;
type GetaffinityFn = unsafe extern "C" fn(libc::pid_t, usize, *mut u8) -> c_int;
type PthreadGetaffinityFn = unsafe extern "C" fn(libc::pthread_t, usize, *mut u8) -> c_int;

static SYSINFO: Real = Real::new(c"sysinfo");
static SYSCONF: Real = Real::new(c"sysconf");
static GET_PHYS_PAGES: Real = Real::new(c"get_phys_pages");
static GET_AVPHYS_PAGES: Real = Real::new(c"get_avphys_pages");
static GET_NPROCS: Real = Real::new(c"get_nprocs");
static SCHED_GETAFFINITY: Real = Real::new(c"sched_getaffinity");
static PTHREAD_GETAFFINITY_NP: Real = Real::new(c"pthread_getaffinity_np");

/// Whether the library answers `feature` now.
fn answering(feature: Feature) -> bool {
    !seal::sealed() && env::config().enabled(feature)
}

/// The kernel's answer, through libc when it has the symbol.
fn real_sysinfo(info: *mut libc::sysinfo) -> c_int {
    // SAFETY: the caller's pointer, forwarded.
    match unsafe { typed::<SysinfoFn>(&SYSINFO) } {
        Some(f) => unsafe { f(info) },
        // SAFETY: the kernel checks the pointer (EFAULT).
        None => libc_result(i64::from(sys::sysinfo(unsafe { &mut *info }))) as c_int,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysinfo(info: *mut libc::sysinfo) -> c_int {
    answer_sysinfo(info)
}

/// The body of the `sysinfo` hook, also called by the supervisor's entry point: a call to the
/// exported symbol from inside the library would bind to the C library's `sysinfo` wherever the
/// library is not first in the lookup order (`dlopen`).
pub(crate) fn answer_sysinfo(info: *mut libc::sysinfo) -> c_int {
    let r = real_sysinfo(info);
    if r != 0 || info.is_null() || !answering(Feature::Sysinfo) {
        return r;
    }
    // SAFETY: the real call succeeded, so `info` is a valid, filled struct.
    let info = unsafe { &mut *info };
    let host = *info;
    let answer = stack::run(|_| {
        let src = RawSource::new();
        let memory = answers::memory_view(&src, answers::host_from(&host))
            .map(|view| cgshim::show::sysinfo::sysinfo_memory(&view, host.mem_unit));
        let uptime =
            if env::config().enabled(Feature::Uptime) { answers::container_uptime(&src) } else { None };
        (memory, uptime, answers::procs(&src))
    });
    let Some((memory, uptime, procs)) = answer else { return r };
    if let Some(m) = memory {
        info.totalram = m.totalram as _;
        info.freeram = m.freeram as _;
        info.sharedram = m.sharedram as _;
        info.bufferram = m.bufferram as _;
        info.totalswap = m.totalswap as _;
        info.freeswap = m.freeswap as _;
    }
    if let Some(up) = uptime {
        info.uptime = cgshim::show::uptime::sysinfo_seconds(up).try_into().unwrap_or(info.uptime);
    }
    if let Some(n) = procs {
        info.procs = n.try_into().unwrap_or(u16::MAX);
    }
    r
}

/// The container's `_SC_PHYS_PAGES` (`avail == false`) or `_SC_AVPHYS_PAGES`, if virtualized.
fn pages(avail: bool) -> Option<c_long> {
    if !answering(Feature::Sysconf) {
        return None;
    }
    stack::run(|_| {
        // SAFETY: all-zero is a valid struct sysinfo.
        let mut info: libc::sysinfo = unsafe { core::mem::zeroed() };
        if sys::sysinfo(&mut info) != 0 {
            return None;
        }
        let view = answers::memory_view(&RawSource::new(), answers::host_from(&info))?;
        let page = crate::page_size();
        let pages = if avail {
            cgshim::show::sysinfo::avphys_pages(&view, page)
        } else {
            cgshim::show::sysinfo::phys_pages(&view, page)
        };
        c_long::try_from(pages).ok()
    })
    .flatten()
}

/// The number of CPUs the container may use at once, if the CPU view is on.
fn container_cpus() -> Option<u64> {
    if !answering(Feature::Cpu) {
        return None;
    }
    stack::run(|_| answers::cpu_set(&RawSource::new()).map(|s| s.count())).flatten()
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn sysconf(name: c_int) -> c_long {
    if name == libc::_SC_NPROCESSORS_ONLN
        && let Some(n) = container_cpus()
    {
        return c_long::try_from(n).unwrap_or(c_long::MAX);
    }
    if (name == libc::_SC_PHYS_PAGES || name == libc::_SC_AVPHYS_PAGES)
        && let Some(p) = pages(name == libc::_SC_AVPHYS_PAGES)
    {
        return p;
    }
    // SAFETY: forwarding to the real sysconf.
    match unsafe { typed::<SysconfFn>(&SYSCONF) } {
        Some(f) => unsafe { f(name) },
        None => {
            crate::set_errno(libc::EINVAL);
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
/// other hooks, so the function itself answers the container's count.
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

/// Narrows an affinity mask the C library has just written (`size` bytes at `mask`) to the
/// shown set S of that mask, unless `CGSHIM_CPU_AFFINITY=0` or the CPU view is off.
pub(crate) fn narrow_mask(size: usize, mask: *mut u8) {
    if mask.is_null() || !env::config().cpu_affinity || !answering(Feature::Cpu) {
        return;
    }
    // SAFETY: the real call succeeded, so `mask` holds `size` bytes the C library wrote.
    let bytes = unsafe { core::slice::from_raw_parts_mut(mask, size) };
    let real = cgshim::read::cpulist::CpuSet::from_mask(bytes);
    if let Some(shown) = stack::run(|_| answers::shown_of(&RawSource::new(), &real)).flatten() {
        shown.write_mask(bytes);
    }
}

/// `sched_getaffinity`: the calling process's threads get S, the shown window of their real
/// mask (nproc, Python, Node, the JVM and Ruby count these; GNU parallel and others pin to them),
/// so every way of counting CPUs agrees. `CGSHIM_CPU_AFFINITY=0` leaves it to the kernel.
/// Other processes' masks are theirs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sched_getaffinity(pid: libc::pid_t, size: usize, mask: *mut u8) -> c_int {
    // SAFETY: forwarding the caller's arguments to the real function.
    let r = match unsafe { typed::<GetaffinityFn>(&SCHED_GETAFFINITY) } {
        Some(f) => unsafe { f(pid, size, mask) },
        None => {
            crate::set_errno(libc::ENOSYS);
            -1
        }
    };
    if r == 0 && is_own_task(pid) {
        narrow_mask(size, mask);
    }
    r
}

/// `pthread_getaffinity_np`: glibc asks the kernel itself, past `sched_getaffinity`; thread pools
/// (libgomp's `OMP_NUM_THREADS` default among them) size themselves from it. Any thread it can
/// name is the caller's own.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getaffinity_np(
    thread: libc::pthread_t,
    size: usize,
    mask: *mut u8,
) -> c_int {
    // SAFETY: forwarding the caller's arguments to the real function.
    let r = match unsafe { typed::<PthreadGetaffinityFn>(&PTHREAD_GETAFFINITY_NP) } {
        Some(f) => unsafe { f(thread, size, mask) },
        None => libc::ENOSYS,
    };
    if r == 0 {
        narrow_mask(size, mask);
    }
    r
}
