//! A minimal JSON writer: objects keep the order their keys were given in, so the output of
//! `cgshim show --json` is stable byte for byte for the same facts.

use std::fmt::Write;

pub enum Json {
    Null,
    Bool(bool),
    Num(u64),
    /// A number already formatted (decimal seconds such as `1859.15`).
    Decimal(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    /// A string from bytes (paths, file contents); invalid UTF-8 becomes U+FFFD.
    pub fn bytes(b: &[u8]) -> Json {
        Json::Str(String::from_utf8_lossy(b).into_owned())
    }

    pub fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    pub fn opt<T>(value: Option<T>, f: impl FnOnce(T) -> Json) -> Json {
        value.map_or(Json::Null, f)
    }

    /// Pretty-printed with two-space indentation and a final newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Decimal(d) => out.push_str(d),
            Json::Str(s) => write_string(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    item.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push(']');
            }
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    write_string(out, key);
                    out.push_str(": ");
                    value.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_values_in_order() {
        let v = Json::Obj(vec![
            ("b", Json::Num(2)),
            ("a", Json::Arr(vec![Json::Null, Json::Bool(true), Json::str("x\"\n\u{1}")])),
            ("e", Json::Obj(vec![])),
            ("d", Json::Decimal("1.50".into())),
        ]);
        assert_eq!(
            v.render(),
            "{\n  \"b\": 2,\n  \"a\": [\n    null,\n    true,\n    \"x\\\"\\n\\u0001\"\n  ],\n  \"e\": {},\n  \"d\": 1.50\n}\n"
        );
    }
}
