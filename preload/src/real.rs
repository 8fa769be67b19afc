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

/// One real function, looked up by name on first use.
pub struct Real {
    ptr: AtomicPtr<c_void>,
    name: &'static CStr,
}

impl Real {
    pub const fn new(name: &'static CStr) -> Self {
        Self { ptr: AtomicPtr::new(core::ptr::null_mut()), name }
    }

    /// The function's address, or `None` when the C library has no such symbol.
    pub fn get(&self) -> Option<*mut c_void> {
        let mut p = self.ptr.load(Ordering::Relaxed);
        if p.is_null() {
            // SAFETY: RTLD_NEXT and a NUL-terminated name are valid dlsym arguments.
            p = unsafe { old_dlsym(RTLD_NEXT, self.name.as_ptr()) };
            if p.is_null() {
                p = MISSING;
            }
            self.ptr.store(p, Ordering::Relaxed);
        }
        (p != MISSING).then_some(p)
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
