//! `berth network create|ls|inspect|rm|connect|disconnect|prune|teardown`: the engine's network
//! functions (the same the `/networks` endpoints call), with the docker CLI's flags and output.

use super::table;
use super::{CliError, Global, Result};
use crate::engine::filters::{parse_pairs, Filters};
use crate::engine::networks::{CreateNetwork, IpamConfigJson, IpamJson, NetworkRecord};
use crate::engine::Engine;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::BufRead;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network; prints its id.
    Create(CreateArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show networks as Docker's inspect JSON, with the containers attached.
    Inspect(InspectArgs),
    /// Remove one or more user-defined networks (never one a container uses).
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Connect a container to a network (a running one gets its interface at once).
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
    /// Remove every user-defined network no container uses.
    Prune(PruneArgs),
    /// Delete this root's bridges and firewall table (for a root being thrown away, such as a
    /// test's; the records stay, and the next start of a container makes them again).
    Teardown,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The network driver (only "bridge").
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// A subnet, in CIDR form ("10.77.0.0/24", "fd00:1::/64"): one IPv4 and, with --ipv6,
    /// one IPv6; an IPv4 one is chosen when not given.
    #[arg(long, value_name = "CIDR")]
    pub subnet: Vec<String>,
    /// The gateway (the bridge's address) within the subnet of its family.
    #[arg(long, value_name = "IP")]
    pub gateway: Vec<String>,
    /// Allocate container addresses from this part of the subnet of its family only.
    #[arg(long, value_name = "CIDR")]
    pub ip_range: Vec<String>,
    /// No traffic leaves the network: no route out, no masquerading.
    #[arg(long)]
    pub internal: bool,
    /// Let containers be connected by hand (always so for bridge networks).
    #[arg(long)]
    pub attachable: bool,
    /// IPv6 too (needs an IPv6 --subnet, as dockerd 20.10 has no default IPv6 pool).
    #[arg(long)]
    pub ipv6: bool,
    /// The IPAM driver (only "default").
    #[arg(long, default_value = "default", value_name = "DRIVER")]
    pub ipam_driver: String,
    /// Set a label: KEY=VALUE (or KEY for an empty value).
    #[arg(long, value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,
    /// A driver option: KEY=VALUE (repeat for more).
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// The network's name.
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print ids only.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show whole ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: KEY=VALUE with dangling, driver, id, label, name, scope, type (repeat for more).
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Output: "json" (one object per line) or fields such as "id,name,driver".
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Output: "json" (the default: one array) or fields such as "name,id,driver", one line
    /// per network.
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Networks, by name, id or id prefix.
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// A network that is not there is no error.
    #[arg(short, long)]
    pub force: bool,
    /// Networks, by name, id or id prefix.
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// A network-scoped name of the container (repeat for more).
    #[arg(long, value_name = "NAME")]
    pub alias: Vec<String>,
    /// The container's IPv4 address on this network.
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// The container's IPv6 address on this network (one with IPv6).
    #[arg(long, value_name = "IP")]
    pub ip6: Option<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Drop the endpoint even when the container is gone.
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Filter: label=KEY[=VALUE], label!=KEY, until=TIME (repeat for more).
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

pub fn run(g: &Global, cmd: NetworkCommand) -> Result<i32> {
    let engine = g.engine();
    match cmd {
        NetworkCommand::Create(a) => create(&engine, a),
        NetworkCommand::Ls(a) => ls(&engine, a),
        NetworkCommand::Inspect(a) => inspect(&engine, a),
        NetworkCommand::Rm(a) => rm(&engine, a),
        NetworkCommand::Connect(a) => {
            let mut settings = json!({});
            if !a.alias.is_empty() {
                settings["Aliases"] = json!(a.alias);
            }
            if let Some(ip) = &a.ip {
                settings["IPAMConfig"]["IPv4Address"] = json!(ip);
            }
            if let Some(ip6) = &a.ip6 {
                settings["IPAMConfig"]["IPv6Address"] = json!(ip6);
            }
            engine.connect(&a.network, &a.container, &settings)?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            engine.disconnect(&a.network, &a.container, a.force)?;
            Ok(0)
        }
        NetworkCommand::Prune(a) => prune(&engine, a),
        NetworkCommand::Teardown => {
            engine.network_teardown()?;
            Ok(0)
        }
    }
}

/// KEY=VALUE (or KEY, an empty value) entries as a map.
fn key_values(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

/// KEY=VALUE filters as the engine takes them.
fn filters(list: &[String]) -> Result<Filters> {
    parse_pairs(list).map_err(CliError::Usage)
}

/// The create request the docker CLI would send for these flags.
fn create_request(a: CreateArgs) -> CreateNetwork {
    // Each subnet takes the gateway and range of its family (a network has at most one subnet
    // of each; the engine refuses more).
    let v6 = |x: &String| x.contains(':');
    let of_family = |list: &[String], six: bool| {
        list.iter()
            .find(|x| v6(x) == six)
            .cloned()
            .unwrap_or_default()
    };
    let mut config: Vec<IpamConfigJson> = a
        .subnet
        .iter()
        .map(|subnet| IpamConfigJson {
            subnet: subnet.clone(),
            ip_range: of_family(&a.ip_range, v6(subnet)),
            gateway: of_family(&a.gateway, v6(subnet)),
            auxiliary_addresses: None,
        })
        .collect();
    if config.is_empty() && (!a.gateway.is_empty() || !a.ip_range.is_empty()) {
        config.push(IpamConfigJson {
            ip_range: a.ip_range.first().cloned().unwrap_or_default(),
            gateway: a.gateway.first().cloned().unwrap_or_default(),
            ..IpamConfigJson::default()
        });
    }
    let config = (!config.is_empty()).then_some(config);
    CreateNetwork {
        name: a.name,
        driver: a.driver,
        internal: a.internal,
        attachable: a.attachable,
        ipam: Some(IpamJson {
            driver: a.ipam_driver,
            config,
            options: None,
        }),
        enable_ipv6: a.ipv6.then_some(true),
        options: Some(key_values(&a.opt)),
        labels: Some(key_values(&a.label)),
        ..CreateNetwork::default()
    }
}

fn create(engine: &Engine, a: CreateArgs) -> Result<i32> {
    let rec = engine.create_network(create_request(a))?;
    println!("{}", rec.id);
    Ok(0)
}

/// The docker CLI's `network ls --format json` object.
fn row(n: &NetworkRecord, no_trunc: bool) -> Map<String, Value> {
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let id = if no_trunc { &n.id[..] } else { &n.id[..12] };
    let created = crate::engine::time::unix_secs(&n.created);
    let mut m = Map::new();
    m.insert("CreatedAt".into(), json!(table::created_at(created)));
    m.insert("Driver".into(), json!(n.driver));
    m.insert("ID".into(), json!(id));
    m.insert("IPv4".into(), json!("true"));
    m.insert("IPv6".into(), json!(n.subnet6().is_some().to_string()));
    m.insert("Internal".into(), json!(n.internal.to_string()));
    m.insert("Labels".into(), json!(labels.join(",")));
    m.insert("Name".into(), json!(n.name));
    m.insert("Scope".into(), json!("local"));
    m
}

/// "id,name" to the keys of `row` (for ls) or of the inspect object; an unknown field is an
/// error.
fn fields(format: &str, inspect: bool) -> Result<Vec<&'static str>> {
    format
        .split(',')
        .map(|f| {
            Ok(match f.trim().to_ascii_lowercase().as_str() {
                "id" if inspect => "Id",
                "id" => "ID",
                "name" => "Name",
                "driver" => "Driver",
                "scope" => "Scope",
                "internal" => "Internal",
                "ipv6" if inspect => "EnableIPv6",
                "ipv6" => "IPv6",
                "label" | "labels" => "Labels",
                "created" | "createdat" | "created_at" if inspect => "Created",
                "created" | "createdat" | "created_at" => "CreatedAt",
                "ipam" if inspect => "IPAM",
                "options" if inspect => "Options",
                "containers" if inspect => "Containers",
                other => {
                    return Err(CliError::Usage(format!(
                        "unknown field {other:?} in --format"
                    )))
                }
            })
        })
        .collect()
}

fn ls(engine: &Engine, a: LsArgs) -> Result<i32> {
    let filters = filters(&a.filter)?;
    let format = a.format.as_deref().filter(|f| !f.is_empty());
    let wanted = match format {
        Some("json") | None => None,
        Some(f) => Some(fields(f, false)?),
    };
    let mut list = engine.list_networks(&filters)?;
    // The docker CLI sorts by name.
    list.sort_by(|x, y| x.name.cmp(&y.name));
    let rows: Vec<Map<String, Value>> = list.iter().map(|n| row(n, a.no_trunc)).collect();
    if a.quiet {
        for r in &rows {
            println!("{}", table::cell(&r["ID"]));
        }
    } else if format == Some("json") {
        for r in rows {
            println!("{}", Value::Object(r));
        }
    } else if let Some(keys) = wanted {
        for r in &rows {
            let cells: Vec<String> = keys.iter().map(|k| table::cell(&r[*k])).collect();
            println!("{}", cells.join("\t"));
        }
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                ["ID", "Name", "Driver", "Scope"]
                    .iter()
                    .map(|k| table::cell(&r[*k]))
                    .collect()
            })
            .collect();
        table::print(&["NETWORK ID", "NAME", "DRIVER", "SCOPE"], &cells);
    }
    Ok(0)
}

fn inspect(engine: &Engine, a: InspectArgs) -> Result<i32> {
    let format = a.format.as_deref().filter(|f| !f.is_empty());
    let keys = match format {
        Some("json") | None => None,
        Some(f) => Some(fields(f, true)?),
    };
    table::inspect_named(&a.networks, keys, |name| {
        engine.network(name).map(|n| engine.network_json(&n, true))
    })
}

fn rm(engine: &Engine, a: RmArgs) -> Result<i32> {
    let mut failed = false;
    for name in &a.networks {
        match engine.remove_network(name) {
            Ok(()) => println!("{name}"),
            Err(e) if a.force && e.is(crate::engine::ErrorKind::NotFound) => {}
            Err(e) => {
                eprintln!("berth: {e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(CliError::Reported)
    } else {
        Ok(0)
    }
}

fn prune(engine: &Engine, a: PruneArgs) -> Result<i32> {
    let filters = filters(&a.filter)?;
    if !a.force {
        eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            return Ok(0);
        }
    }
    let deleted = engine.prune_networks(&filters)?;
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for d in &deleted {
            println!("{d}");
        }
        println!();
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> NetworkCommand {
        let cli = super::super::Cli::try_parse_from(args).unwrap();
        match cli.command {
            super::super::Command::Network(c) => c,
            other => panic!("not a network command: {other:?}"),
        }
    }

    #[test]
    fn create_flags_become_the_docker_clis_request() {
        let NetworkCommand::Create(a) = parse(&[
            "berth",
            "network",
            "create",
            "-d",
            "bridge",
            "--subnet",
            "10.77.0.0/24",
            "--gateway",
            "10.77.0.1",
            "--ip-range",
            "10.77.0.128/25",
            "--internal",
            "--label",
            "team=a",
            "-o",
            "com.docker.network.bridge.name=x",
            "n1",
        ]) else {
            panic!("not create")
        };
        let r = create_request(a);
        assert_eq!((r.name.as_str(), r.driver.as_str()), ("n1", "bridge"));
        assert!(r.internal);
        let ipam = r.ipam.unwrap();
        let c = &ipam.config.unwrap()[0];
        assert_eq!(
            (c.subnet.as_str(), c.gateway.as_str(), c.ip_range.as_str()),
            ("10.77.0.0/24", "10.77.0.1", "10.77.0.128/25")
        );
        assert_eq!(r.labels.unwrap()["team"], "a");
        assert_eq!(r.options.unwrap()["com.docker.network.bridge.name"], "x");
        let NetworkCommand::Create(a) = parse(&["berth", "network", "create", "n2"]) else {
            panic!("not create")
        };
        let r = create_request(a);
        assert!(
            r.ipam.unwrap().config.is_none(),
            "no subnet: berth picks one"
        );
    }

    #[test]
    fn connect_disconnect_and_fields() {
        let NetworkCommand::Connect(a) = parse(&[
            "berth", "network", "connect", "--alias", "db", "--ip", "10.1.0.9", "n1", "c1",
        ]) else {
            panic!("not connect")
        };
        assert_eq!((a.network.as_str(), a.container.as_str()), ("n1", "c1"));
        assert_eq!(
            (a.alias, a.ip.as_deref()),
            (vec!["db".into()], Some("10.1.0.9"))
        );
        let NetworkCommand::Disconnect(a) =
            parse(&["berth", "network", "disconnect", "-f", "n1", "c1"])
        else {
            panic!("not disconnect")
        };
        assert!(a.force);
        assert_eq!(
            fields("id, Name,driver", false).unwrap(),
            ["ID", "Name", "Driver"]
        );
        assert_eq!(fields("id", true).unwrap(), ["Id"]);
        assert!(fields("containers", false).is_err());
        assert!(filters(&["nokey".into()]).is_err());
    }
}
