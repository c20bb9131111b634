//! Legacy links (`--link`, HostConfig.Links) as dockerd makes them on the default bridge: at
//! create each names a container that exists (the record keeps its id and the alias); at every
//! start the linked containers must run on the default bridge, and the container gets a line
//! of /etc/hosts for each (alias, hostname, name) and the variables of moby's `links` package
//! (`DB_PORT=tcp://...`, `DB_NAME=/web/db`, `DB_ENV_...`). `docker rm --link /web/db` removes
//! one. On a user-defined network a link is an alias of the endpoint instead
//! (EndpointSettings.Links), which the network's /etc/hosts serve.

use crate::engine::ids::ContainerId;
use crate::engine::wire::HostConfig;
use crate::engine::{Engine, EngineError, Result};
use serde::{Deserialize, Serialize};

/// One link of a container on the default bridge.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Link {
    /// The linked container.
    pub child: ContainerId,
    /// Its name when the link was made, without the slash (for the error once it is gone).
    pub child_name: String,
    pub alias: String,
}

fn invalid(msg: String) -> EngineError {
    EngineError::invalid_parameter(msg)
}

/// `name[:alias]` as dockerd's `opts.ParseLink` reads it (also `/name:/parent/alias`, the form
/// inspect shows): the container named and the alias.
pub fn parse_link(val: &str) -> Result<(String, String)> {
    if val.is_empty() {
        return Err(invalid("empty string specified for links".into()));
    }
    let parts: Vec<&str> = val.split(':').collect();
    match parts.as_slice() {
        [one] => Ok((one.to_string(), one.to_string())),
        [name, alias] if name.starts_with('/') => {
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            Ok((name[1..].to_string(), alias.to_string()))
        }
        [name, alias] => Ok((name.to_string(), alias.to_string())),
        _ => Err(invalid(format!("bad format for links: {val}"))),
    }
}

/// A network mode on which HostConfig.Links are legacy links (not a user-defined network's).
pub fn legacy_mode(mode: &str) -> bool {
    matches!(mode, "" | "default" | "bridge" | "none")
}

const HOST_AND_LINKS: &str = "conflicting options: host type networking can't be used with links. This would result in undefined behavior";
const CONTAINER_AND_LINKS: &str = "conflicting options: container type network can't be used with links. This would result in undefined behavior";

/// The variables a link gives (moby's `links.Link.ToEnv`): `name` is the link's full name
/// (`/web/db`), its last element upper-cased (`-` as `_`) the prefix; the exposed ports
/// ("80/tcp") sorted TCP first, the first of them `<ALIAS>_PORT`, a run of consecutive ports
/// also as `_START`/`_END`; then `<ALIAS>_NAME` and the linked container's env but HOME and PATH.
pub fn link_env(
    name: &str,
    child_ip: &str,
    child_env: &[String],
    exposed: &[String],
) -> Vec<String> {
    let alias = name
        .rsplit('/')
        .next()
        .unwrap_or(name)
        .to_uppercase()
        .replace('-', "_");
    let mut ports: Vec<(u32, String)> = exposed
        .iter()
        .filter_map(|p| {
            let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            Some((num.parse().ok()?, proto.to_lowercase()))
        })
        .collect();
    ports.sort_by(|a, b| {
        let rank = |p: &str| (p != "tcp", p.to_string());
        rank(&a.1).cmp(&rank(&b.1)).then(a.0.cmp(&b.0))
    });
    ports.dedup();
    let mut env = Vec::new();
    // moby's walk: a run's _START/_END come once the run has ended, after the variables of
    // the port that ended it.
    let (mut start, mut end) = match ports.first() {
        Some(p) => (p.clone(), p.clone()),
        None => ((0, String::new()), (0, String::new())),
    };
    for (i, (num, proto)) in ports.iter().enumerate() {
        if i == 0 {
            env.push(format!("{alias}_PORT={proto}://{child_ip}:{num}"));
        }
        let prefix = format!("{alias}_PORT_{num}_{}", proto.to_uppercase());
        env.push(format!("{prefix}={proto}://{child_ip}:{num}"));
        env.push(format!("{prefix}_ADDR={child_ip}"));
        env.push(format!("{prefix}_PORT={num}"));
        env.push(format!("{prefix}_PROTO={proto}"));
        let here = (*num, proto.clone());
        if *num == end.0 + 1 && *proto == end.1 {
            end = here.clone();
            if i < ports.len() - 1 {
                continue;
            }
        }
        if start != end {
            push_range(&mut env, &alias, child_ip, &start, &end);
        }
        (start, end) = (here.clone(), here);
    }
    env.push(format!("{alias}_NAME={name}"));
    for e in child_env {
        let Some((k, v)) = e.split_once('=') else {
            continue;
        };
        if k != "HOME" && k != "PATH" {
            env.push(format!("{alias}_ENV_{k}={v}"));
        }
    }
    env
}

fn push_range(
    env: &mut Vec<String>,
    alias: &str,
    ip: &str,
    start: &(u32, String),
    end: &(u32, String),
) {
    let prefix = format!("{alias}_PORT_{}_{}", start.0, start.1.to_uppercase());
    env.push(format!("{prefix}_START={}://{ip}:{}", start.1, start.0));
    env.push(format!("{prefix}_PORT_START={}", start.0));
    env.push(format!("{prefix}_END={}://{ip}:{}", end.1, end.0));
    env.push(format!("{prefix}_PORT_END={}", end.0));
}

impl Engine {
    /// The links of a new container, checked as dockerd's `registerLinks` checks them: each
    /// names a container that exists (one sharing another's network is followed to it), none
    /// on the host's network; an alias given twice keeps the first. None on a user-defined
    /// network, where the links are the endpoint's (see `plan_networks`).
    pub(crate) fn register_links(&self, h: &HostConfig) -> Result<Vec<Link>> {
        let given = h.links.clone().unwrap_or_default();
        if given.is_empty() {
            return Ok(Vec::new());
        }
        let mode = h.network_mode.as_str();
        if mode == "host" {
            return Err(invalid(HOST_AND_LINKS.into()));
        }
        if mode.starts_with("container:") {
            return Err(invalid(CONTAINER_AND_LINKS.into()));
        }
        if !legacy_mode(mode) {
            return Ok(Vec::new());
        }
        let mut out: Vec<Link> = Vec::new();
        for l in &given {
            let (name, alias) = parse_link(l)?;
            let mut child = self.lookup(&name).map_err(|e| {
                invalid(format!(
                    "could not get container for {name}: {}",
                    e.message()
                ))
            })?;
            let mut record = self.record(&child)?;
            while let Some(other) = record.host_config.network_mode.strip_prefix("container:") {
                let other = other.to_string();
                child = self.lookup(&other).map_err(|e| {
                    invalid(format!(
                        "Could not get container for {other}: {}",
                        e.message()
                    ))
                })?;
                record = self.record(&child)?;
            }
            if record.host_config.network_mode == "host" {
                return Err(invalid(HOST_AND_LINKS.into()));
            }
            if out.iter().any(|x| x.alias == alias) {
                tracing::warn!("link {l}: the alias {alias} is taken already, ignoring it");
                continue;
            }
            out.push(Link {
                child,
                child_name: record.name.trim_start_matches('/').to_string(),
                alias,
            });
        }
        Ok(out)
    }

    /// HostConfig.Links as inspect shows them: `/<linked>:/<this>/<alias>`, null when none.
    pub fn links_json(&self, name: &str, links: &[Link]) -> serde_json::Value {
        if links.is_empty() {
            return serde_json::Value::Null;
        }
        let list: Vec<String> = links
            .iter()
            .map(|l| {
                let child = self
                    .record(&l.child)
                    .map(|r| r.name)
                    .unwrap_or_else(|_| format!("/{}", l.child_name));
                format!("{child}:{name}/{}", l.alias)
            })
            .collect();
        serde_json::json!(list)
    }

    /// At start: the /etc/hosts lines and the variables of the container's links, written
    /// into its spec. Only a container on the default bridge gets them (dockerd's rule); each
    /// linked container must be on it too, and running.
    pub(crate) fn resolve_links(&self, id: &ContainerId) -> Result<()> {
        let record = self.record(id)?;
        let mut spec = self.read_spec(id)?;
        let (mut hosts, mut env) = (Vec::new(), Vec::new());
        let on_bridge = spec.endpoints.iter().any(|e| e.network_name == "bridge");
        for l in record.links.iter().filter(|_| on_bridge) {
            let full = format!("{}/{}", record.name, l.alias);
            let not_running = || {
                EngineError::system_message(format!(
                    "Cannot link to a non running container: /{} AS {full}",
                    l.child_name
                ))
            };
            let Ok(child) = self.record(&l.child) else {
                return Err(not_running());
            };
            let child_spec = self.read_spec(&l.child)?;
            let Some(ep) = child_spec
                .endpoints
                .iter()
                .find(|e| e.network_name == "bridge")
            else {
                return Err(EngineError::system_message(format!(
                    "Cannot link to {}, as it does not belong to the default network",
                    child.name
                )));
            };
            let running = self.state(&l.child).is_ok_and(|s| s.status.is_live());
            if !running {
                return Err(not_running());
            }
            let child_name = child.name.trim_start_matches('/');
            let mut names = format!("{} {}", l.alias, child.config.hostname);
            if l.alias != child_name {
                names = format!("{names} {child_name}");
            }
            hosts.push(format!("{}\t{names}", ep.address));
            let hostname_var = format!("HOSTNAME={}", child.config.hostname);
            let child_env: Vec<String> = child
                .config
                .env
                .iter()
                .flatten()
                .filter(|e| **e != hostname_var)
                .cloned()
                .collect();
            let exposed: Vec<String> = child
                .config
                .exposed_ports
                .iter()
                .flat_map(|m| m.keys().cloned())
                .collect();
            env.extend(link_env(&full, &ep.address, &child_env, &exposed));
        }
        if spec.network.links != hosts || spec.process.link_env != env {
            spec.network.links = hosts;
            spec.process.link_env = env;
            self.write_spec(&spec)?;
        }
        Ok(())
    }

    /// The container a link name (`web/db`) stands for, as dockerd's name store knows it.
    pub fn link_target(&self, parent: &str, alias: &str) -> Result<ContainerId> {
        let not_found = || EngineError::not_found(format!("No such container: {parent}/{alias}"));
        let id = self.lookup(parent).map_err(|_| not_found())?;
        let record = self.record(&id)?;
        record
            .links
            .iter()
            .find(|l| l.alias == alias)
            .map(|l| l.child.clone())
            .ok_or_else(not_found)
    }

    /// `docker rm --link /web/db` (DELETE /containers/web/db?link=1): the link goes, the
    /// container stays; a running container's /etc/hosts loses its line (its variables stay,
    /// as with dockerd).
    pub fn remove_link(&self, parent: &str, alias: &str) -> Result<()> {
        self.link_target(parent, alias)?;
        let id = self.lookup(parent)?;
        let _op = self.op_lock(&id)?;
        let mut record = self.record(&id)?;
        record.links.retain(|l| l.alias != alias);
        self.write_record(&record)?;
        let mut spec = self.read_spec(&id)?;
        let before = spec.network.links.len();
        spec.network
            .links
            .retain(|line| line.split(['\t', ' ']).nth(1) != Some(alias));
        if spec.network.links.len() != before {
            self.write_spec(&spec)?;
            let store = self.net_store();
            let locked = store.lock()?;
            berth_shim::net::hosts::refresh_one(&self.paths, &id, &locked.list());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_as_dockerd_reads_them() {
        let got = |v: &str| parse_link(v).map_err(|e| e.message().to_string());
        assert_eq!(got("db"), Ok(("db".into(), "db".into())));
        assert_eq!(got("db:database"), Ok(("db".into(), "database".into())));
        assert_eq!(
            got("/db:/web/database"),
            Ok(("db".into(), "database".into()))
        );
        assert_eq!(got(""), Err("empty string specified for links".into()));
        assert_eq!(got("a:b:c"), Err("bad format for links: a:b:c".into()));
    }

    #[test]
    fn link_variables_are_moby_links_packages() {
        let env = link_env(
            "/web/my-db",
            "172.17.0.2",
            &[
                "PATH=/bin".into(),
                "HOME=/root".into(),
                "PASSWORD=x=y".into(),
            ],
            &[
                "53/udp".into(),
                "6379/tcp".into(),
                "80/tcp".into(),
                "81/tcp".into(),
            ],
        );
        let want: Vec<String> = [
            "MY_DB_PORT=tcp://172.17.0.2:80",
            "MY_DB_PORT_80_TCP=tcp://172.17.0.2:80",
            "MY_DB_PORT_80_TCP_ADDR=172.17.0.2",
            "MY_DB_PORT_80_TCP_PORT=80",
            "MY_DB_PORT_80_TCP_PROTO=tcp",
            "MY_DB_PORT_81_TCP=tcp://172.17.0.2:81",
            "MY_DB_PORT_81_TCP_ADDR=172.17.0.2",
            "MY_DB_PORT_81_TCP_PORT=81",
            "MY_DB_PORT_81_TCP_PROTO=tcp",
            "MY_DB_PORT_6379_TCP=tcp://172.17.0.2:6379",
            "MY_DB_PORT_6379_TCP_ADDR=172.17.0.2",
            "MY_DB_PORT_6379_TCP_PORT=6379",
            "MY_DB_PORT_6379_TCP_PROTO=tcp",
            "MY_DB_PORT_80_TCP_START=tcp://172.17.0.2:80",
            "MY_DB_PORT_80_TCP_PORT_START=80",
            "MY_DB_PORT_80_TCP_END=tcp://172.17.0.2:81",
            "MY_DB_PORT_80_TCP_PORT_END=81",
            "MY_DB_PORT_53_UDP=udp://172.17.0.2:53",
            "MY_DB_PORT_53_UDP_ADDR=172.17.0.2",
            "MY_DB_PORT_53_UDP_PORT=53",
            "MY_DB_PORT_53_UDP_PROTO=udp",
            "MY_DB_NAME=/web/my-db",
            "MY_DB_ENV_PASSWORD=x=y",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(env, want, "expected moby's variables for the link");
        assert_eq!(
            link_env("/web/db", "10.0.0.2", &[], &[]),
            vec!["DB_NAME=/web/db".to_string()],
            "a link without ports has only its name"
        );
    }
}
