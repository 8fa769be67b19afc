//! Private stacks for the slow paths.
//!
//! A hooked call runs in the caller's thread, on whatever stack the caller has: a 64 KiB
//! pthread stack, a musl thread (128 KiB by default) already deep in its own frames, a signal
//! handler on a small sigaltstack. Building the container's view needs tens of KiB of buffers
//! (the host file, the rendered file, cgroup paths and statistics), so every slow path runs on a
//! stack of its own and the caller's stack only carries the hook's small frame.
//!
//! The stacks come from a lock-free pool of [`SLOTS`] mappings made on first use, each a guard
//! page, [`STACK`] bytes of stack and an [`ARENA`] of scratch memory for the large CPU files
//! (pages cost nothing until touched). A slot is taken with one atomic swap, so signal handlers
//! and concurrent threads each get their own; when every slot is busy a mapping is made for the
//! one call. Without any stack the caller gets `None` and passes the call through.

use crate::sys;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// Stack bytes per slot. The deepest slow path uses a fraction of this.
const STACK: usize = 256 << 10;
/// Scratch bytes per slot for whole CPU files (`/proc/cpuinfo`, `/proc/stat`): twice 4 MiB.
pub const ARENA: usize = 8 << 20;
const GUARD: usize = 4096;
const SIZE: usize = GUARD + STACK + ARENA;
const SLOTS: usize = 16;

static BASES: [AtomicPtr<u8>; SLOTS] = [const { AtomicPtr::new(core::ptr::null_mut()) }; SLOTS];
static BUSY: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

fn make() -> Option<*mut u8> {
    let base = sys::map(SIZE)?;
    if !sys::guard(base) {
        // SAFETY: the mapping was just made and is not shared.
        unsafe { sys::unmap(base, SIZE) };
        return None;
    }
    Some(base)
}

/// A stack and its arena, held for one call.
struct Held {
    base: *mut u8,
    /// `Some(i)`: pool slot `i`, released on drop; `None`: a mapping of this call, unmapped.
    slot: Option<usize>,
}

impl Held {
    fn take() -> Option<Held> {
        for (i, busy) in BUSY.iter().enumerate() {
            if busy.swap(true, Ordering::Acquire) {
                continue;
            }
            let slot = BASES.get(i)?;
            let mut base = slot.load(Ordering::Relaxed);
            if base.is_null() {
                match make() {
                    Some(b) => {
                        base = b;
                        slot.store(b, Ordering::Relaxed);
                    }
                    None => {
                        busy.store(false, Ordering::Release);
                        return None;
                    }
                }
            }
            return Some(Held { base, slot: Some(i) });
        }
        make().map(|base| Held { base, slot: None })
    }

    fn top(&self) -> *mut u8 {
        // The top of the stack region, 16-byte aligned (the mapping is page aligned).
        self.base.wrapping_add(GUARD + STACK)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        match self.slot {
            Some(i) => {
                if let Some(b) = BUSY.get(i) {
                    b.store(false, Ordering::Release);
                }
            }
            // SAFETY: a mapping made for this call alone; the call has returned.
            None => unsafe { sys::unmap(self.base, SIZE) },
        }
    }
}

/// Scratch memory of the stack a slow path runs on: two halves of [`ARENA`] / 2 bytes.
pub struct Arena {
    base: *mut u8,
}

impl Arena {
    /// The two scratch halves (for a host file and the file rendered from it).
    pub fn halves(&mut self) -> (&mut [u8], &mut [u8]) {
        // SAFETY: the arena is ARENA bytes of writable memory owned by this call's stack slot,
        // exclusively borrowed through `self`.
        let all = unsafe { core::slice::from_raw_parts_mut(self.base, ARENA) };
        all.split_at_mut(ARENA / 2)
    }
}

struct Call<F, R> {
    f: Option<F>,
    arena: *mut u8,
    out: Option<R>,
}

extern "C" fn trampoline<F: FnOnce(&mut Arena) -> R, R>(call: *mut u8) {
    // SAFETY: `call` is the `Call<F, R>` that `run` passed, alive for the whole switch.
    let call = unsafe { &mut *call.cast::<Call<F, R>>() };
    if let Some(f) = call.f.take() {
        let mut arena = Arena { base: call.arena };
        call.out = Some(f(&mut arena));
    }
}

/// Calls `f` on a private stack with its scratch arena. `None` when no stack could be had.
#[inline(never)]
pub fn run<R>(f: impl FnOnce(&mut Arena) -> R) -> Option<R> {
    run_with(f)
}

fn run_with<F: FnOnce(&mut Arena) -> R, R>(f: F) -> Option<R> {
    let held = Held::take()?;
    let mut call = Call { f: Some(f), arena: held.base.wrapping_add(GUARD + STACK), out: None };
    // SAFETY: `top` is the aligned top of a stack nobody else uses while we hold it; the
    // trampoline is an `extern "C"` function that cannot unwind (panic = abort) and receives a
    // pointer to `call`, which outlives the switch.
    unsafe { switch(held.top(), trampoline::<F, R>, (&mut call as *mut Call<F, R>).cast()) };
    drop(held);
    call.out
}

/// Calls `func(arg)` with the stack pointer at `top`, then restores the caller's stack.
#[cfg(target_arch = "x86_64")]
unsafe fn switch(top: *mut u8, func: extern "C" fn(*mut u8), arg: *mut u8) {
    // SAFETY: r12 is callee-saved, so it carries the caller's stack pointer across the call;
    // `top` is 16-byte aligned as the ABI requires at a call; every caller-saved register is
    // declared clobbered.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {func}",
            "mov rsp, r12",
            top = in(reg) top,
            func = in(reg) func,
            in("rdi") arg,
            out("r12") _,
            clobber_abi("C"),
        );
    }
}

/// Calls `func(arg)` with the stack pointer at `top`, then restores the caller's stack.
#[cfg(target_arch = "aarch64")]
unsafe fn switch(top: *mut u8, func: extern "C" fn(*mut u8), arg: *mut u8) {
    // SAFETY: x20 is callee-saved, so it carries the caller's stack pointer across the call;
    // `top` is 16-byte aligned as the ABI requires; every caller-saved register (x30 included)
    // is declared clobbered.
    unsafe {
        core::arch::asm!(
            "mov x20, sp",
            "mov sp, {top}",
            "blr {func}",
            "mov sp, x20",
            top = in(reg) top,
            func = in(reg) func,
            in("x0") arg,
            out("x20") _,
            clobber_abi("C"),
        );
    }
}
