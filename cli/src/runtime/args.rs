//! Reading an OCI runtime's command line (runc's and crun's, which engines share) just far
//! enough to find what `cgshim runtime` edits: the subcommand, the bundle or the process file,
//! the container, and the log the runtime was told to write. The arguments themselves are
//! never changed.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Global options of runc and crun that take a value (`--root /run/runc`). Everything else
/// before the subcommand is a switch.
const GLOBAL_WITH_VALUE: &[&str] =
    &["--root", "--log", "--log-format", "--log-level", "--criu", "--rootless", "--cgroup-manager"];

/// Options of `create` and `run` that take a value.
const CREATE_WITH_VALUE: &[&str] = &[
    "--bundle",
    "-b",
    "--config",
    "-f",
    "--console-socket",
    "--pid-file",
    "--preserve-fds",
    "--pidfd-socket",
];

/// Options of `exec` that take a value.
const EXEC_WITH_VALUE: &[&str] = &[
    "--process",
    "-p",
    "--console-socket",
    "--pidfd-socket",
    "--pidfd-receiver",
    "--cwd",
    "--env",
    "-e",
    "--user",
    "-u",
    "--additional-gids",
    "-g",
    "--process-label",
    "--apparmor",
    "--cap",
    "-c",
    "--preserve-fds",
    "--pid-file",
    "--cgroup",
];

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// `create` or `run`: the bundle's config.json is edited.
    Create { bundle: PathBuf, config: PathBuf },
    /// `exec --process FILE ID`: the process file is edited when the container has the library.
    Exec { process: PathBuf, id: OsString },
    /// Everything else, `exec` without `--process` included: passed straight through.
    Other,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Call {
    /// The global options, as given (for a `state` call with the same root).
    pub global: Vec<OsString>,
    /// `--log`: where the runtime logs (a crun `file:` prefix removed; None for journald/syslog).
    pub log: Option<PathBuf>,
    /// `--log-format json`.
    pub log_json: bool,
    /// `--debug`: say what was done, or why nothing was.
    pub debug: bool,
    pub command: Command,
}

/// `--name=value` → (`--name`, Some(value)); `-name` (Go's single-dash long form) → `--name`.
fn split(arg: &OsStr) -> (String, Option<OsString>) {
    let bytes = arg.as_bytes();
    let (name, value) = match bytes.iter().position(|&b| b == b'=') {
        Some(i) => (&bytes[..i], Some(OsStr::from_bytes(&bytes[i + 1..]).to_os_string())),
        None => (bytes, None),
    };
    let name = String::from_utf8_lossy(name).into_owned();
    let name = if !name.starts_with("--") && name.len() > 2 { format!("-{name}") } else { name };
    (name, value)
}

fn is_option(arg: &OsStr) -> bool {
    arg.as_bytes().first() == Some(&b'-') && arg.len() > 1
}

/// The options before the first positional argument (or all of them with `scan_all`), each with
/// its value, and the positional arguments.
fn options(
    args: &[OsString],
    with_value: &[&str],
    scan_all: bool,
) -> (Vec<(String, Option<OsString>)>, Vec<OsString>) {
    let mut opts = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        i += 1;
        if arg == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if !is_option(arg) {
            positional.push(arg.clone());
            if scan_all {
                continue;
            }
            positional.extend(args[i..].iter().cloned());
            break;
        }
        let (name, mut value) = split(arg);
        if value.is_none() && with_value.contains(&name.as_str()) {
            value = args.get(i).cloned();
            i += 1;
        }
        opts.push((name, value));
    }
    (opts, positional)
}

fn last(opts: &[(String, Option<OsString>)], names: &[&str]) -> Option<OsString> {
    opts.iter().rev().find(|(n, _)| names.contains(&n.as_str())).and_then(|(_, v)| v.clone())
}

pub fn parse(args: &[OsString]) -> Call {
    let mut i = 0;
    let mut global_opts = Vec::new();
    while let Some(arg) = args.get(i) {
        if !is_option(arg) || arg == "--" {
            break;
        }
        i += 1;
        let (name, mut value) = split(arg);
        if value.is_none() && GLOBAL_WITH_VALUE.contains(&name.as_str()) {
            value = args.get(i).cloned();
            i += 1;
        }
        global_opts.push((name, value));
    }
    let global = args[..i.min(args.len())].to_vec();
    let log = last(&global_opts, &["--log"]).and_then(|v| {
        let b = v.as_bytes();
        if b.starts_with(b"journald:") || b.starts_with(b"syslog:") || b.is_empty() {
            None
        } else {
            Some(PathBuf::from(OsStr::from_bytes(b.strip_prefix(b"file:").unwrap_or(b))))
        }
    });
    let log_json = last(&global_opts, &["--log-format"]).is_some_and(|f| f == "json");
    let debug = global_opts.iter().any(|(n, _)| n == "--debug");
    let sub = args.get(i).map(|s| s.as_bytes());
    let rest = args.get(i + 1..).unwrap_or(&[]);
    let command = match sub {
        Some(b"create" | b"run") => {
            let (opts, _) = options(rest, CREATE_WITH_VALUE, true);
            let bundle = last(&opts, &["--bundle", "-b"]).map_or_else(|| PathBuf::from("."), PathBuf::from);
            let config =
                last(&opts, &["--config", "-f"]).map_or_else(|| PathBuf::from("config.json"), PathBuf::from);
            Command::Create { config: bundle.join(config), bundle }
        }
        Some(b"exec") => {
            let (opts, positional) = options(rest, EXEC_WITH_VALUE, false);
            match (last(&opts, &["--process", "-p"]), positional.into_iter().next()) {
                (Some(process), Some(id)) => Command::Exec { process: PathBuf::from(process), id },
                _ => Command::Other,
            }
        }
        _ => Command::Other,
    };
    Call { global, log, log_json, debug, command }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(line: &str) -> Call {
        parse(&line.split_whitespace().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn containerd_shim_create() {
        let c = call(
            "--root /var/run/docker/runtime-runc/moby --log /run/x/log.json --log-format json --systemd-cgroup \
             create --bundle /run/x --pid-file /run/x/init.pid abc",
        );
        assert_eq!(c.log, Some(PathBuf::from("/run/x/log.json")));
        assert!(c.log_json);
        assert_eq!(c.global.len(), 7);
        assert_eq!(
            c.command,
            Command::Create { bundle: PathBuf::from("/run/x"), config: PathBuf::from("/run/x/config.json") }
        );
    }

    #[test]
    fn bundle_spellings_and_defaults() {
        for line in ["create -b /b id", "create --bundle=/b id", "run -bundle /b id", "create id --bundle /b"]
        {
            assert_eq!(
                call(line).command,
                Command::Create { bundle: PathBuf::from("/b"), config: PathBuf::from("/b/config.json") },
                "{line}"
            );
        }
        assert_eq!(
            call("run --detach id").command,
            Command::Create { bundle: PathBuf::from("."), config: PathBuf::from("./config.json") }
        );
        assert_eq!(
            call("--log=file:/l create --config other.json -b /b id").command,
            Command::Create { bundle: PathBuf::from("/b"), config: PathBuf::from("/b/other.json") }
        );
        assert_eq!(call("--log=file:/l create id").log, Some(PathBuf::from("/l")));
        assert_eq!(call("--log=journald:x create id").log, None);
    }

    #[test]
    fn exec_needs_a_process_file() {
        assert_eq!(
            call("--root /r exec --pid-file /p --process /x/p.json --detach abc").command,
            Command::Exec { process: PathBuf::from("/x/p.json"), id: OsString::from("abc") }
        );
        assert_eq!(
            call("exec -e A=1 --process=/p.json -t abc").command,
            Command::Exec { process: PathBuf::from("/p.json"), id: OsString::from("abc") }
        );
        assert_eq!(call("exec abc sh").command, Command::Other);
        // A "--process" after the container is part of the command, not an option.
        assert_eq!(call("exec abc prog --process /p.json").command, Command::Other);
    }

    #[test]
    fn everything_else_passes() {
        for line in
            ["", "--version", "state abc", "start abc", "delete --force abc", "kill abc 9", "features"]
        {
            assert_eq!(call(line).command, Command::Other, "{line}");
        }
        assert_eq!(call("--root /r --debug state abc").global.len(), 3);
        assert!(call("--root /r --debug state abc").debug);
        assert!(!call("--root /r state abc").debug);
    }
}
