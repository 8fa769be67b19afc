//! The stable numbers of the C API (`include/cgshim.h`): why the host's values are given
//! (the reason codes `cgshim show` prints, by name) and which file, limit or mask a value came
//! from. A number, once given, keeps its meaning; new ones are added at the end.

use crate::decide::discover::{NotFound, Version};
use crate::decide::memory::{LimitOrigin, MemoryView};

/// Why the kernel's (the host's) values are given instead of the container's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Reason {
    /// The values are the container's.
    None = 0,
    Disabled = 1,
    NoSelfCgroup = 2,
    NotInHierarchy = 3,
    NoMountinfo = 4,
    NoMount = 5,
    NoDirectory = 6,
    Unlimited = 7,
    Unreadable = 8,
    NoHostMemory = 9,
    HostFileTooLarge = 10,
    NoAffinity = 11,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
        Reason::None,
        Reason::Disabled,
        Reason::NoSelfCgroup,
        Reason::NotInHierarchy,
        Reason::NoMountinfo,
        Reason::NoMount,
        Reason::NoDirectory,
        Reason::Unlimited,
        Reason::Unreadable,
        Reason::NoHostMemory,
        Reason::HostFileTooLarge,
        Reason::NoAffinity,
    ];

    /// The code `cgshim show` prints (`reason.code` in its JSON).
    pub const fn name(self) -> &'static str {
        match self {
            Reason::None => "none",
            Reason::Disabled => "disabled",
            Reason::NoSelfCgroup => "no-self-cgroup",
            Reason::NotInHierarchy => "not-in-hierarchy",
            Reason::NoMountinfo => "no-mountinfo",
            Reason::NoMount => "no-mount",
            Reason::NoDirectory => "no-directory",
            Reason::Unlimited => "unlimited",
            Reason::Unreadable => "unreadable",
            Reason::NoHostMemory => "no-host-memory",
            Reason::HostFileTooLarge => "host-file-too-large",
            Reason::NoAffinity => "no-affinity",
        }
    }

    pub fn from_code(code: i32) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| *r as i32 == code)
    }
}

impl From<NotFound> for Reason {
    fn from(why: NotFound) -> Reason {
        match why {
            NotFound::NoSelfCgroup => Reason::NoSelfCgroup,
            NotFound::NotInHierarchy => Reason::NotInHierarchy,
            NotFound::NoMountinfo => Reason::NoMountinfo,
            NotFound::NoMount => Reason::NoMount,
            NotFound::NoDirectory => Reason::NoDirectory,
        }
    }
}

/// Where a value came from: a cgroup file, an rlimit, the affinity mask or the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Origin {
    None = 0,
    /// The machine's own memory (no limit below it).
    Host = 1,
    MemoryMax = 2,
    MemoryLimitInBytes = 3,
    HierarchicalMemoryLimit = 4,
    MemoryHigh = 5,
    RlimitAs = 6,
    RlimitData = 7,
    CpuMax = 8,
    CpuCfsQuotaUs = 9,
    /// The calling thread's affinity mask (no CPU quota below it).
    Affinity = 10,
}

impl Origin {
    pub const ALL: [Origin; 11] = [
        Origin::None,
        Origin::Host,
        Origin::MemoryMax,
        Origin::MemoryLimitInBytes,
        Origin::HierarchicalMemoryLimit,
        Origin::MemoryHigh,
        Origin::RlimitAs,
        Origin::RlimitData,
        Origin::CpuMax,
        Origin::CpuCfsQuotaUs,
        Origin::Affinity,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Origin::None => "none",
            Origin::Host => "host",
            Origin::MemoryMax => "memory.max",
            Origin::MemoryLimitInBytes => "memory.limit_in_bytes",
            Origin::HierarchicalMemoryLimit => "hierarchical_memory_limit",
            Origin::MemoryHigh => "memory.high",
            Origin::RlimitAs => "RLIMIT_AS",
            Origin::RlimitData => "RLIMIT_DATA",
            Origin::CpuMax => "cpu.max",
            Origin::CpuCfsQuotaUs => "cpu.cfs_quota_us",
            Origin::Affinity => "affinity",
        }
    }

    pub fn from_code(code: i32) -> Option<Origin> {
        Origin::ALL.iter().copied().find(|o| *o as i32 == code)
    }

    /// The memory limit file of a cgroup version.
    pub fn memory_limit(version: Version) -> Origin {
        match version {
            Version::V1 => Origin::MemoryLimitInBytes,
            Version::V2 => Origin::MemoryMax,
        }
    }

    /// The file that set a view's limit.
    pub fn limit_of(view: &MemoryView) -> Origin {
        match view.origin {
            LimitOrigin::Level(_) => Origin::memory_limit(view.version),
            LimitOrigin::Hierarchical => Origin::HierarchicalMemoryLimit,
        }
    }

    /// The file that bounds a view's headroom (MemFree): `memory.high`, the limit file or
    /// `hierarchical_memory_limit`.
    pub fn headroom_of(view: &MemoryView) -> Origin {
        match view.headroom_origin() {
            (_, true) => Origin::MemoryHigh,
            (LimitOrigin::Hierarchical, _) => Origin::HierarchicalMemoryLimit,
            (LimitOrigin::Level(_), _) => Origin::memory_limit(view.version),
        }
    }

    /// The CPU quota file of a cgroup version.
    pub fn cpu_quota(version: Version) -> Origin {
        match version {
            Version::V1 => Origin::CpuCfsQuotaUs,
            Version::V2 => Origin::CpuMax,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_round_trip() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as i32, i as i32);
            assert_eq!(Reason::from_code(i as i32), Some(*r));
        }
        for (i, o) in Origin::ALL.iter().enumerate() {
            assert_eq!(*o as i32, i as i32);
            assert_eq!(Origin::from_code(i as i32), Some(*o));
        }
        assert_eq!(Reason::from_code(-1), None);
        assert_eq!(Origin::from_code(99), None);
    }
}
