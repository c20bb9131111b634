//! berth's way through an iptables FORWARD chain that drops, as dockerd's does (its own rules,
//! then policy DROP), with `br_netfilter` sending even traffic inside a bridge through it.
//! nftables runs every base chain of a hook and a drop in any of them is final, so an accept
//! in berth's own table cannot save a packet from that policy. Instead, one chain of this root's
//! own in iptables' filter table, `BERTH-<the hash of the root's nftables table>`, accepts its
//! bridges' traffic (within a bridge; out of a non-internal one; into one when it answers or was
//! published), and one rule appended to FORWARD jumps to it: after every rule there, so
//! dockerd's DOCKER-USER and isolation chains still see every packet first, and none of
//! dockerd's chains or rules is changed. berth's nftables table still drops what berth
//! isolates. The chain is written only where FORWARD has rules or drops (a host with no other
//! firewall gets nothing), and removed with the root's last network.

use super::store::NetworkRecord;
use super::{NetError, Result};
use std::io::Write;
use std::process::{Command, Stdio};

/// The iptables program dockerd itself runs (from PATH): the same backend, nft or legacy.
const IPTABLES: &str = "iptables";
const IPTABLES_RESTORE: &str = "iptables-restore";

/// The chain of the root whose nftables table is `table` ("berth-1a2b3c4d" -> "BERTH-1a2b3c4d").
pub fn chain_name(table: &str) -> String {
    format!("BERTH-{}", table.trim_start_matches("berth-"))
}

/// The chain's contents for these networks, as an `iptables-restore --noflush` script (declaring
/// the chain empties it first).
pub fn script(chain: &str, networks: &[NetworkRecord]) -> String {
    let mut s = format!("*filter\n:{chain} - [0:0]\n");
    for n in networks
        .iter()
        .filter(|n| n.is_bridge() && !n.bridge.is_empty())
    {
        let b = &n.bridge;
        s.push_str(&format!("-A {chain} -i {b} -o {b} -j ACCEPT\n"));
        if !n.internal {
            s.push_str(&format!("-A {chain} -i {b} -j ACCEPT\n"));
            s.push_str(&format!(
                "-A {chain} -o {b} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n"
            ));
        }
    }
    s.push_str("COMMIT\n");
    s
}

/// What `iptables -S` lists says of FORWARD and of `chain`.
#[derive(Debug, PartialEq, Eq)]
pub struct Listing {
    /// FORWARD drops by policy or has rules of anyone's: another firewall is there.
    pub forward_filtered: bool,
    pub chain_exists: bool,
    pub jump_exists: bool,
}

pub fn parse_listing(text: &str, chain: &str) -> Listing {
    let jump = format!("-A FORWARD -j {chain}");
    let lines = || text.lines().map(str::trim_end);
    Listing {
        forward_filtered: lines()
            .any(|l| l == "-P FORWARD DROP" || (l.starts_with("-A FORWARD ") && l != jump)),
        chain_exists: lines().any(|l| l == format!("-N {chain}")),
        jump_exists: lines().any(|l| l == jump),
    }
}

/// Write the root's chain and jump for `networks` where FORWARD filters (or they exist
/// already), remove them where the root has no bridge network left.
pub fn sync(table: &str, networks: &[NetworkRecord]) -> Result<()> {
    let chain = chain_name(table);
    let Some(listing) = list(&chain)? else {
        return Ok(());
    };
    let bridges = networks
        .iter()
        .any(|n| n.is_bridge() && !n.bridge.is_empty());
    if !bridges {
        return remove_chain(&chain, &listing);
    }
    if !listing.forward_filtered && !listing.chain_exists {
        return Ok(());
    }
    restore(&script(&chain, networks))?;
    if !listing.jump_exists {
        iptables(&["-A", "FORWARD", "-j", &chain])?;
    }
    Ok(())
}

/// Remove the root's chain and its jump, when there are.
pub fn remove(table: &str) -> Result<()> {
    let chain = chain_name(table);
    match list(&chain)? {
        Some(listing) => remove_chain(&chain, &listing),
        None => Ok(()),
    }
}

fn remove_chain(chain: &str, listing: &Listing) -> Result<()> {
    if listing.jump_exists {
        iptables(&["-D", "FORWARD", "-j", chain])?;
    }
    if listing.chain_exists {
        iptables(&["-F", chain])?;
        iptables(&["-X", chain])?;
    }
    Ok(())
}

/// The filter table as `iptables -S` lists it; None where iptables is not installed (then no
/// iptables rule can drop berth's traffic either).
fn list(chain: &str) -> Result<Option<Listing>> {
    let out = match Command::new(IPTABLES).args(["-w", "-S"]).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(NetError::Firewall(format!("running {IPTABLES}: {e}"))),
    };
    if !out.status.success() {
        return Err(NetError::Firewall(format!(
            "{IPTABLES} -S: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(Some(parse_listing(
        &String::from_utf8_lossy(&out.stdout),
        chain,
    )))
}

fn iptables(args: &[&str]) -> Result<()> {
    let out = Command::new(IPTABLES)
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| NetError::Firewall(format!("running {IPTABLES}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Firewall(format!(
            "{IPTABLES} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn restore(script: &str) -> Result<()> {
    let mut child = Command::new(IPTABLES_RESTORE)
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Firewall(format!("running {IPTABLES_RESTORE}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| NetError::Firewall(format!("writing to {IPTABLES_RESTORE}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Firewall(format!("waiting for {IPTABLES_RESTORE}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetError::Firewall(format!(
            "{IPTABLES_RESTORE}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(id: char, internal: bool) -> NetworkRecord {
        let id: String = std::iter::repeat_n(id, 64).collect();
        NetworkRecord {
            bridge: super::super::bridge_name(&id),
            id,
            driver: "bridge".into(),
            subnet: "10.213.0.0/24".into(),
            internal,
            ..NetworkRecord::default()
        }
    }

    #[test]
    fn the_chain_accepts_each_bridge_as_berth_isolates_it() {
        assert_eq!(chain_name("berth-1a2b3c4d"), "BERTH-1a2b3c4d");
        let s = script("BERTH-t", &[net('a', false), net('c', true)]);
        let want = "*filter\n:BERTH-t - [0:0]\n\
             -A BERTH-t -i br-aaaaaaaaaaaa -o br-aaaaaaaaaaaa -j ACCEPT\n\
             -A BERTH-t -i br-aaaaaaaaaaaa -j ACCEPT\n\
             -A BERTH-t -o br-aaaaaaaaaaaa -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n\
             -A BERTH-t -i br-cccccccccccc -o br-cccccccccccc -j ACCEPT\n\
             COMMIT\n";
        assert_eq!(s, want, "expected the chain's script");
    }

    #[test]
    fn forward_filters_when_it_drops_or_has_rules_of_others() {
        let pristine = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n";
        assert_eq!(
            parse_listing(pristine, "BERTH-t"),
            Listing {
                forward_filtered: false,
                chain_exists: false,
                jump_exists: false
            }
        );
        let dockerd = "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n-N DOCKER-USER\n";
        assert!(parse_listing(dockerd, "BERTH-t").forward_filtered);
        let accepting_with_rules = "-P FORWARD ACCEPT\n-A FORWARD -j DOCKER-USER\n";
        assert!(parse_listing(accepting_with_rules, "BERTH-t").forward_filtered);
        let only_ours = "-P FORWARD ACCEPT\n-N BERTH-t\n-A FORWARD -j BERTH-t\n";
        assert_eq!(
            parse_listing(only_ours, "BERTH-t"),
            Listing {
                forward_filtered: false,
                chain_exists: true,
                jump_exists: true
            }
        );
    }
}
