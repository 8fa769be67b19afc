//! Finding the caller's own cgroup directory for one controller, in every layout seen in
//! practice: host paths, a private cgroup namespace with cgroupfs remounted, a Docker-v1-style
//! bind mount of the own cgroup over the controller mount, hybrid v1+v2 hosts.
//!
//! `/proc/self/cgroup` gives the cgroup path relative to the reader's cgroup-namespace root;
//! each cgroupfs mount in `/proc/self/mountinfo` gives the cgroup its `root` field names and where
//! it is mounted. The directory is the mount point plus the part of the path below the root.
//! Mounts hidden under a later mount on the same or a parent directory are dropped (stacked bind
//! mounts keep the host entry listed below the container's).

use super::source::{Source, for_each_line, read_file};
use crate::buf::{Buf, PathBuf, Sink};
use crate::read::{mountinfo, self_cgroup};

/// cgroup v1 (one hierarchy per controller) or v2 (the unified hierarchy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// How the directory was derived from the mount, for `cgshim show` and debug logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The mount's root is `/`: the path is the full cgroup path below the mount point (host
    /// paths, or a private cgroup namespace with cgroupfs remounted).
    MountRoot,
    /// The mount's root is the cgroup itself or an ancestor of it (runc's bind mount of the own
    /// cgroup over the controller mount).
    BindMount,
    /// The path is not below the mount's root (process moved after start): the directory was
    /// found by trying the path's suffixes under the mount point.
    Searched,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::MountRoot => "mount-root",
            Layout::BindMount => "bind-mount",
            Layout::Searched => "searched",
        }
    }
}

/// What to look for: the v1 controller name and the file that proves a directory belongs to it.
#[derive(Clone, Copy, Debug)]
pub struct Controller {
    pub v1_name: &'static [u8],
    pub v1_probe: &'static [u8],
    pub v2_probe: &'static [u8],
}

pub const MEMORY: Controller =
    Controller { v1_name: b"memory", v1_probe: b"memory.limit_in_bytes", v2_probe: b"memory.max" };

/// Why no directory was found; every case makes the library pass host values through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotFound {
    /// `/proc/self/cgroup` is missing or unreadable (no procfs).
    NoSelfCgroup,
    /// The process is in no hierarchy that has this controller.
    NotInHierarchy,
    /// `/proc/self/mountinfo` is missing or unreadable.
    NoMountinfo,
    /// No visible cgroupfs mount carries the controller (cgroupfs not mounted, or masked).
    NoMount,
    /// The cgroup path is outside the namespace root (`/..`), or no candidate directory holds
    /// the controller's files (cgroup removed, a v2 tree without the controller on a hybrid host).
    NoDirectory,
}

impl NotFound {
    pub fn describe(self) -> &'static str {
        match self {
            NotFound::NoSelfCgroup => "/proc/self/cgroup is not readable",
            NotFound::NotInHierarchy => "the process is in no hierarchy with this controller",
            NotFound::NoMountinfo => "/proc/self/mountinfo is not readable",
            NotFound::NoMount => "no visible cgroupfs mount has this controller",
            NotFound::NoDirectory => "the cgroup's directory or its files were not found",
        }
    }
}

/// The caller's cgroup directory for one controller.
#[derive(Clone, Debug)]
pub struct CgroupDir {
    pub version: Version,
    pub layout: Layout,
    /// The absolute directory.
    pub dir: PathBuf,
    /// `dir[..mount_len]` is the mount point: the highest visible level.
    pub mount_len: usize,
}

impl CgroupDir {
    /// The directory and each visible ancestor, innermost first, ending at the mount point.
    pub fn levels(&self) -> impl Iterator<Item = &[u8]> {
        let dir = self.dir.as_bytes();
        let stop = self.mount_len;
        let mut next = Some(dir.len());
        core::iter::from_fn(move || {
            let len = next?;
            let level = dir.get(..len)?;
            next = if len <= stop {
                None
            } else {
                match level.iter().rposition(|&b| b == b'/') {
                    Some(0) | None => Some(stop.min(1)),
                    Some(slash) => Some(slash.max(stop)),
                }
            };
            Some(if level.is_empty() { b"/" as &[u8] } else { level })
        })
    }

    pub fn mountpoint(&self) -> &[u8] {
        self.dir.as_bytes().get(..self.mount_len).unwrap_or(b"/")
    }
}

/// Joins `dir` and `file` into an absolute path.
pub fn join(dir: &[u8], file: &[u8]) -> PathBuf {
    let mut p = PathBuf::from_bytes(dir);
    if !dir.ends_with(b"/") {
        p.push_byte(b'/');
    }
    p.push(file);
    p
}

type Short = Buf<512>;

struct Candidate {
    root: Short,
    mountpoint: Short,
    live: bool,
}

const MAX_CANDIDATES: usize = 4;

/// Finds the caller's directory for `controller`.
pub fn find<S: Source>(src: &S, controller: &Controller) -> Result<CgroupDir, NotFound> {
    let mut cgroup_file = Buf::<4096>::new();
    read_file(src, b"/proc/self/cgroup", &mut cgroup_file).ok_or(NotFound::NoSelfCgroup)?;
    let text = cgroup_file.as_bytes();
    let (version, path) = match self_cgroup::v1_path(text, controller.v1_name) {
        Some(p) => (Version::V1, p),
        None => (Version::V2, self_cgroup::v2_path(text).ok_or(NotFound::NotInHierarchy)?),
    };
    if path.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err(NotFound::NoDirectory);
    }
    let probe = match version {
        Version::V1 => controller.v1_probe,
        Version::V2 => controller.v2_probe,
    };

    let mut cands: [Option<Candidate>; MAX_CANDIDATES] = Default::default();
    let mut next_slot = 0usize;
    let mut scratch = Short::new();
    for_each_line(src, b"/proc/self/mountinfo", |line| {
        let Some(m) = mountinfo::parse_line(line) else {
            return true;
        };
        mountinfo::unescape(m.mountpoint, &mut scratch);
        for c in cands.iter_mut().flatten() {
            if c.live && is_ancestor_or_same(scratch.as_bytes(), c.mountpoint.as_bytes()) {
                c.live = false;
            }
        }
        let ours = match version {
            Version::V1 => m.is_v1_controller(controller.v1_name),
            Version::V2 => m.is_v2(),
        };
        if ours && !scratch.overflowed() {
            let mut root = Short::new();
            mountinfo::unescape(m.root, &mut root);
            if !root.overflowed() {
                let slot = cands.iter().position(|c| c.as_ref().is_none_or(|c| !c.live)).unwrap_or(next_slot);
                if let Some(s) = cands.get_mut(slot) {
                    *s = Some(Candidate { root, mountpoint: scratch.clone(), live: true });
                }
                next_slot = slot.wrapping_add(1) % MAX_CANDIDATES;
            }
        }
        true
    })
    .ok_or(NotFound::NoMountinfo)?;

    // Prefer the visible mount whose root is the longest component-wise prefix of the path.
    let live = || cands.iter().flatten().filter(|c| c.live);
    let best = live().filter(|c| is_ancestor_or_same(c.root.as_bytes(), path)).fold(
        None::<&Candidate>,
        |best, c| match best {
            Some(b) if b.root.len() > c.root.len() => Some(b),
            _ => Some(c),
        },
    );
    if let Some(c) = best {
        let below = path.get(c.root.len()..).unwrap_or(b"");
        let below = if c.root.as_bytes() == b"/" { path } else { below };
        let layout = if c.root.as_bytes() == b"/" { Layout::MountRoot } else { Layout::BindMount };
        let dir = under(c.mountpoint.as_bytes(), below);
        return validated(src, dir, c.mountpoint.len(), version, layout, probe);
    }
    let c = live().next_back().ok_or(NotFound::NoMount)?;
    // The path is not below the mount's root (the process moved after the mount was made):
    // try ever shorter suffixes of the path under the mount point.
    let mut suffix = path;
    while let Some(slash) = suffix.get(1..).and_then(|s| s.iter().position(|&b| b == b'/')) {
        let dir = under(c.mountpoint.as_bytes(), suffix);
        if let Ok(found) = validated(src, dir, c.mountpoint.len(), version, Layout::Searched, probe) {
            return Ok(found);
        }
        suffix = suffix.get(slash.saturating_add(1)..).unwrap_or(b"");
    }
    let dir = under(c.mountpoint.as_bytes(), suffix);
    validated(src, dir, c.mountpoint.len(), version, Layout::Searched, probe)
}

fn under(mountpoint: &[u8], below: &[u8]) -> PathBuf {
    let mut dir = PathBuf::from_bytes(mountpoint);
    let below = below.strip_suffix(b"/").unwrap_or(below);
    if !below.is_empty() && below != b"/" {
        if dir.as_bytes().ends_with(b"/") {
            dir.truncate(dir.len().saturating_sub(1));
        }
        dir.push(below);
    }
    dir
}

fn validated<S: Source>(
    src: &S,
    dir: PathBuf,
    mount_len: usize,
    version: Version,
    layout: Layout,
    probe: &[u8],
) -> Result<CgroupDir, NotFound> {
    if dir.overflowed() {
        return Err(NotFound::NoDirectory);
    }
    if src.open(join(dir.as_bytes(), probe).as_bytes()).is_some() {
        return Ok(CgroupDir { version, layout, dir, mount_len });
    }
    // v2: a cgroup whose parent does not hand this controller down has none of its files. Its
    // processes are charged to, and bounded by, the nearest ancestor that has them (a systemd
    // unit below a slice that enables memory only for some children, a delegated subtree).
    if version == Version::V2 && src.open(join(dir.as_bytes(), b"cgroup.procs").as_bytes()).is_some() {
        let mut up = dir;
        while up.len() > mount_len {
            let cut = up.as_bytes().iter().rposition(|&b| b == b'/').unwrap_or(0).max(mount_len);
            up.truncate(cut);
            if src.open(join(up.as_bytes(), probe).as_bytes()).is_some() {
                return Ok(CgroupDir { version, layout, dir: up, mount_len });
            }
        }
    }
    Err(NotFound::NoDirectory)
}

/// Component-wise prefix test: `/a` is an ancestor of `/a/b` but not of `/ab`.
pub fn is_ancestor_or_same(ancestor: &[u8], path: &[u8]) -> bool {
    if ancestor == b"/" {
        return path.starts_with(b"/");
    }
    match path.strip_prefix(ancestor) {
        Some(rest) => rest.is_empty() || rest.starts_with(b"/"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::source::memory_source::Files;
    use super::*;

    fn tree(cgroup: &str, mountinfo: &str, dirs: &[&str]) -> Files<'static> {
        let mut files = vec![
            (&b"/proc/self/cgroup"[..], cgroup.as_bytes().to_vec()),
            (&b"/proc/self/mountinfo"[..], mountinfo.as_bytes().to_vec()),
        ];
        for d in dirs {
            let p: &'static str = Box::leak(format!("{d}/memory.limit_in_bytes").into_boxed_str());
            files.push((p.as_bytes(), b"1\n".to_vec()));
            let p: &'static str = Box::leak(format!("{d}/memory.max").into_boxed_str());
            files.push((p.as_bytes(), b"max\n".to_vec()));
        }
        Files { files, chunk: 64 }
    }

    const HOST_V1: &str = "22 1 0:21 / /sys rw - sysfs sysfs rw\n\
        25 22 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
        30 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
        31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";

    #[test]
    fn host_paths() {
        let src = tree("4:memory:/a/b\n0::/\n", HOST_V1, &["/sys/fs/cgroup/memory/a/b"]);
        let d = find(&src, &MEMORY).unwrap();
        assert_eq!(d.version, Version::V1);
        assert_eq!(d.layout, Layout::MountRoot);
        assert_eq!(d.dir.as_bytes(), b"/sys/fs/cgroup/memory/a/b");
        let levels: Vec<&[u8]> = d.levels().collect();
        assert_eq!(
            levels,
            vec![&b"/sys/fs/cgroup/memory/a/b"[..], b"/sys/fs/cgroup/memory/a", b"/sys/fs/cgroup/memory"]
        );
    }

    #[test]
    fn stacked_bind_mount_last_wins() {
        let mi =
            format!("{HOST_V1}60 30 0:27 /docker/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
        let src =
            tree("4:memory:/docker/x\n", &mi, &["/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/docker/x"]);
        let d = find(&src, &MEMORY).unwrap();
        assert_eq!(d.layout, Layout::BindMount);
        assert_eq!(d.dir.as_bytes(), b"/sys/fs/cgroup/memory");
        assert_eq!(d.levels().count(), 1);
    }

    #[test]
    fn v2_namespace_root_and_hybrid() {
        let mi = "1 0 0:1 / / rw - overlay overlay rw\n2 1 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let src = tree("0::/\n", mi, &["/sys/fs/cgroup"]);
        let d = find(&src, &MEMORY).unwrap();
        assert_eq!((d.version, d.dir.as_bytes()), (Version::V2, &b"/sys/fs/cgroup"[..]));
        assert_eq!(d.levels().collect::<Vec<_>>(), vec![&b"/sys/fs/cgroup"[..]]);
        // A v2 mount at / itself: levels stop at "/".
        let mi = "2 1 0:30 / / rw - cgroup2 cgroup2 rw\n";
        let src = tree("0::/a\n", mi, &["/a"]);
        let d = find(&src, &MEMORY).unwrap();
        assert_eq!(d.levels().collect::<Vec<_>>(), vec![&b"/a"[..], b"/"]);
    }

    #[test]
    fn v2_controller_not_handed_down_is_the_nearest_ancestor_with_it() {
        let mi = "31 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let mut src = tree("0::/a/b/c\n", mi, &["/sys/fs/cgroup/a"]);
        for d in ["/sys/fs/cgroup/a/b", "/sys/fs/cgroup/a/b/c"] {
            let p: &'static str = Box::leak(format!("{d}/cgroup.procs").into_boxed_str());
            src.files.push((p.as_bytes(), Vec::new()));
        }
        let d = find(&src, &MEMORY).unwrap();
        assert_eq!(d.dir.as_bytes(), b"/sys/fs/cgroup/a");
        assert_eq!(d.levels().collect::<Vec<_>>(), vec![&b"/sys/fs/cgroup/a"[..], b"/sys/fs/cgroup"]);
        // No ancestor below the root has the controller: nothing to bound the process.
        let src = tree("0::/a/b/c\n", mi, &[]);
        assert_eq!(find(&src, &MEMORY).err(), Some(NotFound::NoDirectory));
        // A directory that does not exist is not replaced by an ancestor.
        let src = tree("0::/a/gone\n", mi, &["/sys/fs/cgroup/a"]);
        assert_eq!(find(&src, &MEMORY).err(), Some(NotFound::NoDirectory));
    }

    #[test]
    fn hidden_mounts_and_missing_pieces() {
        // A later tmpfs over /sys/fs/cgroup hides the memory mount below it.
        let mi = format!("{HOST_V1}70 22 0:40 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
        let src = tree("4:memory:/a\n", &mi, &["/sys/fs/cgroup/memory/a"]);
        assert_eq!(find(&src, &MEMORY).err(), Some(NotFound::NoMount));
        let src = tree("4:memory:/gone\n", HOST_V1, &[]);
        assert_eq!(find(&src, &MEMORY).err(), Some(NotFound::NoDirectory));
        let src = tree("1:cpu:/a\n", HOST_V1, &[]);
        assert_eq!(find(&src, &MEMORY).err(), Some(NotFound::NotInHierarchy));
        let src = tree("4:memory:/../x\n", HOST_V1, &["/sys/fs/cgroup/memory/x"]);
        assert_eq!(find(&src, &MEMORY).err(), Some(NotFound::NoDirectory));
        let src = Files { files: vec![], chunk: 1 };
        assert_eq!(find(&src, &MEMORY).err(), Some(NotFound::NoSelfCgroup));
    }

    #[test]
    fn moved_process_is_found_by_suffix() {
        let mi = "30 25 0:27 /good/x /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let src = tree("4:memory:/bad/x/sub\n", mi, &["/sys/fs/cgroup/memory/sub"]);
        let d = find(&src, &MEMORY).unwrap();
        assert_eq!(d.layout, Layout::Searched);
        assert_eq!(d.dir.as_bytes(), b"/sys/fs/cgroup/memory/sub");
    }

    #[test]
    fn escaped_mountpoints() {
        let mi = r"30 25 0:27 / /mnt/my\040cg rw - cgroup cgroup rw,memory";
        let src = tree("4:memory:/a\n", mi, &["/mnt/my cg/a"]);
        assert_eq!(find(&src, &MEMORY).unwrap().dir.as_bytes(), b"/mnt/my cg/a");
    }

    #[test]
    fn ancestry() {
        assert!(is_ancestor_or_same(b"/", b"/x"));
        assert!(is_ancestor_or_same(b"/a", b"/a/b"));
        assert!(is_ancestor_or_same(b"/a", b"/a"));
        assert!(!is_ancestor_or_same(b"/a", b"/ab"));
    }
}
