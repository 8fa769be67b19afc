//! The `cgshim` command's modules. They belong to the binary only: the library crate stays
//! `no_std` and knows nothing of them.

pub mod elf;
pub mod exec;
pub mod install;
pub mod json;
pub mod library;
pub mod raw;
pub mod render;
pub mod report;
