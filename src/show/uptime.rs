//! `/proc/uptime`: `<uptime> <idle>` in seconds with two decimals, as the kernel prints it.

use crate::buf::Sink;
use crate::decide::uptime::NS_PER_SEC;

fn push_seconds<S: Sink>(out: &mut S, ns: u64) {
    out.push_u64(ns / NS_PER_SEC);
    out.push_byte(b'.');
    out.push_u64_zero_padded(ns % NS_PER_SEC / 10_000_000, 2);
}

pub fn render<S: Sink>(uptime_ns: u64, idle_ns: u64, out: &mut S) {
    out.clear();
    push_seconds(out, uptime_ns);
    out.push_byte(b' ');
    push_seconds(out, idle_ns);
    out.push_byte(b'\n');
}

/// `sysinfo.uptime`: whole seconds, rounded up as the kernel does.
pub fn sysinfo_seconds(uptime_ns: u64) -> u64 {
    (uptime_ns / NS_PER_SEC).saturating_add(u64::from(uptime_ns % NS_PER_SEC != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buf::Buf;

    #[test]
    fn kernel_format() {
        let mut out = Buf::<64>::new();
        render(1859 * NS_PER_SEC + 150_000_000, 2975 * NS_PER_SEC + 5_000_000, &mut out);
        assert_eq!(out.as_bytes(), b"1859.15 2975.00\n");
        render(3 * NS_PER_SEC + 70_000_000, 0, &mut out);
        assert_eq!(out.as_bytes(), b"3.07 0.00\n");
        assert_eq!(sysinfo_seconds(3 * NS_PER_SEC), 3);
        assert_eq!(sysinfo_seconds(3 * NS_PER_SEC + 1), 4);
    }
}
