//! Line and field splitting shared by the parsers.

/// Iterates over the lines of `text` (without their `\n`); a final line without a newline is
/// still returned.
pub fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let trimmed = text.strip_suffix(b"\n").unwrap_or(text);
    let empty = text.is_empty();
    trimmed.split(|&b| b == b'\n').filter(move |_| !empty)
}

/// Iterates over the whitespace-separated fields of a line.
pub fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ' || b == b'\t').filter(|f| !f.is_empty())
}

/// Strips ASCII whitespace (spaces, tabs, newlines) from both ends.
pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_fields() {
        let v: Vec<&[u8]> = lines(b"a b\nc\n").collect();
        assert_eq!(v, vec![&b"a b"[..], &b"c"[..]]);
        let v: Vec<&[u8]> = lines(b"x").collect();
        assert_eq!(v, vec![&b"x"[..]]);
        assert_eq!(lines(b"").count(), 0);
        let f: Vec<&[u8]> = fields(b"  MemTotal:   123 kB").collect();
        assert_eq!(f, vec![&b"MemTotal:"[..], &b"123"[..], &b"kB"[..]]);
        assert_eq!(trim(b" \tmax\n"), b"max");
        assert_eq!(trim(b"\n"), b"");
    }
}
