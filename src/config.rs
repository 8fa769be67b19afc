//! The switches users set through `CGSHIM_*` variables, parsed from their text. The ffi shell
//! reads the variables (never under AT_SECURE) and hands the values here.

/// One virtualized file or call family that `CGSHIM_DISABLE` can switch off on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Feature {
    /// `/proc/meminfo`.
    Meminfo = 1,
    /// `sysinfo(2)`.
    Sysinfo = 1 << 1,
    /// `sysconf(_SC_PHYS_PAGES/_SC_AVPHYS_PAGES)`, `get_phys_pages`, `get_avphys_pages`.
    Sysconf = 1 << 2,
    /// `/proc/swaps`.
    Swaps = 1 << 3,
    /// `/proc/uptime` and `sysinfo.uptime`.
    Uptime = 1 << 4,
    /// `/proc/vmstat`.
    Vmstat = 1 << 5,
    /// The CPU view: `sysconf(_SC_NPROCESSORS_ONLN)`, `get_nprocs`, `sched_getaffinity`,
    /// `/proc/cpuinfo`, `/proc/stat`, `/sys/devices/system/cpu/online` and `cpuN/online`,
    /// `Cpus_allowed` in `/proc/self/status`.
    Cpu = 1 << 6,
    /// `/proc/pressure/{cpu,memory,io}` (cgroup v2).
    Pressure = 1 << 7,
}

impl Feature {
    pub const ALL: &'static [Feature] = &[
        Feature::Meminfo,
        Feature::Sysinfo,
        Feature::Sysconf,
        Feature::Swaps,
        Feature::Uptime,
        Feature::Vmstat,
        Feature::Cpu,
        Feature::Pressure,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Feature::Meminfo => "meminfo",
            Feature::Sysinfo => "sysinfo",
            Feature::Sysconf => "sysconf",
            Feature::Swaps => "swaps",
            Feature::Uptime => "uptime",
            Feature::Vmstat => "vmstat",
            Feature::Cpu => "cpu",
            Feature::Pressure => "pressure",
        }
    }

    fn from_name(name: &[u8]) -> Option<Feature> {
        Feature::ALL.iter().copied().find(|f| f.name().as_bytes() == name)
    }
}

/// The parsed configuration. `Default` is "everything on, quiet".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    disabled: u32,
    pub debug: bool,
    /// `sched_getaffinity` returns the container's CPU set too (on unless
    /// `CGSHIM_CPU_AFFINITY=0`).
    pub cpu_affinity: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self { disabled: 0, debug: false, cpu_affinity: true }
    }
}

const ALL_BITS: u32 = u32::MAX;

impl Config {
    /// Applies a `CGSHIM_DISABLE` value: `1`, `all`, `true` or `yes` switch everything off; a
    /// comma list names features; `0`, `false`, `no` or empty keep everything on. Unknown names
    /// are ignored (a typo must not break programs) but reported by [`Config::unknown_disable_names`].
    pub fn with_disable(mut self, value: &[u8]) -> Self {
        for name in value.split(|&b| b == b',').map(crate::read::lines::trim) {
            match name {
                b"1" | b"all" | b"true" | b"yes" => self.disabled = ALL_BITS,
                b"" | b"0" | b"false" | b"no" => {}
                other => {
                    if let Some(f) = Feature::from_name(other) {
                        self.disabled |= f as u32;
                    }
                }
            }
        }
        self
    }

    /// Applies a `CGSHIM_CPU_AFFINITY` value: `0`, `false`, `no` or `off` leave
    /// `sched_getaffinity` alone; anything else (unset included) keeps it narrowed.
    pub fn with_cpu_affinity(mut self, value: &[u8]) -> Self {
        self.cpu_affinity = !matches!(crate::read::lines::trim(value), b"0" | b"false" | b"no" | b"off");
        self
    }

    /// Applies a `CGSHIM_DEBUG` value (`1`, `true`, `yes` turn logging on).
    pub fn with_debug(mut self, value: &[u8]) -> Self {
        self.debug = matches!(crate::read::lines::trim(value), b"1" | b"true" | b"yes");
        self
    }

    pub fn enabled(&self, feature: Feature) -> bool {
        self.disabled & feature as u32 == 0
    }

    pub fn all_disabled(&self) -> bool {
        self.disabled == ALL_BITS
    }

    /// Packs the configuration into one word for an atomic cache (bit 31 marks "present").
    pub fn to_bits(self) -> u64 {
        u64::from(self.disabled) << 32 | u64::from(self.debug) | u64::from(self.cpu_affinity) << 1 | 1 << 31
    }

    pub fn from_bits(bits: u64) -> Option<Self> {
        (bits & 1 << 31 != 0).then_some(Self {
            disabled: (bits >> 32) as u32,
            debug: bits & 1 != 0,
            cpu_affinity: bits & 2 != 0,
        })
    }

    /// The names in a `CGSHIM_DISABLE` value that match no feature, for `cgshim show`.
    pub fn unknown_disable_names(value: &[u8]) -> impl Iterator<Item = &[u8]> {
        value.split(|&b| b == b',').map(crate::read::lines::trim).filter(|name| {
            !matches!(*name, b"" | b"0" | b"1" | b"all" | b"true" | b"yes" | b"false" | b"no")
                && Feature::from_name(name).is_none()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disable_values() {
        let c = Config::default();
        assert!(c.enabled(Feature::Meminfo));
        assert!(Config::default().with_disable(b"1").all_disabled());
        assert!(!Config::default().with_disable(b"all").enabled(Feature::Sysconf));
        let c = Config::default().with_disable(b"meminfo, sysinfo");
        assert!(!c.enabled(Feature::Meminfo) && !c.enabled(Feature::Sysinfo));
        assert!(c.enabled(Feature::Sysconf) && !c.all_disabled());
        assert!(Config::default().with_disable(b"0").enabled(Feature::Meminfo));
        assert!(Config::default().with_disable(b"bogus").enabled(Feature::Meminfo));
        let unknown: Vec<&[u8]> = Config::unknown_disable_names(b"meminfo,bogus,1").collect();
        assert_eq!(unknown, vec![&b"bogus"[..]]);
    }

    #[test]
    fn bits_round_trip() {
        let c = Config::default().with_disable(b"sysinfo").with_debug(b"1").with_cpu_affinity(b"1");
        assert_eq!(Config::from_bits(c.to_bits()), Some(c));
        assert_eq!(Config::from_bits(0), None);
    }
}
