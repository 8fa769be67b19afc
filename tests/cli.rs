//! The `cgshim` command, black-box: `exec` in a real 256 MiB v1 memory cgroup (the limit, an
//! existing LD_PRELOAD entry, exit statuses and signals, the static/Go warning with
//! `--no-supervise` and none by default, where such programs are supervised), `show --json`
//! parsed and checked field by field in the real layouts and on fixture trees, `show --meminfo`
//! byte for byte against the library, and `install`/`uninstall` into temporary roots.
//!
//! The real-cgroup tests need root and a writable /sys/fs/cgroup/memory (they skip otherwise;
//! they panic under CI=true).

#[macro_use]
mod common;

use common::{
    Cgroup, Failures, Layout, MEMCG_ROOT, MIB, have_program, host_memtotal_kb, lib_path, run_plain,
};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

const LIMIT: u64 = 256 * MIB;
const INSTALLED: &str = "/usr/local/lib/libcgshim.so";

fn cgshim() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| common::cgshim_bin().to_string_lossy().into_owned())
}

fn lib() -> String {
    lib_path().to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// A small JSON parser (the tests use std only)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) {
        self.ws();
        assert_eq!(self.s.get(self.i), Some(&b), "JSON: expected {:?} at byte {}", b as char, self.i);
        self.i += 1;
    }

    fn value(&mut self) -> J {
        self.ws();
        match self.s.get(self.i).copied() {
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.s[self.i] == b'}' {
                    self.i += 1;
                    return J::Obj(fields);
                }
                loop {
                    self.ws();
                    let J::Str(key) = self.value() else { panic!("JSON: object key is not a string") };
                    self.eat(b':');
                    let v = self.value();
                    assert!(!fields.iter().any(|(k, _)| *k == key), "JSON: duplicate key {key}");
                    fields.push((key, v));
                    self.ws();
                    match self.s[self.i] {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return J::Obj(fields);
                        }
                        c => panic!("JSON: unexpected {:?} in object at {}", c as char, self.i),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s[self.i] == b']' {
                    self.i += 1;
                    return J::Arr(items);
                }
                loop {
                    items.push(self.value());
                    self.ws();
                    match self.s[self.i] {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return J::Arr(items);
                        }
                        c => panic!("JSON: unexpected {:?} in array at {}", c as char, self.i),
                    }
                }
            }
            Some(b'"') => {
                self.i += 1;
                let mut out = String::new();
                loop {
                    let c = self.s[self.i];
                    self.i += 1;
                    match c {
                        b'"' => return J::Str(out),
                        b'\\' => {
                            let e = self.s[self.i];
                            self.i += 1;
                            match e {
                                b'n' => out.push('\n'),
                                b't' => out.push('\t'),
                                b'r' => out.push('\r'),
                                b'b' => out.push('\u{8}'),
                                b'f' => out.push('\u{c}'),
                                b'u' => {
                                    let hex = std::str::from_utf8(&self.s[self.i..self.i + 4]).unwrap();
                                    out.push(char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap());
                                    self.i += 4;
                                }
                                other => out.push(other as char),
                            }
                        }
                        _ => {
                            // Copy a whole UTF-8 sequence.
                            let start = self.i - 1;
                            let mut end = self.i;
                            while end < self.s.len() && (self.s[end] & 0xC0) == 0x80 {
                                end += 1;
                            }
                            out.push_str(std::str::from_utf8(&self.s[start..end]).unwrap());
                            self.i = end;
                        }
                    }
                }
            }
            Some(b't') => self.word("true", J::Bool(true)),
            Some(b'f') => self.word("false", J::Bool(false)),
            Some(b'n') => self.word("null", J::Null),
            Some(_) => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(self.s[self.i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    self.i += 1;
                }
                assert!(self.i > start, "JSON: unexpected byte at {start}");
                J::Num(String::from_utf8(self.s[start..self.i].to_vec()).unwrap())
            }
            None => panic!("JSON: unexpected end"),
        }
    }

    fn word(&mut self, w: &str, v: J) -> J {
        assert!(self.s[self.i..].starts_with(w.as_bytes()), "JSON: bad literal at {}", self.i);
        self.i += w.len();
        v
    }
}

fn parse_json(text: &str) -> J {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let v = p.value();
    p.ws();
    assert_eq!(p.i, text.len(), "JSON: trailing bytes after the object");
    v
}

impl J {
    /// The value at a dotted path (`memory.levels.0.limit.bytes`).
    fn at(&self, path: &str) -> &J {
        let mut cur = self;
        for part in path.split('.') {
            cur = match cur {
                J::Obj(fields) => {
                    &fields
                        .iter()
                        .find(|(k, _)| k == part)
                        .unwrap_or_else(|| panic!("no key {part:?} in {path}"))
                        .1
                }
                J::Arr(items) => {
                    &items[part.parse::<usize>().unwrap_or_else(|_| panic!("{part} is not an index"))]
                }
                other => panic!("{path}: {part:?} inside a scalar {other:?}"),
            };
        }
        cur
    }

    fn u64(&self, path: &str) -> u64 {
        match self.at(path) {
            J::Num(n) => n.parse().unwrap_or_else(|_| panic!("{path} = {n} is not an unsigned integer")),
            other => panic!("{path} is {other:?}, not a number"),
        }
    }

    fn f64(&self, path: &str) -> f64 {
        match self.at(path) {
            J::Num(n) => n.parse().unwrap(),
            other => panic!("{path} is {other:?}, not a number"),
        }
    }

    fn str(&self, path: &str) -> &str {
        match self.at(path) {
            J::Str(s) => s,
            other => panic!("{path} is {other:?}, not a string"),
        }
    }

    fn bool(&self, path: &str) -> bool {
        match self.at(path) {
            J::Bool(b) => *b,
            other => panic!("{path} is {other:?}, not a bool"),
        }
    }

    fn is_null(&self, path: &str) -> bool {
        *self.at(path) == J::Null
    }

    fn len(&self, path: &str) -> usize {
        match self.at(path) {
            J::Arr(items) => items.len(),
            other => panic!("{path} is {other:?}, not an array"),
        }
    }

    /// Interface entries by name → (enabled, virtualized, reason code).
    fn interfaces(&self) -> BTreeMap<String, (bool, bool, Option<String>)> {
        let J::Arr(items) = self.at("interfaces") else { panic!("interfaces is not an array") };
        items
            .iter()
            .map(|i| {
                let code = if i.is_null("reason") { None } else { Some(i.str("reason.code").to_string()) };
                (i.str("name").to_string(), (i.bool("enabled"), i.bool("virtualized"), code))
            })
            .collect()
    }
}

#[test]
fn json_parser_reads_what_it_should() {
    let v = parse_json(r#"{"a": [1, 2.50, null], "b": {"c": "x\"\u00e9\n"}, "d": true}"#);
    assert_eq!(v.u64("a.0"), 1);
    assert_eq!(v.f64("a.1"), 2.5);
    assert!(v.is_null("a.2"));
    assert_eq!(v.str("b.c"), "x\"é\n");
    assert!(v.bool("d"));
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

static TMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under the target's temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let n = TMP_COUNTER.fetch_add(1, Ordering::SeqCst);
        let p =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn build_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cgshim-cli-c");
    fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles `source` (written to `<name>.c`) with `compiler` and `args` into `<name>`.
fn compile(compiler: &str, name: &str, source: &str, args: &[&str]) -> PathBuf {
    let dir = build_dir();
    let src = dir.join(format!("{name}.c"));
    fs::write(&src, source).unwrap();
    let out = dir.join(name);
    let res = Command::new(compiler)
        .args(["-O0", "-w", "-o"])
        .arg(&out)
        .arg(&src)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(res.status.success(), "{compiler} {name}: {}", String::from_utf8_lossy(&res.stderr));
    out
}

const HELLO: &str = "#include <stdio.h>\nint main(void) { puts(\"static-ran\"); return 0; }\n";

/// A statically linked program printing `static-ran` (gcc -static, else musl-gcc -static).
fn static_program() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = build_dir();
        let src = dir.join("static_hello.c");
        fs::write(&src, HELLO).unwrap();
        let out = dir.join("static_hello");
        for cc in ["gcc", "musl-gcc"] {
            let ok = Command::new(cc).args(["-static", "-O0", "-o"]).arg(&out).arg(&src).status();
            if ok.map(|s| s.success()).unwrap_or(false) {
                return out;
            }
        }
        panic!("neither `gcc -static` nor `musl-gcc -static` can build a static program");
    })
}

/// A dynamically linked program that carries a `.go.buildinfo` section, as Go binaries do.
fn fake_go_program() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let src = "#include <stdio.h>\n\
            __attribute__((section(\".go.buildinfo\"), used)) static const char info[32] = \"\\xff Go buildinf:\";\n\
            int main(void) { puts(\"go-ran\"); return 0; }\n";
        compile("gcc", "fake_go", src, &[])
    })
}

/// A harmless shared object with nothing in it but a variable.
fn empty_so() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        compile("gcc", "libcgshim_test_empty.so", "int cgshim_test_empty = 1;\n", &["-shared", "-fPIC"])
    })
}

fn status_text(o: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs cgshim with a clean environment (no CGSHIM_*, no LD_PRELOAD) plus `env`.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(cgshim());
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CGSHIM_") || k == "LD_PRELOAD" {
            cmd.env_remove(&k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run cgshim")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The CPUs this (never preloaded) test process may use, from /proc/self/status.
fn own_affinity_count() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap().trim();
    list.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

fn host_meminfo_kb(key: &str) -> u64 {
    common::field(&common::parse_meminfo(&common::host_meminfo_text()), key, "host /proc/meminfo")
}

fn page_size() -> u64 {
    static P: OnceLock<u64> = OnceLock::new();
    *P.get_or_init(common::page_size)
}

// ---------------------------------------------------------------------------------------------
// --help, --version, usage errors
// ---------------------------------------------------------------------------------------------

#[test]
fn help_and_version_on_every_command() {
    let o = run(&["--version"], &[]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), format!("cgshim {}", env!("CARGO_PKG_VERSION")));
    for cmd in [&[][..], &["exec"], &["show"], &["install"], &["uninstall"]] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let o = run(&args, &[]);
        assert!(o.status.success(), "{args:?}: {}", status_text(&o));
        assert!(stdout(&o).contains("Usage: cgshim"), "{args:?}: {}", stdout(&o));
        let mut args = cmd.to_vec();
        args.push("--version");
        let o = run(&args, &[]);
        assert!(o.status.success(), "{args:?}: {}", status_text(&o));
        assert_eq!(stdout(&o).trim(), format!("cgshim {}", env!("CARGO_PKG_VERSION")), "{args:?}");
    }
    for bad in [&[][..], &["bogus"], &["show", "--json", "--meminfo"], &["show", "--nope"], &["exec"]] {
        let o = run(bad, &[]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", status_text(&o));
    }
}

// ---------------------------------------------------------------------------------------------
// exec
// ---------------------------------------------------------------------------------------------

#[test]
fn exec_free_in_a_256_mib_cgroup_shows_the_limit() {
    require_cgroups!();
    if !have_program("free") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let lib = lib();
    let mut f = Failures::default();
    for layout in [Layout::Host, Layout::CgroupNs, Layout::BindMount] {
        let o = cg.runner(layout).no_preload().run(&[cgshim(), "exec", "--lib", &lib, "free", "-b"]);
        let out = o.ok();
        let total = out.lines().find(|l| l.starts_with("Mem:")).and_then(|l| l.split_whitespace().nth(1));
        f.eq(&format!("{layout:?}: free -b total"), total, Some("268435456"));
        f.eq(&format!("{layout:?}: stderr"), o.stderr.as_str(), "");
    }
    // Without cgshim, the same free shows the host.
    let o = cg.runner(Layout::Host).no_preload().run(&["free", "-b"]);
    let total = o
        .ok()
        .lines()
        .find(|l| l.starts_with("Mem:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    f.eq("baseline free -b total", total, (host_memtotal_kb() * 1024).to_string());
    f.finish("cgshim exec free -b");
}

#[test]
fn exec_keeps_an_existing_ld_preload_entry() {
    require_cgroups!();
    if !have_program("free") {
        return;
    }
    let cg = Cgroup::new(Some(LIMIT));
    let lib = lib();
    let empty = empty_so().to_string_lossy().into_owned();
    let runner = || cg.runner(Layout::Host).no_preload().env("LD_PRELOAD", &empty);
    let mut f = Failures::default();

    let o = runner().run(&[cgshim(), "exec", "--lib", &lib, "printenv", "LD_PRELOAD"]);
    f.eq("LD_PRELOAD seen by the program", o.ok().trim().to_string(), format!("{lib} {empty}"));

    let o = runner().run(&[cgshim(), "exec", "--lib", &lib, "cat", "/proc/self/maps"]);
    let maps = o.ok();
    f.check(maps.contains(&lib), || format!("libcgshim.so is not mapped:\n{maps}"));
    f.check(maps.contains(&empty), || format!("the existing LD_PRELOAD entry is not mapped:\n{maps}"));

    let o = runner().run(&[cgshim(), "exec", "--lib", &lib, "free", "-b"]);
    let total = o
        .ok()
        .lines()
        .find(|l| l.starts_with("Mem:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_string);
    f.eq("free -b total with both preloaded", total, Some("268435456".to_string()));

    // Colon-separated lists are kept too, and a second cgshim exec does not add the library twice.
    let o = cg.runner(Layout::Host).no_preload().env("LD_PRELOAD", &format!("{empty}:{empty}")).run(&[
        cgshim(),
        "exec",
        "--lib",
        &lib,
        cgshim(),
        "exec",
        "--lib",
        &lib,
        "printenv",
        "LD_PRELOAD",
    ]);
    f.eq("nested exec", o.ok().trim().to_string(), format!("{lib} {empty} {empty}"));
    f.finish("existing LD_PRELOAD");
}

#[test]
fn exec_passes_exit_status_and_signals_through() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let lib = lib();
    let mut f = Failures::default();
    for (script, code) in [("exit 0", 0), ("exit 3", 3)] {
        let o =
            cg.runner(Layout::Host).no_preload().run(&[cgshim(), "exec", "--lib", &lib, "sh", "-c", script]);
        f.eq(&format!("exit status of `{script}`"), o.status.code(), Some(code));
    }
    let o = cg.runner(Layout::Host).no_preload().run(&[
        cgshim(),
        "exec",
        "--lib",
        &lib,
        "sh",
        "-c",
        "kill -KILL $$",
    ]);
    f.eq("killed by", o.status.signal(), Some(9));
    f.eq("exit code of a killed program", o.status.code(), None);
    f.finish("exit statuses");

    // exec, not a child: the program has cgshim's process id.
    let o = run_plain(
        &["sh", "-c", "echo $$; exec \"$0\" exec --lib \"$1\" sh -c 'echo $$'", cgshim(), &lib],
        false,
        &[],
    );
    let pids: Vec<&str> = o.ok().lines().collect();
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert_eq!(pids[0], pids[1], "the program runs as a child, not in cgshim's place");
}

#[test]
fn exec_warns_once_about_programs_the_library_cannot_reach() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let lib = lib();
    let mut f = Failures::default();
    // Static and Go programs are supervised by default; `--no-supervise` refuses that, and then
    // the warning says what the program will see and what to do instead.
    let exec = |program: &str| {
        cg.runner(Layout::Host).no_preload().run(&[
            cgshim(),
            "exec",
            "--lib",
            &lib,
            "--no-supervise",
            program,
        ])
    };

    let stat = static_program().to_string_lossy().into_owned();
    let o = exec(&stat);
    f.eq("static program output", o.ok().trim(), "static-ran");
    f.eq("warnings about the static program", o.stderr.matches("cgshim:").count(), 1);
    f.eq("'statically linked' mentions", o.stderr.matches("statically linked").count(), 1);
    f.check(o.stderr.contains(&stat), || format!("the warning does not name the program: {}", o.stderr));

    let go = fake_go_program().to_string_lossy().into_owned();
    let o = exec(&go);
    f.eq("Go program output", o.ok().trim(), "go-ran");
    f.eq("warnings about the Go program", o.stderr.matches("cgshim:").count(), 1);
    f.check(o.stderr.contains("Go program") && o.stderr.contains("GOMEMLIMIT=230MiB"), || {
        format!("the Go warning does not say what to do (GOMEMLIMIT for 256 MiB): {}", o.stderr)
    });
    f.check(o.stderr.contains("GOMAXPROCS"), || format!("no GOMAXPROCS advice: {}", o.stderr));

    // A script runs under its interpreter: that is what is inspected.
    let dir = TempDir::new("script");
    let script = dir.path().join("run-static");
    fs::write(&script, format!("#!{stat}\n")).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let o = exec(script.to_str().unwrap());
    f.eq("script output", o.ok().trim(), "static-ran");
    f.eq("warnings about the script's interpreter", o.stderr.matches("statically linked").count(), 1);

    // By default they are supervised: no warning, and they still run.
    for (what, program, output) in [
        ("static", stat.as_str(), "static-ran"),
        ("Go", go.as_str(), "go-ran"),
        ("script", script.to_str().unwrap(), "static-ran"),
    ] {
        let o = cg.runner(Layout::Host).no_preload().run(&[cgshim(), "exec", "--lib", &lib, program]);
        f.eq(&format!("{what} program output, supervised by default"), o.ok().trim(), output);
        f.eq(&format!("stderr for the {what} program, supervised by default"), o.stderr.as_str(), "");
    }

    // Dynamically linked programs: no warning at all.
    let o = cg.runner(Layout::Host).no_preload().run(&[cgshim(), "exec", "--lib", &lib, "sh", "-c", "true"]);
    o.ok();
    f.eq("stderr for a dynamic program", o.stderr.as_str(), "");
    f.finish("static and Go warnings");
}

#[test]
fn exec_reports_programs_that_cannot_run() {
    let lib = lib();
    let dir = TempDir::new("noexec");
    let plain = dir.path().join("not-executable");
    fs::write(&plain, "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o644)).unwrap();
    let cases: [(&[&str], i32, &str); 5] = [
        (&["exec", "--lib", &lib, "/nonexistent/program"], 127, "no such file"),
        (&["exec", "--lib", &lib, "cgshim-no-such-program"], 127, "not found in PATH"),
        (&["exec", "--lib", &lib, plain.to_str().unwrap()], 126, "not executable"),
        (&["exec", "--lib", "/nonexistent/libcgshim.so", "true"], 2, "--lib /nonexistent/libcgshim.so"),
        (&["exec", "--lib", "/dev/null", "true"], 2, "not a regular file"),
    ];
    for (args, code, message) in cases {
        let o = run(args, &[]);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", status_text(&o));
        assert!(
            stderr(&o).starts_with("cgshim: ") && stderr(&o).contains(message),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

/// Runs `cmd`, retrying while the kernel says the program is busy being written: another test
/// thread that forks while this one copies the binary holds the copy's fd open in its child
/// until that child execs (ETXTBSY, a race of the test, not of the program).
fn output_of_copied(cmd: &mut Command) -> std::process::Output {
    for _ in 0..50 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.unwrap(),
        }
    }
    cmd.output().unwrap()
}

#[test]
fn exec_finds_the_library_next_to_the_binary_or_in_the_prefix() {
    let dir = TempDir::new("lookup");
    let bin = dir.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(dir.path().join("lib")).unwrap();
    let exe = bin.join("cgshim");
    fs::copy(cgshim(), &exe).unwrap();
    let in_prefix = dir.path().join("lib/libcgshim.so");
    fs::copy(lib_path(), &in_prefix).unwrap();
    let exe_s = exe.to_str().unwrap();

    let o = output_of_copied(
        Command::new(exe_s).args(["exec", "printenv", "LD_PRELOAD"]).env_remove("LD_PRELOAD"),
    );
    assert!(o.status.success(), "{}", status_text(&o));
    assert_eq!(stdout(&o).trim(), fs::canonicalize(&in_prefix).unwrap().to_str().unwrap());

    let next_to = bin.join("libcgshim.so");
    fs::copy(lib_path(), &next_to).unwrap();
    let o = output_of_copied(
        Command::new(exe_s).args(["exec", "printenv", "LD_PRELOAD"]).env_remove("LD_PRELOAD"),
    );
    assert_eq!(
        stdout(&o).trim(),
        fs::canonicalize(&next_to).unwrap().to_str().unwrap(),
        "{}",
        status_text(&o)
    );

    // Neither: the system directories, else a clear error with exit status 125.
    fs::remove_file(&next_to).unwrap();
    fs::remove_file(&in_prefix).unwrap();
    let o = output_of_copied(Command::new(exe_s).args(["exec", "true"]));
    if !Path::new("/usr/local/lib/libcgshim.so").exists() && !Path::new("/usr/lib/libcgshim.so").exists() {
        assert_eq!(o.status.code(), Some(125), "{}", status_text(&o));
        assert!(
            stderr(&o).contains("libcgshim.so not found") && stderr(&o).contains("--lib"),
            "{}",
            stderr(&o)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// show --json in real cgroups
// ---------------------------------------------------------------------------------------------

/// Every field of `show --json` for a process in the 256 MiB cgroup `cg`, seen in `layout`.
fn check_real_show(f: &mut Failures, ctx: &str, v: &J, cg: &Cgroup, layout: Layout) {
    let (dir, levels, layout_name) = match layout {
        Layout::Host => (format!("{MEMCG_ROOT}{}", cg.rel()), 2, "mount-root"),
        Layout::CgroupNs => (MEMCG_ROOT.to_string(), 1, "mount-root"),
        Layout::BindMount => (MEMCG_ROOT.to_string(), 1, "bind-mount"),
        Layout::NoCgroupfs => unreachable!(),
    };
    f.eq(&format!("{ctx}: schema_version"), v.u64("schema_version"), 1);
    f.eq(&format!("{ctx}: root"), v.str("root"), "/");
    f.eq(&format!("{ctx}: memory.cgroup.version"), v.str("memory.cgroup.version"), "v1");
    f.eq(&format!("{ctx}: memory.cgroup.layout"), v.str("memory.cgroup.layout"), layout_name);
    f.eq(&format!("{ctx}: memory.cgroup.dir"), v.str("memory.cgroup.dir"), dir.as_str());
    f.eq(&format!("{ctx}: memory.cgroup.mountpoint"), v.str("memory.cgroup.mountpoint"), MEMCG_ROOT);
    f.check(v.is_null("memory.not_found"), || format!("{ctx}: memory.not_found is set"));
    f.eq(&format!("{ctx}: levels"), v.len("memory.levels"), levels);
    let limit_file = format!("{dir}/memory.limit_in_bytes");
    f.eq(&format!("{ctx}: level 0 dir"), v.str("memory.levels.0.dir"), dir.as_str());
    f.check(v.bool("memory.levels.0.has_files"), || format!("{ctx}: level 0 has no files"));
    f.eq(&format!("{ctx}: level 0 limit file"), v.str("memory.levels.0.limit.file"), limit_file.as_str());
    f.eq(&format!("{ctx}: level 0 limit text"), v.str("memory.levels.0.limit.text"), "268435456");
    f.eq(&format!("{ctx}: level 0 limit"), v.u64("memory.levels.0.limit.bytes"), LIMIT);
    f.check(v.bool("memory.levels.0.limit_counts"), || format!("{ctx}: level 0 limit does not count"));
    f.check(v.is_null("memory.levels.0.high"), || format!("{ctx}: v1 has no memory.high"));
    f.eq(
        &format!("{ctx}: level 0 usage file"),
        v.str("memory.levels.0.usage.file"),
        format!("{dir}/memory.usage_in_bytes").as_str(),
    );
    let usage = v.u64("memory.levels.0.usage.bytes");
    f.check(usage > 0 && usage <= LIMIT, || format!("{ctx}: level 0 usage {usage}"));
    f.eq(&format!("{ctx}: level 0 headroom"), v.u64("memory.levels.0.headroom"), LIMIT - usage);
    f.eq(
        &format!("{ctx}: level 0 swap limit file"),
        v.str("memory.levels.0.swap_limit.file"),
        format!("{dir}/memory.memsw.limit_in_bytes").as_str(),
    );
    if levels == 2 {
        f.eq(&format!("{ctx}: level 1 dir"), v.str("memory.levels.1.dir"), MEMCG_ROOT);
        f.check(!v.bool("memory.levels.1.limit_counts"), || format!("{ctx}: the root's limit counts"));
        f.check(v.is_null("memory.levels.1.headroom"), || format!("{ctx}: the root has a headroom"));
    }
    f.eq(&format!("{ctx}: hierarchical limit"), v.u64("memory.hierarchical_memory_limit.bytes"), LIMIT);
    f.eq(
        &format!("{ctx}: hierarchical limit file"),
        v.str("memory.hierarchical_memory_limit.file"),
        format!("{dir}/memory.stat").as_str(),
    );
    f.eq(&format!("{ctx}: limit"), v.u64("memory.limit.bytes"), LIMIT);
    f.eq(&format!("{ctx}: limit set_by"), v.str("memory.limit.set_by"), "level");
    f.eq(&format!("{ctx}: limit level"), v.u64("memory.limit.level"), 0);
    f.eq(&format!("{ctx}: limit dir"), v.str("memory.limit.dir"), dir.as_str());
    f.eq(&format!("{ctx}: limit file"), v.str("memory.limit.file"), limit_file.as_str());
    let (free, avail) = (v.u64("memory.free"), v.u64("memory.available"));
    f.eq(&format!("{ctx}: free = level 0 headroom"), free, LIMIT - usage);
    f.check(free <= avail && avail <= LIMIT, || format!("{ctx}: free {free} available {avail}"));
    f.eq(
        &format!("{ctx}: swap_total (no swap accounting or no host swap)"),
        v.u64("memory.swap_total") <= host_meminfo_kb("SwapTotal") * 1024,
        true,
    );
    f.check(v.bool("memory.virtualized") && v.is_null("memory.reason"), || {
        format!("{ctx}: memory not virtualized")
    });
    f.eq(&format!("{ctx}: host MemTotal"), v.u64("memory.host.MemTotal"), host_memtotal_kb() * 1024);
    f.eq(
        &format!("{ctx}: host SwapTotal"),
        v.u64("memory.host.SwapTotal"),
        host_meminfo_kb("SwapTotal") * 1024,
    );

    f.check(v.bool("meminfo_kB.virtualized"), || format!("{ctx}: /proc/meminfo not virtualized"));
    f.eq(&format!("{ctx}: meminfo MemTotal"), v.u64("meminfo_kB.MemTotal"), LIMIT / 1024);
    f.eq(&format!("{ctx}: meminfo MemFree"), v.u64("meminfo_kB.MemFree"), free / 1024);
    f.eq(&format!("{ctx}: meminfo MemAvailable"), v.u64("meminfo_kB.MemAvailable"), avail / 1024);
    f.eq(
        &format!("{ctx}: meminfo SwapTotal"),
        v.u64("meminfo_kB.SwapTotal"),
        v.u64("memory.swap_total") / 1024,
    );
    f.eq(&format!("{ctx}: meminfo SwapFree"), v.u64("meminfo_kB.SwapFree"), v.u64("memory.swap_free") / 1024);

    f.eq(&format!("{ctx}: sysinfo.totalram"), v.u64("sysinfo.totalram"), LIMIT);
    let freeram = v.u64("sysinfo.freeram");
    f.check(freeram > 0 && freeram <= LIMIT, || format!("{ctx}: sysinfo.freeram {freeram}"));
    f.eq(&format!("{ctx}: sysinfo.bufferram"), v.u64("sysinfo.bufferram"), 0);
    f.eq(&format!("{ctx}: sysconf page size"), v.u64("sysconf.page_size"), page_size());
    f.eq(&format!("{ctx}: _SC_PHYS_PAGES"), v.u64("sysconf._SC_PHYS_PAGES"), LIMIT / page_size());

    let cpus = own_affinity_count();
    f.eq(&format!("{ctx}: affinity count"), v.u64("cpu.affinity.count"), cpus);
    let n = if v.is_null("cpu.quota") { cpus } else { v.u64("cpu.quota.cpus").clamp(1, cpus) };
    f.eq(&format!("{ctx}: N"), v.u64("cpu.n"), n);
    f.eq(&format!("{ctx}: _SC_NPROCESSORS_ONLN"), v.u64("sysconf._SC_NPROCESSORS_ONLN"), n);
    f.check(v.bool("cpu.virtualized"), || format!("{ctx}: CPU view off"));
    if layout == Layout::CgroupNs {
        // Only the memory hierarchy is mounted in the namespace.
        f.eq(&format!("{ctx}: cpu.not_found"), v.str("cpu.not_found.code"), "no-mount");
        f.eq(&format!("{ctx}: tasks reason"), v.str("tasks.reason.code"), "no-mount");
    }

    // The command runs in the test's own PID namespace.
    let own_ns = fs::read_link("/proc/self/ns/pid").unwrap().to_string_lossy().into_owned();
    let in_ns = own_ns != "pid:[4026531836]";
    f.eq(&format!("{ctx}: pid_namespace"), v.str("uptime.pid_namespace"), own_ns.as_str());
    f.eq(&format!("{ctx}: in_pid_namespace"), v.bool("uptime.in_pid_namespace"), in_ns);
    f.eq(&format!("{ctx}: uptime virtualized"), v.bool("uptime.virtualized"), in_ns);
    if !in_ns {
        f.eq(&format!("{ctx}: uptime reason"), v.str("uptime.reason.code"), "no-pid-namespace");
        f.check(v.is_null("uptime.seconds"), || format!("{ctx}: uptime.seconds set outside a PID namespace"));
    }

    let ifaces = v.interfaces();
    for name in ["/proc/meminfo", "/proc/swaps", "/proc/vmstat", "sysinfo", "sysconf_pages", "/proc/cpuinfo"]
    {
        f.eq(&format!("{ctx}: interface {name}"), ifaces.get(name).cloned(), Some((true, true, None)));
    }
    f.eq(
        &format!("{ctx}: sched_getaffinity"),
        ifaces.get("sched_getaffinity").cloned(),
        Some((true, true, None)),
    );
    let uptime_reason = if in_ns { None } else { Some("no-pid-namespace".to_string()) };
    f.eq(
        &format!("{ctx}: /proc/uptime"),
        ifaces.get("/proc/uptime").cloned(),
        Some((true, in_ns, uptime_reason)),
    );
}

#[test]
fn show_json_in_the_real_layouts() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    for layout in [Layout::Host, Layout::CgroupNs, Layout::BindMount] {
        let o = cg.runner(layout).no_preload().run(&[cgshim(), "show", "--json"]);
        let v = parse_json(o.ok());
        check_real_show(&mut f, &format!("{layout:?}"), &v, &cg, layout);
        // The same, with cgshim itself running preloaded: its own reads must bypass the library.
        let o = cg.runner(layout).run(&[cgshim(), "show", "--json"]);
        let v = parse_json(o.ok());
        check_real_show(&mut f, &format!("{layout:?}, cgshim preloaded"), &v, &cg, layout);
    }
    // The text form says the same.
    let o = cg.runner(Layout::Host).no_preload().run(&[cgshim(), "show"]);
    let text = o.ok();
    f.check(text.contains("268435456 (256.0 MiB) set by the own cgroup"), || format!("text report:\n{text}"));
    f.check(text.contains("MemTotal 262144 kB"), || format!("text report:\n{text}"));
    f.finish("show --json in real cgroups");
}

#[test]
fn show_json_without_cgroupfs_says_why() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let o = cg.runner(Layout::NoCgroupfs).no_preload().run(&[cgshim(), "show", "--json"]);
    let v = parse_json(o.ok());
    let mut f = Failures::default();
    f.check(v.is_null("memory.cgroup"), || "memory.cgroup is set".into());
    f.eq("memory.not_found", v.str("memory.not_found.code"), "no-mount");
    f.eq("memory.reason", v.str("memory.reason.code"), "no-mount");
    f.eq("memory.virtualized", v.bool("memory.virtualized"), false);
    f.eq("meminfo virtualized", v.bool("meminfo_kB.virtualized"), false);
    f.eq("meminfo MemTotal", v.u64("meminfo_kB.MemTotal"), host_memtotal_kb());
    f.eq("sysinfo.totalram", v.u64("sysinfo.totalram"), host_memtotal_kb() * 1024);
    f.eq(
        "interface /proc/meminfo",
        v.interfaces()["/proc/meminfo"].clone(),
        (true, false, Some("no-mount".into())),
    );
    f.finish("show --json without cgroupfs");
}

#[test]
fn show_json_in_a_pid_namespace_gives_the_container_uptime() {
    require_cgroups!();
    let o =
        run_plain(&["unshare", "--pid", "--fork", "--mount-proc", cgshim(), "show", "--json"], false, &[]);
    let v = parse_json(o.ok());
    let mut f = Failures::default();
    f.eq("in_pid_namespace", v.bool("uptime.in_pid_namespace"), true);
    f.check(v.str("uptime.pid_namespace").starts_with("pid:["), || "pid_namespace link".into());
    f.check(!v.is_null("uptime.init_start_ticks"), || "no init start".into());
    let up = v.f64("uptime.seconds");
    f.check((0.0..30.0).contains(&up), || format!("uptime {up} s for a namespace started just now"));
    let idle = v.f64("uptime.idle_seconds");
    f.check(idle >= 0.0 && idle <= up * v.u64("cpu.n") as f64 + 0.01, || {
        format!("idle {idle} s, uptime {up} s")
    });
    f.eq("uptime virtualized", v.bool("uptime.virtualized"), true);
    f.check(v.u64("sysinfo.uptime") <= 30, || format!("sysinfo.uptime {}", v.u64("sysinfo.uptime")));
    f.eq("interface /proc/uptime", v.interfaces()["/proc/uptime"].clone(), (true, true, None));
    f.eq("interface sysinfo.uptime", v.interfaces()["sysinfo.uptime"].clone(), (true, true, None));
    f.finish("show --json in a PID namespace");
}

// ---------------------------------------------------------------------------------------------
// show on fixture trees
// ---------------------------------------------------------------------------------------------

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).join("root")
}

/// `tests/fixtures/v2-limited`, every field against the numbers of its README.
#[test]
fn show_json_on_the_v2_limited_fixture() {
    let root = fixture("v2-limited");
    let o = run(&["show", "--json", "--root", root.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", status_text(&o));
    let v = parse_json(&stdout(&o));
    let mut f = Failures::default();
    let scope = "/sys/fs/cgroup/system.slice/docker-abc.scope";
    let slice = "/sys/fs/cgroup/system.slice";
    f.eq("root", v.str("root"), root.to_str().unwrap());
    f.eq("config.CGSHIM_DISABLE", v.is_null("config.CGSHIM_DISABLE"), true);
    f.eq("config.all_disabled", v.bool("config.all_disabled"), false);
    f.eq("config.disabled_features", v.len("config.disabled_features"), 0);
    f.eq("config.unknown_disable_names", v.len("config.unknown_disable_names"), 0);
    f.eq("config.cpu_affinity", v.bool("config.cpu_affinity"), true);
    f.eq("config.debug", v.bool("config.debug"), false);

    f.eq("cgroup.version", v.str("memory.cgroup.version"), "v2");
    f.eq("cgroup.layout", v.str("memory.cgroup.layout"), "mount-root");
    f.eq("cgroup.dir", v.str("memory.cgroup.dir"), scope);
    f.eq("cgroup.mountpoint", v.str("memory.cgroup.mountpoint"), "/sys/fs/cgroup");
    f.eq("levels", v.len("memory.levels"), 3);
    // Level 0: docker-abc.scope, memory.max 268435456, memory.high max, memory.current 163840000.
    f.eq("l0.dir", v.str("memory.levels.0.dir"), scope);
    f.eq("l0.has_files", v.bool("memory.levels.0.has_files"), true);
    f.eq("l0.limit.file", v.str("memory.levels.0.limit.file"), format!("{scope}/memory.max").as_str());
    f.eq("l0.limit.text", v.str("memory.levels.0.limit.text"), "268435456");
    f.eq("l0.limit.bytes", v.u64("memory.levels.0.limit.bytes"), 268435456);
    f.eq("l0.high.file", v.str("memory.levels.0.high.file"), format!("{scope}/memory.high").as_str());
    f.eq("l0.high.text", v.str("memory.levels.0.high.text"), "max");
    f.eq("l0.high.bytes", v.is_null("memory.levels.0.high.bytes"), true);
    f.eq("l0.usage.file", v.str("memory.levels.0.usage.file"), format!("{scope}/memory.current").as_str());
    f.eq("l0.usage.bytes", v.u64("memory.levels.0.usage.bytes"), 163840000);
    f.eq(
        "l0.swap_limit.file",
        v.str("memory.levels.0.swap_limit.file"),
        format!("{scope}/memory.swap.max").as_str(),
    );
    f.eq("l0.swap_limit.text", v.str("memory.levels.0.swap_limit.text"), "max");
    f.eq("l0.limit_counts", v.bool("memory.levels.0.limit_counts"), true);
    f.eq("l0.headroom", v.u64("memory.levels.0.headroom"), 268435456 - 163840000);
    // Level 1: system.slice, max/max, current 1234567168: unlimited, its usage does not count.
    f.eq("l1.dir", v.str("memory.levels.1.dir"), slice);
    f.eq("l1.limit.text", v.str("memory.levels.1.limit.text"), "max");
    f.eq("l1.limit.bytes", v.is_null("memory.levels.1.limit.bytes"), true);
    f.eq("l1.usage.bytes", v.u64("memory.levels.1.usage.bytes"), 1234567168);
    f.eq("l1.limit_counts", v.bool("memory.levels.1.limit_counts"), false);
    f.eq("l1.headroom", v.is_null("memory.levels.1.headroom"), true);
    // Level 2: the root, no memory files.
    f.eq("l2.dir", v.str("memory.levels.2.dir"), "/sys/fs/cgroup");
    f.eq("l2.has_files", v.bool("memory.levels.2.has_files"), false);
    f.eq("l2.limit.text", v.is_null("memory.levels.2.limit.text"), true);
    f.eq("hierarchical (v1 only)", v.is_null("memory.hierarchical_memory_limit"), true);
    // L = 268435456 from the scope's memory.max.
    f.eq("limit.bytes", v.u64("memory.limit.bytes"), 268435456);
    f.eq("limit.set_by", v.str("memory.limit.set_by"), "level");
    f.eq("limit.level", v.u64("memory.limit.level"), 0);
    f.eq("limit.dir", v.str("memory.limit.dir"), scope);
    f.eq("limit.file", v.str("memory.limit.file"), format!("{scope}/memory.max").as_str());
    // headroom 104595456; MemAvailable = 104595456 + 53488664 = 158084120.
    f.eq("free", v.u64("memory.free"), 104595456);
    f.eq("available", v.u64("memory.available"), 158084120);
    // No swap limit anywhere: the host's 4194300 kB; in use: memory.swap.current 3145728.
    f.eq("swap_total", v.u64("memory.swap_total"), 4194300 * 1024);
    f.eq("swap_free", v.u64("memory.swap_free"), 4194300 * 1024 - 3145728);
    f.eq("virtualized", v.bool("memory.virtualized"), true);
    f.eq("reason", v.is_null("memory.reason"), true);
    f.eq("host.MemTotal", v.u64("memory.host.MemTotal"), 25276502016);
    f.eq("host.MemAvailable", v.u64("memory.host.MemAvailable"), 24913440768);
    f.eq("host.SwapTotal", v.u64("memory.host.SwapTotal"), 4194300 * 1024);
    // The fixture's expected /proc/meminfo values.
    f.eq("meminfo.virtualized", v.bool("meminfo_kB.virtualized"), true);
    f.eq("meminfo.MemTotal", v.u64("meminfo_kB.MemTotal"), 262144);
    f.eq("meminfo.MemFree", v.u64("meminfo_kB.MemFree"), 102144);
    f.eq("meminfo.MemAvailable", v.u64("meminfo_kB.MemAvailable"), 154379);
    f.eq("meminfo.SwapTotal", v.u64("meminfo_kB.SwapTotal"), 4194300);
    f.eq("meminfo.SwapFree", v.u64("meminfo_kB.SwapFree"), (4194300 * 1024 - 3145728) / 1024);
    // sysinfo: the view with the kernel's own totals (the real machine's swap).
    f.eq("sysinfo.totalram", v.u64("sysinfo.totalram"), 268435456);
    f.eq("sysinfo.freeram", v.u64("sysinfo.freeram"), 104595456);
    f.eq("sysinfo.sharedram", v.u64("sysinfo.sharedram"), 8388608);
    f.eq("sysinfo.bufferram", v.u64("sysinfo.bufferram"), 0);
    let real_swap = host_meminfo_kb("SwapTotal") * 1024;
    f.eq("sysinfo.totalswap", v.u64("sysinfo.totalswap"), real_swap);
    f.eq("sysinfo.freeswap", v.u64("sysinfo.freeswap"), real_swap.saturating_sub(3145728));
    f.eq("_SC_PHYS_PAGES", v.u64("sysconf._SC_PHYS_PAGES"), 268435456 / page_size());
    f.eq("_SC_AVPHYS_PAGES", v.u64("sysconf._SC_AVPHYS_PAGES"), 104595456 / page_size());
    // CPU: cpu.max "max 100000" on the scope, none above: N = the affinity.
    let cpus = own_affinity_count();
    f.eq("cpu.cgroup.dir", v.str("cpu.cgroup.dir"), scope);
    f.eq("cpu.levels", v.len("cpu.levels"), 3);
    f.eq("cpu.l0.quota.file", v.str("cpu.levels.0.quota.file"), format!("{scope}/cpu.max").as_str());
    f.eq("cpu.l0.quota.text", v.str("cpu.levels.0.quota.text"), "max 100000");
    f.eq("cpu.l0.unlimited", v.bool("cpu.levels.0.unlimited"), true);
    f.eq("cpu.l1.quota.text", v.is_null("cpu.levels.1.quota.text"), true);
    f.eq("cpu.quota", v.is_null("cpu.quota"), true);
    f.eq("cpu.n", v.u64("cpu.n"), cpus);
    f.eq("cpu.affinity.count", v.u64("cpu.affinity.count"), cpus);
    f.eq("cpu.set", v.str("cpu.set"), v.str("cpu.affinity.list"));
    f.eq("cpu.virtualized", v.bool("cpu.virtualized"), true);
    f.eq("_SC_NPROCESSORS_ONLN", v.u64("sysconf._SC_NPROCESSORS_ONLN"), cpus);
    // Neither /proc/1/stat nor pids.current in the tree.
    f.eq("uptime.reason", v.str("uptime.reason.code"), "init-unreadable");
    f.eq("uptime.virtualized", v.bool("uptime.virtualized"), false);
    f.eq("tasks.reason", v.str("tasks.reason.code"), "no-directory");
    f.eq("tasks.count", v.is_null("tasks.count"), true);
    let ifaces = v.interfaces();
    for name in ["/proc/meminfo", "/proc/swaps", "/proc/vmstat", "sysinfo", "sysconf_pages", "/proc/stat"] {
        f.eq(&format!("interface {name}"), ifaces.get(name).cloned(), Some((true, true, None)));
    }
    f.eq("interface count", ifaces.len(), 15);
    f.eq(
        "interface sysinfo.procs",
        ifaces["sysinfo.procs"].clone(),
        (true, false, Some("no-directory".into())),
    );

    // CGSHIM_SYSROOT selects the same tree, as it does for the library.
    let o = run(&["show", "--json"], &[("CGSHIM_SYSROOT", root.to_str().unwrap())]);
    let w = parse_json(&stdout(&o));
    for part in ["root", "memory", "meminfo_kB", "cpu", "tasks", "interfaces"] {
        f.check(v.at(part) == w.at(part), || format!("{part} differs between --root and CGSHIM_SYSROOT"));
    }
    f.finish("show --json on v2-limited");
}

#[test]
fn show_json_explains_the_other_fixtures() {
    let mut f = Failures::default();
    let show = |name: &str, env: &[(&str, &str)]| {
        let o = run(&["show", "--json", "--root", fixture(name).to_str().unwrap()], env);
        assert!(o.status.success(), "{name}: {}", status_text(&o));
        parse_json(&stdout(&o))
    };
    // The limit of an invisible parent, through hierarchical_memory_limit.
    let v = show("v1-hierarchical-hidden-parent", &[]);
    f.eq("hidden parent: layout", v.str("memory.cgroup.layout"), "bind-mount");
    f.eq("hidden parent: set_by", v.str("memory.limit.set_by"), "hierarchical_memory_limit");
    f.check(v.is_null("memory.limit.level"), || "hidden parent: a level is named".into());
    f.eq("hidden parent: file", v.str("memory.limit.file"), "/sys/fs/cgroup/memory/memory.stat");
    f.eq("hidden parent: limit", v.u64("memory.limit.bytes"), 268435456);
    f.eq("hidden parent: own limit counts", v.bool("memory.levels.0.limit_counts"), false);
    f.eq("hidden parent: own limit text", v.str("memory.levels.0.limit.text"), "9223372036854771712");
    f.eq("hidden parent: MemFree", v.u64("meminfo_kB.MemFree"), 151552);
    f.eq("hidden parent: MemAvailable", v.u64("meminfo_kB.MemAvailable"), 196608);
    // A tighter parent sets the limit; the headroom is the parent's.
    let v = show("v2-nested-tighter-parent", &[]);
    f.eq("nested: level", v.u64("memory.limit.level"), 1);
    f.eq("nested: dir", v.str("memory.limit.dir"), "/sys/fs/cgroup/batch.slice/batch-nightly.slice");
    f.eq("nested: free", v.u64("memory.free"), 37748736);
    f.eq("nested: level 1 headroom", v.u64("memory.levels.1.headroom"), 37748736);
    f.eq("nested: level 2 counts", v.bool("memory.levels.2.limit_counts"), true);
    // memory.high lowers the headroom, not the limit.
    let v = show("v2-cgroupns", &[]);
    f.eq("cgroupns: limit", v.u64("memory.limit.bytes"), 536870912);
    f.eq("cgroupns: headroom", v.u64("memory.levels.0.headroom"), 402653184 - 126877696);
    // Swap limited on the parent.
    let v = show("v2-swap-limited", &[]);
    f.eq("swap: SwapTotal", v.u64("meminfo_kB.SwapTotal"), 98304);
    f.eq("swap: SwapFree", v.u64("meminfo_kB.SwapFree"), 65536);
    // Pass-through, and why.
    let v = show("v2-unlimited", &[]);
    f.eq("unlimited: reason", v.str("memory.reason.code"), "unlimited");
    f.eq("unlimited: virtualized", v.bool("meminfo_kB.virtualized"), false);
    f.eq("unlimited: meminfo reason", v.str("meminfo_kB.reason.code"), "unlimited");
    f.check(v.is_null("memory.limit"), || "unlimited: a limit is named".into());
    f.eq("unlimited: MemTotal is the host's", v.u64("meminfo_kB.MemTotal"), 24684084);
    let v = show("cgroupfs-absent", &[]);
    f.eq("no cgroupfs: reason", v.str("memory.reason.code"), "no-mount");
    f.check(v.is_null("memory.cgroup"), || "no cgroupfs: a cgroup is named".into());
    let v = show("malformed-limit", &[]);
    f.eq("malformed: reason", v.str("memory.reason.code"), "unreadable");
    f.check(v.str("memory.reason.message").contains("memory"), || {
        format!("malformed: the message names no file: {}", v.str("memory.reason.message"))
    });
    // CGSHIM_DISABLE: the switched-off parts serve the host's values; unknown names are listed.
    let v = show("v2-limited", &[("CGSHIM_DISABLE", "meminfo, bogus,cpu")]);
    f.eq("disable: raw value", v.str("config.CGSHIM_DISABLE"), "meminfo, bogus,cpu");
    f.eq("disable: unknown", v.len("config.unknown_disable_names"), 1);
    f.eq("disable: unknown name", v.str("config.unknown_disable_names.0"), "bogus");
    f.eq("disable: features", v.len("config.disabled_features"), 2);
    f.eq(
        "disable: meminfo",
        v.interfaces()["/proc/meminfo"].clone(),
        (false, false, Some("disabled".into())),
    );
    f.eq(
        "disable: /proc/stat",
        v.interfaces()["/proc/stat"].clone(),
        (false, false, Some("disabled".into())),
    );
    f.eq("disable: swaps stays", v.interfaces()["/proc/swaps"].clone(), (true, true, None));
    f.eq("disable: meminfo is the host's", v.u64("meminfo_kB.MemTotal"), 24684084);
    f.eq("disable: meminfo reason", v.str("meminfo_kB.reason.code"), "disabled");
    f.eq("disable: the decision still shows", v.u64("memory.limit.bytes"), 268435456);
    let v = show("v2-limited", &[("CGSHIM_DISABLE", "1"), ("CGSHIM_CPU_AFFINITY", "1")]);
    f.eq("disable all", v.bool("config.all_disabled"), true);
    f.check(v.interfaces().values().all(|(enabled, virt, _)| !enabled && !virt), || {
        "disable all: something is on".into()
    });
    let v = show("v2-limited", &[("CGSHIM_CPU_AFFINITY", "0")]);
    f.eq(
        "affinity opt-out",
        v.interfaces()["sched_getaffinity"].clone(),
        (true, false, Some("opt-out".to_string())),
    );
    f.eq("affinity opt-out: config", v.bool("config.cpu_affinity"), false);
    f.finish("show --json on fixtures");
}

/// `show --meminfo` prints what the library serves: byte for byte against `cat /proc/meminfo`
/// under the library, on every fixture tree. Where the library passes the file through, it
/// serves the machine's own file even under `CGSHIM_SYSROOT`; in the tree, that is the tree's.
#[test]
fn show_meminfo_matches_the_library_on_every_fixture() {
    let mut f = Failures::default();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let root = entry.unwrap().path().join("root");
        if !root.join("proc/meminfo").is_file() {
            continue;
        }
        let r = root.to_str().unwrap();
        let ours = run(&["show", "--meminfo", "--root", r], &[]);
        f.check(ours.status.success(), || format!("{r}: {}", status_text(&ours)));
        let expected = fs::read_to_string(root.parent().unwrap().join("expected")).unwrap_or_default();
        if expected.lines().any(|l| l.trim() == "passthrough") {
            let host = fs::read_to_string(root.join("proc/meminfo")).unwrap();
            f.eq(&format!("{r}: show --meminfo passes the tree's file through"), stdout(&ours), host);
            f.check(stderr(&ours).contains("the host's values are served"), || {
                format!("{r}: no reason given")
            });
        } else {
            let lib = run_plain(&["cat", "/proc/meminfo"], true, &[("CGSHIM_SYSROOT", r)]);
            f.eq(&format!("{r}: show --meminfo vs the library"), stdout(&ours), lib.ok().to_string());
        }
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} fixtures");
    f.finish("show --meminfo");
}

#[test]
fn show_meminfo_in_a_real_cgroup() {
    require_cgroups!();
    let cg = Cgroup::new(Some(LIMIT));
    let mut f = Failures::default();
    for preload in [false, true] {
        let runner = cg.runner(Layout::Host);
        let runner = if preload { runner } else { runner.no_preload() };
        let text = runner.run(&[cgshim(), "show", "--meminfo"]).ok().to_string();
        let m = common::parse_meminfo(&text);
        f.eq(
            &format!("preloaded={preload}: MemTotal"),
            common::field(&m, "MemTotal", "show --meminfo"),
            LIMIT / 1024,
        );
        let served = cg.runner(Layout::Host).run(&["cat", "/proc/meminfo"]).ok().to_string();
        f.eq(
            &format!("preloaded={preload}: keys"),
            common::meminfo_keys(&text),
            common::meminfo_keys(&served),
        );
    }
    f.finish("show --meminfo in a real cgroup");
}

// ---------------------------------------------------------------------------------------------
// install / uninstall
// ---------------------------------------------------------------------------------------------

fn install_args<'a>(root: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["install", "--root", root];
    v.extend_from_slice(extra);
    v
}

/// Files under `dir` (recursively), relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn install_and_uninstall_restore_the_preload_file_byte_for_byte() {
    let lib = lib();
    let original_lib = fs::read(lib_path()).unwrap();
    // (content before, content after install); None = no file.
    let cases: [(Option<&str>, Option<String>); 5] = [
        (Some("/opt/other.so\n/lib/x.so\n"), Some(format!("/opt/other.so\n/lib/x.so\n{INSTALLED}\n"))),
        (Some("/opt/other.so\n\n/lib/x.so"), Some(format!("/opt/other.so\n\n/lib/x.so\n{INSTALLED}"))),
        (Some("/a.so /b.so:/c.so\r\n"), Some(format!("/a.so /b.so:/c.so\r\n{INSTALLED}\n"))),
        (Some(""), Some(INSTALLED.to_string())),
        (None, Some(format!("{INSTALLED}\n"))),
    ];
    for (before, after) in cases {
        let dir = TempDir::new("install");
        let root = dir.path().to_str().unwrap();
        let preload = dir.path().join("etc/ld.so.preload");
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        if let Some(b) = before {
            fs::write(&preload, b).unwrap();
            fs::set_permissions(&preload, fs::Permissions::from_mode(0o640)).unwrap();
        }
        for round in 0..2 {
            let o = run(&install_args(root, &["--preload-file", "--lib", &lib]), &[]);
            assert!(o.status.success(), "{before:?} round {round}: {}", status_text(&o));
            assert_eq!(
                fs::read_to_string(&preload).ok(),
                after.clone(),
                "{before:?}: ld.so.preload after install round {round}"
            );
            let installed = dir.path().join(&INSTALLED[1..]);
            assert_eq!(fs::read(&installed).unwrap(), original_lib, "installed copy");
            assert_eq!(fs::metadata(&installed).unwrap().permissions().mode() & 0o7777, 0o755);
        }
        if before.is_some() {
            assert_eq!(fs::metadata(&preload).unwrap().permissions().mode() & 0o7777, 0o640, "mode kept");
        }
        let mut files = tree(dir.path());
        files.sort();
        assert_eq!(
            files,
            [
                "etc/ld.so.preload",
                "usr/local/include/cgshim.h",
                "usr/local/lib/libcgshim.so",
                "usr/local/lib/pkgconfig/cgshim.pc"
            ],
            "the library, the header, cgshim.pc and the preload file, no stray files"
        );
        let header = fs::read_to_string(dir.path().join("usr/local/include/cgshim.h")).unwrap();
        assert_eq!(header, fs::read_to_string(common::workspace().join("include/cgshim.h")).unwrap());
        let pc = fs::read_to_string(dir.path().join("usr/local/lib/pkgconfig/cgshim.pc")).unwrap();
        assert!(pc.starts_with("prefix=/usr/local\n"), "{pc}");
        assert!(pc.contains("\nLibs: -L${libdir} -Wl,-rpath,${libdir} -lcgshim\n"), "{pc}");
        assert!(pc.contains("\nCflags: -I${includedir}\n"), "{pc}");
        for round in 0..2 {
            let o = run(&["uninstall", "--root", root], &[]);
            assert!(o.status.success(), "{before:?} uninstall round {round}: {}", status_text(&o));
            if round == 1 {
                assert!(stdout(&o).contains("nothing to remove"), "{}", stdout(&o));
            }
        }
        assert_eq!(fs::read(&preload).ok(), before.map(|b| b.as_bytes().to_vec()), "{before:?}: restored");
        assert!(!dir.path().join(&INSTALLED[1..]).exists(), "library left behind");
        let expected_files = if before.is_some() { vec!["etc/ld.so.preload".to_string()] } else { vec![] };
        assert_eq!(tree(dir.path()), expected_files);
    }
}

#[test]
fn install_without_preload_file_and_with_a_prefix() {
    let lib = lib();
    let dir = TempDir::new("prefix");
    let root = dir.path().to_str().unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("etc/ld.so.preload"), "/keep.so\n").unwrap();
    let o = run(&install_args(root, &["--prefix", "/opt/cg", "--lib", &lib]), &[]);
    assert!(o.status.success(), "{}", status_text(&o));
    assert!(stdout(&o).contains("ENV LD_PRELOAD=/opt/cg/lib/libcgshim.so"), "{}", stdout(&o));
    assert!(dir.path().join("opt/cg/lib/libcgshim.so").is_file());
    assert!(dir.path().join("opt/cg/include/cgshim.h").is_file());
    let pc = fs::read_to_string(dir.path().join("opt/cg/lib/pkgconfig/cgshim.pc")).unwrap();
    assert!(pc.starts_with("prefix=/opt/cg\n"), "{pc}");
    assert_eq!(fs::read_to_string(dir.path().join("etc/ld.so.preload")).unwrap(), "/keep.so\n");
    let o = run(&install_args(root, &["--prefix", "/opt/cg", "--preload-file", "--lib", &lib]), &[]);
    assert!(o.status.success(), "{}", status_text(&o));
    assert_eq!(
        fs::read_to_string(dir.path().join("etc/ld.so.preload")).unwrap(),
        "/keep.so\n/opt/cg/lib/libcgshim.so\n"
    );
    // Uninstalling another prefix touches nothing.
    let o = run(&["uninstall", "--root", root], &[]);
    assert!(o.status.success() && stdout(&o).contains("nothing to remove"), "{}", status_text(&o));
    let o = run(&["uninstall", "--root", root, "--prefix", "/opt/cg"], &[]);
    assert!(o.status.success(), "{}", status_text(&o));
    assert_eq!(fs::read_to_string(dir.path().join("etc/ld.so.preload")).unwrap(), "/keep.so\n");
    assert!(!dir.path().join("opt/cg/lib/libcgshim.so").exists());
    assert!(!dir.path().join("opt/cg/include/cgshim.h").exists());
    assert!(!dir.path().join("opt/cg/lib/pkgconfig/cgshim.pc").exists());

    for bad in [&["--prefix", "relative/dir"][..], &["--prefix", "/with space"], &["--prefix", "/a/../b"]] {
        let o = run(&install_args(root, bad), &[]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", status_text(&o));
    }
    let o = run(&["install", "--root", "/nonexistent/root"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", status_text(&o));
}

/// Libraries that do not load: a file that is not ELF, one needing a symbol version its
/// dependency lacks, one whose dependency is missing.
fn broken_libraries() -> Vec<(&'static str, PathBuf)> {
    let dir = build_dir().join("broken");
    fs::create_dir_all(&dir).unwrap();
    let not_elf = dir.join("not-elf.so");
    fs::write(&not_elf, "this is not a shared object\n").unwrap();

    let d = dir.to_str().unwrap().to_string();
    let dep_src = dir.join("dep.c");
    fs::write(&dep_src, "int dep_f(void) { return 1; }\n").unwrap();
    fs::write(dir.join("v2.map"), "DEP_2 { global: dep_f; local: *; };\n").unwrap();
    fs::write(dir.join("v1.map"), "DEP_1 { global: dep_f; local: *; };\n").unwrap();
    let gcc = |args: &[&str]| {
        let o = Command::new("gcc").args(args).current_dir(&dir).output().expect("gcc");
        assert!(o.status.success(), "gcc {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    fs::write(dir.join("user.c"), "extern int dep_f(void);\nint user_g(void) { return dep_f(); }\n").unwrap();
    // libneedsver.so needs dep_f@DEP_2; the libdep.so it finds only has DEP_1.
    gcc(&["-shared", "-fPIC", "-o", "libdep.so", "dep.c", "-Wl,--version-script=v2.map"]);
    gcc(&["-shared", "-fPIC", "-o", "libneedsver.so", "user.c", "-L.", "-ldep", &format!("-Wl,-rpath,{d}")]);
    gcc(&["-shared", "-fPIC", "-o", "libdep.so", "dep.c", "-Wl,--version-script=v1.map"]);
    // libneedsgone.so needs libgone.so, which is deleted.
    gcc(&["-shared", "-fPIC", "-o", "libgone.so", "dep.c"]);
    gcc(&[
        "-shared",
        "-fPIC",
        "-o",
        "libneedsgone.so",
        "user.c",
        "-L.",
        "-lgone",
        &format!("-Wl,-rpath,{d}"),
    ]);
    fs::remove_file(dir.join("libgone.so")).unwrap();
    vec![
        ("not an ELF file", not_elf),
        ("missing symbol version", dir.join("libneedsver.so")),
        ("missing dependency", dir.join("libneedsgone.so")),
    ]
}

#[test]
fn install_refuses_a_library_that_does_not_load() {
    let original = "/opt/other.so\n/lib/x.so";
    for (what, bad) in broken_libraries() {
        let dir = TempDir::new("refuse");
        let root = dir.path().to_str().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/ld.so.preload"), original).unwrap();
        let o = run(&install_args(root, &["--preload-file", "--lib", bad.to_str().unwrap()]), &[]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", status_text(&o));
        assert!(
            stderr(&o).contains("refusing") && stderr(&o).contains("does not load"),
            "{what}: {}",
            stderr(&o)
        );
        assert_eq!(fs::read_to_string(dir.path().join("etc/ld.so.preload")).unwrap(), original, "{what}");
        assert_eq!(tree(dir.path()), vec!["etc/ld.so.preload"], "{what}: files left behind");
    }
}

#[test]
fn install_loads_the_library_into_the_roots_own_true() {
    let lib = lib();
    let dir = TempDir::new("root-true");
    let root = dir.path().to_str().unwrap();
    fs::create_dir_all(dir.path().join("bin")).unwrap();
    let t = dir.path().join("bin/true");
    fs::write(&t, "#!/bin/sh\necho 'error while loading shared libraries: simulated' >&2\nexit 127\n")
        .unwrap();
    fs::set_permissions(&t, fs::Permissions::from_mode(0o755)).unwrap();
    let o = run(&install_args(root, &["--preload-file", "--lib", &lib]), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", status_text(&o));
    assert!(stderr(&o).contains(t.to_str().unwrap()), "{}", stderr(&o));
    assert!(!dir.path().join("etc/ld.so.preload").exists());
    // With a working true in the root, the same install succeeds.
    fs::copy("/bin/true", &t).unwrap();
    let o = run(&install_args(root, &["--preload-file", "--lib", &lib]), &[]);
    assert!(o.status.success(), "{}", status_text(&o));
    assert_eq!(fs::read_to_string(dir.path().join("etc/ld.so.preload")).unwrap(), format!("{INSTALLED}\n"));
}

#[test]
fn install_on_musl_prints_the_env_line_instead() {
    let lib = lib();
    let dir = TempDir::new("musl");
    let root = dir.path().to_str().unwrap();
    fs::create_dir_all(dir.path().join("lib")).unwrap();
    fs::create_dir_all(dir.path().join("etc")).unwrap();
    fs::write(dir.path().join("lib/ld-musl-x86_64.so.1"), "").unwrap();
    let o = run(&install_args(root, &["--preload-file", "--lib", &lib]), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", status_text(&o));
    assert_eq!(stdout(&o), format!("ENV LD_PRELOAD={INSTALLED}\n"));
    assert!(stderr(&o).contains("musl"), "{}", stderr(&o));
    assert_eq!(tree(dir.path()), vec!["lib/ld-musl-x86_64.so.1"], "nothing may change");
    // Without --preload-file the library is installed as usual.
    let o = run(&install_args(root, &["--lib", &lib]), &[]);
    assert!(o.status.success(), "{}", status_text(&o));
    assert!(dir.path().join(&INSTALLED[1..]).is_file());
    // A glibc loader next to the musl one (Debian with musl-tools) is a glibc system.
    fs::create_dir_all(dir.path().join("lib64")).unwrap();
    fs::write(dir.path().join("lib64/ld-linux-x86-64.so.2"), "").unwrap();
    let o = run(&install_args(root, &["--preload-file", "--lib", &lib]), &[]);
    assert!(o.status.success(), "{}", status_text(&o));
}

/// `cgshim show` names the cgshim libraries a process here loads (`LD_PRELOAD`,
/// `/etc/ld.so.preload`) with the version inside each file, so a library older or newer than the
/// command shows; `--version` is the command's.
#[test]
fn show_names_the_libraries_and_their_versions() {
    let version = env!("CARGO_PKG_VERSION");
    let mut f = Failures::default();
    let out = Command::new(cgshim()).arg("--version").output().unwrap();
    f.eq(
        "cgshim --version",
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        format!("cgshim {version}"),
    );

    let t = TempDir::new("versions");
    let other = t.path().join("old-libcgshim.so");
    fs::write(&other, b"\x7fELF...cgshim-library-version=0.0.9\n...").unwrap();
    fs::create_dir_all(t.path().join("etc")).unwrap();
    fs::write(t.path().join("etc/ld.so.preload"), format!("{}\n", "/old-libcgshim.so")).unwrap();
    let run = |root: Option<&Path>| -> J {
        let mut cmd = Command::new(cgshim());
        cmd.args(["show", "--json"]).env("LD_PRELOAD", lib());
        if let Some(r) = root {
            cmd.arg("--root").arg(r);
        }
        let o = cmd.output().unwrap();
        parse_json(&String::from_utf8_lossy(&o.stdout))
    };
    let v = run(None);
    f.eq("libraries (LD_PRELOAD only)", v.len("libraries"), 1);
    f.eq("libraries.0.via", v.str("libraries.0.via"), "LD_PRELOAD");
    f.eq("libraries.0.version", v.str("libraries.0.version"), version);
    f.eq("libraries.0.matches_command", v.bool("libraries.0.matches_command"), true);
    let v = run(Some(t.path()));
    f.eq("libraries (with the root's ld.so.preload)", v.len("libraries"), 2);
    f.eq("libraries.1.via", v.str("libraries.1.via"), "/etc/ld.so.preload");
    f.eq("libraries.1.version", v.str("libraries.1.version"), "0.0.9");
    f.eq("libraries.1.matches_command", v.bool("libraries.1.matches_command"), false);
    let text = Command::new(cgshim())
        .arg("show")
        .arg("--root")
        .arg(t.path())
        .env("LD_PRELOAD", lib())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    f.check(text.contains("0.0.9 (differs from the command's)"), || {
        format!("the text does not show the mismatch:\n{text}")
    });
    f.finish("versions");
}
