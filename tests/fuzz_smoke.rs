//! A deterministic smoke run of the fuzz harness (`fuzz/src/lib.rs`), for CI: no nightly, no
//! cargo-fuzz, no crates. Each parser target gets a few thousand inputs from a seeded PRNG —
//! kernel-format samples mutated byte-wise and token soups of the format's pieces — and the
//! pipeline target a few thousand recipes for generated cgroup trees. The properties are the
//! harness's own (agreement with reference parsers, the README's rules, output invariants).
//!
//! A failing input is written to `<CARGO_TARGET_TMPDIR>/fuzz-smoke/<target>-<n>` so that it can be
//! replayed with `cargo fuzz run <target> <file>` (from `fuzz/`) or with this test.
//! `CGSHIM_FUZZ_SEED=<n>` picks another seed, `CGSHIM_FUZZ_CASES=<n>` the number of inputs.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Instant;

/// SplitMix64: small, seedable, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn seed() -> u64 {
    std::env::var("CGSHIM_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6367_7368_696d)
}

fn cases(default: usize) -> usize {
    std::env::var("CGSHIM_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

const COMMON_TOKENS: &[&[u8]] = &[
    b"0",
    b"1",
    b"7",
    b"42",
    b"4096",
    b"268435456",
    b"18446744073709551615",
    b"18446744073709551616",
    b"9223372036854771712",
    b" ",
    b"  ",
    b"\t",
    b"\n",
    b"\r",
    b"\x0c",
    b"-",
    b"+",
    b",",
    b":",
    b"/",
    b"max",
    b"-1",
    b"kB",
    b"\\040",
    b"\\011",
    b"\\134",
    b"\\9",
    b"(",
    b")",
    b"\x00",
    b"\xff",
    b"total_",
];

/// A sample of the format, mutated a few times, or a soup of its tokens.
fn gen_input(rng: &mut Rng, samples: &[&[u8]], tokens: &[&[u8]]) -> Vec<u8> {
    let token = |rng: &mut Rng| -> Vec<u8> {
        if rng.below(3) == 0 {
            rng.pick(COMMON_TOKENS).to_vec()
        } else if !tokens.is_empty() && rng.below(4) != 0 {
            rng.pick(tokens).to_vec()
        } else {
            vec![rng.next() as u8]
        }
    };
    if rng.below(4) == 0 {
        let mut out = Vec::new();
        for _ in 0..rng.below(40) {
            out.extend(token(rng));
        }
        return out;
    }
    let mut d = rng.pick(samples).to_vec();
    for _ in 0..rng.below(6) {
        let len = d.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 => d.truncate(rng.below(len + 1)),
            2 | 3 => {
                let at = rng.below(len + 1);
                let t = token(rng);
                d.splice(at..at, t);
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                d.drain(a..b);
            }
            5 if len > 0 => {
                // Duplicate a range (repeated lines, repeated keys).
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let copy = d[a..b].to_vec();
                let at = rng.below(len + 1);
                d.splice(at..at, copy);
            }
            _ => {
                let at = rng.below(len + 1);
                let t = token(rng);
                d.splice(at..at, t);
            }
        }
    }
    d
}

fn run(name: &str, default_cases: usize, mut make: impl FnMut(&mut Rng) -> Vec<u8>) {
    let target = harness::TARGETS.iter().find(|(n, _)| *n == name).expect("target").1;
    let seed = seed();
    let mut rng = Rng(seed ^ name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    let n = cases(default_cases);
    let start = Instant::now();
    // Quiet panics while probing; the first failure is reported with its input.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failure = None;
    for i in 0..n {
        let data = make(&mut rng);
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| target(&data))) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failure = Some((i, data, msg));
            break;
        }
    }
    std::panic::set_hook(hook);
    if let Some((i, data, msg)) = failure {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{name}-{i}"));
        let _ = std::fs::write(&file, &data);
        panic!(
            "fuzz target `{name}` failed on input #{i} (seed {seed}): {msg}\n  input ({} bytes) saved to {}\n  \
             input (escaped): {}",
            data.len(),
            file.display(),
            String::from_utf8_lossy(&data.escape_ascii().collect::<Vec<u8>>())
                .chars()
                .take(2000)
                .collect::<String>()
        );
    }
    eprintln!("fuzz smoke `{name}`: {n} inputs in {:?}", start.elapsed());
}

#[test]
fn smoke_number() {
    run("number", 5000, |r| gen_input(r, &[b"268435456\n", b"max\n", b"-1\n", b" 12 ", b"0"], &[]));
}

const MOUNTINFO: &[u8] = b"1012 845 0:120 / / rw,relatime master:400 - overlay overlay rw,lowerdir=/l\n\
1017 1016 0:127 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755\n\
1022 1017 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid master:16 - cgroup cgroup rw,memory\n\
35 25 0:30 / /mnt/my\\040cg rw shared:15 master:3 - cgroup2 cgroup2 rw,nsdelegate\n\
1 2 0:3 /system.slice/docker-1.scope /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";

#[test]
fn smoke_mountinfo() {
    run("mountinfo", 4000, |r| {
        gen_input(
            r,
            &[MOUNTINFO],
            &[b" - ", b"cgroup", b"cgroup2", b"rw,memory", b"shared:1", b"/sys/fs/cgroup"],
        )
    });
}

#[test]
fn smoke_self_cgroup() {
    run("self_cgroup", 4000, |r| {
        gen_input(
            r,
            &[
                b"9:name=systemd:/\n4:memory:/process_api/cc39\n2:cpu,cpuacct:/a:b\n0::/demo/leaf\n",
                b"0::/\n",
            ],
            &[b"memory", b"cpu,cpuacct", b"0::", b"name=systemd", b"::"],
        )
    });
}

const MEMINFO: &[u8] = b"MemTotal:       24684084 kB\nMemFree:        23050276 kB\nMemAvailable:   24147084 kB\n\
Buffers:            2048 kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\nVmallocTotal:   34359738367 kB\n";

#[test]
fn smoke_meminfo() {
    run("meminfo", 4000, |r| {
        gen_input(r, &[MEMINFO], &[b"MemTotal:", b"MemFree:", b"MemAvailable:", b" kB"])
    });
}

const STAT_V1: &[u8] = b"cache 0\nrss 0\nrss_huge 0\nmapped_file 5\nhierarchical_memory_limit 268435456\n\
hierarchical_memsw_limit 536870912\ntotal_cache 56508416\ntotal_rss 112136192\ntotal_rss_huge 2097152\n\
total_mapped_file 323584\ntotal_active_file 4096\ntotal_inactive_file 8192\ntotal_pgfault 77\n";
const STAT_V2: &[u8] = b"anon 94371840\nfile 56623104\nkernel_stack 688128\npagetables 1601536\nshmem 8388608\n\
file_mapped 21626880\nfile_dirty 135168\nactive_file 20971520\ninactive_file 29360128\nslab_reclaimable 3157504\n\
slab_unreclaimable 1413120\nslab 4570624\npgfault 123\nworkingset_refault_anon 0\n";

#[test]
fn smoke_memory_stat() {
    run("memory_stat", 4000, |r| {
        gen_input(r, &[STAT_V1, STAT_V2], &[b"total_", b"file", b"file_mapped", b"anon"])
    });
}

#[test]
fn smoke_cpulist() {
    run("cpulist", 5000, |r| {
        gen_input(r, &[b"0-3,8,10-11\n", b"0\n", b"1023", b"0-1023", b""], &[b"-", b","])
    });
}

#[test]
fn smoke_pid_stat() {
    run("pid_stat", 4000, |r| {
        gen_input(
            r,
            &[
                b"1 (process_api) S 0 0 0 0 -1 4194560 39974 5307223 0 1098 135 433 7564 16461 10 -10 14 0 24 42471424 2750",
                b"77 (a) b (c)) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0",
            ],
            &[b")", b"(", b" 0"],
        )
    });
}

#[test]
fn smoke_cpu_quota() {
    run("cpu_quota", 5000, |r| {
        gen_input(
            r,
            &[b"max 100000\n", b"150000 100000\n", b"50000\n", b"50000\x00100000\n", b"-1\x00100000\n"],
            &[],
        )
    });
}

#[test]
fn smoke_pipeline() {
    run("pipeline", 4000, |r| {
        let len = 32 + r.below(3000);
        (0..len).map(|_| r.next() as u8).collect()
    });
    // The run must have reached every stage often enough to mean something.
    let r: Vec<usize> =
        harness::REACHED.iter().map(|a| a.load(std::sync::atomic::Ordering::Relaxed)).collect();
    eprintln!(
        "pipeline: {} trees, {} directories found as built, {} compared with the oracle, {} views checked, \
         {} CPU views checked, {} passed through as the oracle said, {} with 10,000 mounts, {} with a 1 MiB \
         memory.stat",
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
    );
    let trees = r[0].max(1);
    assert!(r[1] * 3 >= trees, "too few trees had their directory found: {r:?}");
    assert!(r[3] * 10 >= trees, "too few trees produced a view to check: {r:?}");
    assert!(r[4] * 10 >= trees, "too few trees produced a CPU view to check: {r:?}");
    assert!(r[5] * 20 >= trees, "too few pass-through cases: {r:?}");
    assert!(r[6] >= 1 && r[7] >= 1, "no tree with 10,000 mounts or with a 1 MiB memory.stat: {r:?}");
}
