//! Names bound for /etc/hosts and DNS answers (hostnames, extra hosts, network aliases): what
//! would break a hosts line is refused with dockerd's words, for create and network connect.

use crate::engine::{EngineError, Result};

fn invalid(msg: String) -> EngineError {
    EngineError::invalid_parameter(msg)
}

/// A character that cannot sit inside one field of a hosts line: whitespace, a control
/// character, or `#` (which starts a comment).
fn breaks_a_hosts_line(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '#'
}

/// Hostname and Domainname: letters, digits, `.`, `-` and `_`, at most 255 bytes.
pub fn hostname(name: &str) -> Result<()> {
    let ok = name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!("invalid hostname format: {name}")))
    }
}

/// One ExtraHosts entry, `name:ip` (dockerd's `opts.ValidateExtraHost`; the address may be
/// IPv6, so only the first `:` splits).
pub fn extra_host(entry: &str) -> Result<()> {
    let (_, ip) = entry
        .split_once(':')
        .filter(|(n, _)| !n.is_empty() && !n.chars().any(breaks_a_hosts_line))
        .ok_or_else(|| invalid(format!("bad format for add-host: {entry:?}")))?;
    if ip == berth_shim::net::hosts::HOST_GATEWAY {
        // Written as the gateway's address into /etc/hosts (`net::hosts`).
        return Ok(());
    }
    let bare = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(ip);
    bare.parse::<std::net::IpAddr>()
        .map_err(|_| invalid(format!("invalid IP address in add-host: {ip:?}")))?;
    Ok(())
}

/// A network-scoped alias: one word of a hosts line and of a DNS answer.
pub fn alias(a: &str) -> Result<()> {
    if a.is_empty() || a.chars().any(breaks_a_hosts_line) {
        return Err(invalid(format!(
            "invalid alias {a:?}: an alias is one word"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_with_line_breaks_are_refused() {
        assert!(hostname("web-1.example_x").is_ok());
        for bad in ["a\nb", "a b", "a\tb", "a#b", &"x".repeat(256)] {
            assert_eq!(
                hostname(bad),
                Err(invalid(format!("invalid hostname format: {bad}"))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn extra_hosts_as_dockerd_checks_them() {
        for good in ["db:10.0.0.1", "v6:::1", "v6b:[fe80::1]"] {
            assert_eq!(extra_host(good), Ok(()), "{good}");
        }
        assert_eq!(
            extra_host("db:10.0.0.1\n6.6.6.6 evil"),
            Err(invalid(
                r#"invalid IP address in add-host: "10.0.0.1\n6.6.6.6 evil""#.into()
            ))
        );
        assert_eq!(
            extra_host("a\nb:10.0.0.1"),
            Err(invalid(
                r#"bad format for add-host: "a\nb:10.0.0.1""#.into()
            ))
        );
        assert!(extra_host("nocolon").is_err());
        assert!(extra_host("gw:host-gateway").is_ok());
    }

    #[test]
    fn aliases_are_one_word() {
        assert_eq!(alias("db.local"), Ok(()));
        for bad in ["", "a b", "a\nb", "a#b"] {
            assert!(alias(bad).is_err(), "{bad:?}");
        }
    }
}
