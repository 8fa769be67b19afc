//! Whether a preload library can reach a program at all: it cannot load into a statically
//! linked executable (no `PT_INTERP`, so no dynamic loader reads `LD_PRELOAD`), and a Go program
//! makes its system calls without libc even when it is dynamically linked (cgo). Only the ELF
//! headers, the notes and the section names are read.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Dynamically linked: the library loads and its hooks run.
    Dynamic,
    /// No dynamic loader: `LD_PRELOAD` is never read.
    Static,
    /// A Go program (`.go.buildinfo` section or a `Go` build-id note).
    Go,
    /// Not an ELF executable (a script is inspected through its interpreter by the caller).
    Unknown,
}

const PT_INTERP: u64 = 3;
const PT_NOTE: u64 = 4;
const NT_GO_BUILDID: u64 = 4;

struct Elf {
    file: File,
    is64: bool,
    le: bool,
}

impl Elf {
    fn bytes(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        // Headers and notes are small; refuse absurd sizes from a corrupt file.
        if len > 1 << 24 {
            return None;
        }
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    }

    fn u16(&self, b: &[u8], at: usize) -> Option<u64> {
        let a: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(u64::from(if self.le { u16::from_le_bytes(a) } else { u16::from_be_bytes(a) }))
    }

    fn u32(&self, b: &[u8], at: usize) -> Option<u64> {
        let a: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u64::from(if self.le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }))
    }

    fn u64(&self, b: &[u8], at: usize) -> Option<u64> {
        let a: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if self.le { u64::from_le_bytes(a) } else { u64::from_be_bytes(a) })
    }

    /// An address-sized field: 8 bytes at `at64` in ELF64, 4 bytes at `at32` in ELF32.
    fn word(&self, b: &[u8], at64: usize, at32: usize) -> Option<u64> {
        if self.is64 { self.u64(b, at64) } else { self.u32(b, at32) }
    }
}

/// Whether the notes in `data` hold Go's build id.
fn has_go_note(elf: &Elf, data: &[u8]) -> bool {
    let mut at = 0usize;
    let align4 = |n: u64| n.checked_add(3).map(|n| n & !3);
    while let (Some(namesz), Some(descsz), Some(kind)) =
        (elf.u32(data, at), elf.u32(data, at + 4), elf.u32(data, at + 8))
    {
        let name_start = at + 12;
        let name =
            usize::try_from(namesz).ok().and_then(|n| data.get(name_start..name_start.checked_add(n)?));
        if kind == NT_GO_BUILDID && name == Some(b"Go\0".as_slice()) {
            return true;
        }
        let (Some(n), Some(d)) = (align4(namesz), align4(descsz)) else { return false };
        let Some(next) =
            usize::try_from(n.saturating_add(d)).ok().and_then(|len| name_start.checked_add(len))
        else {
            return false;
        };
        at = next;
    }
    false
}

pub fn inspect(path: &Path) -> Reach {
    inspect_elf(path).unwrap_or(Reach::Unknown)
}

fn inspect_elf(path: &Path) -> Option<Reach> {
    let file = File::open(path).ok()?;
    let mut ident = [0u8; 64];
    file.read_exact_at(&mut ident[..52], 0).ok()?;
    if ident[..4] != *b"\x7fELF" {
        return None;
    }
    let is64 = ident[4] == 2;
    if is64 {
        file.read_exact_at(&mut ident[52..64], 52).ok()?;
    }
    let elf = Elf { file, is64, le: ident[5] == 1 };
    let h = &ident[..];
    let phoff = elf.word(h, 32, 28)?;
    let shoff = elf.word(h, 40, 32)?;
    let (phentsize, phnum) =
        if is64 { (elf.u16(h, 54)?, elf.u16(h, 56)?) } else { (elf.u16(h, 42)?, elf.u16(h, 44)?) };
    let (shentsize, shnum, shstrndx) = if is64 {
        (elf.u16(h, 58)?, elf.u16(h, 60)?, elf.u16(h, 62)?)
    } else {
        (elf.u16(h, 46)?, elf.u16(h, 48)?, elf.u16(h, 50)?)
    };

    let mut interp = false;
    let mut go = false;
    let phdrs = elf.bytes(phoff, usize::try_from(phentsize.checked_mul(phnum)?).ok()?)?;
    for ph in phdrs.chunks(usize::try_from(phentsize).ok()?.max(1)) {
        match elf.u32(ph, 0)? {
            PT_INTERP => interp = true,
            PT_NOTE => {
                let offset = elf.word(ph, 8, 4)?;
                let size = elf.word(ph, 32, 16)?;
                if let Some(notes) = elf.bytes(offset, usize::try_from(size).ok()?) {
                    go |= has_go_note(&elf, &notes);
                }
            }
            _ => {}
        }
    }
    if !go && shoff != 0 && shnum != 0 {
        go = section_names(&elf, shoff, shentsize, shnum, shstrndx)
            .is_some_and(|names| names.iter().any(|n| n == b".go.buildinfo" || n == b".note.go.buildid"));
    }
    Some(if go {
        Reach::Go
    } else if interp {
        Reach::Dynamic
    } else {
        Reach::Static
    })
}

fn section_names(elf: &Elf, shoff: u64, shentsize: u64, shnum: u64, shstrndx: u64) -> Option<Vec<Vec<u8>>> {
    let table = elf.bytes(shoff, usize::try_from(shentsize.checked_mul(shnum)?).ok()?)?;
    let entry = usize::try_from(shentsize).ok()?.max(1);
    let sections: Vec<&[u8]> = table.chunks(entry).collect();
    let strtab = sections.get(usize::try_from(shstrndx).ok()?)?;
    let names = elf.bytes(elf.word(strtab, 24, 16)?, usize::try_from(elf.word(strtab, 32, 20)?).ok()?)?;
    Some(
        sections
            .iter()
            .filter_map(|s| {
                let start = usize::try_from(elf.u32(s, 0)?).ok()?;
                let rest = names.get(start..)?;
                Some(rest[..rest.iter().position(|&b| b == 0)?].to_vec())
            })
            .collect(),
    )
}

/// The interpreter a `#!` script names (the program after `/usr/bin/env`), if any.
pub fn script_interpreter(path: &Path) -> Option<(String, Option<String>)> {
    let file = File::open(path).ok()?;
    let mut head = [0u8; 256];
    let n = file.read_at(&mut head, 0).ok()?;
    let line = head.get(..n)?.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n')?];
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_whitespace();
    let interpreter = words.next()?.to_string();
    let program = if interpreter.ends_with("/env") {
        words.find(|w| !w.starts_with('-')).map(str::to_string)
    } else {
        None
    };
    Some((interpreter, program))
}
