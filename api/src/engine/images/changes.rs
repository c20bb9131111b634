//! `docker import --change` / `docker commit --change`: Dockerfile instructions applied to an
//! image config. dockerd accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER,
//! VOLUME and WORKDIR. Variables ($X) are not expanded (dockerd does expand them in ENV, LABEL,
//! WORKDIR ...; berth may later).

use super::ImageConfig;
use crate::engine::{EngineError, Result};
use std::collections::BTreeMap;

fn bad(line: &str, why: &str) -> EngineError {
    EngineError::invalid_parameter(format!("invalid change {line:?}: {why}"))
}

/// Apply each line, in order, to `config`.
pub fn apply(config: &mut ImageConfig, lines: &[String]) -> Result<()> {
    for line in lines {
        apply_one(config, line)?;
    }
    Ok(())
}

fn apply_one(c: &mut ImageConfig, line: &str) -> Result<()> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(());
    }
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    match word.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(command(line, rest)?),
        "ENTRYPOINT" => c.entrypoint = Some(command(line, rest)?),
        "ENV" => {
            let env = c.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs(line, rest, true)? {
                let prefix = format!("{k}=");
                env.retain(|e| !e.starts_with(&prefix) && e != &k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = c.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in pairs(line, rest, false)? {
                labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            let ports = c.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in words(line, rest)? {
                for port in expose(line, &p)? {
                    ports.insert(port, serde_json::json!({}));
                }
            }
        }
        "VOLUME" => {
            let list = match json_array(rest) {
                Some(v) => v,
                None => words(line, rest)?,
            };
            if list.is_empty() {
                return Err(bad(line, "VOLUME needs a path"));
            }
            let vols = c.volumes.get_or_insert_with(BTreeMap::new);
            for v in list {
                vols.insert(v, serde_json::json!({}));
            }
        }
        "WORKDIR" => {
            let dir = one(line, rest)?;
            c.working_dir = Some(match (&c.working_dir, dir.starts_with('/')) {
                (Some(prev), false) if !prev.is_empty() => {
                    format!("{}/{dir}", prev.trim_end_matches('/'))
                }
                (None, false) => format!("/{dir}"),
                _ => dir,
            });
        }
        "USER" => c.user = Some(one(line, rest)?),
        "STOPSIGNAL" => c.stop_signal = Some(one(line, rest)?),
        "ONBUILD" => {
            if rest.is_empty() {
                return Err(bad(line, "ONBUILD needs an instruction"));
            }
            c.on_build
                .get_or_insert_with(Vec::new)
                .push(rest.to_string());
        }
        _ => {
            return Err(EngineError::invalid_parameter(format!(
                "{word} is not a valid change command"
            )))
        }
    }
    Ok(())
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    rest.starts_with('[')
        .then(|| serde_json::from_str::<Vec<String>>(rest).ok())
        .flatten()
}

/// Exec form (a JSON array) as is; shell form under "/bin/sh -c".
fn command(line: &str, rest: &str) -> Result<Vec<String>> {
    if let Some(v) = json_array(rest) {
        return Ok(v);
    }
    if rest.is_empty() {
        return Err(bad(line, "needs a command"));
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

fn one(line: &str, rest: &str) -> Result<String> {
    let w = words(line, rest)?;
    match w.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(bad(line, "needs a value")),
        _ => Err(bad(line, "takes exactly one value")),
    }
}

/// `K=V K2="v 2"`; for ENV also the legacy `K the rest of the line`.
fn pairs(line: &str, rest: &str, legacy: bool) -> Result<Vec<(String, String)>> {
    let w = words(line, rest)?;
    if w.is_empty() {
        return Err(bad(line, "needs key=value"));
    }
    if !w[0].contains('=') {
        if !legacy || w.len() < 2 {
            return Err(bad(line, "needs key=value"));
        }
        let key = w[0].clone();
        let value = rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..].trim();
        return Ok(vec![(key, words(line, value)?.join(" "))]);
    }
    w.into_iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(bad(line, "needs key=value")),
        })
        .collect()
}

/// Split on whitespace, honouring "double" and 'single' quotes and backslash escapes.
fn words(line: &str, s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => {
                cur.push(
                    chars
                        .next()
                        .ok_or_else(|| bad(line, "trailing backslash"))?,
                );
                in_word = true;
            }
            '"' | '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(c) if c == ch => break,
                        Some('\\') if ch == '"' => {
                            cur.push(chars.next().ok_or_else(|| bad(line, "unclosed quote"))?)
                        }
                        Some(c) => cur.push(c),
                        None => return Err(bad(line, "unclosed quote")),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// "80" -> "80/tcp"; "53/udp"; "8000-8002/tcp" -> three ports.
fn expose(line: &str, spec: &str) -> Result<Vec<String>> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(line, "unknown protocol"));
    }
    let num = |p: &str| p.parse::<u16>().map_err(|_| bad(line, "invalid port"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(ports)?, num(ports)?),
    };
    if lo > hi {
        return Err(bad(line, "invalid port range"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(lines: &[&str]) -> ImageConfig {
        let mut c = ImageConfig::default();
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        apply(&mut c, &lines).unwrap_or_else(|e| panic!("{lines:?}: {e}"));
        c
    }

    #[test]
    fn cmd_and_entrypoint_in_both_forms() {
        let c = applied(&[r#"CMD ["/bin/echo", "hi"]"#, "ENTRYPOINT /init --fast"]);
        assert_eq!(c.cmd, Some(vec!["/bin/echo".into(), "hi".into()]));
        assert_eq!(
            c.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "/init --fast".into()])
        );
        let c = applied(&["cmd echo [not json"]);
        assert_eq!(
            c.cmd,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo [not json".into()])
        );
    }

    #[test]
    fn env_forms_and_override() {
        let c = applied(&["ENV A=1 B=\"two words\"", "ENV C the rest of it", "ENV A=3"]);
        assert_eq!(
            c.env,
            Some(vec![
                "B=two words".to_string(),
                "C=the rest of it".to_string(),
                "A=3".to_string()
            ])
        );
    }

    #[test]
    fn the_rest() {
        let c = applied(&[
            "LABEL a=b 'c d'=e",
            "EXPOSE 80 53/udp 8000-8001",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /cache",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "STOPSIGNAL SIGQUIT",
        ]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e");
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, ["/cache", "/data", "/logs"]);
        assert_eq!(c.working_dir.as_deref(), Some("/srv/app"));
        assert_eq!(c.user.as_deref(), Some("1000:1000"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
    }

    #[test]
    fn refusals() {
        for (line, want) in [
            ("ADD . /", "ADD is not a valid change command"),
            ("RUN true", "RUN is not a valid change command"),
            ("ENV", "needs key=value"),
            ("LABEL novalue", "needs key=value"),
            ("EXPOSE 99999", "invalid port"),
            ("EXPOSE 80/foo", "unknown protocol"),
            ("USER a b", "exactly one value"),
            ("CMD", "needs a command"),
            ("ENV A=\"open", "unclosed quote"),
        ] {
            let mut c = ImageConfig::default();
            let e = apply(&mut c, &[line.to_string()]).expect_err(line);
            assert!(e.to_string().contains(want), "{line}: got {e}, want {want}");
        }
    }
}
