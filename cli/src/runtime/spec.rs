//! The two edits `cgshim runtime` makes, on text: a read-only bind mount of the host's
//! `libcgshim.so` at [`LIB_IN_CONTAINER`] in a bundle's `config.json`, and that path first in
//! `LD_PRELOAD` in the process's `env` (of `config.json`, or of the `process.json` that `exec
//! --process` names).
//!
//! The document is parsed into borrowed raw values, and the new text is spliced in at their
//! byte offsets: every other byte of the file (unknown fields, their order, number spellings,
//! whitespace) stays exactly as it was. Anything that does not parse is an error, and the
//! caller then leaves the file alone.

use cgshim::config::Config;
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Where the library appears in every container. Its own directory, so that it shadows nothing
/// of the image's.
pub const LIB_IN_CONTAINER: &str = "/usr/lib/cgshim/libcgshim.so";

/// The OCI annotation that leaves one container untouched (values as for `CGSHIM_DISABLE=1`).
pub const DISABLE_ANNOTATION: &str = "org.cgshim.disable";

/// The file name by which an image's own copy of the library is recognized.
const LIB_FILE_NAME: &str = "libcgshim.so";

/// Why a container is left as it is.
#[derive(Debug, PartialEq, Eq)]
pub enum Skip {
    /// `config.json` has no `process`: there is nothing to preload into.
    NoProcess,
    /// The [`DISABLE_ANNOTATION`] annotation, with its value.
    Annotation(String),
    /// `CGSHIM_DISABLE` in the process's environment switches everything off.
    Env(String),
    /// The image preloads a copy of its own (where, as a short text).
    ImagePreloads(String),
    /// The edit is there already (a bundle run a second time, an exec that has it).
    AlreadyDone,
}

impl Skip {
    pub fn describe(&self) -> String {
        match self {
            Skip::NoProcess => "the configuration has no process".into(),
            Skip::Annotation(v) => format!("annotation {DISABLE_ANNOTATION}={v}"),
            Skip::Env(v) => format!("CGSHIM_DISABLE={v} in the container's environment"),
            Skip::ImagePreloads(w) => format!("the image preloads its own copy ({w})"),
            Skip::AlreadyDone => format!("{LIB_IN_CONTAINER} is in place already"),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The new text of the file.
    Edited(String),
    Skipped(Skip),
}

#[derive(Debug, PartialEq, Eq)]
pub enum SpecError {
    /// Malformed input, named by the field that was wrong.
    Malformed(String),
    /// The host's library cannot be used (why).
    Library(String),
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpecError::Malformed(m) | SpecError::Library(m) => f.write_str(m),
        }
    }
}

fn malformed(msg: String) -> SpecError {
    SpecError::Malformed(msg)
}

type Object<'a> = HashMap<String, &'a RawValue>;

fn object<'a>(text: &'a str, what: &str) -> Result<Object<'a>, SpecError> {
    serde_json::from_str(text).map_err(|e| malformed(format!("{what} is not a JSON object: {e}")))
}

fn is_null(raw: Option<&&RawValue>) -> bool {
    raw.is_none_or(|r| r.get() == "null")
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// Byte range of `inner` (a borrowed raw value) within `outer`.
fn span(outer: &str, inner: &str) -> Result<(usize, usize), SpecError> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize);
    match start {
        Some(s) if s.checked_add(inner.len()).is_some_and(|e| e <= outer.len()) => Ok((s, s + inner.len())),
        _ => Err(malformed(String::from("internal: a raw value outside its document"))),
    }
}

/// Where to insert a new first member of the object whose text is `obj` (within `outer`), and
/// whether a comma must follow it.
fn object_insertion(outer: &str, obj: &str, members: usize) -> Result<(usize, &'static str), SpecError> {
    let (start, _) = span(outer, obj.trim_start())?;
    if !obj.trim_start().starts_with('{') {
        return Err(malformed(String::from("internal: an object that does not start with {")));
    }
    Ok((start + 1, if members > 0 { "," } else { "" }))
}

/// One splice: replace `start..end` of the text with `with`.
struct Splice {
    start: usize,
    end: usize,
    with: String,
}

fn apply(text: &str, mut splices: Vec<Splice>) -> String {
    splices.sort_by_key(|s| std::cmp::Reverse(s.start));
    let mut out = text.to_string();
    for s in splices {
        out.replace_range(s.start..s.end, &s.with);
    }
    out
}

/// Whether a `CGSHIM_DISABLE`-style value switches everything off.
pub fn disables_all(value: &str) -> bool {
    Config::default().with_disable(value.as_bytes()).all_disabled()
}

fn env_value<'e>(env: &'e [String], name: &str) -> Option<&'e str> {
    env.iter().find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// What the process's environment needs.
enum EnvPlan {
    Skip(Skip),
    /// Our path is in `LD_PRELOAD` already.
    Keep,
    Replace(Vec<String>),
}

fn plan_env(env: &[String]) -> EnvPlan {
    if let Some(v) = env_value(env, "CGSHIM_DISABLE").filter(|v| disables_all(v)) {
        return EnvPlan::Skip(Skip::Env(v.to_string()));
    }
    let mut new = env.to_vec();
    match env.iter().position(|e| e.starts_with("LD_PRELOAD=")) {
        Some(i) => {
            let value = &env[i]["LD_PRELOAD=".len()..];
            let entries: Vec<&str> = value.split([' ', ':', '\t', '\n']).filter(|e| !e.is_empty()).collect();
            if entries.contains(&LIB_IN_CONTAINER) {
                return EnvPlan::Keep;
            }
            if let Some(own) = entries.iter().find(|e| e.rsplit('/').next() == Some(LIB_FILE_NAME)) {
                return EnvPlan::Skip(Skip::ImagePreloads(format!("LD_PRELOAD entry {own}")));
            }
            let joined = crate::exec::preload_value(
                std::path::Path::new(LIB_IN_CONTAINER),
                Some(std::ffi::OsStr::new(value)),
            );
            new[i] = format!("LD_PRELOAD={}", joined.to_string_lossy());
        }
        None => new.push(format!("LD_PRELOAD={LIB_IN_CONTAINER}")),
    }
    EnvPlan::Replace(new)
}

/// The process object's env as strings (absent or null: empty).
fn env_of(process: &Object) -> Result<Vec<String>, SpecError> {
    match process.get("env") {
        r if is_null(r) => Ok(Vec::new()),
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| malformed(format!("process.env is not a list of strings: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// The splice that puts `env` into the process object whose text is `process_text`.
fn env_splice(text: &str, process_text: &str, process: &Object, env: &[String]) -> Result<Splice, SpecError> {
    let new = serde_json::to_string(env).map_err(|e| malformed(format!("internal: {e}")))?;
    match process.get("env") {
        Some(raw) => {
            let (start, end) = span(text, raw.get())?;
            Ok(Splice { start, end, with: new })
        }
        None => {
            let (at, comma) = object_insertion(text, process_text, process.len())?;
            Ok(Splice { start: at, end: at, with: format!("\"env\":{new}{comma}") })
        }
    }
}

/// The mount added to `config.json`.
pub fn mount_json(host_lib: &str) -> String {
    format!(
        "{{\"destination\":{},\"type\":\"bind\",\"source\":{},\"options\":[\"bind\",\"ro\",\"nosuid\",\"nodev\"]}}",
        json_string(LIB_IN_CONTAINER),
        json_string(host_lib)
    )
}

/// The `mounts` list of a configuration, each mount's destination (None where it has none).
fn destinations(top: &Object) -> Result<Vec<Option<String>>, SpecError> {
    let Some(raw) = top.get("mounts").filter(|r| r.get() != "null") else { return Ok(Vec::new()) };
    let list: Vec<&RawValue> =
        serde_json::from_str(raw.get()).map_err(|e| malformed(format!("mounts is not a list: {e}")))?;
    list.iter()
        .map(|m| {
            let m = object(m.get(), "a mount")?;
            match m.get("destination") {
                r if is_null(r) => Ok(None),
                Some(d) => serde_json::from_str(d.get())
                    .map(Some)
                    .map_err(|e| malformed(format!("a mount's destination is not a string: {e}"))),
                None => Ok(None),
            }
        })
        .collect()
}

/// Whether a configuration mounts the library at [`LIB_IN_CONTAINER`]: what `exec` asks of
/// the container it joins.
pub fn has_library_mount(text: &str) -> Result<bool, SpecError> {
    let top = object(text, "the configuration")?;
    Ok(destinations(&top)?.iter().any(|d| d.as_deref() == Some(LIB_IN_CONTAINER)))
}

/// `root.path` of a configuration, when it has one.
fn root_path(top: &Object) -> Result<Option<String>, SpecError> {
    let Some(raw) = top.get("root").filter(|r| r.get() != "null") else { return Ok(None) };
    let root = object(raw.get(), "root")?;
    match root.get("path") {
        r if is_null(r) => Ok(None),
        Some(p) => serde_json::from_str(p.get())
            .map(Some)
            .map_err(|e| malformed(format!("root.path is not a string: {e}"))),
        None => Ok(None),
    }
}

/// The edit of a bundle's `config.json`. Only when an edit is to be made, `image_preloads` is
/// asked, with `root.path`, whether the image lists a copy of the library in its
/// `/etc/ld.so.preload`, and then `host_lib` for the library to mount.
pub fn edit_config(
    text: &str,
    host_lib: impl FnOnce() -> Result<String, String>,
    image_preloads: impl FnOnce(Option<&str>) -> Option<String>,
) -> Result<Outcome, SpecError> {
    let top = object(text, "the configuration")?;
    if let Some(raw) = top.get("annotations").filter(|r| r.get() != "null") {
        let annotations: HashMap<String, String> = serde_json::from_str(raw.get())
            .map_err(|e| malformed(format!("annotations is not a map of strings: {e}")))?;
        if let Some(v) = annotations.get(DISABLE_ANNOTATION).filter(|v| disables_all(v)) {
            return Ok(Outcome::Skipped(Skip::Annotation(v.clone())));
        }
    }
    let Some(process_raw) = top.get("process").filter(|r| r.get() != "null") else {
        return Ok(Outcome::Skipped(Skip::NoProcess));
    };
    let process = object(process_raw.get(), "process")?;
    let env = env_of(&process)?;
    let destinations = destinations(&top)?;
    let mounted = destinations.iter().any(|d| d.as_deref() == Some(LIB_IN_CONTAINER));

    let mut splices = Vec::new();
    match plan_env(&env) {
        EnvPlan::Skip(s) => return Ok(Outcome::Skipped(s)),
        EnvPlan::Keep if mounted => return Ok(Outcome::Skipped(Skip::AlreadyDone)),
        EnvPlan::Keep => {}
        EnvPlan::Replace(new) => splices.push(env_splice(text, process_raw.get(), &process, &new)?),
    }
    if let Some(where_) = image_preloads(root_path(&top)?.as_deref()) {
        return Ok(Outcome::Skipped(Skip::ImagePreloads(where_)));
    }
    if !mounted {
        let mount = mount_json(&host_lib().map_err(SpecError::Library)?);
        match top.get("mounts") {
            Some(raw) if raw.get() != "null" => {
                let (_, end) = span(text, raw.get())?;
                let comma = if destinations.is_empty() { "" } else { "," };
                // The raw list ends with its `]`: the new mount goes just before it.
                let at = end - 1;
                splices.push(Splice { start: at, end: at, with: format!("{comma}{mount}") });
            }
            Some(raw) => {
                let (start, end) = span(text, raw.get())?;
                splices.push(Splice { start, end, with: format!("[{mount}]") });
            }
            None => {
                let (at, comma) = object_insertion(text, text, top.len())?;
                splices.push(Splice { start: at, end: at, with: format!("\"mounts\":[{mount}]{comma}") });
            }
        }
    }
    let out = apply(text, splices);
    // Never hand on a file that does not parse: a bug here must not break a container.
    object(&out, "the edited configuration")?;
    Ok(Outcome::Edited(out))
}

/// The edit of an `exec --process` file: the same environment as the container's own process.
pub fn edit_process(text: &str) -> Result<Outcome, SpecError> {
    let process = object(text, "the process file")?;
    let env = env_of(&process)?;
    match plan_env(&env) {
        EnvPlan::Skip(s) => Ok(Outcome::Skipped(s)),
        EnvPlan::Keep => Ok(Outcome::Skipped(Skip::AlreadyDone)),
        EnvPlan::Replace(new) => {
            let out = apply(text, vec![env_splice(text, text, &process, &new)?]);
            object(&out, "the edited process file")?;
            Ok(Outcome::Edited(out))
        }
    }
}

/// The bundle directory in a runtime's `state` output.
pub fn state_bundle(text: &str) -> Result<String, SpecError> {
    let state = object(text, "the runtime's state")?;
    match state.get("bundle") {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| malformed(format!("the runtime's state has a bundle that is not a string: {e}"))),
        None => Err(malformed("the runtime's state names no bundle".into())),
    }
}

/// Whether an `/etc/ld.so.preload` text lists a copy of the library (the entry, if so).
pub fn preload_file_lists_library(text: &[u8]) -> Option<String> {
    String::from_utf8_lossy(text)
        .split([' ', '\t', '\n', ':'])
        .find(|e| e.rsplit('/').next() == Some(LIB_FILE_NAME))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const LIB: &str = "/usr/local/lib/libcgshim.so";

    fn lib() -> Result<String, String> {
        Ok(LIB.to_string())
    }

    fn never(_: Option<&str>) -> Option<String> {
        None
    }

    fn edited(text: &str) -> String {
        match edit_config(text, lib, never) {
            Ok(Outcome::Edited(s)) => s,
            other => panic!("expected an edit of {text}, got {other:?}"),
        }
    }

    fn env(doc: &Value) -> Vec<String> {
        serde_json::from_value(doc["process"]["env"].clone()).unwrap()
    }

    #[test]
    fn adds_the_mount_and_the_preload_and_keeps_every_other_byte() {
        let text = r#"{
  "ociVersion": "1.0.2",
  "x-unknown": {"big": 18446744073709551616, "float": 1.50, "dup": 1, "dup": 2},
  "process": {"args": ["free"], "env": ["PATH=/bin", "LD_PRELOAD=/a.so:/b.so"], "cwd": "/"},
  "root": {"path": "rootfs", "readonly": true},
  "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]
}"#;
        let out = edited(text);
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            env(&doc),
            vec!["PATH=/bin".to_string(), format!("LD_PRELOAD={LIB_IN_CONTAINER} /a.so /b.so")]
        );
        let mounts = doc["mounts"].as_array().unwrap();
        assert_eq!(mounts.len(), 2);
        assert_eq!(mounts[1]["destination"], LIB_IN_CONTAINER);
        assert_eq!(mounts[1]["source"], LIB);
        assert_eq!(mounts[1]["options"], serde_json::json!(["bind", "ro", "nosuid", "nodev"]));
        // Everything before the env list and between it and the mount is the original text.
        let env_at = text.find("[\"PATH").unwrap();
        assert_eq!(&out[..env_at], &text[..env_at]);
        let after_env = text.find(", \"cwd\"").unwrap();
        let tail = &text[after_env..text.rfind(']').unwrap()];
        assert!(out.contains(tail), "the text between the two edits is kept:\n{out}");
        assert!(out.ends_with("]\n}"), "{out}");
    }

    #[test]
    fn creates_env_and_mounts_when_absent() {
        let out = edited(r#"{"process":{"args":["sh"]},"ociVersion":"1.0.2"}"#);
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(env(&doc), vec![format!("LD_PRELOAD={LIB_IN_CONTAINER}")]);
        assert_eq!(doc["mounts"][0]["destination"], LIB_IN_CONTAINER);
        assert_eq!(doc["ociVersion"], "1.0.2");
        let out = edited(r#"{"process":{},"mounts":[]}"#);
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["mounts"].as_array().unwrap().len(), 1);
        assert_eq!(env(&doc).len(), 1);
        let out = edited(r#"{"process":{"env":null},"mounts":null}"#);
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["mounts"].as_array().unwrap().len(), 1);
        assert_eq!(env(&doc).len(), 1);
    }

    #[test]
    fn a_second_run_changes_nothing() {
        let once = edited(r#"{"process":{"env":["A=1"]},"mounts":[]}"#);
        assert_eq!(edit_config(&once, lib, never), Ok(Outcome::Skipped(Skip::AlreadyDone)));
    }

    #[test]
    fn opt_outs_and_own_copies_leave_the_config_alone() {
        let cases = [
            (
                r#"{"annotations":{"org.cgshim.disable":"true"},"process":{}}"#,
                Skip::Annotation("true".into()),
            ),
            (r#"{"process":{"env":["CGSHIM_DISABLE=1"]}}"#, Skip::Env("1".into())),
            (
                r#"{"process":{"env":["LD_PRELOAD=/opt/x/libcgshim.so"]}}"#,
                Skip::ImagePreloads("LD_PRELOAD entry /opt/x/libcgshim.so".into()),
            ),
            (r#"{"ociVersion":"1.0.2"}"#, Skip::NoProcess),
            (r#"{"process":null}"#, Skip::NoProcess),
        ];
        for (text, skip) in cases {
            assert_eq!(edit_config(text, lib, never), Ok(Outcome::Skipped(skip)), "{text}");
        }
        // Values that do not switch everything off are not an opt-out.
        for text in [
            r#"{"annotations":{"org.cgshim.disable":"false"},"process":{}}"#,
            r#"{"process":{"env":["CGSHIM_DISABLE=cpu"]}}"#,
        ] {
            edited(text);
        }
        let out = edit_config(r#"{"process":{},"root":{"path":"rootfs"}}"#, lib, |root| {
            assert_eq!(root, Some("rootfs"));
            Some("/etc/ld.so.preload".into())
        });
        assert_eq!(out, Ok(Outcome::Skipped(Skip::ImagePreloads("/etc/ld.so.preload".into()))));
    }

    #[test]
    fn a_missing_library_is_asked_for_only_when_needed() {
        let missing = || Err("libcgshim.so not found".to_string());
        assert_eq!(
            edit_config(r#"{"process":{}}"#, missing, never),
            Err(SpecError::Library("libcgshim.so not found".into()))
        );
        let opted_out = r#"{"process":{"env":["CGSHIM_DISABLE=all"]}}"#;
        assert_eq!(edit_config(opted_out, missing, never), Ok(Outcome::Skipped(Skip::Env("all".into()))));
    }

    #[test]
    fn malformed_documents_are_errors() {
        for text in [
            "",
            "{",
            "[]",
            "null",
            r#"{"process":{"env":"A=1"}}"#,
            r#"{"process":{"env":[1]}}"#,
            r#"{"process":"x"}"#,
            r#"{"process":{},"mounts":{}}"#,
            r#"{"process":{},"mounts":[{"destination":5}]}"#,
            r#"{"process":{},"annotations":{"a":1}}"#,
            r#"{"process":{}} trailing"#,
        ] {
            assert!(
                matches!(edit_config(text, lib, never), Err(SpecError::Malformed(_))),
                "{text:?} should be an error"
            );
        }
    }

    #[test]
    fn escapes_are_kept_and_written() {
        let lib = "/odd \"dir\"/libcgshim.so";
        let text = r#"{"process":{"env":["X=\u00e9\n"]},"k\u0041":"\ud83d\ude00"}"#;
        let Ok(Outcome::Edited(out)) = edit_config(text, || Ok(lib.to_string()), never) else { panic!() };
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["mounts"][0]["source"], lib);
        assert_eq!(env(&doc)[0], "X=\u{e9}\n");
        assert!(out.contains(r#""k\u0041":"\ud83d\ude00""#), "{out}");
    }

    #[test]
    fn process_files_get_the_same_environment() {
        let text = r#"{"terminal":false,"user":{"uid":1000},"args":["free"],"env":["PATH=/bin"],"cwd":"/"}"#;
        let Ok(Outcome::Edited(out)) = edit_process(text) else { panic!() };
        let doc: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["env"], serde_json::json!(["PATH=/bin", format!("LD_PRELOAD={LIB_IN_CONTAINER}")]));
        assert_eq!(edit_process(&out), Ok(Outcome::Skipped(Skip::AlreadyDone)));
        let Ok(Outcome::Edited(out)) = edit_process(r#"{"args":["sh"]}"#) else { panic!() };
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()["env"][0],
            format!("LD_PRELOAD={LIB_IN_CONTAINER}")
        );
        assert_eq!(
            edit_process(r#"{"env":["CGSHIM_DISABLE=yes"]}"#),
            Ok(Outcome::Skipped(Skip::Env("yes".into())))
        );
    }

    #[test]
    fn library_mount_and_preload_file_detection() {
        let once = edited(r#"{"process":{}}"#);
        assert_eq!(has_library_mount(&once), Ok(true));
        assert_eq!(has_library_mount(r#"{"mounts":[{"destination":"/proc"}]}"#), Ok(false));
        assert_eq!(has_library_mount(r#"{}"#), Ok(false));
        assert_eq!(
            preload_file_lists_library(b"# comment\n/usr/local/lib/libcgshim.so\n"),
            Some("/usr/local/lib/libcgshim.so".into())
        );
        assert_eq!(preload_file_lists_library(b"/usr/lib/libother.so\n"), None);
        assert_eq!(
            state_bundle(r#"{"id":"x","pid":1,"bundle":"/run/b","status":"running"}"#),
            Ok("/run/b".into())
        );
        assert!(state_bundle(r#"{"id":"x"}"#).is_err());
    }
}
