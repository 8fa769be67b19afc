//! The README's test command sets up what the tests drive, from one list: every program a test
//! looks for is in `scripts/test.sh`'s list, and CI runs exactly that command with no list of
//! its own to drift.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

fn read(rel: &str) -> String {
    let p = common::workspace().join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// The CHECK part of each entry of `host_needs=( … )` in scripts/test.sh.
fn listed() -> BTreeSet<String> {
    let script = read("scripts/test.sh");
    let start = script.find("host_needs=(").expect("scripts/test.sh has a host_needs=( … ) list");
    let body = &script[start + "host_needs=(".len()..];
    let body = &body[..body.find(')').expect("host_needs list is closed")];
    body.split_whitespace()
        .map(|e| match e.strip_prefix("py:") {
            Some(rest) => format!("py:{}", rest.split(':').next().unwrap_or("")),
            None => e.split(':').next().unwrap_or("").to_string(),
        })
        .collect()
}

/// The string literal starting at `s` (after optional whitespace), if any.
fn literal(s: &str) -> Option<&str> {
    let s = s.trim_start().strip_prefix('"')?;
    Some(&s[..s.find('"')?])
}

/// `const NAME: &str = "value";` in `src`.
fn constant<'a>(src: &'a str, name: &str) -> Option<&'a str> {
    let at = src.find(&format!("const {name}: &str ="))?;
    literal(&src[at + format!("const {name}: &str =").len()..])
}

/// Every program a test file looks for with `have_program`: literals, constants, and the
/// literal arrays a `for tool in [ … ]` loop feeds it.
fn programs_looked_for(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in src.match_indices("have_program(") {
        let arg = &src[at + "have_program(".len()..];
        if let Some(l) = literal(arg) {
            out.push(l.to_string());
            continue;
        }
        let ident: String = arg.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if let Some(v) = constant(src, &ident) {
            out.push(v.to_string());
        } else {
            // A loop variable: the array of the nearest `for IDENT in [` before the call.
            let head = format!("for {ident} in [");
            let start =
                src[..at].rfind(&head).unwrap_or_else(|| panic!("cannot resolve have_program({ident})"));
            let array = &src[start + head.len()..];
            let array = &array[..array.find(']').expect("closed array")];
            out.extend(array.split(',').filter_map(literal).map(str::to_string));
        }
    }
    out
}

#[test]
fn every_program_the_tests_look_for_is_in_the_list() {
    let list = listed();
    assert!(list.len() > 10, "scripts/test.sh host_needs looks empty: {list:?}");
    let mut missing = BTreeSet::new();
    let mut seen = 0;
    for e in fs::read_dir(common::workspace().join("tests")).unwrap().flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("rs") || path.ends_with("setup.rs") {
            continue;
        }
        let src = fs::read_to_string(&path).unwrap();
        for prog in programs_looked_for(&src) {
            seen += 1;
            let name = Path::new(&prog).file_name().and_then(|n| n.to_str()).unwrap_or(&prog).to_string();
            if !list.contains(&name) && !list.contains(&prog) {
                missing.insert(format!("{name} ({})", path.file_name().unwrap().to_string_lossy()));
            }
        }
        if src.contains("import psutil") && !list.contains("py:psutil") {
            missing.insert(format!("py:psutil ({})", path.file_name().unwrap().to_string_lossy()));
        }
    }
    assert!(seen > 10, "found only {seen} have_program calls: the scan is broken");
    assert!(
        missing.is_empty(),
        "programs the tests look for that scripts/test.sh does not install: {missing:?}"
    );
}

#[test]
fn ci_runs_exactly_the_readme_test_command() {
    let ci = read(".ci/run");
    let commands: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with("set -") && !l.starts_with("cd "))
        .collect();
    assert_eq!(commands, ["exec scripts/test.sh"], ".ci/run must run exactly the README's test command");
    assert!(
        !ci.contains("apt-get"),
        ".ci/run installs packages of its own: the list belongs in scripts/test.sh"
    );
    let readme = read("README.md");
    let block = readme.split("## The two commands").nth(1).expect("README has a 'The two commands' section");
    let block = &block[..block.find("\n## ").unwrap_or(block.len())];
    assert!(
        block.lines().any(|l| l.trim_start().starts_with("scripts/test.sh ")),
        "the README's two commands name scripts/test.sh"
    );
}
