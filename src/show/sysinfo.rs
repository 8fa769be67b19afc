//! The memory answers of `sysinfo(2)` and `sysconf`, from the same view as `/proc/meminfo`.

use crate::decide::memory::MemoryView;

/// The memory fields of `struct sysinfo`, already divided by the caller's `mem_unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysinfoMemory {
    pub totalram: u64,
    pub freeram: u64,
    pub sharedram: u64,
    pub bufferram: u64,
    pub totalswap: u64,
    pub freeswap: u64,
}

/// `mem_unit` as the kernel set it (0 is treated as 1, as the kernel never returns it).
pub fn sysinfo_memory(view: &MemoryView, mem_unit: u32) -> SysinfoMemory {
    let unit = u64::from(mem_unit.max(1));
    SysinfoMemory {
        totalram: view.limit.checked_div(unit).unwrap_or(0),
        freeram: view.free.checked_div(unit).unwrap_or(0),
        sharedram: view.shared().checked_div(unit).unwrap_or(0),
        bufferram: 0,
        totalswap: view.swap_total.checked_div(unit).unwrap_or(0),
        freeswap: view.swap_free.checked_div(unit).unwrap_or(0),
    }
}

/// `sysconf(_SC_PHYS_PAGES)`: the limit in pages.
pub fn phys_pages(view: &MemoryView, page_size: u64) -> u64 {
    view.limit.checked_div(page_size).unwrap_or(0)
}

/// `sysconf(_SC_AVPHYS_PAGES)`: glibc derives it from `freeram`, i.e. MemFree, not MemAvailable.
pub fn avphys_pages(view: &MemoryView, page_size: u64) -> u64 {
    view.free.checked_div(page_size).unwrap_or(0)
}
