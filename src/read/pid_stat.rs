//! `/proc/<pid>/stat`: one line of space-separated fields, the second of which (the command name
//! in parentheses) may itself contain spaces and parentheses, so fields are counted from the
//! last `)`.

use super::lines::fields;
use super::number::parse_u64;

/// Field 22, `starttime`: when the process started, in clock ticks after boot.
pub fn start_time_ticks(text: &[u8]) -> Option<u64> {
    let close = text.iter().rposition(|&b| b == b')')?;
    // Fields after the command start at field 3 (`state`); field 22 is the 20th of them.
    parse_u64(fields(text.get(close.checked_add(1)?..)?).nth(19)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_after_odd_names() {
        let line = b"1 (process_api) S 0 0 0 0 -1 4194560 39974 5307223 0 1098 135 433 7564 16461 10 -10 14 0 24 42471424 2750";
        assert_eq!(start_time_ticks(line), Some(24));
        let odd = b"77 (a) b (c)) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0";
        assert_eq!(start_time_ticks(odd), Some(123456));
        assert_eq!(start_time_ticks(b"1 (x) S 0"), None);
        assert_eq!(start_time_ticks(b"garbage"), None);
    }
}
