//! The served content of each file: the host's text (the template) with the container's
//! values, rendered by the core from one view. `None` everywhere means "serve the host's file":
//! no cgroup, no limit, an unreadable file, content that would not fit.

use crate::answers;
use crate::kernel::Kind;
use crate::source::RawSource;
use cgshim::buf::Buf;
use cgshim::decide::memory::{HostMemory, MemoryView};
use cgshim::decide::source::{Source, read_open_file};

/// The memory files (everything but the CPU files) fit this.
pub type Small = Buf<16384>;

/// Whether the kind's content is built from the host's text (uptime and the online list are
/// computed entirely).
pub fn needs_template(kind: Kind) -> bool {
    !matches!(kind, Kind::Uptime | Kind::CpuOnline)
}

/// The host's memory, for the files that are not `/proc/meminfo` itself: from `sysinfo(2)`, so
/// that no file but the kernel's own meminfo is ever used as a template (a file bind-mounted
/// over it is someone else's). Under the test root: that root's meminfo.
fn host_memory(src: &RawSource) -> Option<HostMemory> {
    if src.rooted() {
        let mut text = Buf::<8192>::new();
        let mut f = src.open(Kind::Meminfo.path().to_bytes())?;
        read_open_file(src, &mut f, &mut text)?;
        return HostMemory::from_meminfo(text.as_bytes());
    }
    answers::host_from_sysinfo()
}

fn view_for_other_file(src: &RawSource) -> Option<MemoryView> {
    answers::memory_view(src, host_memory(src)?)
}

/// Renders the container's `kind` file from the host's text `host` into `out`; the length used.
pub fn render(kind: Kind, src: &RawSource, host: &[u8], out: &mut [u8]) -> Option<usize> {
    if kind.is_cpu() {
        let set = answers::cpu_set(src)?;
        let mut w = Writer { out, len: 0, overflow: false };
        let mut emit = |bytes: &[u8]| w.push(bytes);
        match kind {
            Kind::Cpuinfo => cgshim::show::cpu::cpuinfo(host, &set, &mut emit),
            Kind::Stat => cgshim::show::cpu::stat(host, &set, &mut emit)?,
            _ => cgshim::show::cpu::online(&set, &mut emit),
        }
        return (!w.overflow).then_some(w.len);
    }
    let mut small = Small::new();
    match kind {
        Kind::Meminfo => {
            let view = answers::memory_view(src, HostMemory::from_meminfo(host)?)?;
            cgshim::show::meminfo::render(host, &view, &mut small)?;
        }
        Kind::Swaps => cgshim::show::swaps::render(host, &view_for_other_file(src)?, &mut small)?,
        Kind::Vmstat => {
            cgshim::show::vmstat::render(host, &view_for_other_file(src)?, crate::page_size(), &mut small)?
        }
        _ => {
            let up = answers::container_uptime(src)?;
            cgshim::show::uptime::render(up, answers::container_idle(src, up), &mut small);
        }
    }
    let bytes = small.as_bytes();
    out.get_mut(..bytes.len())?.copy_from_slice(bytes);
    Some(bytes.len())
}

/// Appends into a fixed slice, remembering an overflow instead of failing each write.
struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl Writer<'_> {
    fn push(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        match self.out.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            None => self.overflow = true,
        }
    }
}

/// Reads the whole host file of `kind` under the test root into `out`.
pub fn rooted_template(kind: Kind, src: &RawSource, out: &mut [u8]) -> Option<usize> {
    let mut f = src.open(kind.path().to_bytes())?;
    read_all(src, &mut f, out)
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
