//! The served content of each file: the host's text (the template) with the container's
//! values, rendered by the core from one view. `None` everywhere means "serve the host's file":
//! no cgroup, no limit, an unreadable file, content that would not fit.

use crate::answers;
use crate::kernel::Kind;
use crate::source::RawSource;
use cgshim::buf::{Buf, Sink, Text};
use cgshim::decide::memory::{HostMemory, MemoryView};
use cgshim::decide::source::{Source, read_open_file};

/// Whether the kind's content is built from the host's text (uptime, the online list and the
/// pressure files are computed entirely).
pub fn needs_template(kind: Kind) -> bool {
    !matches!(
        kind,
        Kind::Uptime | Kind::CpuOnline | Kind::PressureCpu | Kind::PressureMemory | Kind::PressureIo
    )
}

/// The host's memory, for the files that are not `/proc/meminfo` itself: from `sysinfo(2)`, so
/// that no file but the kernel's own meminfo is ever used as a template (a file bind-mounted
/// over it is someone else's). Under the test root: that root's meminfo.
fn host_memory(src: &RawSource) -> Option<HostMemory> {
    if src.rooted() {
        return rooted_host_memory(src);
    }
    answers::host_from_sysinfo()
}

/// Out of line: its buffer stays off the stack of the usual path.
#[inline(never)]
fn rooted_host_memory(src: &RawSource) -> Option<HostMemory> {
    let mut text = Buf::<8192>::new();
    let mut f = src.open(Kind::Meminfo.path().to_bytes())?;
    read_open_file(src, &mut f, &mut text)?;
    HostMemory::from_meminfo(text.as_bytes())
}

fn view_for_other_file(src: &RawSource) -> Option<MemoryView> {
    answers::memory_view(src, host_memory(src)?)
}

/// Renders the container's `kind` file from the host's text `host` into `out`; the length used.
/// `fd` is the kernel's open file (a CPU's `online` file says which CPU by its path).
pub fn render(
    kind: Kind,
    src: &RawSource,
    host: &[u8],
    out: &mut [u8],
    fd: core::ffi::c_int,
) -> Option<usize> {
    let mut text = Text::new(out);
    match kind {
        Kind::Meminfo => {
            let mut view = answers::memory_view(src, HostMemory::from_meminfo(host)?)?;
            view.overcommit = answers::overcommit(src);
            cgshim::show::meminfo::render(host, &view, &mut text)?;
        }
        Kind::Swaps => cgshim::show::swaps::render(host, &view_for_other_file(src)?, &mut text)?,
        Kind::Vmstat => {
            cgshim::show::vmstat::render(host, &view_for_other_file(src)?, crate::page_size(), &mut text)?
        }
        Kind::Uptime => {
            let up = answers::container_uptime(src)?;
            cgshim::show::uptime::render(up, answers::container_idle(src, up), &mut text);
        }
        Kind::Cpuinfo | Kind::Stat | Kind::CpuOnline | Kind::CpuNOnline => {
            let set = answers::cpu_set(src)?;
            let mut emit = |bytes: &[u8]| text.push(bytes);
            match kind {
                Kind::Cpuinfo => cgshim::show::cpu::cpuinfo(host, &set, &mut emit),
                Kind::Stat => answers::stat(src, host, &set, &mut emit)?,
                Kind::CpuNOnline => {
                    // A CPU of the set keeps the kernel's own text.
                    if set.contains(crate::kernel::online_cpu(fd)?) {
                        return None;
                    }
                    cgshim::show::cpu::cpu_offline(&mut emit);
                }
                _ => cgshim::show::cpu::online(&set, &mut emit),
            }
        }
        Kind::Status => {
            let mut emit = |bytes: &[u8]| text.push(bytes);
            cgshim::show::cpu::status(host, &mut |real| answers::shown_of(src, real), &mut emit)?;
        }
        Kind::PressureCpu | Kind::PressureMemory | Kind::PressureIo => {
            answers::pressure(src, kind, &mut text)?
        }
    }
    (!text.overflowed()).then_some(text.len())
}

/// Reads the whole host file of `kind` under the test root into `out`.
pub fn rooted_template(kind: Kind, src: &RawSource, out: &mut [u8]) -> Option<usize> {
    let mut f = src.open(kind.path().to_bytes())?;
    read_all(src, &mut f, out)
}

/// The whole kernel file behind `fd`, read from offset 0 without moving its position.
pub fn read_from_start(fd: core::ffi::c_int, buf: &mut [u8]) -> Option<usize> {
    let mut len = 0usize;
    loop {
        let spare = buf.get_mut(len..)?;
        if spare.is_empty() {
            return None;
        }
        let n = usize::try_from(crate::sys::pread(fd, spare, len as i64)).ok()?;
        if n == 0 {
            return Some(len);
        }
        len += n;
    }
}

/// The whole kernel file behind `fd`, for a file the kernel generates as one record
/// ([`Kind::one_record`]), read from offset 0 without moving its position: one read when it comes
/// back shorter than the buffer, else read to its end. (A file of many records, `/proc/cpuinfo` or `/proc/vmstat`, comes a page or so per read.)
pub fn read_fresh(fd: core::ffi::c_int, buf: &mut [u8]) -> Option<usize> {
    let n = usize::try_from(crate::sys::pread(fd, buf, 0)).ok()?;
    if n < buf.len() { Some(n) } else { read_from_start(fd, buf) }
}

/// Reads an open file to its end into `out`; `None` on an error or when it does not fit.
pub fn read_all(src: &RawSource, f: &mut crate::source::Fd, out: &mut [u8]) -> Option<usize> {
    let mut len = 0usize;
    loop {
        let spare = out.get_mut(len..)?;
        if spare.is_empty() {
            return None;
        }
        let n = src.read(f, spare)?;
        if n == 0 {
            return Some(len);
        }
        len = len.checked_add(n)?;
    }
}
