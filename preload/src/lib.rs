//! `libcgshim.so`: preloaded into a program, it makes the program see its cgroup's memory and
//! CPUs.
//!
//! This crate is the thin unsafe shell around the pure `cgshim` core: the exported C symbols
//! ([`hooks`]), the lookup of the real libc functions, raw system calls, and the bookkeeping of
//! the fds it serves. Its rule is to let the kernel see every call first: an open is the
//! kernel's open, a read the kernel's read, and only then does the library look at what the
//! program got and, for one of its files, replace the bytes. Errors, flags, file metadata and
//! fd numbers are therefore the kernel's own, and any failure on the library's side leaves the
//! kernel's answer in place. Nothing runs at load time.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)] // The exported functions have their libc contracts.

mod answers;
mod api;
mod cache;
mod content;
mod env;
mod fds;
mod hooks;
mod kernel;
mod log;
mod real;
mod seal;
mod serve;
mod source;
mod stack;
mod stream;
mod supervisor;
mod sys;

use core::ffi::c_int;

/// The library's version, findable in the file itself (`cgshim show` reads it from the
/// library a process preloads, to show a mismatch with the command). A plain byte array: no
/// relocation, no exported symbol.
const VERSION_MARK: &str = concat!("cgshim-library-version=", env!("CARGO_PKG_VERSION"), "\n");

#[used]
static VERSION: [u8; VERSION_MARK.len()] = {
    let mut out = [0u8; VERSION_MARK.len()];
    let bytes = VERSION_MARK.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Unreachable by construction (the core is panic-free); abort rather than unwind into C.
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno slot (glibc and musl).
    unsafe { *libc::__errno_location() }
}

fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno slot (glibc and musl).
    unsafe { *libc::__errno_location() = e };
}

/// A raw syscall's result in libc's convention (-1 and errno).
fn libc_result(r: i64) -> i64 {
    if r < 0 {
        set_errno(r.unsigned_abs() as c_int);
        -1
    } else {
        r
    }
}

pub(crate) fn page_size() -> u64 {
    // SAFETY: getauxval has no preconditions.
    let p = unsafe { libc::getauxval(libc::AT_PAGESZ) };
    if p == 0 { 4096 } else { p }
}
