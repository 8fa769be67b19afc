//! Secure mode: `/etc/ld.so.preload` loads the library into setuid programs too, where the
//! environment belongs to an unprivileged user. There every `CGSHIM_*` variable (the off switch,
//! the test root, the debug log) must be ignored, while the container's values are still served.

mod common;

use common::{Cgroup, MIB, c_program, cgroups_available, lib_path, parse_kv};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A root-owned scratch directory readable by everyone (the program runs as `nobody`).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// An empty `/etc/ld.so.preload` to bind over (preloads nothing), removed afterwards if this
/// test created it.
struct PreloadTarget(bool);

impl Drop for PreloadTarget {
    fn drop(&mut self) {
        if self.0 {
            let _ = fs::remove_file("/etc/ld.so.preload");
        }
    }
}

/// Runs `program` as `nobody` inside `cg`, with `preload_file` bound over `/etc/ld.so.preload`
/// in a private mount namespace, with the environment assignments `env`.
fn run_as_nobody(cg: &Cgroup, preload_file: &Path, program: &Path, env: &str) -> (String, String) {
    let script = format!(
        "echo $$ > {cg}/cgroup.procs && mount --bind {pre} /etc/ld.so.preload && \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups \
         env {env} {prog}",
        cg = cg.dir().display(),
        pre = preload_file.display(),
        prog = program.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env_remove("LD_PRELOAD")
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{program:?} failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    (stdout, stderr)
}

#[test]
fn setuid_programs_ignore_every_cgshim_variable() {
    if !cgroups_available() {
        return;
    }
    let cg = Cgroup::new(Some(256 * MIB));
    let scratch = Scratch(PathBuf::from(format!("/tmp/cgshim-secure-{}", std::process::id())));
    fs::create_dir_all(&scratch.0).unwrap();
    fs::set_permissions(&scratch.0, fs::Permissions::from_mode(0o755)).unwrap();
    let lib = scratch.0.join("libcgshim.so");
    fs::copy(lib_path(), &lib).unwrap();
    let preload_file = scratch.0.join("ld.so.preload");
    fs::write(&preload_file, format!("{}\n", lib.display())).unwrap();
    let plain = scratch.0.join("sysinfo_show");
    fs::copy(c_program("sysinfo_show"), &plain).unwrap();
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o755)).unwrap();
    let setuid = scratch.0.join("sysinfo_show_setuid");
    fs::copy(&plain, &setuid).unwrap();
    fs::set_permissions(&setuid, fs::Permissions::from_mode(0o4755)).unwrap();
    let _target = PreloadTarget(
        !Path::new("/etc/ld.so.preload").exists() && {
            fs::write("/etc/ld.so.preload", "").unwrap();
            true
        },
    );
    let host_kb = common::host_memtotal_kb();

    // Every cgshim variable set to something that would change the outcome if honoured.
    const HOSTILE: &str = "CGSHIM_DISABLE=1 CGSHIM_DEBUG=1 CGSHIM_SYSROOT=/nonexistent";

    // Controls: without privilege the variables are honoured. The library is loaded from the
    // preload file and logs when asked to...
    let (out, err) = run_as_nobody(&cg, &preload_file, &plain, "CGSHIM_DEBUG=1");
    assert_eq!(common::kv_u64(&parse_kv(&out), "totalram", &out), 268435456);
    assert!(err.contains("cgshim: memory: cgroup v1"), "debug log expected: {err}");
    // ...and switched off, it serves host values.
    let (out, err) = run_as_nobody(&cg, &preload_file, &plain, HOSTILE);
    let kv = parse_kv(&out);
    assert_eq!(common::kv_u64(&kv, "before_MemTotal", &out), host_kb, "CGSHIM_DISABLE=1 honoured");
    assert_eq!(common::kv_u64(&kv, "totalram", &out), common::kv_u64(&kv, "raw_totalram", &out));
    assert!(!err.contains("cgshim:"), "a disabled library logs nothing: {err}");

    // Setuid: the same environment is ignored; the cgroup's 256 MiB are served, nothing is
    // logged, and the test root is not used.
    let (out, err) = run_as_nobody(&cg, &preload_file, &setuid, HOSTILE);
    let kv = parse_kv(&out);
    assert_eq!(
        common::kv_u64(&kv, "before_MemTotal", &out),
        262144,
        "virtualized despite CGSHIM_DISABLE: {out}"
    );
    assert_eq!(common::kv_u64(&kv, "totalram", &out), 268435456);
    assert_eq!(common::kv_u64(&kv, "sc_phys_pages", &out) * common::page_size(), 268435456);
    assert!(!err.contains("cgshim"), "no debug output in a setuid program: {err}");
}
