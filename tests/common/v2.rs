//! The cgroup v2 side of the shared helpers. On a machine whose `/sys/fs/cgroup` is a cgroup2
//! mount offering the memory controller (a pure v2 kernel: the VMs of `scripts/vm-test.sh`),
//! `Cgroup`, its limits and usage, and the layouts of `Runner` use the v2 files and mounts
//! instead of the v1 memory hierarchy, so that the same tests run on both.
//!
//! v2 differs in ways the helpers hide: one hierarchy for every controller; a controller's files
//! exist in a cgroup only when its parent enables the controller in `cgroup.subtree_control`;
//! a cgroup that enables controllers for its children may hold no process ("no internal
//! processes"); limits are `memory.max`/`memory.high`/`memory.swap.max`/`cpu.max` with the
//! literal `max` for no limit.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Where the unified hierarchy is mounted.
pub const ROOT: &str = "/sys/fs/cgroup";

/// Controllers every test cgroup offers its children, when the kernel has them.
const CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "cpuset"];

/// True when `/sys/fs/cgroup` is a cgroup2 mount whose root has the memory controller: then the
/// helpers work on v2. A hybrid host (v1 controllers, a controller-less v2 tree elsewhere) is
/// not v2 here.
pub fn active() -> bool {
    static ACTIVE: OnceLock<bool> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        let Ok(mi) = fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        let mounted = mi.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dash = f.iter().position(|t| *t == "-");
            f.get(4) == Some(&ROOT) && dash.and_then(|d| f.get(d + 1)) == Some(&"cgroup2")
        });
        mounted && controllers(Path::new(ROOT)).iter().any(|c| c == "memory")
    })
}

/// The controllers available in `dir` (`cgroup.controllers`).
pub fn controllers(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("cgroup.controllers"))
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Lets `dir`'s children have the controllers' files (`+memory +cpu +pids +cpuset` in its
/// `cgroup.subtree_control`, each one the kernel offers there).
pub fn enable_controllers(dir: &Path) {
    let have = controllers(dir);
    let want: Vec<String> =
        CONTROLLERS.iter().filter(|c| have.iter().any(|h| h == *c)).map(|c| format!("+{c}")).collect();
    let f = dir.join("cgroup.subtree_control");
    fs::write(&f, want.join(" "))
        .unwrap_or_else(|e| panic!("write {:?} to {}: {e}", want.join(" "), f.display()));
}

/// Why real v2 cgroups cannot be used here (the caller has checked for root), or None.
pub fn why_unavailable() -> Option<String> {
    let root = Path::new(ROOT);
    let enabled = fs::read_to_string(root.join("cgroup.subtree_control")).unwrap_or_default();
    if !enabled.split_whitespace().any(|c| c == "memory") {
        enable_controllers(root);
    }
    let enabled = fs::read_to_string(root.join("cgroup.subtree_control")).unwrap_or_default();
    if !enabled.split_whitespace().any(|c| c == "memory") {
        return Some(format!("{ROOT}/cgroup.subtree_control does not enable memory ({enabled:?})"));
    }
    let probe = root.join(format!("cgshim-probe-{}", std::process::id()));
    match fs::create_dir(&probe) {
        Ok(()) => {
            let ok = probe.join("memory.max").is_file();
            let _ = fs::remove_dir(&probe);
            if !ok {
                return Some(format!("a new cgroup under {ROOT} has no memory.max"));
            }
            None
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => None,
        Err(e) => Some(format!("{ROOT} is not writable: {e}")),
    }
}

/// The test process's own cgroup directory (where processes left in a test cgroup are moved).
pub fn home_dir() -> PathBuf {
    let root = PathBuf::from(ROOT);
    let Ok(text) = fs::read_to_string("/proc/self/cgroup") else {
        return root;
    };
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| root.join(p.trim_start_matches('/')))
        .filter(|d| d.join("cgroup.procs").is_file())
        .unwrap_or(root)
}

/// The file that holds a cgroup's memory limit and its usage.
pub fn limit_file() -> &'static str {
    if active() { "memory.max" } else { "memory.limit_in_bytes" }
}

pub fn usage_file() -> &'static str {
    if active() { "memory.current" } else { "memory.usage_in_bytes" }
}

/// The root the test cgroups are made under: the unified hierarchy on v2, the v1 memory
/// controller otherwise.
pub fn hierarchy_root() -> &'static str {
    if active() { ROOT } else { super::MEMCG_ROOT }
}

/// A private cgroup namespace with cgroup2 mounted fresh, as Docker and Kubernetes do on v2.
///
/// v2 lets no process into a cgroup that hands controllers down to children, so a namespace
/// rooted above the leaf cannot be made by joining the root and unsharing there (the v1 way).
/// It is made the way it comes about in a container that later moves its processes into
/// sub-cgroups: a holder process unshared while it sat in the visible root, before that root had
/// children (see `before_child`). The command joins its leaf by the host path, then enters the
/// holder's namespace (or, when the leaf is the visible root, unshares its own) and a private
/// mount namespace, where the inherited cgroup2 mount is removed (a second cgroup2 mount on the
/// same mount point fails with EBUSY; a runtime mounts a new /sys instead) and cgroup2 mounted
/// fresh.
pub const NS_OUTER: &str = r#"J=$1 I=$2 H=$3; shift 3
echo $$ > "$J" || { echo "cgshim-test: cannot join $J" >&2; exit 97; }
if [ -n "$H" ]; then
  exec nsenter --cgroup=/proc/$H/ns/cgroup unshare --mount --propagation private sh -c "$I" sh "$@"
fi
exec unshare --cgroup --mount --propagation private sh -c "$I" sh "$@""#;

pub const NS_INNER: &str = r#"P=$1; shift
cd / && mount --make-rprivate / && umount -l /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup \
  || { echo "cgshim-test: cgroup2 remount failed" >&2; exit 98; }
[ -n "$P" ] && export LD_PRELOAD="$P"
exec "$@""#;

/// Processes that hold a cgroup namespace rooted at a test cgroup; their standard input is a
/// pipe held here, so they end with the test process.
static HOLDERS: Mutex<Vec<(PathBuf, Child)>> = Mutex::new(Vec::new());

/// The pid of the process holding a cgroup namespace rooted at `dir`, if one was made.
pub fn ns_holder(dir: &Path) -> Option<u32> {
    let g = HOLDERS.lock().unwrap_or_else(|e| e.into_inner());
    g.iter().find(|(d, _)| d == dir).map(|(_, c)| c.id())
}

/// Before a child is made in `dir`: on v2 the parent must hand its controllers down, and a
/// namespace rooted at it must be made while it may still hold a process (see `NS_OUTER`).
pub fn before_child(dir: &Path) {
    if !active() {
        return;
    }
    if ns_holder(dir).is_none() {
        let procs = dir.join("cgroup.procs");
        let mut holder = Command::new("sh")
            .args(["-c", "echo $$ > \"$0\" && exec unshare --cgroup cat", procs.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the cgroup namespace holder");
        // Wait until it has its own namespace, then move it into a leaf of its own.
        let own = fs::read_link("/proc/self/ns/cgroup").ok();
        let link = format!("/proc/{}/ns/cgroup", holder.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs::read_link(&link).ok() == own
            || !fs::read_to_string(format!("/proc/{}/comm", holder.id()))
                .unwrap_or_default()
                .starts_with("cat")
        {
            if let Ok(Some(st)) = holder.try_wait() {
                panic!("the cgroup namespace holder for {} exited: {st}", dir.display());
            }
            assert!(
                Instant::now() < deadline,
                "the cgroup namespace holder for {} did not start",
                dir.display()
            );
            thread::sleep(Duration::from_millis(5));
        }
        let home = dir.join("cgshim-ns");
        fs::create_dir(&home).unwrap_or_else(|e| panic!("mkdir {}: {e}", home.display()));
        fs::write(home.join("cgroup.procs"), holder.id().to_string())
            .unwrap_or_else(|e| panic!("move the namespace holder to {}: {e}", home.display()));
        HOLDERS.lock().unwrap_or_else(|e| e.into_inner()).push((dir.to_path_buf(), holder));
    }
    enable_controllers(dir);
}

/// Ends the namespace holder of `dir` (before the cgroup is removed).
pub fn forget(dir: &Path) {
    let mut g = HOLDERS.lock().unwrap_or_else(|e| e.into_inner());
    g.retain_mut(|(d, c)| {
        if d.starts_with(dir) {
            let _ = c.kill();
            let _ = c.wait();
            false
        } else {
            true
        }
    });
}

/// No cgroup namespace; the visible root's directory bind-mounted over /sys/fs/cgroup (what
/// runc does on v2 when it may not mount cgroup2 itself). The host mount stays listed below it.
pub const BIND_INNER: &str = r#"R=$1 P=$2; shift 2
mount --make-rprivate / && mount --bind "$R" /sys/fs/cgroup \
  || { echo "cgshim-test: bind mount of $R failed" >&2; exit 98; }
[ -n "$P" ] && export LD_PRELOAD="$P"
exec "$@""#;

impl super::Cgroup {
    /// Writes `value` to the cgroup's `file` and checks that the kernel took it (v2 tests set
    /// `memory.high`, `memory.swap.max`, `cpu.max`, `cpuset.cpus` with it).
    pub fn write(&self, file: &str, value: &str) {
        let f = self.dir.join(file);
        fs::write(&f, value).unwrap_or_else(|e| panic!("write {value:?} to {}: {e}", f.display()));
    }

    /// The trimmed content of the cgroup's `file`.
    pub fn read(&self, file: &str) -> String {
        let f = self.dir.join(file);
        fs::read_to_string(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display())).trim().to_string()
    }

    /// `file` as a number of bytes (panics on `max`).
    pub fn read_u64(&self, file: &str) -> u64 {
        let t = self.read(file);
        t.parse().unwrap_or_else(|e| panic!("{}/{file} = {t:?} is not a number: {e}", self.dir.display()))
    }

    /// One key of a `key value` file (`memory.stat`, `cpu.stat`).
    pub fn stat(&self, file: &str, key: &str) -> u64 {
        let text = self.read(file);
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{key}` in {}/{file}:\n{text}", self.dir.display()))
    }
}
