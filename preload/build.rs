//! The library's SONAME, `libcgshim.so`: a program linked with `-lcgshim` (or a `dlopen` of
//! that name) then uses the copy already preloaded into it instead of loading a second one, so
//! the C API answers from the same caches the hooks use.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcgshim.so");
}
