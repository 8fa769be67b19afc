//! `/proc/meminfo` lines: `Key:   value kB` (the unit is absent on the `HugePages_*` counts).

use super::lines::{fields, lines};
use super::number::parse_u64;

/// One parsed line: the key without its colon, the number, and whether it carries ` kB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    pub key: &'a [u8],
    pub value: u64,
    pub kb: bool,
}

pub fn parse_line(line: &[u8]) -> Option<Line<'_>> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (key, rest) = line.split_at(colon);
    let mut it = fields(rest.get(1..)?);
    let value = parse_u64(it.next()?)?;
    let kb = it.next() == Some(b"kB");
    Some(Line { key, value, kb })
}

/// The value of `key` in kB (or as a plain count), if the file has it.
pub fn value(text: &[u8], key: &[u8]) -> Option<u64> {
    lines(text).filter_map(parse_line).find(|l| l.key == key).map(|l| l.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        assert_eq!(
            parse_line(b"MemTotal:       24684084 kB"),
            Some(Line { key: b"MemTotal", value: 24684084, kb: true })
        );
        assert_eq!(
            parse_line(b"HugePages_Total:       0"),
            Some(Line { key: b"HugePages_Total", value: 0, kb: false })
        );
        assert_eq!(parse_line(b"Active(anon):     100 kB").map(|l| l.key), Some(&b"Active(anon)"[..]));
        assert_eq!(parse_line(b"garbage"), None);
        assert_eq!(parse_line(b"X: y kB"), None);
        let text = b"MemTotal:  10 kB\nMemFree:   4 kB\n";
        assert_eq!(value(text, b"MemFree"), Some(4));
        assert_eq!(value(text, b"Mem"), None);
    }
}
