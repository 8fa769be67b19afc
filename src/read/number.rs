//! Numbers as cgroup interface files print them: decimal bytes, `max`, and v1's `-1`.

use super::lines::trim;

/// A limit as a cgroup file states it. Sentinels are kept as numbers here; the rule that a
/// limit at or above the host's memory means "unlimited" is applied by `decide`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Unlimited,
    Bytes(u64),
}

/// Parses an unsigned decimal number (surrounding whitespace allowed). Overflow, a sign or any
/// other byte makes it malformed.
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    let digits = trim(text);
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b.wrapping_sub(b'0')))?;
    }
    Some(value)
}

/// Parses a limit file: `max` (v2) or `-1` (v1 quota files) mean unlimited, else bytes.
pub fn parse_limit(text: &[u8]) -> Option<Limit> {
    match trim(text) {
        b"max" | b"-1" => Some(Limit::Unlimited),
        other => parse_u64(other).map(Limit::Bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers_and_rejects_garbage() {
        assert_eq!(parse_u64(b"268435456\n"), Some(268435456));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-5"), None);
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"\n"), None);
    }

    #[test]
    fn parses_limits() {
        assert_eq!(parse_limit(b"max\n"), Some(Limit::Unlimited));
        assert_eq!(parse_limit(b"-1\n"), Some(Limit::Unlimited));
        assert_eq!(parse_limit(b"9223372036854771712\n"), Some(Limit::Bytes(9223372036854771712)));
        assert_eq!(parse_limit(b"maximum"), None);
        assert_eq!(parse_limit(b"-2"), None);
    }
}
