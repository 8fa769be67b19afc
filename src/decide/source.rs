//! The seam between the rules and the filesystem: "give me the bytes at this absolute path".
//!
//! The library implements it with raw syscalls (its own I/O must never re-enter its hooks), the
//! CLI and tests with `std::fs`, optionally under a root directory holding a fixture tree.

use crate::buf::Buf;

/// Read access to absolute paths.
pub trait Source {
    /// An open file; dropping it closes it.
    type File;
    fn open(&self, path: &[u8]) -> Option<Self::File>;
    /// Reads the next bytes into `buf`; `Some(0)` at the end of the file, `None` on an error.
    fn read(&self, file: &mut Self::File, buf: &mut [u8]) -> Option<usize>;
    /// Whether a read that returns less than asked means the end of the file. True of kernel
    /// files (procfs and cgroupfs fill the whole buffer when they can), which saves a read.
    fn short_read_is_eof(&self) -> bool {
        false
    }
    /// The identity of a directory (see [`crate::decide::cpu::seed`]); `None` where the
    /// filesystem is not the machine's own (a fixture tree).
    fn dir_identity(&self, _path: &[u8]) -> Option<crate::decide::cpu::DirIdentity> {
        None
    }
}

/// Reads a whole file into `out`. `None` when it cannot be opened or read, or does not fit.
pub fn read_file<S: Source, const N: usize>(src: &S, path: &[u8], out: &mut Buf<N>) -> Option<()> {
    let mut file = src.open(path)?;
    read_open_file(src, &mut file, out)
}

/// Reads the rest of an already open file into `out` (see [`read_file`]).
pub fn read_open_file<S: Source, const N: usize>(
    src: &S,
    file: &mut S::File,
    out: &mut Buf<N>,
) -> Option<()> {
    out.clear();
    // Read straight into the buffer: procfs regenerates a file for every read at a non-zero
    // offset, so one large read is much cheaper than many small ones.
    loop {
        if out.spare().is_empty() {
            // Full: only acceptable if the file ends exactly here.
            let mut probe = [0u8; 1];
            return (src.read(file, &mut probe)? == 0).then_some(());
        }
        let asked = out.spare().len();
        let n = src.read(file, out.spare())?;
        if n == 0 {
            return Some(());
        }
        out.advance(n);
        if n < asked && src.short_read_is_eof() {
            return Some(());
        }
    }
}

/// The longest line [`for_each_line`] hands over. The lines read this way (`memory.stat`,
/// `cpu.stat`, the cgroup mounts in mountinfo) are far shorter; the buffer lives on the stack of
/// whatever thread calls the library, so it is kept small.
pub const LINE_BUFFER: usize = 2048;

/// Calls `each` with every line of the file (without its newline), reading it in chunks so that
/// files of any size (a mountinfo with thousands of mounts) need only a fixed buffer. Lines longer
/// than [`LINE_BUFFER`] are skipped. `each` returns `false` to stop early.
pub fn for_each_line<S: Source>(src: &S, path: &[u8], mut each: impl FnMut(&[u8]) -> bool) -> Option<()> {
    let mut file = src.open(path)?;
    let mut buf = [0u8; LINE_BUFFER];
    let mut filled = 0usize;
    let mut skipping = false;
    loop {
        let asked = buf.len().saturating_sub(filled);
        let n = src.read(&mut file, buf.get_mut(filled..)?)?;
        // A short read of a kernel file is its end: no second read to learn it.
        let eof = n == 0 || (n < asked && src.short_read_is_eof());
        filled = filled.checked_add(n)?;
        let mut start = 0usize;
        let window = buf.get(..filled)?;
        while let Some(pos) = window.get(start..)?.iter().position(|&b| b == b'\n') {
            let end = start.checked_add(pos)?;
            if !skipping && !each(window.get(start..end)?) {
                return Some(());
            }
            skipping = false;
            start = end.checked_add(1)?;
        }
        if eof {
            if start < filled && !skipping {
                each(window.get(start..)?);
            }
            return Some(());
        }
        if start == 0 && filled == buf.len() {
            // A line longer than the buffer: drop it and resynchronise at the next newline.
            skipping = true;
            filled = 0;
            continue;
        }
        buf.copy_within(start..filled, 0);
        filled = filled.checked_sub(start)?;
    }
}

/// Calls `each(index, field)` with every whitespace-separated field of the file in turn (v1's
/// per-CPU files are one line of a number per possible CPU, longer than [`LINE_BUFFER`] on
/// large machines). Fields longer than 64 bytes end the walk with `None`. `each` returns
/// `false` to stop early.
pub fn for_each_field<S: Source>(
    src: &S,
    path: &[u8],
    mut each: impl FnMut(usize, &[u8]) -> bool,
) -> Option<()> {
    let mut file = src.open(path)?;
    let mut chunk = [0u8; 512];
    let mut field = [0u8; 64];
    let mut len = 0usize;
    let mut index = 0usize;
    loop {
        let n = src.read(&mut file, &mut chunk)?;
        let eof = n == 0 || (n < chunk.len() && src.short_read_is_eof());
        for &b in chunk.get(..n)?.iter().chain(if eof { &b" "[..] } else { &[] }) {
            if b.is_ascii_whitespace() {
                if len > 0 {
                    if !each(index, field.get(..len)?) {
                        return Some(());
                    }
                    index = index.saturating_add(1);
                    len = 0;
                }
            } else {
                *field.get_mut(len)? = b;
                len = len.saturating_add(1);
            }
        }
        if eof {
            return Some(());
        }
    }
}

#[cfg(test)]
pub mod memory_source {
    //! An in-memory [`Source`] for unit tests of the streaming helpers.
    use super::Source;

    pub struct Files<'a> {
        pub files: Vec<(&'a [u8], Vec<u8>)>,
        /// Largest chunk one `read` returns, to exercise chunk boundaries.
        pub chunk: usize,
    }

    impl Source for Files<'_> {
        type File = (Vec<u8>, usize);

        fn open(&self, path: &[u8]) -> Option<Self::File> {
            self.files.iter().find(|(p, _)| *p == path).map(|(_, c)| (c.clone(), 0))
        }

        fn read(&self, file: &mut Self::File, buf: &mut [u8]) -> Option<usize> {
            let rest = &file.0[file.1..];
            let n = rest.len().min(buf.len()).min(self.chunk);
            buf[..n].copy_from_slice(&rest[..n]);
            file.1 += n;
            Some(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory_source::Files;
    use super::*;

    #[test]
    fn streams_lines_across_chunks_and_skips_giant_lines() {
        let mut text = b"first\nsecond line\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 20000));
        text.extend(b"\nlast");
        for chunk in [1, 7, 4096, 100000] {
            let src = Files { files: vec![(b"/f", text.clone())], chunk };
            let mut seen = Vec::new();
            for_each_line(&src, b"/f", |l| {
                seen.push(l.to_vec());
                true
            })
            .unwrap();
            assert_eq!(
                seen,
                vec![b"first".to_vec(), b"second line".to_vec(), b"last".to_vec()],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn streams_fields_across_chunks() {
        let numbers: Vec<String> = (0..300).map(|i| (i * 1_000_003).to_string()).collect();
        let text = format!("{} \n", numbers.join(" "));
        for chunk in [1, 5, 512, 100000] {
            let src = Files { files: vec![(b"/f", text.clone().into_bytes())], chunk };
            let mut seen = Vec::new();
            for_each_field(&src, b"/f", |i, f| {
                seen.push((i, String::from_utf8(f.to_vec()).unwrap()));
                true
            })
            .unwrap();
            assert_eq!(seen.len(), 300, "chunk {chunk}");
            assert!(seen.iter().enumerate().all(|(i, (j, f))| i == *j && *f == numbers[i]), "chunk {chunk}");
        }
        let src = Files { files: vec![(b"/f", b"7 8".to_vec())], chunk: 2 };
        let mut last = Vec::new();
        for_each_field(&src, b"/f", |_, f| {
            last = f.to_vec();
            true
        })
        .unwrap();
        assert_eq!(last, b"8");
    }

    #[test]
    fn reads_whole_files_or_refuses() {
        let src = Files { files: vec![(b"/small", b"12\n".to_vec()), (b"/big", vec![b'1'; 5000])], chunk: 3 };
        let mut out = Buf::<4096>::new();
        assert!(read_file(&src, b"/small", &mut out).is_some());
        assert_eq!(out.as_bytes(), b"12\n");
        assert!(read_file(&src, b"/big", &mut out).is_none());
        assert!(read_file(&src, b"/missing", &mut out).is_none());
    }
}
