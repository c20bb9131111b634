//! Detach keys: the key sequence that, read from an attached client's stdin, detaches the
//! client and leaves the container (or exec) running. dockerd's spec syntax and its default
//! (ctrl-p,ctrl-q); applied, as dockerd applies it, to sessions with a TTY only.

use base64::Engine as _;

/// dockerd's default: ctrl-p, ctrl-q.
const DEFAULT: [u8; 2] = [0x10, 0x11];

/// The names of the control characters, by code: "ctrl-@" is 0, "ctrl-a" 1, ... "ctrl-_" 31.
const CONTROL_NAMES: [&str; 32] = [
    "ctrl-@", "ctrl-a", "ctrl-b", "ctrl-c", "ctrl-d", "ctrl-e", "ctrl-f", "ctrl-g", "ctrl-h",
    "ctrl-i", "ctrl-j", "ctrl-k", "ctrl-l", "ctrl-m", "ctrl-n", "ctrl-o", "ctrl-p", "ctrl-q",
    "ctrl-r", "ctrl-s", "ctrl-t", "ctrl-u", "ctrl-v", "ctrl-w", "ctrl-x", "ctrl-y", "ctrl-z",
    "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_",
];

/// A key of a spec that is neither one character, a `ctrl-` name nor `DEL`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unknown character: '{0}'")]
pub struct UnknownKey(pub String);

/// A parsed, non-empty key sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(Vec<u8>);

impl Default for DetachKeys {
    fn default() -> Self {
        DetachKeys(DEFAULT.to_vec())
    }
}

impl DetachKeys {
    /// dockerd's parser: keys separated by commas, each one character (taken as its byte), a
    /// control name (`ctrl-a` .. `ctrl-z`, `ctrl-@`, `ctrl-[`, `ctrl-\`, `ctrl-]`, `ctrl-^`,
    /// `ctrl-_`, lower case) or `DEL`. An empty spec is the default sequence.
    pub fn parse(spec: &str) -> Result<DetachKeys, UnknownKey> {
        if spec.is_empty() {
            return Ok(DetachKeys::default());
        }
        spec.split(',')
            .map(|key| match key.as_bytes() {
                [b] => Ok(*b),
                _ if key == "DEL" => Ok(127),
                _ => CONTROL_NAMES
                    .iter()
                    .position(|name| *name == key)
                    .map(|code| code as u8)
                    .ok_or_else(|| UnknownKey(key.to_string())),
            })
            .collect::<Result<Vec<u8>, _>>()
            .map(DetachKeys)
    }

    /// As exec inspect shows a spec given at create: the bytes in base64 (Go's []byte in
    /// JSON), "" for none.
    pub fn inspect_form(spec: &str) -> String {
        match spec {
            "" => String::new(),
            spec => DetachKeys::parse(spec)
                .map(|k| base64::engine::general_purpose::STANDARD.encode(k.0))
                .unwrap_or_default(),
        }
    }

    /// A scanner for one client's stdin.
    pub fn scanner(self) -> EscapeScanner {
        EscapeScanner {
            keys: self.0,
            held: 0,
        }
    }
}

/// Watches a client's stdin for the sequence. Bytes that may start it are held back until the
/// next byte decides: the whole sequence detaches (and is not passed on), a mismatch passes the
/// held bytes on as they were typed.
#[derive(Debug)]
pub struct EscapeScanner {
    keys: Vec<u8>,
    /// How many of `keys` the last bytes matched.
    held: usize,
}

impl EscapeScanner {
    /// Appends to `out` what of `input` goes on to the container; true when the sequence is
    /// complete (the client detaches; what follows it in `input` is dropped).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    self.held = 0;
                    return true;
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.held]);
            self.held = 0;
            // Held bytes were a prefix of two keys or more: `b` may start the sequence again.
            if b == self.keys[0] {
                self.held = 1;
            } else {
                out.push(b);
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockerds_spec() {
        for (spec, want) in [
            ("", vec![0x10, 0x11]),
            ("ctrl-p,ctrl-q", vec![0x10, 0x11]),
            ("ctrl-a,x", vec![1, b'x']),
            (
                "ctrl-@,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_",
                vec![0, 26, 27, 28, 29, 30, 31],
            ),
            ("a,b,c", b"abc".to_vec()),
            ("DEL", vec![127]),
        ] {
            assert_eq!(
                DetachKeys::parse(spec),
                Ok(DetachKeys(want.clone())),
                "spec {spec:?}: expected {want:?}"
            );
        }
        for (spec, key) in [
            ("ctrl-", "ctrl-"),
            ("ctrl-A", "ctrl-A"),
            ("ctrl-p,,ctrl-q", ""),
            (",", ""),
            ("ab", "ab"),
            ("ctrl-a,del", "del"),
            ("é", "é"),
        ] {
            assert_eq!(
                DetachKeys::parse(spec),
                Err(UnknownKey(key.to_string())),
                "spec {spec:?}"
            );
        }
        assert_eq!(
            UnknownKey("ctrl-".into()).to_string(),
            "Unknown character: 'ctrl-'"
        );
    }

    #[test]
    fn inspect_shows_the_bytes_in_base64_as_dockerd() {
        assert_eq!(DetachKeys::inspect_form("ctrl-a,x"), "AXg=");
        assert_eq!(DetachKeys::inspect_form(""), "");
    }

    fn run(spec: &str, reads: &[&[u8]]) -> (Vec<u8>, Option<usize>) {
        let mut s = DetachKeys::parse(spec).unwrap().scanner();
        let mut out = Vec::new();
        for (i, r) in reads.iter().enumerate() {
            if s.feed(r, &mut out) {
                return (out, Some(i));
            }
        }
        (out, None)
    }

    #[test]
    fn the_sequence_detaches_in_one_read_or_across_reads() {
        assert_eq!(run("", &[b"\x10", b"\x11"]), (vec![], Some(1)));
        assert_eq!(run("", &[b"\x10\x11"]), (vec![], Some(0)));
        assert_eq!(run("", &[b"ab\x10", b"\x11cd"]), (b"ab".to_vec(), Some(1)));
        assert_eq!(run("ctrl-a,x", &[b"\x01", b"x"]), (vec![], Some(1)));
        assert_eq!(run("q", &[b"abq"]), (b"ab".to_vec(), Some(0)));
    }

    #[test]
    fn a_partial_sequence_is_passed_through() {
        assert_eq!(run("", &[b"\x10", b"y\n"]), (b"\x10y\n".to_vec(), None));
        assert_eq!(
            run("", &[b"\x10\x10", b"\x11"]),
            (b"\x10".to_vec(), Some(1))
        );
        assert_eq!(run("", &[b"\x11\x10"]), (b"\x11".to_vec(), None));
        assert_eq!(
            run("a,b,c", &[b"ab", b"ab", b"x"]),
            (b"ababx".to_vec(), None)
        );
    }
}
