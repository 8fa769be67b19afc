//! CPU sets: the affinity mask as the kernel returns it, and the kernel's list format
//! (`0-3,8,10-11`) used by `/sys/devices/system/cpu/online` and `cpuset.cpus`.

use super::lines::trim;
use super::number::parse_u64;

/// Most CPUs a set holds (CPU numbers 0..1023, as glibc's `cpu_set_t`).
pub const MAX_CPUS: usize = 1024;
const WORDS: usize = MAX_CPUS / 64;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuSet {
    bits: [u64; WORDS],
}

impl CpuSet {
    /// From an affinity mask as `sched_getaffinity` fills it (little-endian bytes).
    pub fn from_mask(bytes: &[u8]) -> Self {
        let mut set = Self::default();
        for (word, chunk) in set.bits.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            *word = u64::from_le_bytes(b);
        }
        set
    }

    /// Parses the kernel's list format; `None` on anything malformed or out of range.
    pub fn parse_list(text: &[u8]) -> Option<Self> {
        let mut set = Self::default();
        let text = trim(text);
        if text.is_empty() {
            return Some(set);
        }
        for part in text.split(|&b| b == b',') {
            let (lo, hi) = match part.iter().position(|&b| b == b'-') {
                Some(dash) => (parse_u64(part.get(..dash)?)?, parse_u64(part.get(dash.checked_add(1)?..)?)?),
                None => {
                    let v = parse_u64(part)?;
                    (v, v)
                }
            };
            if lo > hi || hi >= MAX_CPUS as u64 {
                return None;
            }
            for cpu in lo..=hi {
                set.insert(cpu as usize);
            }
        }
        Some(set)
    }

    pub fn insert(&mut self, cpu: usize) {
        if let Some(w) = self.bits.get_mut(cpu / 64) {
            *w |= 1 << (cpu % 64);
        }
    }

    pub fn contains(&self, cpu: usize) -> bool {
        self.bits.get(cpu / 64).is_some_and(|w| w >> (cpu % 64) & 1 != 0)
    }

    pub fn count(&self) -> u64 {
        self.bits.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// The CPUs in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MAX_CPUS).filter(|&c| self.contains(c))
    }

    /// The first `n` CPUs of the set (the whole set when it has fewer).
    pub fn first(&self, n: u64) -> Self {
        let mut out = Self::default();
        for cpu in self.iter().take(usize::try_from(n).unwrap_or(usize::MAX)) {
            out.insert(cpu);
        }
        out
    }

    /// `n` CPUs of the set, starting at its `start`-th CPU (counted modulo the set's size) and
    /// wrapping round to its first ones: the whole set when it has no more than `n`.
    pub fn window(&self, n: u64, start: u64) -> Self {
        let count = self.count();
        if n >= count {
            return *self;
        }
        let skip = usize::try_from(start.checked_rem(count).unwrap_or(0)).unwrap_or(0);
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let mut out = Self::default();
        for cpu in self.iter().skip(skip).chain(self.iter()).take(n) {
            out.insert(cpu);
        }
        out
    }

    /// The highest CPU of the set plus one (0 for an empty set).
    pub fn end(&self) -> usize {
        self.iter().last().map_or(0, |c| c.saturating_add(1))
    }

    /// Writes the set as the kernel's hexadecimal mask (`Cpus_allowed:` of `/proc/PID/status`)
    /// in the layout of `like`, one such mask: the same groups of the same widths, separated by
    /// commas, most significant first. `None` when `like` is not such a mask.
    pub fn write_hex_like(&self, like: &[u8], emit: &mut dyn FnMut(&[u8])) -> Option<()> {
        let like = trim(like);
        if like.is_empty() || !like.iter().all(|b| b.is_ascii_hexdigit() || *b == b',') {
            return None;
        }
        let digits = like.iter().filter(|b| **b != b',').count();
        // Digit k (counted from the right, from 0) holds CPUs 4k..4k+3.
        let mut k = digits;
        for &b in like {
            if b == b',' {
                emit(b",");
                continue;
            }
            k = k.saturating_sub(1);
            let nibble = (0..4u8).fold(0u8, |acc, bit| {
                acc | u8::from(self.contains(k.saturating_mul(4).saturating_add(usize::from(bit)))) << bit
            });
            emit(b"0123456789abcdef".get(usize::from(nibble)..=usize::from(nibble))?);
        }
        Some(())
    }

    /// The set as mask bytes, for a caller's `cpu_set_t` of `len` bytes.
    pub fn write_mask(&self, out: &mut [u8]) {
        for (chunk, word) in out.chunks_mut(8).zip(self.bits.iter().chain(core::iter::repeat(&0))) {
            for (d, s) in chunk.iter_mut().zip(word.to_le_bytes()) {
                *d = s;
            }
        }
    }

    /// Writes the kernel's list format (`0-3,8`) to `emit`.
    pub fn write_list(&self, emit: &mut dyn FnMut(&[u8])) {
        let mut first = true;
        let mut cpus = self.iter().peekable();
        while let Some(start) = cpus.next() {
            let mut end = start;
            while cpus.peek() == Some(&end.saturating_add(1)) {
                end = end.saturating_add(1);
                cpus.next();
            }
            if !first {
                emit(b",");
            }
            first = false;
            let mut digits = [0u8; 20];
            emit(crate::buf::format_u64(start as u64, &mut digits));
            if end != start {
                emit(b"-");
                emit(crate::buf::format_u64(end as u64, &mut digits));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(set: &CpuSet) -> String {
        let mut s = Vec::new();
        set.write_list(&mut |b| s.extend_from_slice(b));
        String::from_utf8(s).unwrap()
    }

    #[test]
    fn lists_round_trip() {
        for text in ["0", "0-3", "0-3,8,10-11", "1,3,5", "1023", ""] {
            let set = CpuSet::parse_list(text.as_bytes()).unwrap();
            assert_eq!(list(&set), text);
        }
        assert_eq!(CpuSet::parse_list(b"0-1\n").unwrap().count(), 2);
        assert!(CpuSet::parse_list(b"3-1").is_none());
        assert!(CpuSet::parse_list(b"1024").is_none());
        assert!(CpuSet::parse_list(b"x").is_none());
    }

    #[test]
    fn masks_and_first() {
        let set = CpuSet::from_mask(&[0b1010_0110, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(list(&set), "1-2,5,7,64");
        assert_eq!(list(&set.first(2)), "1-2");
        assert_eq!(list(&set.first(99)), "1-2,5,7,64");
        let mut out = [0xffu8; 9];
        set.first(3).write_mask(&mut out);
        assert_eq!(out, [0b0010_0110, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn windows_wrap_round_the_set() {
        let set = CpuSet::parse_list(b"2-5").unwrap();
        assert_eq!(list(&set.window(1, 0)), "2");
        assert_eq!(list(&set.window(1, 3)), "5");
        assert_eq!(list(&set.window(2, 3)), "2,5");
        assert_eq!(list(&set.window(3, 6)), "2,4-5");
        assert_eq!(list(&set.window(4, 1)), "2-5");
        assert_eq!(list(&set.window(9, 1)), "2-5");
        assert_eq!(set.end(), 6);
        assert_eq!(CpuSet::default().end(), 0);
    }

    fn hex(set: &CpuSet, like: &str) -> Option<String> {
        let mut s = Vec::new();
        set.write_hex_like(like.as_bytes(), &mut |b| s.extend_from_slice(b))?;
        Some(String::from_utf8(s).unwrap())
    }

    #[test]
    fn hex_masks_keep_the_kernels_layout() {
        let one = CpuSet::parse_list(b"1").unwrap();
        assert_eq!(hex(&one, "3").as_deref(), Some("2"));
        assert_eq!(hex(&one, "ff").as_deref(), Some("02"));
        assert_eq!(hex(&CpuSet::parse_list(b"0,33").unwrap(), "3,ffffffff").as_deref(), Some("2,00000001"));
        assert_eq!(
            hex(&CpuSet::parse_list(b"4-7,40").unwrap(), "ffffffff,ffffffff").as_deref(),
            Some("00000100,000000f0")
        );
        assert_eq!(hex(&one, "xyz"), None);
        assert_eq!(hex(&one, ""), None);
    }
}
