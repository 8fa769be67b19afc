//! `/proc/swaps` as the container sees it: the kernel's header and, when the container may swap,
//! one line for its swap allowance in the kernel's column layout (`none`, type `virtual`, as
//! LXCFS names it), sizes in KiB.

use crate::buf::Sink;
use crate::decide::memory::MemoryView;
use crate::read::lines::lines;

pub fn render<S: Sink>(host: &[u8], view: &MemoryView, out: &mut S) -> Option<()> {
    out.clear();
    out.push(lines(host).next().unwrap_or(b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority"));
    out.push_byte(b'\n');
    if view.swap_total > 0 {
        let size = view.swap_total / 1024;
        let used = view.swap_total.saturating_sub(view.swap_free) / 1024;
        // The kernel pads the file name to 40 columns, then adds a tab after short numbers.
        let name = b"none";
        out.push(name);
        for _ in name.len()..40 {
            out.push_byte(b' ');
        }
        out.push(b"virtual\t");
        out.push_u64(size);
        out.push(if size < 10_000_000 { b"\t\t" } else { b"\t" });
        out.push_u64(used);
        out.push(if used < 10_000_000 { b"\t\t" } else { b"\t" });
        out.push(b"0\n");
    }
    (!out.overflowed()).then_some(())
}
