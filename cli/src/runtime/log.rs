//! One line in the runtime's own log: the file given with `--log` (where containerd and Docker
//! read a failed runtime's last error), in its `--log-format` (runc's JSON or logfmt text
//! lines), else standard error.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct Log {
    pub path: Option<PathBuf>,
    pub json: bool,
    /// Whether debug lines are written (the runtime's `--debug`).
    pub debug: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Warning,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (the civil-from-days algorithm).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

impl Log {
    pub fn format(&self, level: Level, msg: &str, secs: u64) -> String {
        let time = rfc3339(secs);
        if self.json {
            let msg = serde_json::to_string(msg).unwrap_or_default();
            format!("{{\"level\":\"{}\",\"msg\":{msg},\"time\":\"{time}\"}}\n", level.name())
        } else if self.path.is_some() {
            let msg = serde_json::to_string(msg).unwrap_or_default();
            format!("time=\"{time}\" level={} msg={msg}\n", level.name())
        } else {
            format!("{msg}\n")
        }
    }

    /// Writes `msg` (which starts with `cgshim: `) as one line. A log that cannot be written
    /// falls back on standard error: the line must not be lost, nor stop the container.
    pub fn line(&self, level: Level, msg: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let text = self.format(level, msg, secs);
        if let Some(path) = &self.path {
            let written = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .and_then(|mut f| f.write_all(text.as_bytes()));
            if written.is_ok() {
                return;
            }
        }
        let _ = std::io::stderr().write_all(format!("{msg}\n").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_598_051), "2026-12-06T23:00:51Z");
    }

    #[test]
    fn formats() {
        let json = Log { path: Some("/l".into()), json: true, debug: false };
        assert_eq!(
            json.format(Level::Warning, "cgshim: a \"b\"", 0),
            "{\"level\":\"warning\",\"msg\":\"cgshim: a \\\"b\\\"\",\"time\":\"1970-01-01T00:00:00Z\"}\n"
        );
        let text = Log { path: Some("/l".into()), json: false, debug: false };
        assert_eq!(
            text.format(Level::Error, "cgshim: x", 0),
            "time=\"1970-01-01T00:00:00Z\" level=error msg=\"cgshim: x\"\n"
        );
        let stderr = Log { path: None, json: false, debug: false };
        assert_eq!(stderr.format(Level::Error, "cgshim: x", 0), "cgshim: x\n");
    }
}
