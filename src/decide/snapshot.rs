//! What the library may remember between calls, packed into machine words so that the ffi
//! shell can keep it in a lock-free cache (a sequence lock over atomic words): the cgroup
//! directory found by discovery and the limits along the hierarchy, or the fact that there is
//! no cgroup to follow. Usage and statistics are never part of it: they are read on every call.

use super::discover::{CgroupDir, Layout, NotFound, Version};
use super::memory::{LevelLimits, Limits, MAX_LEVELS, Samples};
use crate::buf::PathBuf;
use crate::read::memory_stat::{Key, MemoryStat};

const DIR_WORDS: usize = 1024 / 8;
const LEVEL_WORDS: usize = 4;
/// Header, directory bytes, the three v1 leaf values (hierarchical limits, swappiness), then
/// four words per level.
pub const WORDS: usize = 1 + DIR_WORDS + 3 + LEVEL_WORDS * MAX_LEVELS;

/// The remembered outcome of discovery for the memory controller.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // No allocator: it lives on the stack, briefly.
pub enum Snapshot {
    Found { cg: CgroupDir, limits: Limits },
    NotFound(NotFound),
}

const TAG_FOUND: u64 = 1;
const TAG_NOT_FOUND: u64 = 2;

fn option_word(flags: &mut u64, bit: u32, value: Option<u64>) -> u64 {
    if let Some(v) = value {
        *flags |= 1 << bit;
        v
    } else {
        0
    }
}

fn level_at(i: usize) -> usize {
    (1 + DIR_WORDS + 3).saturating_add(i.saturating_mul(LEVEL_WORDS))
}

impl Snapshot {
    pub fn to_words(&self, words: &mut [u64; WORDS]) {
        *words = [0; WORDS];
        let (cg, limits) = match self {
            Snapshot::NotFound(why) => {
                words[0] = TAG_NOT_FOUND | (*why as u64) << 8;
                return;
            }
            Snapshot::Found { cg, limits } => (cg, limits),
        };
        let dir = cg.dir.as_bytes();
        words[0] = TAG_FOUND
            | (cg.version as u64) << 8
            | (cg.layout as u64) << 16
            | (limits.count as u64 & 0xff) << 24
            | (cg.mount_len as u64 & 0xffff) << 32
            | (dir.len() as u64 & 0xffff) << 48;
        for (chunk, word) in dir.chunks(8).zip(words.iter_mut().skip(1)) {
            let mut bytes = [0u8; 8];
            for (b, c) in bytes.iter_mut().zip(chunk) {
                *b = *c;
            }
            *word = u64::from_le_bytes(bytes);
        }
        let base = 1 + DIR_WORDS;
        let mut flags = 0u64;
        let leaf = [
            option_word(&mut flags, 0, limits.hierarchical),
            option_word(&mut flags, 1, limits.hierarchical_memsw),
            option_word(&mut flags, 2, limits.swappiness),
        ];
        if let Some(dst) = words.get_mut(base..base.saturating_add(3)) {
            dst.copy_from_slice(&leaf);
        }
        for (i, level) in limits.levels.iter().enumerate() {
            let at = level_at(i);
            let mut level_flags = u64::from(level.present) | u64::from(level.swap_file) << 3;
            let limit = option_word(&mut level_flags, 1, level.limit);
            let high = option_word(&mut level_flags, 2, level.high);
            let swap = option_word(&mut level_flags, 4, level.swap);
            if let Some(dst) = words.get_mut(at..at.saturating_add(LEVEL_WORDS)) {
                dst.copy_from_slice(&[level_flags | flags << 8, limit, high, swap]);
            }
        }
    }

    pub fn from_words(words: &[u64; WORDS]) -> Option<Snapshot> {
        let head = words[0];
        match head & 0xff {
            TAG_NOT_FOUND => {
                let why = [
                    NotFound::NoSelfCgroup,
                    NotFound::NotInHierarchy,
                    NotFound::NoMountinfo,
                    NotFound::NoMount,
                    NotFound::NoDirectory,
                ]
                .into_iter()
                .find(|w| *w as u64 == (head >> 8) & 0xff)?;
                return Some(Snapshot::NotFound(why));
            }
            TAG_FOUND => {}
            _ => return None,
        }
        let version = [Version::V1, Version::V2].into_iter().find(|v| *v as u64 == (head >> 8) & 0xff)?;
        let layout = [Layout::MountRoot, Layout::BindMount, Layout::Searched]
            .into_iter()
            .find(|l| *l as u64 == (head >> 16) & 0xff)?;
        let count = usize::try_from((head >> 24) & 0xff).ok().filter(|&c| c <= MAX_LEVELS)?;
        let mount_len = usize::try_from((head >> 32) & 0xffff).ok()?;
        let dir_len = usize::try_from(head >> 48).ok()?;
        let mut dir = PathBuf::new();
        for word in words.get(1..=DIR_WORDS)? {
            dir.push(&word.to_le_bytes());
        }
        if dir_len > dir.len() || mount_len > dir_len {
            return None;
        }
        dir.truncate(dir_len);
        let base = 1 + DIR_WORDS;
        let mut limits = Limits { count, ..Limits::default() };
        let flags = words.get(level_at(0)).copied().unwrap_or(0) >> 8;
        let leaf = |bit: u32| {
            let word = words.get(base.saturating_add(bit as usize)).copied();
            (flags >> bit & 1 != 0).then_some(word).flatten()
        };
        limits.hierarchical = leaf(0);
        limits.hierarchical_memsw = leaf(1);
        limits.swappiness = leaf(2);
        for (i, level) in limits.levels.iter_mut().enumerate() {
            let at = level_at(i);
            let [flags, limit, high, swap] = words.get(at..at.saturating_add(LEVEL_WORDS))? else {
                return None;
            };
            *level = LevelLimits {
                present: flags & 1 != 0,
                limit: (flags & 2 != 0).then_some(*limit),
                high: (flags & 4 != 0).then_some(*high),
                swap_file: flags & 8 != 0,
                swap: (flags & 16 != 0).then_some(*swap),
            };
        }
        Some(Snapshot::Found { cg: CgroupDir { version, layout, dir, mount_len }, limits })
    }
}

/// Usages (with a presence mask), then `memory.stat` counters (with a presence mask), then the
/// swap usage (with a presence word).
pub const SAMPLE_WORDS: usize = MAX_LEVELS + 1 + Key::ALL.len() + STAT_MASK_WORDS + 2;
const STAT_MASK_WORDS: usize = 2;
const _: () = assert!(Key::ALL.len() <= 64 * STAT_MASK_WORDS);

/// Packs `samples` for the short-window value cache.
pub fn samples_to_words(samples: &Samples, words: &mut [u64; SAMPLE_WORDS]) {
    *words = [0; SAMPLE_WORDS];
    let (usage, rest) = words.split_at_mut(MAX_LEVELS);
    let mut mask = 0u64;
    for (i, (dst, u)) in usage.iter_mut().zip(samples.usage.iter()).enumerate() {
        *dst = option_word(&mut mask, i as u32, *u);
    }
    let [usage_mask, stat @ .., mask_lo, mask_hi, swap_present, swap] = rest else { return };
    *usage_mask = mask;
    *swap_present = u64::from(samples.swap_usage.is_some());
    *swap = samples.swap_usage.unwrap_or(0);
    let (mut lo, mut hi) = (0u64, 0u64);
    for (i, (dst, key)) in stat.iter_mut().zip(Key::ALL).enumerate() {
        let (mask, bit) = if i < 64 { (&mut lo, i) } else { (&mut hi, i.saturating_sub(64)) };
        *dst = option_word(mask, bit as u32, samples.stat.get(*key));
    }
    (*mask_lo, *mask_hi) = (lo, hi);
}

pub fn samples_from_words(words: &[u64; SAMPLE_WORDS]) -> Samples {
    let (usage, rest) = words.split_at(MAX_LEVELS);
    let mut samples = Samples::default();
    let [usage_mask, stat @ .., mask_lo, mask_hi, swap_present, swap] = rest else { return samples };
    samples.swap_usage = (*swap_present != 0).then_some(*swap);
    for (i, (dst, u)) in samples.usage.iter_mut().zip(usage).enumerate() {
        *dst = (usage_mask >> i & 1 != 0).then_some(*u);
    }
    let mut parsed = MemoryStat::default();
    for (i, (v, key)) in stat.iter().zip(Key::ALL).enumerate() {
        let present = if i < 64 { mask_lo >> i & 1 } else { mask_hi >> i.saturating_sub(64) & 1 };
        parsed.set(*key, (present != 0).then_some(*v));
    }
    samples.stat = parsed;
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut limits = Limits {
            count: 3,
            hierarchical: Some(268435456),
            hierarchical_memsw: None,
            swappiness: Some(0),
            ..Limits::default()
        };
        limits.levels[0] =
            LevelLimits { present: true, limit: Some(1 << 28), high: None, swap_file: true, swap: None };
        limits.levels[1] =
            LevelLimits { present: true, limit: None, high: Some(5), swap_file: true, swap: Some(7) };
        limits.levels[2] = LevelLimits::default();
        let cg = CgroupDir {
            version: Version::V2,
            layout: Layout::BindMount,
            dir: PathBuf::from_bytes(b"/sys/fs/cgroup/kubepods/pod-1/c0ffee"),
            mount_len: 14,
        };
        let mut words = [0u64; WORDS];
        Snapshot::Found { cg: cg.clone(), limits }.to_words(&mut words);
        match Snapshot::from_words(&words) {
            Some(Snapshot::Found { cg: c, limits: l }) => {
                assert_eq!(c.dir.as_bytes(), cg.dir.as_bytes());
                assert_eq!((c.version, c.layout, c.mount_len), (cg.version, cg.layout, cg.mount_len));
                assert_eq!(l, limits);
            }
            other => panic!("round trip failed: {other:?}"),
        }
        Snapshot::NotFound(NotFound::NoMount).to_words(&mut words);
        assert!(matches!(Snapshot::from_words(&words), Some(Snapshot::NotFound(NotFound::NoMount))));
        assert!(Snapshot::from_words(&[0; WORDS]).is_none());
    }

    #[test]
    fn samples_round_trip() {
        let mut samples = Samples::default();
        samples.usage[0] = Some(123);
        samples.usage[2] = Some(0);
        samples.swap_usage = Some(4096);
        samples.stat = MemoryStat::parse(
            b"file 5\nanon 0\nslab 77\npgpromote_success 9\nhierarchical_memsw_limit 11\n",
            false,
        );
        assert_eq!(samples.stat.get(Key::HierarchicalMemswLimit), Some(11), "a key past the first mask word");
        let mut words = [0u64; SAMPLE_WORDS];
        samples_to_words(&samples, &mut words);
        let back = samples_from_words(&words);
        assert_eq!(back.usage, samples.usage);
        assert_eq!(back.swap_usage, Some(4096));
        for key in Key::ALL {
            assert_eq!(back.stat.get(*key), samples.stat.get(*key), "{key:?}");
        }
    }
}
