//! `/proc/self/mountinfo` lines: `ID parentID maj:min root mountpoint opts [optional…] - fstype
//! source superopts`. The optional fields vary in number, so the separator is the lone `-` field;
//! `root` and `mountpoint` are octal-escaped by the kernel (`\040` for a space).

use super::lines::fields;
use crate::buf::{Buf, Sink};

/// One mount, with borrowed (still escaped) fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mount<'a> {
    pub root: &'a [u8],
    pub mountpoint: &'a [u8],
    pub fstype: &'a [u8],
    pub superopts: &'a [u8],
}

impl Mount<'_> {
    /// Whether this is a v1 mount of `controller` (named in the super options, never guessed
    /// from the directory name).
    pub fn is_v1_controller(&self, controller: &[u8]) -> bool {
        self.fstype == b"cgroup" && self.superopts.split(|&b| b == b',').any(|o| o == controller)
    }

    pub fn is_v2(&self) -> bool {
        self.fstype == b"cgroup2"
    }
}

/// Parses one line; `None` when it does not have the kernel's shape.
pub fn parse_line(line: &[u8]) -> Option<Mount<'_>> {
    let mut it = fields(line);
    let _id = it.next()?;
    let _parent = it.next()?;
    let _dev = it.next()?;
    let root = it.next()?;
    let mountpoint = it.next()?;
    let _opts = it.next()?;
    for field in it.by_ref() {
        if field == b"-" {
            break;
        }
    }
    let fstype = it.next()?;
    let _source = it.next()?;
    let superopts = it.next().unwrap_or(b"");
    Some(Mount { root, mountpoint, fstype, superopts })
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash) into `out`.
pub fn unescape<const N: usize>(escaped: &[u8], out: &mut Buf<N>) {
    out.clear();
    let mut rest = escaped;
    while let [first, tail @ ..] = rest {
        if let (b'\\', [a, b, c, after @ ..]) = (*first, tail) {
            let octal = |d: u8| (b'0'..=b'7').contains(&d).then(|| d.wrapping_sub(b'0'));
            if let (Some(a), Some(b), Some(c)) = (octal(*a), octal(*b), octal(*c)) {
                let value = u32::from(a) << 6 | u32::from(b) << 3 | u32::from(c);
                out.push_byte(value as u8);
                rest = after;
                continue;
            }
        }
        out.push_byte(*first);
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_and_v2_lines() {
        let m = parse_line(
            b"35 25 0:30 /docker/abc /sys/fs/cgroup/memory rw,nosuid shared:15 master:3 - cgroup cgroup rw,memory",
        )
        .unwrap();
        assert_eq!(m.root, b"/docker/abc");
        assert_eq!(m.mountpoint, b"/sys/fs/cgroup/memory");
        assert!(m.is_v1_controller(b"memory"));
        assert!(!m.is_v1_controller(b"cpu"));
        let m =
            parse_line(b"40 25 0:33 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct").unwrap();
        assert!(m.is_v1_controller(b"cpu") && m.is_v1_controller(b"cpuacct"));
        let m =
            parse_line(b"57 47 0:38 /../.. /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw").unwrap();
        assert!(m.is_v2());
        assert_eq!(m.root, b"/../..");
    }

    #[test]
    fn dash_inside_a_path_is_not_the_separator() {
        let m = parse_line(
            b"1 2 0:3 /system.slice/docker-1.scope /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate",
        )
        .unwrap();
        assert_eq!(m.fstype, b"cgroup2");
        assert_eq!(m.superopts, b"rw,nsdelegate");
    }

    #[test]
    fn rejects_short_lines() {
        assert_eq!(parse_line(b"1 2 0:3 / /x rw"), None);
        assert_eq!(parse_line(b""), None);
    }

    #[test]
    fn unescapes_octal() {
        let mut out = Buf::<64>::new();
        unescape(br"/a\040b\134c\011d\9", &mut out);
        assert_eq!(out.as_bytes(), b"/a b\\c\td\\9");
    }
}
