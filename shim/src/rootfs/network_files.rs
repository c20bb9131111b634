//! The files the container gets at /etc/hostname, /etc/hosts and /etc/resolv.conf, written in
//! its directory on the host (step 4 of the root binds them in).

use crate::paths::ContainerPaths;
use crate::spec::ContainerSpec;
use std::io;
use std::path::Path;

/// Write the files the container gets at /etc/hostname, /etc/hosts and /etc/resolv.conf.
/// On user-defined networks /etc/hosts also names the other containers there (`net::hosts`),
/// and resolv.conf names the embedded DNS server, whose plan is returned (`net::dns`).
pub fn write_network_files(
    spec: &ContainerSpec,
    paths: &ContainerPaths,
    root: &Path,
) -> io::Result<Option<crate::net::dns::Plan>> {
    let hostname = if spec.hostname.is_empty() {
        spec.id.chars().take(12).collect()
    } else {
        spec.hostname.clone()
    };
    crate::fsutil::write_replace(&paths.hostname(), format!("{hostname}\n").as_bytes())?;
    let wants_gateway = spec
        .network
        .extra_hosts
        .iter()
        .any(|e| e.ends_with(&format!(":{}", crate::net::hosts::HOST_GATEWAY)));
    let networks = if spec.endpoints.is_empty() && !wants_gateway {
        Vec::new()
    } else {
        crate::net::store::Store::new(root).list()
    };
    let hosts = crate::net::hosts::content(spec, &networks);
    crate::fsutil::write_replace(&paths.hosts(), hosts.as_bytes())?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let plan = crate::net::dns::plan(spec, &networks, &host_resolv);
    let resolv = match plan {
        Some(_) => crate::net::dns::resolv_conf(&host_resolv, &spec.network),
        None => resolv_conf(&host_resolv, &spec.network),
    };
    crate::fsutil::write_replace(&paths.resolv_conf(), resolv.as_bytes())?;
    Ok(plan)
}

/// dockerd's resolv.conf for a container without the embedded server: the given DNS settings, else the host's without
/// loopback resolvers (unreachable from a private network namespace), else Google's.
fn resolv_conf(host: &str, net: &crate::spec::NetworkFiles) -> String {
    let mut servers: Vec<String> = net.dns.clone();
    let mut search: Vec<String> = net.dns_search.clone();
    let mut options: Vec<String> = net.dns_options.clone();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("nameserver") if net.dns.is_empty() => {
                if let Some(ip) = f.next() {
                    if !ip.starts_with("127.") && ip != "::1" {
                        servers.push(ip.to_string());
                    }
                }
            }
            Some("search") if net.dns_search.is_empty() => search.extend(f.map(String::from)),
            Some("options") if net.dns_options.is_empty() => options.extend(f.map(String::from)),
            _ => {}
        }
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".to_string(), "8.8.4.4".to_string()];
    }
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::NetworkFiles;

    #[test]
    fn resolv_conf_drops_loopback_resolvers() {
        let host = "nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.com\n";
        let out = resolv_conf(host, &NetworkFiles::default());
        assert_eq!(out, "nameserver 10.0.0.2\nsearch example.com\n");
        let only_loopback = resolv_conf("nameserver 127.0.0.1\n", &NetworkFiles::default());
        assert!(only_loopback.starts_with("nameserver 8.8.8.8\n"));
        let given = NetworkFiles {
            dns: vec!["1.1.1.1".into()],
            ..NetworkFiles::default()
        };
        assert_eq!(
            resolv_conf(host, &given),
            "nameserver 1.1.1.1\nsearch example.com\n"
        );
    }
}
