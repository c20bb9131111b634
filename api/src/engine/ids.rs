//! Identifiers that become paths. A client's reference is checked here, once, at the engine's
//! door; past it the engine holds a [`ContainerId`], which can only be 64 lowercase hex digits,
//! so no reference can name a directory outside `<root>/containers/`.

use std::fmt;

/// A container's full id: 64 lowercase hex digits. Constructed only by [`ContainerId::parse`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// The id, when `s` is exactly 64 lowercase hex digits.
    pub fn parse(s: &str) -> Option<ContainerId> {
        is_hex64(s).then(|| ContainerId(s.to_string()))
    }

    /// A new id from the kernel's random source.
    pub fn generate() -> ContainerId {
        ContainerId(berth_shim::ids::random_id())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 12 digits `docker ps` shows.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl std::ops::Deref for ContainerId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ContainerId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for ContainerId {
    fn as_ref(&self) -> &std::path::Path {
        self.0.as_ref()
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ContainerId> for String {
    fn from(id: ContainerId) -> String {
        id.0
    }
}

impl serde::Serialize for ContainerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A record on disk whose id is not an id is refused as a whole.
impl<'de> serde::Deserialize<'de> for ContainerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ContainerId::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a container id: {s:?}")))
    }
}

impl From<ContainerId> for serde_json::Value {
    fn from(id: ContainerId) -> serde_json::Value {
        serde_json::Value::String(id.0)
    }
}

impl PartialEq<str> for ContainerId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ContainerId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ContainerId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// Exactly 64 lowercase hex digits (container, exec and image ids).
/// `n` (at most 64) random hex digits, for names that must not collide (a Dockerfile a client
/// adds to its build context).
pub fn random_hex(n: usize) -> String {
    let id = berth_shim::ids::random_id();
    id[..n.min(id.len())].to_string()
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A non-empty prefix of an id: lowercase or uppercase hex digits, at most 64.
pub fn is_hex_prefix(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_64_lowercase_hex_digits_are_an_id() {
        let good = "0123456789abcdef".repeat(4);
        assert_eq!(
            ContainerId::parse(&good).map(String::from),
            Some(good.clone())
        );
        let walk = format!("{}victim", "../".repeat(19));
        let walk = format!("{walk}{}", "/".repeat(64 - walk.len()));
        assert_eq!(walk.len(), 64, "the reference is 64 characters: {walk}");
        for bad in [
            walk.as_str(),
            &good.to_ascii_uppercase(),
            &good[..63],
            &format!("{good}0"),
            &format!("{}/", &good[..63]),
            "",
        ] {
            assert_eq!(
                ContainerId::parse(bad),
                None,
                "{bad:?} must not be a container id"
            );
        }
    }

    #[test]
    fn prefixes() {
        assert!(is_hex_prefix("aB12"));
        assert!(!is_hex_prefix(""));
        assert!(!is_hex_prefix("../"));
        assert!(!is_hex_prefix(&"a".repeat(65)));
    }
}
