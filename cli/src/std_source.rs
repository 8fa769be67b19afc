//! A [`Source`] over `std::fs`, for the `cgshim` command and the tests (the library itself reads
//! with raw system calls). Absolute paths are taken relative to `root`: `/` for the live system,
//! a fixture tree in tests. Included as a module by each std consumer rather than compiled into
//! the `no_std` core, so that building the workspace never links std into `libcgshim.so`.

use cgshim::decide::source::Source;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct StdSource {
    root: PathBuf,
}

impl StdSource {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn resolve(&self, path: &[u8]) -> PathBuf {
        let rel = std::ffi::OsStr::from_bytes(path.strip_prefix(b"/").unwrap_or(path));
        self.root.join(rel)
    }
}

impl Source for StdSource {
    type File = std::fs::File;

    fn open(&self, path: &[u8]) -> Option<Self::File> {
        std::fs::File::open(self.resolve(path)).ok()
    }

    fn read(&self, file: &mut Self::File, buf: &mut [u8]) -> Option<usize> {
        file.read(buf).ok()
    }
}
