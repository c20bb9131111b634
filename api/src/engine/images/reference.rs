//! Image references as dockerd reads them (distribution/reference): "busybox" is
//! "docker.io/library/busybox", shown back as "busybox"; a first component with a '.' or ':' or
//! "localhost" is a registry; ids are "sha256:<64 hex>" or 64 bare hex.

use crate::engine::{EngineError, Result};

pub const DEFAULT_DOMAIN: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;

/// A named reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub domain: String,
    pub path: String,
    pub tag: Option<String>,
    /// "sha256:<hex>"
    pub digest: Option<String>,
}

/// What a client may hand us to find an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A full image id (64 hex, without "sha256:").
    Id(String),
    Named(Reference),
}

fn invalid(s: &str) -> EngineError {
    EngineError::invalid_parameter(format!("invalid reference format: {s:?}"))
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// "sha256:<hex>" or "<hex>" (64 lowercase hex) to the bare hex.
pub fn parse_id(s: &str) -> Option<&str> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    is_hex64(hex).then_some(hex)
}

impl Lookup {
    pub fn parse(s: &str) -> Result<Lookup> {
        if let Some(hex) = parse_id(s) {
            return Ok(Lookup::Id(hex.to_string()));
        }
        Reference::parse(s).map(Lookup::Named)
    }
}

impl Reference {
    /// Parse and normalise; no default tag is added.
    pub fn parse(s: &str) -> Result<Reference> {
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                let hex = d.strip_prefix("sha256:").ok_or_else(|| invalid(s))?;
                if !is_hex64(hex) {
                    return Err(invalid(s));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(invalid(s));
            }
        }
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(invalid(s));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.to_lowercase() != first =>
            {
                (first, rest.to_string())
            }
            _ => (DEFAULT_DOMAIN, name.to_string()),
        };
        let domain = if domain == "index.docker.io" {
            DEFAULT_DOMAIN
        } else {
            domain
        };
        if !valid_domain(domain) {
            return Err(invalid(s));
        }
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.to_lowercase() != path {
            return Err(EngineError::invalid_parameter(format!(
                "invalid reference format: repository name ({path}) must be lowercase"
            )));
        }
        if !path.split('/').all(valid_component) {
            return Err(invalid(s));
        }
        // The bound holds for the name in full, as moby's ParseNormalizedNamed checks it: a
        // name that fits only without "docker.io/library/" is refused (it would not read back).
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(invalid(s));
        }
        Ok(Reference {
            domain: domain.to_string(),
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Add ":latest" when there is neither tag nor digest (dockerd's TagNameOnly).
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// "docker.io/library/busybox"
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// "busybox", "quay.io/x/y", "user/app"
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.name()
        }
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The full form, the key in the repositories index: "docker.io/library/busybox:latest".
    pub fn full(&self) -> String {
        format!("{}{}", self.name(), self.suffix())
    }

    /// The form clients see: "busybox:latest".
    pub fn familiar(&self) -> String {
        format!("{}{}", self.familiar_name(), self.suffix())
    }

    /// The index key this reference is stored under: digests win over tags (dockerd keys a
    /// "name:tag@digest" reference by its digest).
    pub fn key(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.name()),
            None => self.full(),
        }
    }
}

fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() || b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "."
            || sep == "_"
            || sep == "__"
            || (!sep.is_empty() && sep.bytes().all(|x| x == b'-'));
        if !ok {
            return false;
        }
    }
    true
}

fn valid_domain(d: &str) -> bool {
    let (host, port) = if d.starts_with('[') {
        match d.find(']') {
            Some(i) => (&d[..=i], d[i + 1..].strip_prefix(':')),
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    } else if host.len() != d.len() {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[') {
        return v6
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
    }
    !host.is_empty()
        && host.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 20 (found by the fuzz target image_reference): the length bound is the full
    /// name's, so every reference that parses prints in full as one that parses again.
    #[test]
    fn the_length_bound_is_the_full_names() {
        let fits = "a".repeat(MAX_NAME_LEN - "docker.io/library/".len());
        let r = Reference::parse(&fits).expect("a name that fits in full");
        assert!(
            Reference::parse(&r.full()).is_ok(),
            "{} reads back",
            r.full()
        );
        let over = format!("{fits}a");
        assert!(
            Reference::parse(&over).is_err(),
            "expected {over:?} refused: docker.io/library/{over} is over {MAX_NAME_LEN}"
        );
    }

    fn full(s: &str) -> String {
        Reference::parse(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .with_default_tag()
            .full()
    }

    #[test]
    fn normalises_like_dockerd() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(
            full("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            full("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full("user/app:v2"), "docker.io/user/app:v2");
        assert_eq!(full("localhost:5000/x/y:1"), "localhost:5000/x/y:1");
        assert_eq!(full("localhost/x"), "localhost/x:latest");
        assert_eq!(full("quay.io/a/b"), "quay.io/a/b:latest");
        assert_eq!(full("[::1]:5000/a:b"), "[::1]:5000/a:b");
        assert_eq!(
            full("a__b.c-d---e"),
            "docker.io/library/a__b.c-d---e:latest"
        );
    }

    #[test]
    fn familiar_forms() {
        let r = Reference::parse("docker.io/library/busybox")
            .unwrap()
            .with_default_tag();
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("localhost:5000/x/y:1").unwrap();
        assert_eq!(r.familiar(), "localhost:5000/x/y:1");
        let r = Reference::parse("docker.io/user/app").unwrap();
        assert_eq!(r.familiar_name(), "user/app");
    }

    #[test]
    fn digests() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = Reference::parse(&format!("busybox@{d}"))
            .unwrap()
            .with_default_tag();
        assert_eq!(r.tag, None, "a digest reference gets no default tag");
        assert_eq!(r.key(), format!("docker.io/library/busybox@{d}"));
        assert_eq!(r.familiar(), format!("busybox@{d}"));
        let r = Reference::parse(&format!("busybox:1@{d}")).unwrap();
        assert_eq!(r.key(), format!("docker.io/library/busybox@{d}"));
        assert!(Reference::parse("busybox@sha256:abc").is_err());
        assert!(Reference::parse("busybox@md5:abc").is_err());
    }

    #[test]
    fn ids() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(Lookup::parse(&hex).unwrap(), Lookup::Id(hex.clone()));
        assert_eq!(
            Lookup::parse(&format!("sha256:{hex}")).unwrap(),
            Lookup::Id(hex.clone())
        );
        // A short id is a valid name too; the engine falls back to prefix search.
        assert!(matches!(Lookup::parse("0123ab").unwrap(), Lookup::Named(_)));
    }

    #[test]
    fn refuses_bad_references() {
        for bad in [
            "",
            ":",
            "busybox:",
            "-x",
            "x-",
            "a//b",
            "a:b:c",
            "a b",
            "x:-tag",
            "busybox:t@g",
            "a...b",
            "UPPER",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let e = Reference::parse("Busybox").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert!(Reference::parse(&"a".repeat(256)).is_err());
    }
}
