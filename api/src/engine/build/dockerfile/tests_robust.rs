//! The parser's edges: Go durations, and no panic on any input.

use super::*;

#[test]
fn go_durations() {
    use super::duration::parse_go_duration as d;
    for (text, nanos) in [
        ("0", 0),
        ("1h2m3.5s", 3_723_500_000_000),
        (".5s", 500_000_000),
        ("1.s", 1_000_000_000),
        ("-1s", -1_000_000_000),
        ("2\u{b5}s", 2_000),
        ("10ns", 10),
    ] {
        assert_eq!(d(text), Ok(nanos), "duration {text:?}");
    }
    for text in ["", "s", "-", ".s", "1..s", "99999999999999999999s"] {
        assert!(
            d(text).is_err(),
            "expected {text:?} to be refused, got {:?}",
            d(text)
        );
    }
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

#[test]
fn never_panics_on_random_and_mutated_dockerfiles() {
    let pieces = [
        "FROM",
        "from",
        "RUN",
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "ARG",
        "LABEL",
        "EXPOSE",
        "VOLUME",
        "USER",
        "WORKDIR",
        "COPY",
        "ADD",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
        "MAINTAINER",
        "NONE",
        "CMD",
        "AS",
        " ",
        "  ",
        "\t",
        "\n",
        "\r\n",
        "\\",
        "`",
        "\\\n",
        "`\n",
        "#",
        "# escape=`\n",
        "# syntax=x\n",
        "\"",
        "'",
        "[",
        "]",
        ",",
        "=",
        "--",
        "--from=",
        "--chown=",
        "--interval=",
        "--retries=",
        "1m30s",
        "-1",
        "${",
        "}",
        "${A:-b}",
        "$",
        ":",
        "?",
        "+",
        "é",
        "\u{feff}",
        "\u{0}",
        "[\"a\"]",
        "[1]",
        "x",
        "/a/b",
        "*",
        "**",
        "!",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..4_000 {
        let mut text = String::new();
        for _ in 0..(rng.next() % 24) {
            text.push_str(rng.pick(&pieces));
        }
        // Mutate a valid file too: cut it at a random character.
        let base = "FROM busybox AS b\nRUN echo \"$A\" \\\n  && true\nHEALTHCHECK --interval=1s CMD [\"x\"]\n";
        let cut: String = base.chars().take((rng.next() % 90) as usize).collect();
        for candidate in [&text, &cut, &format!("{cut}{text}")] {
            let _ = parse(candidate);
            let _ = parse_instruction(candidate);
            let vars = |name: &str| (name == "A").then(|| "a b".to_string());
            let _ = words::process(candidate, '\\', &vars);
            let _ = words::process_words(candidate, '`', &vars);
            let ignore = ignore::Ignore::parse(candidate);
            let _ = ignore.excludes(candidate);
            let _ = ignore.must_walk(candidate);
        }
    }
}
