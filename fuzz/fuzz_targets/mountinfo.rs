#![no_main]
//! libFuzzer target: see `cgshim_fuzz::fuzz_mountinfo` for the properties checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cgshim_fuzz::fuzz_mountinfo(data));
