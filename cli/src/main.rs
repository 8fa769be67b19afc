//! The `cgshim` command: run a program with `libcgshim.so` preloaded (`exec`), explain what a
//! process here sees and why (`show`), put the library into an image or take it out again
//! (`install`, `uninstall`), and put it into containers whose images were never changed, as an
//! OCI runtime in front of runc or crun (`runtime`, or the binary invoked as `cgshim-runtime`).
//! It shares every rule with the library through the pure core.
mod elf;
mod exec;
mod install;
mod json;
mod library;
mod raw;
mod render;
mod report;
mod runtime;
mod std_source;
mod supervise;

use cgshim::decide::source::Source;
use clap::{Args, Parser, Subcommand};
use report::{Env, Live};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std_source::StdSource;

/// Containers see their own memory and CPUs: the companion command of libcgshim.so.
#[derive(Parser)]
#[command(
    name = "cgshim",
    version,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
#[command(
    after_help = "Exit status: 0 on success, 1 when a command fails, 2 on a usage error. `cgshim exec` \
                        exits with the program's own status (125: no library, 126: the program cannot run, \
                        127: not found)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Exec(ExecArgs),
    Show(ShowArgs),
    Install(InstallArgs),
    Uninstall(UninstallArgs),
    Runtime(RuntimeArgs),
}

/// Run PROGRAM with libcgshim.so first in LD_PRELOAD (existing entries are kept).
///
/// cgshim replaces itself with the program (exec), so the exit status, signals, stdio and the
/// cgroup are the program's own. The library is --lib, else libcgshim.so next to the cgshim
/// binary, else <binary dir>/../lib/libcgshim.so, else /usr/local/lib or /usr/lib.
///
/// A statically linked or Go program, which the library cannot reach, is supervised instead:
/// cgshim stays as its parent and answers its opens of the served files, sysinfo and
/// sched_getaffinity through seccomp user notification, with the library's own code. It then
/// forwards signals, reaps children and exits with the program's status. Where a filter cannot be
/// installed (another listener: EBUSY; not permitted: EPERM; an old kernel) the program runs as
/// without supervision, after one warning line.
#[derive(Args)]
#[command(display_name = "cgshim")]
#[command(override_usage = "cgshim exec [--lib PATH] [--supervise | --no-supervise] [--] PROGRAM [ARGS]...")]
#[command(after_help = "Exit status: the program's; 2 on a usage error, 125 when no library is found, \
                        126 when PROGRAM cannot be executed, 127 when it is not found.")]
struct ExecArgs {
    /// The libcgshim.so to preload.
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
    /// Supervise PROGRAM even when the library can reach it (default: only static and Go
    /// programs are supervised).
    #[arg(long, conflicts_with = "no_supervise")]
    supervise: bool,
    /// Never supervise: a static or Go program then sees the host's values (with a warning).
    #[arg(long)]
    no_supervise: bool,
    /// The program (looked up in PATH) and its arguments. Everything after PROGRAM is passed on.
    #[arg(value_name = "PROGRAM", required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

/// Show what a process here sees with the library, and why.
///
/// The cgroup found (version, layout, directory), every level's limit, high, usage and swap
/// limit with the file each came from, the effective limit and who set it, the /proc/meminfo,
/// sysinfo and sysconf values the library serves, the CPU quota, N and the CPU set, the
/// container's uptime and task count, and which files and calls are virtualized. When the
/// library passes the kernel's values through, it says why. Kernel files are read with raw
/// system calls, so the answer is right even when cgshim itself runs with the library preloaded.
#[derive(Args)]
#[command(display_name = "cgshim")]
struct ShowArgs {
    /// Print one JSON object (schema_version 1; fields documented in docs/reference.md).
    #[arg(long, conflicts_with = "meminfo")]
    json: bool,
    /// Print exactly the /proc/meminfo the library serves here.
    #[arg(long)]
    meminfo: bool,
    /// Read kernel files (/proc/self/cgroup, mountinfo, cgroup files, /proc/meminfo) under DIR
    /// instead of / (test trees; default: $CGSHIM_SYSROOT when set, as the library does).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

/// Install libcgshim.so into PREFIX/lib, optionally preloaded through /etc/ld.so.preload.
///
/// The library is copied atomically (a temp file, fsync, rename). With --preload-file, the line
/// PREFIX/lib/libcgshim.so is added to /etc/ld.so.preload (once; every other line is kept), so
/// every program loads the library. The preload line is only added after the installed copy has been loaded into /bin/true:
/// a library in /etc/ld.so.preload that cannot load breaks every program. On musl (Alpine),
/// which has no /etc/ld.so.preload, --preload-file refuses and prints the ENV LD_PRELOAD line to
/// use instead. Works in a Dockerfile RUN; `cgshim uninstall` takes everything back out.
#[derive(Args)]
#[command(display_name = "cgshim")]
struct InstallArgs {
    /// Installation prefix: the library goes to PREFIX/lib/libcgshim.so.
    #[arg(long, value_name = "DIR", default_value = "/usr/local")]
    prefix: PathBuf,
    /// Also add PREFIX/lib/libcgshim.so as a line of /etc/ld.so.preload (glibc only).
    #[arg(long)]
    preload_file: bool,
    /// Install into the system tree under DIR (an image being assembled) instead of /.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// The libcgshim.so to install (default: found as for `cgshim exec`).
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
}

/// Remove what `cgshim install` added.
///
/// That is PREFIX/lib/libcgshim.so and its /etc/ld.so.preload line. The rest of /etc/ld.so.preload is restored byte for byte; the file is deleted when install
/// had created it.
#[derive(Args)]
#[command(display_name = "cgshim")]
struct UninstallArgs {
    /// The prefix given to install.
    #[arg(long, value_name = "DIR", default_value = "/usr/local")]
    prefix: PathBuf,
    /// The root given to install.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
}

/// Run an OCI runtime (runc, crun) with libcgshim.so in the container: no image change.
///
/// For `create` and `run`, the bundle's config.json gets a read-only bind mount of the host's
/// library at /usr/lib/cgshim/libcgshim.so and that path first in LD_PRELOAD (existing entries
/// are kept); `exec --process FILE` into such a container gets the same LD_PRELOAD. Every other
/// subcommand passes straight through. Then cgshim replaces itself with the real runtime, the
/// arguments untouched. A container is left alone when it has the annotation
/// org.cgshim.disable=true, CGSHIM_DISABLE=1 in its environment, or its own copy of the
/// library. On any error (no config.json, a malformed one, no library) the file is left as it
/// was, one line goes to the runtime's --log, and the real runtime runs. Invoked as
/// cgshim-runtime (a symlink), the binary does the same with every argument passed on;
/// cgshim-runtime-NAME uses the runtime NAME.
#[derive(Args)]
#[command(display_name = "cgshim")]
#[command(override_usage = "cgshim runtime [--runtime PATH] [--lib PATH] -- [RUNTIME ARGS]...")]
#[command(after_help = "Docker, in /etc/docker/daemon.json:\n  \
                        { \"runtimes\": { \"cgshim\": { \"path\": \"/usr/local/bin/cgshim\", \"runtimeArgs\": [\"runtime\", \"--\"] } } }\n\
                        podman: podman --runtime /usr/local/bin/cgshim-runtime run ...\n\n\
                        Exit status: the runtime's; 127 when the runtime is not found, 126 when it cannot be \
                        executed, 125 when it is cgshim itself.")]
struct RuntimeArgs {
    /// The real runtime: a path, or a name looked up in PATH (default: runc, else crun).
    #[arg(long, value_name = "PATH")]
    runtime: Option<OsString>,
    /// The host's libcgshim.so to mount (default: found as for `cgshim exec`).
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
    /// The runtime's own arguments, passed on unchanged.
    #[arg(value_name = "RUNTIME ARGS", last = true)]
    args: Vec<OsString>,
}

fn main() -> ExitCode {
    // As cgshim-runtime[-NAME] every argument belongs to the runtime: no parsing of our own.
    let mut argv = std::env::args_os();
    if let Some(named) = argv.next().as_deref().and_then(runtime::invoked_as) {
        let opts = runtime::Options { runtime: named.as_deref(), lib: None };
        return runtime::run(&opts, &argv.collect::<Vec<_>>());
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Exec(a) => {
            let mode = if a.supervise {
                exec::Supervise::Always
            } else if a.no_supervise {
                exec::Supervise::Never
            } else {
                exec::Supervise::WhenNeeded
            };
            exec::run(a.lib.as_deref(), mode, &a.command)
        }
        Command::Show(a) => show(&a),
        Command::Install(a) => install::exit(install::install(&install::InstallOptions {
            prefix: &a.prefix,
            preload_file: a.preload_file,
            root: &a.root,
            lib: a.lib.as_deref(),
        })),
        Command::Uninstall(a) => install::exit(install::uninstall(&a.prefix, &a.root)),
        Command::Runtime(a) => {
            let opts = runtime::Options { runtime: a.runtime.as_deref(), lib: a.lib.as_deref() };
            runtime::run(&opts, &a.args)
        }
    }
}

fn show(args: &ShowArgs) -> ExitCode {
    let root = args
        .root
        .clone()
        .or_else(|| std::env::var_os("CGSHIM_SYSROOT").filter(|v| !v.is_empty()).map(PathBuf::from));
    match root {
        Some(root) if !root.is_dir() => {
            eprintln!("cgshim: {}: not a directory", root.display());
            ExitCode::from(2)
        }
        // A test tree holds plain files, read like the library reads them under CGSHIM_SYSROOT.
        Some(root) => {
            let root = std::path::absolute(&root).unwrap_or(root);
            show_with(&StdSource::new(&root), Some(&root), args)
        }
        None => show_with(&raw::RawFsSource, None, args),
    }
}

fn show_with<S: Source>(src: &S, root: Option<&Path>, args: &ShowArgs) -> ExitCode {
    let env = Env::from_process();
    let out = if args.meminfo {
        let Some(host) = report::host_meminfo(src) else {
            eprintln!("cgshim: cannot read /proc/meminfo");
            return ExitCode::FAILURE;
        };
        let memory = report::memory(src, Some(&host), None);
        let (text, why) = report::served_meminfo(&host, &memory.view, &env.config());
        if let Some(why) = why {
            eprintln!("cgshim: the host's values are served ({}: {})", why.code, why.message);
        }
        text
    } else {
        let report = report::gather(src, root.map(Path::to_path_buf), env, Live::read());
        if args.json { render::json(&report) } else { render::text_report(&report) }.into_bytes()
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&out).and_then(|()| stdout.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("cgshim: cannot write the output: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
