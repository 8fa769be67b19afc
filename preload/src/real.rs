//! Finding the real libc functions behind our exported names, without locks.
//!
//! Each pointer is resolved on first use with `dlsym(RTLD_NEXT, name)` and cached in an
//! `AtomicPtr`; concurrent first calls race benignly (every writer stores the same value). A name
//! the C library does not have (musl has no `__open_2`) is remembered as missing, and the hook
//! falls back to a raw system call or a sibling function.

use core::ffi::{CStr, c_char, c_void};
use core::sync::atomic::{AtomicPtr, Ordering};

// glibc 2.34 moved `dlsym` into libc.so.6 with a new default version; binding to the new one
// would keep the library from loading on older glibc, so the reference is pinned to the oldest
// version (musl ignores symbol versions).
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(".symver cgshim_old_dlsym, dlsym@GLIBC_2.2.5");
#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(".symver cgshim_old_dlsym, dlsym@GLIBC_2.17");

unsafe extern "C" {
    #[link_name = "cgshim_old_dlsym"]
    fn old_dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
}

const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;
const MISSING: *mut c_void = core::ptr::dangling_mut::<c_void>();

/// The longest symbol name a [`Real`] holds, with its NUL.
const NAME: usize = 24;

/// One real function, looked up by name on first use. The name is stored inline rather than as
/// a pointer: pointers in statics need a relocation each when the library loads, and loading
/// must cost every program as little as an empty library.
pub struct Real {
    ptr: AtomicPtr<c_void>,
    name: [u8; NAME],
}

impl Real {
    pub const fn new(name: &'static CStr) -> Self {
        let bytes = name.to_bytes_with_nul();
        assert!(bytes.len() <= NAME, "symbol name too long for Real");
        let mut inline = [0u8; NAME];
        let mut i = 0;
        while i < bytes.len() {
            inline[i] = bytes[i];
            i += 1;
        }
        Self { ptr: AtomicPtr::new(core::ptr::null_mut()), name: inline }
    }

    /// The function's address, or `None` when the C library has no such symbol.
    #[inline(always)]
    pub fn get(&self) -> Option<*mut c_void> {
        let mut p = self.ptr.load(Ordering::Relaxed);
        if p.is_null() {
            p = self.resolve();
        }
        (p != MISSING).then_some(p)
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self) -> *mut c_void {
        // SAFETY: RTLD_NEXT and a NUL-terminated name are valid dlsym arguments.
        let mut p = unsafe { old_dlsym(RTLD_NEXT, self.name.as_ptr().cast()) };
        if p.is_null() {
            p = MISSING;
        }
        self.ptr.store(p, Ordering::Relaxed);
        p
    }
}

/// Converts a looked-up address into the function type of its symbol.
///
/// # Safety
/// `F` must be the C signature of the symbol `real` was looked up under, and a function pointer.
pub unsafe fn typed<F: Copy>(real: &Real) -> Option<F> {
    const { assert!(core::mem::size_of::<F>() == core::mem::size_of::<*mut c_void>()) };
    // SAFETY: the caller guarantees F is the symbol's function-pointer type; the sizes match.
    real.get().map(|p| unsafe { core::mem::transmute_copy::<*mut c_void, F>(&p) })
}
