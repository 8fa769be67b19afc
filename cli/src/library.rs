//! Finding `libcgshim.so` for `exec` and `install`: `--lib`, else next to the `cgshim` binary
//! (`target/release/` holds both), else `<binary dir>/../lib/` (an install prefix), else the
//! usual system directories.

use std::path::{Path, PathBuf};

pub const LIB_NAME: &str = "libcgshim.so";

pub enum LibError {
    /// `--lib` names something unusable: a usage error.
    BadOption(String),
    /// No library anywhere it is looked for.
    NotFound(String),
}

/// Whether a path can be an `LD_PRELOAD` or `/etc/ld.so.preload` entry: both lists are split
/// at spaces, tabs, newlines and colons.
pub fn check_entry(path: &Path) -> Result<(), String> {
    let s = path.to_string_lossy();
    if s.contains([' ', '\t', '\n', ':']) {
        return Err(format!(
            "{} contains a space or a colon, which LD_PRELOAD and /etc/ld.so.preload treat as separators",
            path.display()
        ));
    }
    Ok(())
}

/// The places looked at, in order, when `--lib` is not given.
pub fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        out.push(dir.join(LIB_NAME));
        if let Some(prefix) = dir.parent() {
            out.push(prefix.join("lib").join(LIB_NAME));
        }
    }
    out.push(PathBuf::from("/usr/local/lib").join(LIB_NAME));
    out.push(PathBuf::from("/usr/lib").join(LIB_NAME));
    out
}

/// The library to use, as an absolute path.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, LibError> {
    if let Some(p) = explicit {
        if !p.is_file() {
            let what = if p.exists() { "is not a regular file" } else { "does not exist" };
            return Err(LibError::BadOption(format!("--lib {}: {what}", p.display())));
        }
        let abs =
            std::path::absolute(p).map_err(|e| LibError::BadOption(format!("--lib {}: {e}", p.display())))?;
        check_entry(&abs).map_err(|e| LibError::BadOption(format!("--lib {e}")))?;
        return Ok(abs);
    }
    let tried = candidates();
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => {
            let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            check_entry(&abs).map_err(LibError::NotFound)?;
            Ok(abs)
        }
        None => Err(LibError::NotFound(format!(
            "{LIB_NAME} not found; looked at {}. Pass --lib PATH",
            tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ))),
    }
}
