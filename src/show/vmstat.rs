//! `/proc/vmstat` as the container sees it: the host file, line by line (`name value`), with
//! the counters the cgroup carries rewritten and every other line left as the host's.

use crate::buf::Sink;
use crate::decide::memory::MemoryView;
use crate::read::lines::{fields, lines};

pub fn render<S: Sink>(host: &[u8], view: &MemoryView, page_size: u64, out: &mut S) -> Option<()> {
    out.clear();
    for line in lines(host) {
        let mut f = fields(line);
        match (f.next(), f.next(), f.next()) {
            (Some(key), Some(_), None) if let Some(v) = view.vmstat_value(key, page_size) => {
                out.push(key);
                out.push_byte(b' ');
                out.push_u64(v);
            }
            _ => out.push(line),
        }
        out.push_byte(b'\n');
    }
    (!out.overflowed()).then_some(())
}
