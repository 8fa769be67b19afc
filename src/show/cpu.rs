//! The CPU files as the container sees them, all from one CPU set S: `/proc/cpuinfo` keeps only
//! the processor blocks of S (with `siblings` and `cpu cores` counting S's), `/proc/stat` only
//! its `cpuN` lines (from the container's own CPU time where it is known, see
//! [`crate::decide::cputime`]), `/sys/devices/system/cpu/online` lists S and each CPU's
//! `online` file says `0` outside it, and `/proc/self/status` gives S as `Cpus_allowed`. CPU
//! numbers stay the real ones. Output goes to `emit` piece by piece: these files grow with the
//! machine (hundreds of KiB on large hosts) and are written straight into the served file.

use crate::decide::cputime::{FIELDS, ns_to_ticks};
use crate::read::cpulist::{CpuSet, MAX_CPUS};
use crate::read::lines::{fields, lines, trim};
use crate::read::number::parse_u64;

/// `/sys/devices/system/cpu/online`.
pub fn online(set: &CpuSet, emit: &mut dyn FnMut(&[u8])) {
    set.write_list(emit);
    emit(b"\n");
}

/// `/proc/cpuinfo`: blocks are separated by blank lines; a block whose first line is
/// `processor : N` is kept when N is in the set; anything else is kept as it is. In the kept
/// blocks, `siblings` counts the set's processors in the same package and `cpu cores` their
/// distinct cores, so that the physical count agrees with the logical one.
pub fn cpuinfo(host: &[u8], set: &CpuSet, emit: &mut dyn FnMut(&[u8])) {
    // The (package, core) of each processor of the set, from a first pass.
    let mut topology = [(u32::MAX, u32::MAX); MAX_CPUS];
    each_block(host, |processor, package, core| {
        if let (Some(p), true) = (processor, processor.is_some_and(|p| set.contains(p)))
            && let Some(slot) = topology.get_mut(p)
        {
            *slot = (package.unwrap_or(0), core.unwrap_or(0));
        }
    });
    // (package, siblings, cores) of the last package counted: blocks come grouped by package.
    let mut counted: Option<(u32, u64, u64)> = None;
    let mut count = |package: u32| -> (u64, u64) {
        if let Some((p, siblings, cores)) = counted
            && p == package
        {
            return (siblings, cores);
        }
        let in_package = || set.iter().filter_map(|c| topology.get(c)).filter(|t| t.0 == package);
        let siblings = in_package().count() as u64;
        let cores =
            in_package().enumerate().filter(|(i, t)| !in_package().take(*i).any(|u| u.1 == t.1)).count()
                as u64;
        counted = Some((package, siblings, cores));
        (siblings, cores)
    };
    let mut keep = true;
    let mut block_start = true;
    let mut package = 0u32;
    for line in lines(host) {
        if block_start && !line.is_empty() {
            let processor = processor_number(line);
            keep = processor.is_none_or(|n| set.contains(n));
            package = processor.and_then(|p| topology.get(p)).map_or(0, |t| t.0);
            block_start = false;
        }
        if keep {
            match key_of(line) {
                Some(b"siblings") => rewrite_value(line, count(package).0, emit),
                Some(b"cpu cores") => rewrite_value(line, count(package).1, emit),
                _ => emit(line),
            }
            emit(b"\n");
        }
        if line.is_empty() {
            block_start = true;
        }
    }
}

/// Calls `each(processor, physical id, core id)` for every processor block of `/proc/cpuinfo`.
fn each_block(host: &[u8], mut each: impl FnMut(Option<usize>, Option<u32>, Option<u32>)) {
    let (mut processor, mut package, mut core) = (None, None, None);
    let mut in_block = false;
    for line in lines(host).chain(core::iter::once(&b""[..])) {
        if line.is_empty() {
            if in_block {
                each(processor, package, core);
            }
            (processor, package, core, in_block) = (None, None, None, false);
            continue;
        }
        in_block = true;
        let value = || value_of(line).and_then(parse_u64).and_then(|v| u32::try_from(v).ok());
        match key_of(line) {
            Some(b"processor") => processor = processor_number(line),
            Some(b"physical id") => package = value(),
            Some(b"core id") => core = value(),
            _ => {}
        }
    }
}

/// The key of a `key\t: value` line, trimmed.
fn key_of(line: &[u8]) -> Option<&[u8]> {
    Some(trim(line.get(..line.iter().position(|&b| b == b':')?)?))
}

/// The value of a `key\t: value` line, trimmed.
fn value_of(line: &[u8]) -> Option<&[u8]> {
    Some(trim(line.get(line.iter().position(|&b| b == b':')?.saturating_add(1)..)?))
}

/// `line` with its value replaced by `n`, the key and separator kept as they are.
fn rewrite_value(line: &[u8], n: u64, emit: &mut dyn FnMut(&[u8])) {
    match line.iter().position(|&b| b == b':') {
        Some(colon) => {
            emit(line.get(..=colon).unwrap_or(line));
            let mut digits = [0u8; 20];
            emit(b" ");
            emit(crate::buf::format_u64(n, &mut digits));
        }
        None => emit(line),
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

/// `/proc/self/status` (or a thread's): the task's real CPU mask is in its
/// `Cpus_allowed_list`; `shown_of` turns it into S, which `Cpus_allowed` (hex, in the kernel's
/// layout) and `Cpus_allowed_list` then give. Every other line is the kernel's. `None` when the
/// file has no readable mask.
pub fn status(
    host: &[u8],
    shown_of: &mut dyn FnMut(&CpuSet) -> Option<CpuSet>,
    emit: &mut dyn FnMut(&[u8]),
) -> Option<()> {
    let real = lines(host)
        .find(|l| key_of(l) == Some(b"Cpus_allowed_list"))
        .and_then(value_of)
        .and_then(CpuSet::parse_list)?;
    let shown = shown_of(&real)?;
    for line in lines(host) {
        match key_of(line) {
            Some(key @ (b"Cpus_allowed" | b"Cpus_allowed_list")) => {
                let colon = line.iter().position(|&b| b == b':')?;
                let head = line.get(..=colon)?;
                let gap = line.get(colon.saturating_add(1)..)?;
                let gap =
                    gap.get(..gap.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(gap.len()))?;
                emit(head);
                emit(gap);
                if key == b"Cpus_allowed" {
                    shown.write_hex_like(value_of(line)?, emit)?;
                } else {
                    shown.write_list(emit);
                }
            }
            _ => emit(line),
        }
        emit(b"\n");
    }
    Some(())
}

/// `/sys/devices/system/cpu/cpuN/online` of a CPU outside the set: offline, as under `taskset`
/// (a CPU of the set keeps the kernel's own text).
pub fn cpu_offline(emit: &mut dyn FnMut(&[u8])) {
    emit(b"0\n");
}

/// `/proc/stat` from the container's own CPU time. `row(cpu, fields)` gives the nanoseconds of
/// each CPU of the set (see [`crate::decide::cputime::rows`]; it is called twice per CPU, once
/// for the aggregate line and once for the CPU's own, and must answer the same); `clk_tck`
/// converts them to the kernel's ticks, and `settle(cpu, ticks)` may adjust what is printed
/// (`None` for the aggregate line: the library keeps every counter from going backwards).
/// The aggregate `cpu` line is the sum of the set's lines.
/// Lines of CPUs outside the set are dropped; every other line (`intr`, `ctxt`, `btime`,
/// `processes`, `procs_running`, `procs_blocked`, `softirq`) is the host's. `None` when the host
/// file does not look like one.
pub fn stat_container(
    host: &[u8],
    set: &CpuSet,
    clk_tck: u64,
    row: &mut dyn FnMut(usize, &mut [u64; FIELDS]),
    settle: &mut dyn FnMut(Option<usize>, &mut [u64; FIELDS]),
    emit: &mut dyn FnMut(&[u8]),
) -> Option<()> {
    // The kernel prints as many fields as it knows (10 since 2.6.33): keep its count.
    let width = lines(host)
        .find(|l| fields(l).next() == Some(b"cpu"))?
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .count()
        .saturating_sub(1)
        .min(FIELDS);
    let ticks = |cpu: usize,
                 row: &mut dyn FnMut(usize, &mut [u64; FIELDS]),
                 settle: &mut dyn FnMut(Option<usize>, &mut [u64; FIELDS])| {
        let mut f = [0u64; FIELDS];
        row(cpu, &mut f);
        let mut t = f.map(|ns| ns_to_ticks(ns, clk_tck));
        settle(Some(cpu), &mut t);
        t
    };
    let write = |name: &[u8], sep: &[u8], f: &[u64; FIELDS], emit: &mut dyn FnMut(&[u8])| {
        emit(name);
        emit(sep);
        let mut digits = [0u8; 20];
        for (i, v) in f.iter().take(width).enumerate() {
            if i > 0 {
                emit(b" ");
            }
            emit(crate::buf::format_u64(*v, &mut digits));
        }
        emit(b"\n");
    };
    for line in lines(host) {
        if fields(line).next() == Some(b"cpu") {
            let mut sum = [0u64; FIELDS];
            for cpu in set.iter() {
                for (s, t) in sum.iter_mut().zip(ticks(cpu, row, settle)) {
                    *s = s.saturating_add(t);
                }
            }
            settle(None, &mut sum);
            write(b"cpu", b"  ", &sum, emit);
        } else if let Some(cpu) = stat_cpu(line) {
            if set.contains(cpu) {
                write(fields(line).next().unwrap_or(b"cpu"), b" ", &ticks(cpu, row, settle), emit);
            }
        } else {
            emit(line);
            emit(b"\n");
        }
    }
    Some(())
}

/// The CPUs that have a `cpuN` line in the host's `/proc/stat` (the online ones).
pub fn stat_cpus(host: &[u8]) -> CpuSet {
    let mut set = CpuSet::default();
    for cpu in lines(host).filter_map(stat_cpu) {
        set.insert(cpu);
    }
    set
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
    fn cpuinfo_counts_the_sets_siblings_and_cores() {
        let block = |p: usize, core: usize| {
            format!(
                "processor\t: {p}\nphysical id\t: 0\nsiblings\t: 4\ncore id\t\t: {core}\ncpu cores\t: 2\n\n"
            )
        };
        // Two cores with two threads each: CPUs 0,2 on core 0 and 1,3 on core 1.
        let host: String = [block(0, 0), block(1, 1), block(2, 0), block(3, 1)].concat();
        let one = CpuSet::parse_list(b"2").unwrap();
        let out = collect(|e| cpuinfo(host.as_bytes(), &one, &mut |b| e(b)));
        assert_eq!(
            out,
            "processor\t: 2\nphysical id\t: 0\nsiblings\t: 1\ncore id\t\t: 0\ncpu cores\t: 1\n\n"
        );
        let pair = CpuSet::parse_list(b"0,2").unwrap();
        let out = collect(|e| cpuinfo(host.as_bytes(), &pair, &mut |b| e(b)));
        assert_eq!(out.matches("siblings\t: 2\n").count(), 2);
        assert_eq!(out.matches("cpu cores\t: 1\n").count(), 2);
        let apart = CpuSet::parse_list(b"0-1").unwrap();
        let out = collect(|e| cpuinfo(host.as_bytes(), &apart, &mut |b| e(b)));
        assert_eq!(out.matches("cpu cores\t: 2\n").count(), 2);
    }

    #[test]
    fn status_shows_the_window_of_the_tasks_mask() {
        let host = "Name:\tcat\nCpus_allowed:\tff\nCpus_allowed_list:\t0-7\nMems_allowed:\t1\n";
        let mut seen = None;
        let out = collect(|e| {
            status(
                host.as_bytes(),
                &mut |real| {
                    seen = Some(*real);
                    Some(real.window(2, 5))
                },
                &mut |b| e(b),
            )
            .unwrap()
        });
        assert_eq!(seen, CpuSet::parse_list(b"0-7"));
        assert_eq!(out, "Name:\tcat\nCpus_allowed:\t60\nCpus_allowed_list:\t5-6\nMems_allowed:\t1\n");
        assert!(status(b"Name:\tx\n", &mut |r| Some(*r), &mut |_| {}).is_none());
    }

    #[test]
    fn stat_from_the_containers_time() {
        let host = "cpu  30 0 30 300 0 0 0 0 0 0\ncpu0 10 0 10 100 0 0 0 0 0 0\ncpu1 20 0 20 200 0 0 0 0 0 0\nintr 5 1 2\nctxt 9\n";
        let set = CpuSet::parse_list(b"1").unwrap();
        let mut settled = Vec::new();
        let out = collect(|e| {
            stat_container(
                host.as_bytes(),
                &set,
                100,
                &mut |cpu, f| {
                    assert_eq!(cpu, 1);
                    f[0] = 5_000_000_000;
                    f[3] = 2_000_000_000;
                    f[7] = 5_000_000_000;
                },
                &mut |cpu, f| {
                    settled.push(cpu);
                    if cpu.is_none() {
                        f[3] = f[3].max(300);
                    }
                },
                &mut |b| e(b),
            )
            .unwrap()
        });
        assert_eq!(
            out,
            "cpu  500 0 0 300 0 0 0 500 0 0\ncpu1 500 0 0 200 0 0 0 500 0 0\nintr 5 1 2\nctxt 9\n"
        );
        assert_eq!(settled, [Some(1), None, Some(1)]);
        assert_eq!(stat_cpus(host.as_bytes()), CpuSet::parse_list(b"0-1").unwrap());
    }

    #[test]
    fn online_list() {
        let set = CpuSet::parse_list(b"0-1,4").unwrap();
        assert_eq!(collect(|e| online(&set, &mut |b| e(b))), "0-1,4\n");
    }
}
