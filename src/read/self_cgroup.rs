//! `/proc/self/cgroup`: which cgroup the process is in, per hierarchy.
//!
//! Lines are `hierarchy-ID:controller-list:path`. The path may itself contain `:`, so a line is
//! split on its first two colons only. v2 is the line with ID 0 and an empty controller list.

use super::lines::lines;

/// The path of `controller`'s v1 hierarchy (`4:memory:/docker/abc` → `/docker/abc`), matching
/// whole names in the comma list (`cpu,cpuacct` lists `cpu`; `name=systemd` is never a controller).
pub fn v1_path<'a>(text: &'a [u8], controller: &[u8]) -> Option<&'a [u8]> {
    lines(text).find_map(|line| {
        let (id, controllers, path) = split(line)?;
        if id == b"0" && controllers.is_empty() {
            return None;
        }
        controllers.split(|&b| b == b',').any(|c| c == controller).then_some(path)
    })
}

/// The path of the unified (v2) hierarchy: the `0::/path` line.
pub fn v2_path(text: &[u8]) -> Option<&[u8]> {
    lines(text).find_map(|line| match split(line)? {
        (b"0", b"", path) => Some(path),
        _ => None,
    })
}

fn split(line: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let mut parts = line.splitn(3, |&b| b == b':');
    let id = parts.next()?;
    let controllers = parts.next()?;
    let path = parts.next()?;
    path.starts_with(b"/").then_some((id, controllers, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &[u8] =
        b"9:name=systemd:/\n4:memory:/process_api/cc39\n2:cpu,cpuacct:/a:b\n0::/demo/leaf\n";

    #[test]
    fn finds_v1_and_v2_paths() {
        assert_eq!(v1_path(HYBRID, b"memory"), Some(&b"/process_api/cc39"[..]));
        assert_eq!(v1_path(HYBRID, b"cpu"), Some(&b"/a:b"[..]));
        assert_eq!(v1_path(HYBRID, b"cpuacct"), Some(&b"/a:b"[..]));
        assert_eq!(v1_path(HYBRID, b"systemd"), None);
        assert_eq!(v1_path(HYBRID, b"pids"), None);
        assert_eq!(v2_path(HYBRID), Some(&b"/demo/leaf"[..]));
        assert_eq!(v2_path(b"0::/\n"), Some(&b"/"[..]));
        assert_eq!(v1_path(b"0::/\n", b"memory"), None);
    }

    #[test]
    fn malformed_lines_are_ignored() {
        assert_eq!(v2_path(b"garbage\n0:x\n"), None);
        assert_eq!(v1_path(b"4:memory\n", b"memory"), None);
    }
}
