//! `/proc/meminfo` as the container sees it: the host file, line by line, with the fields the
//! cgroup can answer rewritten in place. Line order, unknown lines, and the column layout stay the
//! host's, so parsers written against the kernel keep working and new kernel fields survive.

use crate::buf::Sink;
use crate::decide::memory::MemoryView;
use crate::read::lines::lines;
use crate::read::meminfo::parse_line;

/// Renders the container's `/proc/meminfo` from the host's text. `None` if the output does not
/// fit `out` (the caller then serves the host file unchanged).
pub fn render<S: Sink>(host: &[u8], view: &MemoryView, out: &mut S) -> Option<()> {
    out.clear();
    for line in lines(host) {
        match parse_line(line).filter(|l| l.kb) {
            Some(parsed) => {
                let bytes = match parsed.key {
                    b"Mlocked" => Some(parsed.value.saturating_mul(1024).min(view.mlocked_cap())),
                    b"Committed_AS" => Some(view.committed(parsed.value.saturating_mul(1024))),
                    key => view.meminfo_bytes(key),
                };
                match bytes {
                    Some(b) => rewrite(line, parsed.key, b / 1024, out),
                    None => out.push(line),
                }
            }
            None => out.push(line),
        }
        out.push_byte(b'\n');
    }
    (!out.overflowed()).then_some(())
}

/// Writes `key:` and `kb` so that the number ends in the same column as the host's number did
/// (the kernel pads names to 16 columns and numbers to 8), followed by ` kB`.
fn rewrite<S: Sink>(host_line: &[u8], key: &[u8], kb: u64, out: &mut S) {
    let number_end = host_line.len().saturating_sub(3);
    out.push(key);
    out.push_byte(b':');
    let width = number_end.saturating_sub(key.len().saturating_add(1));
    let mut digits = [0u8; 20];
    let text = crate::buf::format_u64(kb, &mut digits);
    out.push_u64_padded(kb, width.max(text.len().saturating_add(1)));
    out.push(b" kB");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::Buf;
    use crate::decide::discover::Version;
    use crate::decide::memory::{HostMemory, Level, LimitOrigin, MAX_LEVELS};
    use crate::read::memory_stat::MemoryStat;

    fn view(limit: u64, free: u64, stat: &[u8]) -> MemoryView {
        MemoryView {
            version: Version::V2,
            host: HostMemory { total: 1 << 34, available: None, swap_total: 0 },
            levels: [Level::default(); MAX_LEVELS],
            level_count: 1,
            limit,
            origin: LimitOrigin::Level(0),
            headroom: free,
            stat: MemoryStat::parse(stat, false),
            free,
            available: free,
            cached: 0,
            sreclaimable: 0,
            swap_total: 0,
            swap_free: 0,
            overcommit: None,
        }
    }

    #[test]
    fn keeps_layout_and_unknown_lines() {
        let host = b"MemTotal:       24684084 kB\nMemFree:        23057568 kB\nHugePages_Total:       0\n\
Mlocked:           15400 kB\nHugepagesize:       2048 kB\nVmallocTotal:   34359738367 kB\nNewField:            7 kB\n";
        let mut out = Buf::<4096>::new();
        render(host, &view(268435456, 100 << 20, b"unevictable 4096\n"), &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(out.as_bytes()).unwrap(),
            "MemTotal:         262144 kB\nMemFree:          102400 kB\nHugePages_Total:       0\n\
Mlocked:               4 kB\nHugepagesize:       2048 kB\nVmallocTotal:   34359738367 kB\nNewField:            7 kB\n"
        );
    }

    #[test]
    fn commit_lines_describe_the_container() {
        let host = b"MemTotal:       24684084 kB\nCommitLimit:    12342040 kB\nCommitted_AS:    5000000 kB\n";
        let mut v = view(256 << 20, 100 << 20, b"anon 10485760\nshmem 1048576\n");
        let mut out = Buf::<4096>::new();
        // Without the overcommit settings the host's CommitLimit line stays.
        render(host, &v, &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(out.as_bytes()).unwrap(),
            "MemTotal:         262144 kB\nCommitLimit:    12342040 kB\nCommitted_AS:      11264 kB\n"
        );
        v.overcommit = Some(crate::decide::memory::Overcommit { ratio: 50, kbytes: 0 });
        v.swap_total = 64 << 20;
        v.swap_free = 60 << 20;
        render(host, &v, &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(out.as_bytes()).unwrap(),
            "MemTotal:         262144 kB\nCommitLimit:      196608 kB\nCommitted_AS:      15360 kB\n"
        );
        v.overcommit = Some(crate::decide::memory::Overcommit { ratio: 50, kbytes: 1 << 30 });
        render(host, &v, &mut out).unwrap();
        assert!(std::str::from_utf8(out.as_bytes()).unwrap().contains("CommitLimit:      327680 kB\n"));
        // Never above the host's own Committed_AS.
        render(b"Committed_AS:       5 kB\n", &v, &mut out).unwrap();
        assert_eq!(out.as_bytes(), b"Committed_AS:       5 kB\n");
    }

    #[test]
    fn wide_numbers_keep_one_space() {
        let mut out = Buf::<256>::new();
        render(b"MemTotal: 1 kB\n", &view(1 << 40, 0, b""), &mut out).unwrap();
        assert_eq!(out.as_bytes(), b"MemTotal: 1073741824 kB\n");
    }

    #[test]
    fn overflow_is_refused() {
        let mut out = Buf::<8>::new();
        assert!(render(b"MemTotal: 1 kB\n", &view(1 << 20, 0, b""), &mut out).is_none());
    }
}
