//! The C API (`include/cgshim.h`): new programs ask for their memory and CPUs as numbers
//! instead of parsing a served file.
//!
//! The answers are the library's own: the memory view behind `/proc/meminfo` (the host's
//! meminfo as the template's totals, the same caches) and the CPU set behind
//! `sched_getaffinity`, plus the process's rlimits. They are built on a private stack and
//! written straight into the caller's struct, so a call takes a few hundred bytes of the
//! caller's stack, no lock and no allocation, from any thread or signal handler.
//!
//! The ABI: each struct starts with the caller's `size`; every field that lies wholly within it
//! is filled and nothing beyond it is written; `size` comes back as the bytes filled. Fields
//! are only ever appended.

use crate::answers;
use crate::source::{Fd, RawSource};
use crate::{env, seal, set_errno, stack, sys};
use cgshim::buf::Buf;
use cgshim::codes::{Origin, Reason};
use cgshim::config::Feature;
use cgshim::decide::discover::{self, CgroupDir, Version};
use cgshim::decide::memory::{HostMemory, LimitOrigin};
use cgshim::decide::rlimit::{self, Binding, Rlimits};
use cgshim::decide::source::{Source, read_open_file};
use cgshim::read::cpulist::CpuSet;
use core::ffi::{c_char, c_int, c_void};
use core::mem::{offset_of, size_of};

const UNLIMITED: u64 = u64::MAX;
const PATH_SIZE: usize = 1032;
const CPU_WORDS: usize = 16;
const MEMORY_VERSION: u32 = 1;
const CPUS_VERSION: u32 = 1;
/// `size` and `version`: the least a caller may pass.
const HEADER: usize = 8;

/// `struct cgshim_memory`, field for field.
#[repr(C)]
struct Memory {
    size: u32,
    version: u32,
    virtualized: i32,
    reason: i32,
    total: u64,
    free: u64,
    available: u64,
    limit: u64,
    limit_source: i32,
    limit_level: i32,
    usage: u64,
    high: u64,
    swap_limit: u64,
    swap_usage: u64,
    host_total: u64,
    host_available: u64,
    rlimit_as: u64,
    rlimit_data: u64,
    vm_size: u64,
    vm_data: u64,
    binding: i32,
    cgroup_version: i32,
    room: u64,
    cgroup_path: [u8; PATH_SIZE],
}

/// `struct cgshim_cpus`, field for field.
#[repr(C)]
struct Cpus {
    size: u32,
    version: u32,
    virtualized: i32,
    reason: i32,
    count: u64,
    quota_millis: u64,
    quota_us: u64,
    period_us: u64,
    count_source: i32,
    cgroup_version: i32,
    affinity_count: u64,
    set: [u64; CPU_WORDS],
    cgroup_path: [u8; PATH_SIZE],
}

/// Where each field of `struct cgshim_memory` ends, in order.
const MEMORY_ENDS: [usize; 23] = [
    offset_of!(Memory, version) + 4,
    offset_of!(Memory, virtualized) + 4,
    offset_of!(Memory, reason) + 4,
    offset_of!(Memory, total) + 8,
    offset_of!(Memory, free) + 8,
    offset_of!(Memory, available) + 8,
    offset_of!(Memory, limit) + 8,
    offset_of!(Memory, limit_source) + 4,
    offset_of!(Memory, limit_level) + 4,
    offset_of!(Memory, usage) + 8,
    offset_of!(Memory, high) + 8,
    offset_of!(Memory, swap_limit) + 8,
    offset_of!(Memory, swap_usage) + 8,
    offset_of!(Memory, host_total) + 8,
    offset_of!(Memory, host_available) + 8,
    offset_of!(Memory, rlimit_as) + 8,
    offset_of!(Memory, rlimit_data) + 8,
    offset_of!(Memory, vm_size) + 8,
    offset_of!(Memory, vm_data) + 8,
    offset_of!(Memory, binding) + 4,
    offset_of!(Memory, cgroup_version) + 4,
    offset_of!(Memory, room) + 8,
    offset_of!(Memory, cgroup_path) + PATH_SIZE,
];

/// Where each field of `struct cgshim_cpus` ends, in order.
const CPUS_ENDS: [usize; 12] = [
    offset_of!(Cpus, version) + 4,
    offset_of!(Cpus, virtualized) + 4,
    offset_of!(Cpus, reason) + 4,
    offset_of!(Cpus, count) + 8,
    offset_of!(Cpus, quota_millis) + 8,
    offset_of!(Cpus, quota_us) + 8,
    offset_of!(Cpus, period_us) + 8,
    offset_of!(Cpus, count_source) + 4,
    offset_of!(Cpus, cgroup_version) + 4,
    offset_of!(Cpus, affinity_count) + 8,
    offset_of!(Cpus, set) + 8 * CPU_WORDS,
    offset_of!(Cpus, cgroup_path) + PATH_SIZE,
];

// No padding anywhere: the header's layout is the plain sum of its fields.
const _: () = assert!(size_of::<Memory>() == offset_of!(Memory, cgroup_path) + PATH_SIZE);
const _: () = assert!(size_of::<Cpus>() == offset_of!(Cpus, cgroup_path) + PATH_SIZE);

/// The bytes to fill for a caller's `size`: every field that ends within it.
fn filled(ends: &[usize], size: usize) -> usize {
    ends.iter().copied().filter(|&end| end <= size).max().unwrap_or(HEADER)
}

/// Reads the caller's `size`, or sets errno and says why not.
///
/// # Safety
/// `p` is null or points at a struct that starts with a `uint32_t size`.
unsafe fn caller_size(p: *const c_void) -> Result<usize, c_int> {
    if p.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller's struct starts with its size (the header's contract).
    let size = unsafe { p.cast::<u32>().read() } as usize;
    if size < HEADER {
        return Err(libc::EINVAL);
    }
    if seal::sealed() {
        return Err(libc::EPERM);
    }
    Ok(size)
}

/// Copies the first `len` bytes of `value` to the caller's struct at `dst`.
///
/// # Safety
/// `dst` is writable for `len` bytes and `len <= size_of::<T>()`.
unsafe fn deliver<T>(value: &T, dst: *mut c_void, len: usize) {
    // SAFETY: `value` has at least `len` bytes (the caller's contract), `dst` is the caller's
    // struct of at least `len` bytes, and the two cannot overlap (ours is on a private stack).
    unsafe { core::ptr::copy_nonoverlapping((value as *const T).cast::<u8>(), dst.cast::<u8>(), len) };
}

/// Runs `fill` on a private stack; 0, or -1 and errno.
fn answer(p: *mut c_void, fill: impl FnOnce(usize)) -> c_int {
    // SAFETY: the caller passes its struct or null (the header's contract).
    let size = match unsafe { caller_size(p) } {
        Ok(s) => s,
        Err(e) => {
            set_errno(e);
            return -1;
        }
    };
    match stack::run(|_| fill(size)) {
        Some(()) => 0,
        None => {
            set_errno(libc::ENOMEM);
            -1
        }
    }
}

fn path_field(cg: &CgroupDir) -> [u8; PATH_SIZE] {
    let mut out = [0u8; PATH_SIZE];
    let dir = cg.dir.as_bytes();
    // One byte is always left for the NUL.
    for (d, s) in out.iter_mut().zip(dir.iter().take(PATH_SIZE - 1)) {
        *d = *s;
    }
    out
}

fn version_number(v: Version) -> i32 {
    match v {
        Version::V1 => 1,
        Version::V2 => 2,
    }
}

/// A small live file of this process (never under the test root: it describes the caller).
fn read_live<const N: usize>(path: &core::ffi::CStr, out: &mut Buf<N>) -> Option<()> {
    let fd = Fd(sys::with_fd_headroom(|| {
        sys::openat(sys::AT_FDCWD, path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC, 0)
    }));
    if fd.0 < 0 {
        return None;
    }
    out.clear();
    let mut f = fd;
    let live = RawSource::live();
    read_open_file(&live, &mut f, out)
}

fn soft_limit(resource: c_int) -> Option<u64> {
    let r = sys::rlimit(resource)?;
    (r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur)
}

fn rlimits() -> Rlimits {
    let mut statm = Buf::<256>::new();
    let used = read_live(c"/proc/self/statm", &mut statm)
        .and_then(|()| rlimit::parse_statm(statm.as_bytes(), crate::page_size()));
    Rlimits {
        address_space: soft_limit(libc::RLIMIT_AS as c_int),
        data: soft_limit(libc::RLIMIT_DATA as c_int),
        vm_size: used.map(|u| u.0),
        vm_data: used.map(|u| u.1),
    }
}

/// The host's `/proc/meminfo` as the served file's template: its totals, and whether the
/// library would pass the file through for its size.
fn host_meminfo(src: &RawSource, text: &mut Buf<16384>) -> Option<(HostMemory, bool)> {
    let mut f = src.open(b"/proc/meminfo")?;
    read_open_file(src, &mut f, text)?;
    // The library reads the template into 8 KiB and passes a larger file through.
    let too_large = text.as_bytes().len() > 8192;
    Some((HostMemory::from_meminfo(text.as_bytes())?, too_large))
}

fn kb(text: &[u8], key: &[u8]) -> Option<u64> {
    cgshim::read::meminfo::value(text, key).map(|v| v.saturating_mul(1024))
}

fn memory() -> Memory {
    let src = RawSource::new();
    let mut text = Buf::<16384>::new();
    let mut m = Memory {
        size: 0,
        version: MEMORY_VERSION,
        virtualized: 0,
        reason: Reason::None as i32,
        total: 0,
        free: 0,
        available: 0,
        limit: UNLIMITED,
        limit_source: Origin::Host as i32,
        limit_level: -1,
        usage: 0,
        high: UNLIMITED,
        swap_limit: 0,
        swap_usage: 0,
        host_total: 0,
        host_available: 0,
        rlimit_as: UNLIMITED,
        rlimit_data: UNLIMITED,
        vm_size: 0,
        vm_data: 0,
        binding: Origin::Host as i32,
        cgroup_version: 0,
        room: 0,
        cgroup_path: [0; PATH_SIZE],
    };
    let host = host_meminfo(&src, &mut text);
    let host_text = text.as_bytes();
    let decision = match host {
        None => Err(Reason::NoHostMemory),
        Some((_, true)) => Err(Reason::HostFileTooLarge),
        Some(_) if !env::config().enabled(Feature::Meminfo) => Err(Reason::Disabled),
        Some((host, false)) => answers::memory_decision(&src, host, &mut |cg| {
            m.cgroup_version = version_number(cg.version);
            m.cgroup_path = path_field(cg);
        }),
    };
    if decision.as_ref().is_err_and(|r| *r == Reason::Unreadable) && m.cgroup_version == 0 {
        // The limits could not be read, so discovery kept no cgroup: name it anyway.
        if let Ok(cg) = discover::find(&src, &discover::MEMORY) {
            m.cgroup_version = version_number(cg.version);
            m.cgroup_path = path_field(&cg);
        }
    }
    let host = host.map(|(h, _)| h);
    m.host_total = host.map_or(0, |h| h.total);
    m.host_available = host.and_then(|h| h.available).unwrap_or(0);
    let mut memory_bound = Origin::Host;
    match decision {
        Ok(view) => {
            m.virtualized = 1;
            m.total = view.limit;
            m.free = view.free;
            m.available = view.available;
            m.limit = view.limit;
            m.limit_source = Origin::limit_of(&view) as i32;
            m.limit_level = match view.origin {
                LimitOrigin::Level(i) => i32::try_from(i).unwrap_or(-1),
                LimitOrigin::Hierarchical => -1,
            };
            m.usage = view.levels.first().and_then(|l| l.usage).unwrap_or(0);
            m.high = view.high().unwrap_or(UNLIMITED);
            m.swap_limit = view.swap_total;
            m.swap_usage = view.swap_total.saturating_sub(view.swap_free);
            memory_bound = Origin::headroom_of(&view);
        }
        Err(why) => {
            m.reason = why as i32;
            m.total = m.host_total;
            m.free = kb(host_text, b"MemFree").unwrap_or(0);
            m.available = m.host_available;
            m.usage = m.total.saturating_sub(m.free);
            m.swap_limit = kb(host_text, b"SwapTotal").unwrap_or(0);
            m.swap_usage = m.swap_limit.saturating_sub(kb(host_text, b"SwapFree").unwrap_or(0));
        }
    }
    let r = rlimits();
    m.rlimit_as = r.address_space.unwrap_or(UNLIMITED);
    m.rlimit_data = r.data.unwrap_or(UNLIMITED);
    m.vm_size = r.vm_size.unwrap_or(0);
    m.vm_data = r.vm_data.unwrap_or(0);
    let (binding, room) = rlimit::binding(m.available, &r);
    m.binding = match binding {
        Binding::Memory => memory_bound,
        Binding::AddressSpace => Origin::RlimitAs,
        Binding::Data => Origin::RlimitData,
    } as i32;
    m.room = room;
    m
}

/// The online CPUs, for a thread whose affinity mask cannot be read.
fn online() -> Option<CpuSet> {
    let mut text = Buf::<4096>::new();
    read_live(c"/sys/devices/system/cpu/online", &mut text)?;
    CpuSet::parse_list(text.as_bytes())
}

fn cpus() -> Cpus {
    let src = RawSource::new();
    let mut c = Cpus {
        size: 0,
        version: CPUS_VERSION,
        virtualized: 0,
        reason: Reason::None as i32,
        count: 0,
        quota_millis: UNLIMITED,
        quota_us: UNLIMITED,
        period_us: 0,
        count_source: Origin::Affinity as i32,
        cgroup_version: 0,
        affinity_count: 0,
        set: [0; CPU_WORDS],
        cgroup_path: [0; PATH_SIZE],
    };
    let affinity = sys::affinity();
    let decision = match affinity {
        None => Err(Reason::NoAffinity),
        Some(_) if !env::config().enabled(Feature::Cpu) => Err(Reason::Disabled),
        Some(aff) => answers::cpu_view(&src, &aff, |cg| {
            c.cgroup_version = version_number(cg.version);
            c.cgroup_path = path_field(cg);
        })
        .ok_or(Reason::Unreadable),
    };
    let shown = match decision {
        Ok((set, quota, version)) => {
            c.virtualized = 1;
            if let Some(q) = quota {
                c.quota_us = q.quota;
                c.period_us = q.period;
                let millis = u128::from(q.quota).saturating_mul(1000) / u128::from(q.period.max(1));
                c.quota_millis = u64::try_from(millis).unwrap_or(UNLIMITED - 1);
                if let (Some(v), Some(aff)) = (version, affinity)
                    && q.cpus() <= aff.count()
                {
                    c.count_source = Origin::cpu_quota(v) as i32;
                }
            }
            Some(set)
        }
        Err(why) => {
            c.reason = why as i32;
            affinity.or_else(online)
        }
    };
    c.affinity_count = affinity.map_or(0, |a| a.count());
    if let Some(set) = shown {
        c.count = set.count();
        let mut bytes = [0u8; CPU_WORDS * 8];
        set.write_mask(&mut bytes);
        for (word, chunk) in c.set.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *word = u64::from_le_bytes(b);
        }
    }
    c
}

/// `int cgshim_memory(struct cgshim_memory *m)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cgshim_memory(m: *mut c_void) -> c_int {
    answer(m, |size| {
        let mut value = memory();
        let len = filled(&MEMORY_ENDS, size);
        value.size = len as u32;
        // SAFETY: the caller's struct holds `size` >= `len` bytes.
        unsafe { deliver(&value, m, len) };
    })
}

/// `int cgshim_cpus(struct cgshim_cpus *c)`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cgshim_cpus(c: *mut c_void) -> c_int {
    answer(c, |size| {
        let mut value = cpus();
        let len = filled(&CPUS_ENDS, size);
        value.size = len as u32;
        // SAFETY: the caller's struct holds `size` >= `len` bytes.
        unsafe { deliver(&value, c, len) };
    })
}

/// The width of a name slot, NUL included. Names sit in fixed slots rather than behind
/// pointers: a table of pointers would need a relocation each when the library loads.
const NAME: usize = 32;

const fn slot(name: &str) -> [u8; NAME] {
    let mut out = [0u8; NAME];
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() && i < NAME - 1 {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

static SOURCE_NAMES: [[u8; NAME]; Origin::ALL.len()] = {
    let mut out = [[0u8; NAME]; Origin::ALL.len()];
    let mut i = 0;
    while i < Origin::ALL.len() {
        out[i] = slot(Origin::ALL[i].name());
        i += 1;
    }
    out
};

static REASON_NAMES: [[u8; NAME]; Reason::ALL.len()] = {
    let mut out = [[0u8; NAME]; Reason::ALL.len()];
    let mut i = 0;
    while i < Reason::ALL.len() {
        out[i] = slot(Reason::ALL[i].name());
        i += 1;
    }
    out
};

static UNKNOWN: [u8; 8] = *b"unknown\0";
const VERSION_TEXT: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
static VERSION: [u8; VERSION_TEXT.len()] = {
    let mut out = [0u8; VERSION_TEXT.len()];
    let bytes = VERSION_TEXT.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
};

fn name_of(table: &'static [[u8; NAME]], code: c_int) -> *const c_char {
    usize::try_from(code).ok().and_then(|i| table.get(i)).map_or(UNKNOWN.as_ptr(), |n| n.as_ptr()).cast()
}

/// `const char *cgshim_source_name(int source)`.
#[unsafe(no_mangle)]
pub extern "C" fn cgshim_source_name(source: c_int) -> *const c_char {
    name_of(&SOURCE_NAMES, source)
}

/// `const char *cgshim_reason_name(int reason)`.
#[unsafe(no_mangle)]
pub extern "C" fn cgshim_reason_name(reason: c_int) -> *const c_char {
    name_of(&REASON_NAMES, reason)
}

/// `const char *cgshim_version(void)`.
#[unsafe(no_mangle)]
pub extern "C" fn cgshim_version() -> *const c_char {
    VERSION.as_ptr().cast()
}
