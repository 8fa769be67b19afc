//! The CPU files as the container sees them, all from one CPU set: `/proc/cpuinfo` keeps only
//! the processor blocks of the set, `/proc/stat` only its `cpuN` lines (the aggregate `cpu` line
//! summed over them), `/sys/devices/system/cpu/online` lists it. CPU numbers stay the real ones.
//! Output goes to `emit` piece by piece: these files grow with the machine (hundreds of KiB on
//! large hosts) and are written straight into the served file.

use crate::read::cpulist::CpuSet;
use crate::read::lines::{fields, lines, trim};
use crate::read::number::parse_u64;

/// `/sys/devices/system/cpu/online`.
pub fn online(set: &CpuSet, emit: &mut dyn FnMut(&[u8])) {
    set.write_list(emit);
    emit(b"\n");
}

/// `/proc/cpuinfo`: blocks are separated by blank lines; a block whose first line is
/// `processor : N` is kept when N is in the set; anything else is kept as it is.
pub fn cpuinfo(host: &[u8], set: &CpuSet, emit: &mut dyn FnMut(&[u8])) {
    let mut keep = true;
    let mut block_start = true;
    for line in lines(host) {
        if block_start && !line.is_empty() {
            keep = processor_number(line).is_none_or(|n| set.contains(n));
            block_start = false;
        }
        if keep {
            emit(line);
            emit(b"\n");
        }
        if line.is_empty() {
            block_start = true;
        }
    }
}

fn processor_number(line: &[u8]) -> Option<usize> {
    let (key, value) = line.split_at(line.iter().position(|&b| b == b':')?);
    if trim(key) != b"processor" {
        return None;
    }
    usize::try_from(parse_u64(value.get(1..)?)?).ok()
}

/// The CPU number of a `cpuN ...` line of `/proc/stat`.
fn stat_cpu(line: &[u8]) -> Option<usize> {
    let name = fields(line).next()?;
    let digits = name.strip_prefix(b"cpu")?;
    usize::try_from(parse_u64(digits)?).ok()
}

const STAT_FIELDS: usize = 16;

/// `/proc/stat`. `None` when the host file does not look like one (no aggregate line).
pub fn stat(host: &[u8], set: &CpuSet, emit: &mut dyn FnMut(&[u8])) -> Option<()> {
    let mut sums = [0u64; STAT_FIELDS];
    let mut count = 0usize;
    for line in lines(host) {
        if stat_cpu(line).is_some_and(|n| set.contains(n)) {
            for (i, value) in fields(line).skip(1).enumerate() {
                if let Some(slot) = sums.get_mut(i) {
                    *slot = slot.saturating_add(parse_u64(value)?);
                }
                count = count.max(i.saturating_add(1));
            }
        }
    }
    let mut seen_aggregate = false;
    for line in lines(host) {
        if fields(line).next() == Some(b"cpu") {
            // The kernel prints "cpu" and two spaces, then the fields separated by one space.
            emit(b"cpu ");
            for v in sums.get(..count.min(STAT_FIELDS))? {
                let mut digits = [0u8; 20];
                emit(b" ");
                emit(crate::buf::format_u64(*v, &mut digits));
            }
            seen_aggregate = true;
        } else if stat_cpu(line).is_some_and(|n| !set.contains(n)) {
            continue;
        } else {
            emit(line);
        }
        emit(b"\n");
    }
    seen_aggregate.then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(f: impl FnOnce(&mut dyn FnMut(&[u8]))) -> String {
        let mut out = Vec::new();
        f(&mut |b: &[u8]| out.extend_from_slice(b));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cpuinfo_keeps_the_set_blocks() {
        let host = "processor\t: 0\nmodel name\t: X\n\nprocessor\t: 1\nmodel name\t: X\n\nprocessor\t: 2\nmodel name\t: X\n\n";
        let set = CpuSet::parse_list(b"1").unwrap();
        let out = collect(|e| cpuinfo(host.as_bytes(), &set, &mut |b| e(b)));
        assert_eq!(out, "processor\t: 1\nmodel name\t: X\n\n");
        let all = CpuSet::parse_list(b"0-2").unwrap();
        assert_eq!(collect(|e| cpuinfo(host.as_bytes(), &all, &mut |b| e(b))), host);
    }

    #[test]
    fn stat_sums_the_set() {
        let host = "cpu  30 0 30 300 0 0 0 0 0 0\ncpu0 10 0 10 100 0 0 0 0 0 0\ncpu1 20 0 20 200 0 0 0 0 0 0\n\
intr 5 1 2\nctxt 9\nbtime 1\nprocesses 3\n";
        let set = CpuSet::parse_list(b"1").unwrap();
        let mut out = Vec::new();
        stat(host.as_bytes(), &set, &mut |b: &[u8]| out.extend_from_slice(b)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "cpu  20 0 20 200 0 0 0 0 0 0\ncpu1 20 0 20 200 0 0 0 0 0 0\nintr 5 1 2\nctxt 9\nbtime 1\nprocesses 3\n"
        );
        assert!(stat(b"intr 1\n", &set, &mut |_: &[u8]| {}).is_none());
    }

    #[test]
    fn online_list() {
        let set = CpuSet::parse_list(b"0-1,4").unwrap();
        assert_eq!(collect(|e| online(&set, &mut |b| e(b))), "0-1,4\n");
    }
}
