//! Signal names as Docker accepts them: "SIGTERM", "TERM", "term" or "15".

use nix::sys::signal::Signal;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("Invalid signal: {0}")]
pub struct InvalidSignal(pub String);

/// Parse a signal the way dockerd does; the empty string is SIGKILL for kill, so callers pass
/// their own default before calling.
pub fn parse(s: &str) -> Result<Signal, InvalidSignal> {
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| InvalidSignal(s.to_string()));
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| InvalidSignal(s.to_string()))
}

/// Serde for a signal on the control socket: written as its name ("SIGKILL"), read in any
/// spelling [`parse`] accepts.
pub mod name {
    use nix::sys::signal::Signal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &Signal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(sig.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Signal, D::Error> {
        let s = String::deserialize(d)?;
        super::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// [`name`] for an optional signal (`null` when absent).
pub mod opt_name {
    use nix::sys::signal::Signal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(sig: &Option<Signal>, s: S) -> Result<S::Ok, S::Error> {
        match sig {
            Some(sig) => s.serialize_some(sig.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Signal>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| super::parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_spellings() {
        assert_eq!(parse("SIGTERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse("term"), Ok(Signal::SIGTERM));
        assert_eq!(parse("9"), Ok(Signal::SIGKILL));
        assert_eq!(parse("SIGUSR1"), Ok(Signal::SIGUSR1));
        assert!(parse("SIGNOPE").is_err());
        assert!(parse("99").is_err());
    }
}
