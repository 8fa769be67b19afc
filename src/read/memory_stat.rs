//! `memory.stat` of the memory controller, v1 and v2.
//!
//! Keys are matched whole (LXCFS's prefix matching let `file` swallow `file_mapped` and
//! `total_rss` swallow `total_rss_huge`). On v1 only the hierarchical `total_*` keys are taken:
//! the un-prefixed ones count the cgroup's own pages, without its children.

use super::lines::fields;
use super::number::parse_u64;

macro_rules! stat_keys {
    ($($variant:ident = $name:literal,)*) => {
        /// The `memory.stat` counters cgshim uses, named as on v2.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Key { $($variant,)* }

        impl Key {
            pub const ALL: &'static [Key] = &[$(Key::$variant,)*];

            /// The v2 name (v1 prefixes it with `total_`, see [`v1_name`]).
            pub fn name(self) -> &'static [u8] {
                match self { $(Key::$variant => $name,)* }
            }

            pub fn from_name(name: &[u8]) -> Option<Key> {
                match name { $($name => Some(Key::$variant),)* _ => None }
            }
        }
    };
}

stat_keys! {
    Anon = b"anon",
    File = b"file",
    KernelStack = b"kernel_stack",
    Pagetables = b"pagetables",
    SecPagetables = b"sec_pagetables",
    Percpu = b"percpu",
    Shmem = b"shmem",
    Zswap = b"zswap",
    Zswapped = b"zswapped",
    FileMapped = b"file_mapped",
    FileDirty = b"file_dirty",
    FileWriteback = b"file_writeback",
    Swapcached = b"swapcached",
    AnonThp = b"anon_thp",
    FileThp = b"file_thp",
    ShmemThp = b"shmem_thp",
    InactiveAnon = b"inactive_anon",
    ActiveAnon = b"active_anon",
    InactiveFile = b"inactive_file",
    ActiveFile = b"active_file",
    Unevictable = b"unevictable",
    SlabReclaimable = b"slab_reclaimable",
    SlabUnreclaimable = b"slab_unreclaimable",
    Slab = b"slab",
    // v1 names for the same quantities (looked up as `total_<name>`).
    Cache = b"cache",
    Rss = b"rss",
    RssHuge = b"rss_huge",
    MappedFile = b"mapped_file",
    Dirty = b"dirty",
    Writeback = b"writeback",
    Swap = b"swap",
    // Event counters, named as in /proc/vmstat (v1 carries some of them as `total_<name>`).
    Pgfault = b"pgfault",
    Pgmajfault = b"pgmajfault",
    WorkingsetRefaultAnon = b"workingset_refault_anon",
    WorkingsetRefaultFile = b"workingset_refault_file",
    WorkingsetActivateAnon = b"workingset_activate_anon",
    WorkingsetActivateFile = b"workingset_activate_file",
    WorkingsetRestoreAnon = b"workingset_restore_anon",
    WorkingsetRestoreFile = b"workingset_restore_file",
    WorkingsetNodereclaim = b"workingset_nodereclaim",
    PgscanKswapd = b"pgscan_kswapd",
    PgscanDirect = b"pgscan_direct",
    PgscanKhugepaged = b"pgscan_khugepaged",
    PgscanProactive = b"pgscan_proactive",
    PgstealKswapd = b"pgsteal_kswapd",
    PgstealDirect = b"pgsteal_direct",
    PgstealKhugepaged = b"pgsteal_khugepaged",
    PgstealProactive = b"pgsteal_proactive",
    Pgrefill = b"pgrefill",
    Pgactivate = b"pgactivate",
    Pgdeactivate = b"pgdeactivate",
    Pglazyfree = b"pglazyfree",
    Pglazyfreed = b"pglazyfreed",
    Pswpin = b"pswpin",
    Pswpout = b"pswpout",
    ThpFaultAlloc = b"thp_fault_alloc",
    ThpCollapseAlloc = b"thp_collapse_alloc",
    ThpSwpout = b"thp_swpout",
    ThpSwpoutFallback = b"thp_swpout_fallback",
    Zswpin = b"zswpin",
    Zswpout = b"zswpout",
    Zswpwb = b"zswpwb",
    PgdemoteKswapd = b"pgdemote_kswapd",
    PgdemoteDirect = b"pgdemote_direct",
    PgdemoteKhugepaged = b"pgdemote_khugepaged",
    PgdemoteProactive = b"pgdemote_proactive",
    PgpromoteSuccess = b"pgpromote_success",
    // v1 only, not prefixed: limits the kernel computed over every ancestor.
    HierarchicalMemoryLimit = b"hierarchical_memory_limit",
    HierarchicalMemswLimit = b"hierarchical_memsw_limit",
}

const COUNT: usize = Key::ALL.len();

/// The counters found in one `memory.stat`, by key.
#[derive(Clone, Debug)]
pub struct MemoryStat {
    values: [Option<u64>; COUNT],
    /// Lines that did not parse (a truncated or garbled file); callers may still use the rest.
    pub malformed_lines: u32,
}

impl Default for MemoryStat {
    fn default() -> Self {
        Self { values: [None; COUNT], malformed_lines: 0 }
    }
}

impl MemoryStat {
    /// Takes one line of the file; `v1` selects the `total_*` keys.
    pub fn feed_line(&mut self, line: &[u8], v1: bool) {
        let mut it = fields(line);
        let (Some(name), Some(value), None) = (it.next(), it.next(), it.next()) else {
            self.malformed_lines = self.malformed_lines.saturating_add(1);
            return;
        };
        let key = match (v1, name.strip_prefix(b"total_")) {
            (true, Some(stripped)) => Key::from_name(stripped),
            (true, None) => Key::from_name(name)
                .filter(|k| matches!(k, Key::HierarchicalMemoryLimit | Key::HierarchicalMemswLimit)),
            (false, _) => Key::from_name(name),
        };
        let Some(key) = key else { return };
        match parse_u64(value) {
            Some(v) => {
                if let Some(slot) = self.values.get_mut(key as usize) {
                    *slot = Some(v);
                }
            }
            None => self.malformed_lines = self.malformed_lines.saturating_add(1),
        }
    }

    pub fn parse(text: &[u8], v1: bool) -> Self {
        let mut stat = Self::default();
        for line in super::lines::lines(text) {
            stat.feed_line(line, v1);
        }
        stat
    }

    /// Records a counter directly (for caches that rebuild a parsed file).
    pub fn set(&mut self, key: Key, value: Option<u64>) {
        if let Some(slot) = self.values.get_mut(key as usize) {
            *slot = value;
        }
    }

    pub fn get(&self, key: Key) -> Option<u64> {
        self.values.get(key as usize).copied().flatten()
    }

    /// The counter, or 0 when the kernel does not print it.
    pub fn or_zero(&self, key: Key) -> u64 {
        self.get(key).unwrap_or(0)
    }
}

impl Key {
    /// Whether this is an event counter that `/proc/vmstat` prints under the same name.
    pub fn is_event(self) -> bool {
        (Key::Pgfault as usize..=Key::PgpromoteSuccess as usize).contains(&(self as usize))
    }
}

/// Where the v1 and v2 files differ in naming, the quantity cgshim wants under each version.
pub fn v1_name(key: Key) -> Key {
    match key {
        Key::File => Key::Cache,
        Key::Anon => Key::Rss,
        Key::AnonThp => Key::RssHuge,
        Key::FileMapped => Key::MappedFile,
        Key::FileDirty => Key::Dirty,
        Key::FileWriteback => Key::Writeback,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_uses_total_keys_only() {
        let text = b"cache 0\nrss 0\nrss_huge 0\nmapped_file 5\nhierarchical_memory_limit 268435456\n\
total_cache 56508416\ntotal_rss 112136192\ntotal_rss_huge 2097152\ntotal_mapped_file 323584\n";
        let s = MemoryStat::parse(text, true);
        assert_eq!(s.get(Key::Cache), Some(56508416));
        assert_eq!(s.get(Key::Rss), Some(112136192));
        assert_eq!(s.get(Key::RssHuge), Some(2097152));
        assert_eq!(s.get(Key::MappedFile), Some(323584));
        assert_eq!(s.get(Key::HierarchicalMemoryLimit), Some(268435456));
        assert_eq!(s.malformed_lines, 0);
    }

    #[test]
    fn v2_matches_whole_keys() {
        let s = MemoryStat::parse(b"file 1000\nfile_mapped 7\nfile_dirty 3\nanon 9\nanon_thp 2\n", false);
        assert_eq!(s.get(Key::File), Some(1000));
        assert_eq!(s.get(Key::FileMapped), Some(7));
        assert_eq!(s.get(Key::FileDirty), Some(3));
        assert_eq!(s.get(Key::AnonThp), Some(2));
        assert_eq!(s.get(Key::Shmem), None);
        assert_eq!(s.or_zero(Key::Shmem), 0);
    }

    #[test]
    fn garbage_is_counted_not_fatal() {
        let s = MemoryStat::parse(b"file 12x\nanon 5\nslab\nshmem 1 2\n", false);
        assert_eq!(s.get(Key::File), None);
        assert_eq!(s.get(Key::Anon), Some(5));
        assert_eq!(s.malformed_lines, 3);
    }
}
