//! `CGSHIM_DEBUG=1`: one line per decision on standard error, prefixed `cgshim:`. Written with a
//! single raw `write(2)` (no stdio lock, no allocation); never in secure mode.

use cgshim::buf::{Buf, Sink};

pub type Line = Buf<512>;

pub fn enabled() -> bool {
    crate::env::config().debug
}

/// Writes `parts` as one line when debugging is on.
pub fn say(parts: &[&[u8]]) {
    if !enabled() {
        return;
    }
    let mut line = Line::new();
    line.push(b"cgshim: ");
    for p in parts {
        line.push(p);
    }
    line.push_byte(b'\n');
    let _ = crate::sys::write(2, line.as_bytes());
}

/// A number as text, for [`say`].
pub fn num(n: u64) -> Buf<20> {
    let mut b = Buf::new();
    b.push_u64(n);
    b
}
