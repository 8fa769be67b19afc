//! The process's own bounds beside the cgroup's: `RLIMIT_AS` and `RLIMIT_DATA`, and which bound
//! a growing process meets first.
//!
//! An rlimit bounds virtual memory (every mapping for `RLIMIT_AS`, private writable ones for
//! `RLIMIT_DATA`), the cgroup bounds the memory charged to it. Neither implies the other, so
//! the room left under each is compared: the cgroup's `MemAvailable`, and each soft rlimit
//! minus what the process already uses of it (`/proc/self/statm`: total size, and data plus
//! stack). `/proc/meminfo` stays the cgroup's view: a virtual-memory limit is not physical
//! memory, and a program that sizes a cache by `MemTotal` would be misled by it.

use crate::read::lines::fields;
use crate::read::number::parse_u64;

/// The soft limits (`None`: `RLIM_INFINITY`) and current use, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rlimits {
    pub address_space: Option<u64>,
    pub data: Option<u64>,
    /// What `RLIMIT_AS` counts now: the process's whole virtual size.
    pub vm_size: Option<u64>,
    /// What `RLIMIT_DATA` counts now, plus the stack (statm gives them together).
    pub vm_data: Option<u64>,
}

/// What a process meets first when it grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// The memory behind `MemAvailable`: the cgroup's when it has a limit, else the machine's.
    Memory,
    AddressSpace,
    Data,
}

/// `/proc/self/statm`: (size, data + stack) in bytes, from pages.
pub fn parse_statm(text: &[u8], page_size: u64) -> Option<(u64, u64)> {
    let mut f = fields(text);
    let size = parse_u64(f.next()?)?;
    let data = parse_u64(f.nth(4)?)?;
    Some((size.saturating_mul(page_size), data.saturating_mul(page_size)))
}

/// The bound met first and the room left under it: `available` (the memory's) against each
/// finite soft rlimit less its use. Ties go to the memory, then `RLIMIT_AS`.
pub fn binding(available: u64, r: &Rlimits) -> (Binding, u64) {
    let mut best = (Binding::Memory, available);
    let candidates =
        [(Binding::AddressSpace, r.address_space, r.vm_size), (Binding::Data, r.data, r.vm_data)];
    for (which, limit, used) in candidates {
        if let Some(limit) = limit {
            let room = limit.saturating_sub(used.unwrap_or(0));
            if room < best.1 {
                best = (which, room);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statm_fields() {
        assert_eq!(parse_statm(b"2000 300 200 50 0 120 0\n", 4096), Some((2000 * 4096, 120 * 4096)));
        assert_eq!(parse_statm(b"2000 300\n", 4096), None);
        assert_eq!(parse_statm(b"", 4096), None);
    }

    #[test]
    fn the_smallest_room_binds() {
        let none = Rlimits::default();
        assert_eq!(binding(100, &none), (Binding::Memory, 100));
        let r = Rlimits { address_space: Some(1000), data: Some(500), vm_size: Some(950), vm_data: Some(10) };
        assert_eq!(binding(100, &r), (Binding::AddressSpace, 50));
        assert_eq!(binding(40, &r), (Binding::Memory, 40));
        let r = Rlimits { vm_size: Some(5000), ..r };
        assert_eq!(binding(100, &r), (Binding::AddressSpace, 0));
        let r = Rlimits { address_space: None, ..r };
        assert_eq!(binding(1000, &r), (Binding::Data, 490));
        // A tie keeps the memory.
        assert_eq!(binding(490, &r), (Binding::Memory, 490));
    }
}
