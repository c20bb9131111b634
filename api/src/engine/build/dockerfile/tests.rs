//! The parser against the Dockerfile reference's examples and dockerd's error words.

use std::time::Duration;

use super::*;

fn ok(text: &str) -> Dockerfile {
    parse(text).unwrap_or_else(|e| panic!("expected {text:?} to parse, got {e}"))
}

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(d) => panic!("expected {text:?} to be refused, it parsed as {d:?}"),
        Err(e) => e,
    }
}

fn assert_err(text: &str, line: usize, message: &str) {
    let e = err(text);
    assert_eq!(
        (e.line, e.message.as_str()),
        (line, message),
        "for {text:?} expected line {line}: {message:?}, got line {}: {:?}",
        e.line,
        e.message
    );
}

/// The instructions of the only stage.
fn steps(text: &str) -> Vec<Instruction> {
    let d = ok(text);
    assert_eq!(
        d.stages.len(),
        1,
        "expected one stage in {text:?}, got {d:?}"
    );
    d.stages[0]
        .instructions
        .iter()
        .map(|l| l.value.clone())
        .collect()
}

fn one(text: &str) -> Instruction {
    let mut s = steps(&format!("FROM busybox\n{text}"));
    assert_eq!(
        s.len(),
        1,
        "expected one instruction from {text:?}, got {s:?}"
    );
    s.remove(0)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn escape_directive_backtick_as_in_the_reference() {
    let d = ok("# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n");
    assert_eq!(d.escape, '`');
    let got: Vec<_> = d.stages[0]
        .instructions
        .iter()
        .map(|l| (l.line, l.value.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                4,
                Instruction::Copy(CopySpec {
                    sources: strings(&["testfile.txt"]),
                    dest: "c:\\".into(),
                    from: None,
                    chown: None,
                    chmod: None
                })
            ),
            (5, Instruction::Run(Command::Shell("dir c:\\".into())))
        ]
    );
}

#[test]
fn default_escape_continues_a_line_ending_with_one_backslash() {
    // The reference: `RUN dir c:\` at the end continues (here, to the end of the file), while
    // `c:\\` does not.
    let d = ok("FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\\\nRUN dir c:\\\n");
    let texts: Vec<_> = d.stages[0]
        .instructions
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(texts, ["COPY testfile.txt c:\\\\", "RUN dir c:"]);
}

#[test]
fn directives_only_at_the_top() {
    let d = ok("# syntax=docker/dockerfile:1\n# ESCAPE = `\nFROM busybox\n");
    assert_eq!(
        (d.escape, d.syntax.as_deref()),
        ('`', Some("docker/dockerfile:1"))
    );
    // After a comment, a blank line or an instruction, `# escape=` is a comment.
    for text in [
        "# a comment\n# escape=`\nFROM busybox\n",
        "\n# escape=`\nFROM busybox\n",
        "FROM busybox\n# escape=`\n",
        "# unknown=1\n# escape=`\nFROM busybox\n",
    ] {
        assert_eq!(
            ok(text).escape,
            '\\',
            "{text:?} should keep the default escape"
        );
    }
    assert_err(
        "# escape=\\\n# escape=`\nFROM busybox\n",
        2,
        "only one escape parser directive can be used",
    );
    assert_err(
        "# escape=x\nFROM busybox\n",
        1,
        "invalid escape token 'x' does not match ` or \\",
    );
}

#[test]
fn comments_and_empty_lines_inside_continuations() {
    let d = ok("FROM busybox\nRUN echo a \\\n# a comment\n   # another\n\n  && echo b\nCMD x\n");
    let got: Vec<_> = d.stages[0]
        .instructions
        .iter()
        .map(|l| (l.line, l.text.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "RUN echo a   && echo b".to_string()),
            (7, "CMD x".to_string())
        ]
    );
    assert_eq!(
        d.warnings.len(),
        2,
        "expected the empty continuation warnings, got {:?}",
        d.warnings
    );
    assert!(d.warnings[0].starts_with("[WARNING]: Empty continuation line found in:"));
}

#[test]
fn keywords_any_case_and_text_as_written() {
    let d = ok("from busybox AS Base\nrun echo hi\nWorkDir /a\n");
    assert_eq!(d.stages[0].from.value.name.as_deref(), Some("base"));
    assert_eq!(d.stages[0].from.text, "from busybox AS Base");
    let texts: Vec<_> = d.stages[0]
        .instructions
        .iter()
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(texts, ["run echo hi", "WorkDir /a"]);
}

#[test]
fn bom_and_crlf() {
    let d = ok("\u{feff}FROM busybox\r\nRUN a \\\r\n  b\r\n");
    assert_eq!(
        d.stages[0].instructions[0].value,
        Instruction::Run(Command::Shell("a   b".into()))
    );
}

#[test]
fn unknown_instruction_names_it_and_its_line() {
    let e = err("FROM busybox\n\nfoo bar\n");
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 3: unknown instruction: FOO"
    );
    // A continued instruction is reported at its first line.
    assert_err(
        "FROM busybox\nRUN a \\\n b\nBOGUS x\n",
        4,
        "unknown instruction: BOGUS",
    );
}

#[test]
fn missing_arguments_in_dockerds_words() {
    for (text, message) in [
        ("RUN", "RUN requires at least one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("USER", "USER requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ("ENV", "ENV requires at least one argument"),
        ("LABEL", "LABEL requires at least one argument"),
        ("ARG", "ARG requires at least one argument"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("SHELL []", "SHELL requires at least one argument"),
        ("COPY a", "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("ADD a", "ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("ENV k", "ENV must have two arguments"),
        ("LABEL k", "LABEL must have two arguments"),
        ("ENV a=1 b", "Syntax error - can't find = in \"b\". Must be of the form: name=value"),
        ("ENV =1", "ENV names can not be blank"),
        ("ARG =1", "ARG names can not be blank"),
        ("VOLUME [\"\"]", "VOLUME specified can not be an empty string"),
        ("SHELL sh -c", "SHELL requires the arguments to be in JSON form"),
        ("CMD [\"a\", 1]", "when using JSON array syntax, arrays must be comprised of strings only"),
    ] {
        assert_err(&format!("FROM busybox\n{text}\n"), 2, message);
    }
    assert_err("FROM\n", 1, "FROM requires either one or three arguments");
    assert_err(
        "FROM a b\n",
        1,
        "FROM requires either one or three arguments",
    );
    assert_err(
        "FROM busybox AS 1st\n",
        1,
        "invalid name for build stage: \"1st\", name can't start with a number or contain symbols",
    );
    assert_err(
        "RUN x\nFROM busybox\n",
        1,
        "no build stage in current context",
    );
    assert_err("", 0, "file with no instructions");
    assert_err("# only\n# comments\n", 2, "file with no instructions");
}

#[test]
fn exec_and_shell_forms() {
    assert_eq!(
        one("CMD [\"a\", \"b c\"]"),
        Instruction::Cmd(Command::Exec(strings(&["a", "b c"])))
    );
    // Not valid JSON: the shell form, as written.
    assert_eq!(
        one("CMD [a, b]"),
        Instruction::Cmd(Command::Shell("[a, b]".into()))
    );
    assert_eq!(
        one("RUN [\"a\"] b"),
        Instruction::Run(Command::Exec(strings(&["a"])))
    );
    assert_eq!(
        one("ENTRYPOINT []"),
        Instruction::Entrypoint(Command::Exec(vec![]))
    );
    assert_eq!(
        one("ENTRYPOINT"),
        Instruction::Entrypoint(Command::Exec(vec![]))
    );
    assert_eq!(
        one("ENTRYPOINT top -b"),
        Instruction::Entrypoint(Command::Shell("top -b".into()))
    );
    assert_eq!(
        one("SHELL [\"/bin/bash\", \"-c\"]"),
        Instruction::Shell(strings(&["/bin/bash", "-c"]))
    );
}

#[test]
fn from_platform_stage_names_and_meta_args() {
    let d = ok("ARG TAG=latest\nARG A B=2\nFROM --platform=linux/amd64 busybox:${TAG} AS Build-1.x\nFROM build-1.x\nARG TAG\n");
    let meta: Vec<_> = d
        .meta_args
        .iter()
        .map(|l| (l.line, l.value.clone()))
        .collect();
    assert_eq!(
        meta,
        [
            (
                1,
                ArgDecl {
                    name: "TAG".into(),
                    default: Some("latest".into())
                }
            ),
            (
                2,
                ArgDecl {
                    name: "A".into(),
                    default: None
                }
            ),
            (
                2,
                ArgDecl {
                    name: "B".into(),
                    default: Some("2".into())
                }
            ),
        ]
    );
    assert_eq!(
        d.stages[0].from.value,
        From {
            image: "busybox:${TAG}".into(),
            name: Some("build-1.x".into()),
            platform: Some("linux/amd64".into())
        }
    );
    assert_eq!(d.stages[1].from.value.name, None);
    assert_eq!(
        d.stages[1].instructions[0].value,
        Instruction::Arg(vec![ArgDecl {
            name: "TAG".into(),
            default: None
        }])
    );
    assert_err("FROM --plat=x busybox\n", 1, "Unknown flag: plat");
    // ARGs only: parsed, with no stage (the build then says the Dockerfile is empty).
    assert!(ok("ARG A\n").stages.is_empty());
}

#[test]
fn env_and_label_both_forms() {
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // The reference's examples.
    assert_eq!(
        one("ENV MY_DOG=Rex\\ The\\ Dog"),
        Instruction::Env(pairs(&[("MY_DOG", "Rex\\ The\\ Dog")]))
    );
    assert_eq!(
        one("ENV MY_NAME=\"John Doe\" MY_CAT=fluffy"),
        Instruction::Env(pairs(&[("MY_NAME", "\"John Doe\""), ("MY_CAT", "fluffy")]))
    );
    assert_eq!(
        one("ENV MY_VAR my-value  and more"),
        Instruction::Env(pairs(&[("MY_VAR", "my-value  and more")]))
    );
    assert_eq!(
        one("LABEL \"com.example.vendor\"=\"ACME Incorporated\" version=1.0"),
        Instruction::Label(pairs(&[
            ("\"com.example.vendor\"", "\"ACME Incorporated\""),
            ("version", "1.0")
        ]))
    );
    assert_eq!(
        one("LABEL description=\"This text illustrates \\\n      that label-values can span multiple lines.\""),
        Instruction::Label(pairs(&[(
            "description",
            "\"This text illustrates       that label-values can span multiple lines.\""
        )]))
    );
}

#[test]
fn copy_and_add_flags() {
    assert_eq!(
        one("COPY --from=build --chown=1:2 --chmod=0755 a b /dst/"),
        Instruction::Copy(CopySpec {
            sources: strings(&["a", "b"]),
            dest: "/dst/".into(),
            from: Some("build".into()),
            chown: Some("1:2".into()),
            chmod: Some("0755".into())
        })
    );
    assert_eq!(
        one("ADD [\"a b\", \"/c d/\"]"),
        Instruction::Add(CopySpec {
            sources: strings(&["a b"]),
            dest: "/c d/".into(),
            from: None,
            chown: None,
            chmod: None
        })
    );
    for (text, message) in [
        ("COPY --link a b", "Unknown flag: link"),
        ("ADD --from=x a b", "Unknown flag: from"),
        ("COPY --chown a b", "Missing a value on flag: chown"),
        (
            "COPY --from=a --from=b a b",
            "Duplicate flag specified: from",
        ),
        (
            "RUN --mount=type=cache,target=/x true",
            "Unknown flag: mount",
        ),
    ] {
        assert_err(&format!("FROM busybox\n{text}\n"), 2, message);
    }
}

#[test]
fn healthcheck_options_none_and_durations() {
    assert_eq!(
        one("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1.5s --retries=3 CMD curl -f http://localhost/ || exit 1"),
        Instruction::Healthcheck(Healthcheck::Check {
            test: Command::Shell("curl -f http://localhost/ || exit 1".into()),
            interval: Some(Duration::from_secs(90)),
            timeout: Some(Duration::from_millis(500)),
            start_period: Some(Duration::from_secs(2)),
            start_interval: Some(Duration::from_millis(1500)),
            retries: Some(3),
        })
    );
    assert_eq!(
        one("healthcheck cmd [\"true\"]"),
        Instruction::Healthcheck(Healthcheck::Check {
            test: Command::Exec(strings(&["true"])),
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        })
    );
    assert_eq!(
        one("HEALTHCHECK none"),
        Instruction::Healthcheck(Healthcheck::None)
    );
    for (text, message) in [
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        (
            "HEALTHCHECK TEST x",
            "Unknown type \"TEST\" in HEALTHCHECK (try CMD)",
        ),
        (
            "HEALTHCHECK --interval=5 CMD x",
            "time: missing unit in duration \"5\"",
        ),
        (
            "HEALTHCHECK --interval=abc CMD x",
            "time: invalid duration \"abc\"",
        ),
        (
            "HEALTHCHECK --timeout=3x CMD x",
            "time: unknown unit \"x\" in duration \"3x\"",
        ),
        (
            "HEALTHCHECK --timeout=10us CMD x",
            "Interval \"timeout\" cannot be less than 1ms",
        ),
        (
            "HEALTHCHECK --retries=-1 CMD x",
            "--retries cannot be negative (-1)",
        ),
        (
            "HEALTHCHECK --retries=x CMD x",
            "strconv.ParseInt: parsing \"x\": invalid syntax",
        ),
        (
            "HEALTHCHECK --retries=99999999999 CMD x",
            "strconv.ParseInt: parsing \"99999999999\": value out of range",
        ),
        ("HEALTHCHECK --oops=1 CMD x", "Unknown flag: oops"),
    ] {
        assert_err(&format!("FROM busybox\n{text}\n"), 2, message);
    }
}

#[test]
fn onbuild_triggers() {
    let d = ok("FROM busybox\nONBUILD   ADD . /app/src\nonbuild RUN [\"echo\", \"hi\"]\n");
    let got: Vec<_> = d.stages[0]
        .instructions
        .iter()
        .map(|l| l.value.clone())
        .collect();
    assert_eq!(
        got,
        [
            Instruction::Onbuild("ADD . /app/src".into()),
            Instruction::Onbuild("RUN [\"echo\", \"hi\"]".into())
        ]
    );
    assert_err(
        "FROM busybox\nONBUILD ONBUILD RUN x\n",
        2,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
    );
    assert_err(
        "FROM busybox\nONBUILD from x\n",
        2,
        "FROM isn't allowed as an ONBUILD trigger",
    );
    assert_err(
        "FROM busybox\nONBUILD MAINTAINER x\n",
        2,
        "MAINTAINER isn't allowed as an ONBUILD trigger",
    );
    // The trigger's own line parser runs at parse time.
    assert_err(
        "FROM busybox\nONBUILD CMD [1]\n",
        2,
        "when using JSON array syntax, arrays must be comprised of strings only",
    );

    let t = parse_instruction("ADD . /app/src").expect("a trigger parses");
    assert_eq!((t.line, t.text.as_str()), (1, "ADD . /app/src"));
    assert!(matches!(t.value, Instruction::Add(_)));
    for (text, message) in [
        ("FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        (
            "ONBUILD RUN x",
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        ("NOPE x", "unknown instruction: NOPE"),
        ("", "file with no instructions"),
    ] {
        let e = parse_instruction(text).expect_err(text);
        assert_eq!(e.message, message, "trigger {text:?}");
    }
}

#[test]
fn plain_instructions() {
    assert_eq!(
        one("EXPOSE 8080/udp 80"),
        Instruction::Expose(strings(&["80", "8080/udp"]))
    );
    assert_eq!(
        one("VOLUME /a /b"),
        Instruction::Volume(strings(&["/a", "/b"]))
    );
    assert_eq!(
        one("VOLUME [\"/a b\"]"),
        Instruction::Volume(strings(&["/a b"]))
    );
    assert_eq!(one("USER a b"), Instruction::User("a b".into()));
    assert_eq!(
        one("STOPSIGNAL SIGKILL"),
        Instruction::Stopsignal("SIGKILL".into())
    );
    assert_eq!(
        one("MAINTAINER Me <me@x>"),
        Instruction::Maintainer("Me <me@x>".into())
    );
    assert_eq!(
        one("WORKDIR $HOME/x"),
        Instruction::Workdir("$HOME/x".into())
    );
}
