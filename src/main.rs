//! The `cgshim` command: for now, `cgshim show --meminfo` prints exactly the `/proc/meminfo`
//! that `libcgshim.so` would serve to a process in the caller's cgroup.
mod std_source;

use cgshim::buf::Buf;
use cgshim::decide::discover::{self, MEMORY};
use cgshim::decide::memory::{self, HostMemory};
use std::process::ExitCode;
use std_source::StdSource;

const USAGE: &str = "usage: cgshim show --meminfo | cgshim --version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["--version"] | ["-V"] => {
            println!("cgshim {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["show", "--meminfo"] => show_meminfo(),
        _ => {
            eprintln!("cgshim: unrecognised arguments {args:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn show_meminfo() -> ExitCode {
    let src = StdSource::new("/");
    let host_text = match std::fs::read("/proc/meminfo") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cgshim: cannot read /proc/meminfo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(host) = HostMemory::from_meminfo(&host_text) else {
        eprintln!("cgshim: /proc/meminfo has no MemTotal line");
        return ExitCode::FAILURE;
    };
    let view = discover::find(&src, &MEMORY)
        .map_err(|why| why.describe().to_string())
        .and_then(|cg| memory::read(&src, &cg, host).map_err(|why| format!("{why:?}")));
    let mut out = Buf::<16384>::new();
    match view {
        Ok(view) if cgshim::show::meminfo::render(&host_text, &view, &mut out).is_some() => {
            print!("{}", String::from_utf8_lossy(out.as_bytes()));
        }
        Ok(_) => print!("{}", String::from_utf8_lossy(&host_text)),
        Err(why) => {
            eprintln!("cgshim: host values are served ({why})");
            print!("{}", String::from_utf8_lossy(&host_text));
        }
    }
    ExitCode::SUCCESS
}
