//! Every exported function, grouped by family. Each is a cheap check followed by the real
//! function, with the library's work before or after it only for the fds and calls it serves.
//! `preload/symbols.txt` lists them all; a test compares it with the built library.

pub(crate) mod calls;
mod exec;
mod io;
mod meta;
mod open;
mod sandbox;
mod stdio;
