//! The log part of the spec: the driver and its options, checked as dockerd checks them, and
//! the `attrs` its json-file driver puts on every line (`tag`, `labels`, `labels-regex`, `env`,
//! `env-regex`).
//!
//! dockerd's rules: any option goes with `none`; `mode` is `blocking` or `non-blocking`, and
//! `max-buffer-size` (a size) only with `non-blocking`; json-file knows max-size, max-file,
//! compress, labels, labels-regex, env, env-regex and tag. With `mode=non-blocking` the shim
//! queues the container's output for a writer process of its own, up to `max-buffer-size`
//! (dockerd's default 1 MB), and drops what does not fit rather than make the container wait.

use super::invalid;
use crate::engine::sizes::parse_size;
use crate::engine::Result;
use berth_shim::spec::{ContainerSpec, LogSpec};
use std::collections::BTreeMap;

/// What a tag template may name, from the container being created.
pub(super) struct TagContext<'a> {
    pub id: &'a str,
    /// Without its leading `/`.
    pub name: &'a str,
    /// `sha256:<hex>`.
    pub image_id: &'a str,
    /// As the request gave it.
    pub image_name: &'a str,
    /// Entrypoint and arguments.
    pub command: &'a [String],
    pub hostname: &'a str,
}

/// dockerd's ring buffer size when `max-buffer-size` is not given.
const DEFAULT_MAX_BUFFER_SIZE: u64 = 1_000_000;

/// The log driver and its options, as the shim writes the log. `labels` and `env` are the
/// container's (the image's merged in), for the attrs; the tag comes with [`with_tag`] once
/// the container has its name.
pub(super) fn log_spec(
    kind: &str,
    config: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    env: &[String],
) -> Result<LogSpec> {
    let driver = match kind {
        "" | "json-file" => "json-file",
        "none" => "none",
        other => {
            return Err(invalid(format!(
                "logger: no log driver named '{other}' is registered"
            )))
        }
    };
    let mut spec = LogSpec {
        driver: driver.to_string(),
        ..LogSpec::default()
    };
    if driver == "none" {
        return Ok(spec);
    }
    let mode = config.get("mode").map(String::as_str).unwrap_or("");
    let non_blocking = match mode {
        "" | "blocking" => false,
        "non-blocking" => true,
        other => {
            return Err(invalid(format!(
                "logger: logging mode not supported: {other}"
            )))
        }
    };
    match config.get("max-buffer-size") {
        Some(_) if !non_blocking => {
            return Err(invalid(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
            ))
        }
        Some(v) => {
            let n = parse_size(v).ok_or_else(|| {
                invalid(format!(
                    "error parsing option max-buffer-size: invalid size: '{v}'"
                ))
            })?;
            // 0 would read as blocking in the spec; a buffer of one byte takes an entry only
            // when it is empty, which is what dockerd's empty ring does.
            spec.max_buffer_size = n.max(1);
        }
        None if non_blocking => spec.max_buffer_size = DEFAULT_MAX_BUFFER_SIZE,
        None => {}
    }
    for k in config.keys() {
        if !matches!(
            k.as_str(),
            "mode"
                | "max-buffer-size"
                | "max-size"
                | "max-file"
                | "compress"
                | "labels"
                | "labels-regex"
                | "env"
                | "env-regex"
                | "tag"
        ) {
            return Err(invalid(format!(
                "unknown log opt '{k}' for json-file log driver"
            )));
        }
    }
    if let Some(v) = config.get("max-size") {
        spec.max_size = parse_size(v)
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid(format!("invalid max-size: {v}")))?;
    }
    if let Some(v) = config.get("max-file") {
        // Without max-size the log never rotates and max-file changes nothing (dockerd too).
        spec.max_file = v
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| invalid(format!("invalid max-file: {v}")))?;
    }
    if let Some(v) = config.get("compress") {
        spec.compress = parse_go_bool(v)
            .ok_or_else(|| invalid(format!("invalid compress: {v} (true or false)")))?;
        if spec.compress && (spec.max_file < 2 || spec.max_size == 0) {
            return Err(invalid(
                "compress cannot be true when max-file is less than 2 or max-size is not set",
            ));
        }
    }
    spec.attrs = attrs(config, labels, env)?;
    if let Some(tag) = config.get("tag") {
        Tag::parse(tag)?;
    }
    Ok(spec)
}

/// The spec with the `tag` attr rendered for the container now named (dockerd renders it when
/// the log opens; berth at create, so a rename shows in the tag only for a new container). The
/// template was checked by [`log_spec`].
pub(super) fn with_tag(
    mut spec: ContainerSpec,
    config: &BTreeMap<String, String>,
    cx: &TagContext<'_>,
) -> ContainerSpec {
    if spec.log.driver != "json-file" {
        return spec;
    }
    if let Some(Ok(tag)) = config.get("tag").map(|t| Tag::parse(t)) {
        let rendered = tag.render(cx);
        if !rendered.is_empty() {
            spec.log.attrs.insert("tag".into(), rendered);
        }
    }
    spec
}

/// Go's strconv.ParseBool.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// dockerd's extra attributes: the labels named in `labels` and matching `labels-regex` (which
/// dockerd reads only when `labels` is set too), the env vars named in `env` and matching
/// `env-regex`.
fn attrs(
    config: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    env: &[String],
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let regex = |key: &str| -> Result<Option<regex::Regex>> {
        match config.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(re) => regex::Regex::new(re)
                .map(Some)
                .map_err(|e| invalid(format!("invalid {key} {re:?}: {e}"))),
        }
    };
    let names = |key: &str| -> Vec<&str> {
        config
            .get(key)
            .filter(|v| !v.is_empty())
            .map(|v| v.split(',').collect())
            .unwrap_or_default()
    };
    let label_names = names("labels");
    for name in &label_names {
        if let Some(v) = labels.get(*name) {
            out.insert(name.to_string(), v.clone());
        }
    }
    if let Some(re) = regex("labels-regex")? {
        if !label_names.is_empty() {
            for (k, v) in labels.iter().filter(|(k, _)| re.is_match(k)) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let env: BTreeMap<&str, &str> = env.iter().filter_map(|e| e.split_once('=')).collect();
    for name in names("env") {
        if let Some(v) = env.get(name) {
            out.insert(name.to_string(), v.to_string());
        }
    }
    if let Some(re) = regex("env-regex")? {
        for (k, v) in env.iter().filter(|(k, _)| re.is_match(k)) {
            out.insert(k.to_string(), v.to_string());
        }
    }
    Ok(out)
}

/// A log tag template: text and `{{.Field}}` references, the part of Go's templates that
/// dockerd's documented tags use.
#[derive(Debug, PartialEq)]
struct Tag(Vec<Piece>);

#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Field(Field),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Id,
    FullId,
    Name,
    ImageId,
    ImageFullId,
    ImageName,
    DaemonName,
    Command,
    Hostname,
}

impl Tag {
    fn parse(tag: &str) -> Result<Tag> {
        let unsupported = || {
            invalid(format!(
                "log opt tag {tag:?} is not supported by berth: a tag template may hold text and \
                 {{{{.ID}}}}, {{{{.FullID}}}}, {{{{.Name}}}}, {{{{.ImageID}}}}, {{{{.ImageFullID}}}}, \
                 {{{{.ImageName}}}}, {{{{.DaemonName}}}}, {{{{.Command}}}} or {{{{.Hostname}}}}"
            ))
        };
        let mut pieces = Vec::new();
        let mut rest = tag;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(unsupported)?;
            let field = match after[..end].trim() {
                ".ID" => Field::Id,
                ".FullID" => Field::FullId,
                ".Name" => Field::Name,
                ".ImageID" => Field::ImageId,
                ".ImageFullID" => Field::ImageFullId,
                ".ImageName" => Field::ImageName,
                ".DaemonName" => Field::DaemonName,
                ".Command" => Field::Command,
                ".Hostname" => Field::Hostname,
                _ => return Err(unsupported()),
            };
            pieces.push(Piece::Field(field));
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(unsupported());
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Tag(pieces))
    }

    fn render(&self, cx: &TagContext<'_>) -> String {
        let short = |id: &str| {
            let id = id.split_once(':').map_or(id, |(_, hex)| hex);
            id.chars().take(12).collect::<String>()
        };
        self.0
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Field(Field::Id) => short(cx.id),
                Piece::Field(Field::FullId) => cx.id.to_string(),
                Piece::Field(Field::Name) => cx.name.trim_start_matches('/').to_string(),
                Piece::Field(Field::ImageId) => short(cx.image_id),
                Piece::Field(Field::ImageFullId) => cx.image_id.to_string(),
                Piece::Field(Field::ImageName) => cx.image_name.to_string(),
                Piece::Field(Field::DaemonName) => "docker".to_string(),
                Piece::Field(Field::Command) => cx.command.join(" "),
                Piece::Field(Field::Hostname) => cx.hostname.to_string(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spec(kind: &str, pairs: &[(&str, &str)]) -> Result<LogSpec> {
        let labels = opts(&[("com.x.a", "1"), ("com.x.b", "2"), ("other", "3")]);
        let env = [
            "FOO=bar".to_string(),
            "APP_ONE=1".into(),
            "APP_TWO=2".into(),
        ];
        log_spec(kind, &opts(pairs), &labels, &env)
    }

    fn message(r: Result<LogSpec>) -> String {
        r.expect_err("expected a refusal").to_string()
    }

    #[test]
    fn refuses_what_dockerd_refuses_in_its_words() {
        for (kind, pairs, want) in [
            (
                "syslog",
                vec![],
                "logger: no log driver named 'syslog' is registered",
            ),
            (
                "json-file",
                vec![("foo", "1")],
                "unknown log opt 'foo' for json-file log driver",
            ),
            (
                "json-file",
                vec![("mode", "fast")],
                "logger: logging mode not supported: fast",
            ),
            (
                "json-file",
                vec![("max-buffer-size", "4m")],
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
            ),
            (
                "json-file",
                vec![("compress", "true"), ("max-size", "1m")],
                "compress cannot be true when max-file is less than 2 or max-size is not set",
            ),
        ] {
            let got = message(spec(kind, &pairs));
            assert!(
                got.contains(want),
                "{kind} {pairs:?}: expected {want:?}, got {got:?}"
            );
        }
        let got = message(spec(
            "json-file",
            &[("mode", "non-blocking"), ("max-buffer-size", "lots")],
        ));
        assert_eq!(
            got,
            "error parsing option max-buffer-size: invalid size: 'lots'"
        );
        let got = message(spec("json-file", &[("tag", "{{.Name | upper}}")]));
        assert!(got.contains("log opt tag"), "{got}");
    }

    #[test]
    fn non_blocking_mode_sets_the_buffer() {
        let s = spec("json-file", &[("mode", "non-blocking")]).unwrap();
        assert_eq!(s.max_buffer_size, 1_000_000, "dockerd's default ring size");
        let s = spec(
            "json-file",
            &[("mode", "non-blocking"), ("max-buffer-size", "4m")],
        )
        .unwrap();
        assert_eq!(s.max_buffer_size, 4 * 1024 * 1024);
        let s = spec("json-file", &[("mode", "blocking")]).unwrap();
        assert_eq!(s.max_buffer_size, 0, "blocking mode has no buffer");
        let s = spec("none", &[("mode", "non-blocking")]).unwrap();
        assert_eq!(s.max_buffer_size, 0, "nothing is written with none");
    }

    #[test]
    fn accepts_what_dockerd_accepts() {
        let s = spec("json-file", &[("max-file", "3")]).unwrap();
        assert_eq!(
            (s.max_size, s.max_file),
            (0, 3),
            "max-file without max-size"
        );
        let s = spec(
            "json-file",
            &[("max-file", "3"), ("max-size", "1k"), ("compress", "1")],
        )
        .unwrap();
        assert!(s.compress && s.max_size > 0 && s.max_file == 3);
        let s = spec("none", &[("anything", "x"), ("mode", "bogus")]).unwrap();
        assert_eq!(s.driver, "none", "any option goes with none");
        spec("json-file", &[("mode", "blocking")]).unwrap();
    }

    #[test]
    fn attrs_from_labels_and_env() {
        let s = spec(
            "json-file",
            &[
                ("labels", "com.x.a,missing"),
                ("env", "FOO"),
                ("env-regex", "^APP_"),
            ],
        )
        .unwrap();
        assert_eq!(
            s.attrs,
            opts(&[
                ("com.x.a", "1"),
                ("FOO", "bar"),
                ("APP_ONE", "1"),
                ("APP_TWO", "2")
            ])
        );
        // dockerd reads labels-regex only when labels is set too.
        let s = spec("json-file", &[("labels-regex", "^com")]).unwrap();
        assert!(s.attrs.is_empty(), "{:?}", s.attrs);
        let s = spec(
            "json-file",
            &[("labels", "other"), ("labels-regex", "^com")],
        )
        .unwrap();
        assert_eq!(
            s.attrs,
            opts(&[("com.x.a", "1"), ("com.x.b", "2"), ("other", "3")])
        );
        assert!(message(spec("json-file", &[("env-regex", "(")])).contains("env-regex"));
    }

    #[test]
    fn tag_templates_render_dockerds_fields() {
        let cx = TagContext {
            id: "0123456789abcdef0123",
            name: "/web",
            image_id: "sha256:fedcba9876543210",
            image_name: "busybox",
            command: &["sh".to_string(), "-c".into(), "x".into()],
            hostname: "h1",
        };
        let t =
            Tag::parse("{{.Name}}/{{ .ID }}/{{.ImageID}} {{.ImageName}} {{.DaemonName}}").unwrap();
        assert_eq!(
            t.render(&cx),
            "web/0123456789ab/fedcba987654 busybox docker"
        );
        assert_eq!(Tag::parse("plain").unwrap().render(&cx), "plain");
        assert_eq!(
            Tag::parse("{{.FullID}}|{{.Command}}|{{.Hostname}}")
                .unwrap()
                .render(&cx),
            "0123456789abcdef0123|sh -c x|h1"
        );
        for bad in ["{{.Nope}}", "{{.Name", "a}}", "{{json .}}"] {
            assert!(Tag::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
