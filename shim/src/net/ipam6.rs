//! IPv6 address arithmetic for networks with `EnableIPv6`: the subnet of the network's IPv6
//! IPAM config, its gateway and the first free address (handed out in order, as dockerd's
//! default IPAM does on a user-defined network).

use std::net::Ipv6Addr;

/// An IPv6 network: its base address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet6 {
    pub base: Ipv6Addr,
    pub prefix: u8,
}

fn mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl Subnet6 {
    /// Parse "fd00:1::/64" (host bits are cleared).
    pub fn parse(s: &str) -> Option<Subnet6> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: Ipv6Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 128 {
            return None;
        }
        Some(Subnet6 {
            base: Ipv6Addr::from(u128::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn first(&self) -> u128 {
        u128::from(self.base)
    }

    pub fn last(&self) -> u128 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        (u128::from(ip) & mask(self.prefix)) == self.first()
    }

    pub fn overlaps(&self, other: &Subnet6) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The conventional gateway: the first address after the base.
    pub fn default_gateway(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.first().saturating_add(1).min(self.last()))
    }
}

impl std::fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The first address of `range` (within `subnet`) after the subnet's base that is not the
/// gateway and not in `used`. Bounded: a /64 is never walked further than `used` is long.
pub fn first_free(
    subnet: &Subnet6,
    range: Option<&Subnet6>,
    gateway: Option<Ipv6Addr>,
    used: &[Ipv6Addr],
) -> Option<Ipv6Addr> {
    let r = range.unwrap_or(subnet);
    let lo = r.first().max(subnet.first().saturating_add(1));
    let hi = r.last().min(subnet.last());
    let mut ip = lo;
    // Each step skips one taken address, so at most used.len() + 2 steps.
    while ip <= hi {
        let a = Ipv6Addr::from(ip);
        if Some(a) != gateway && !used.contains(&a) {
            return Some(a);
        }
        ip = ip.checked_add(1)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_subnets_parse_contain_and_overlap() {
        let a = Subnet6::parse("fd00:1::5/64").unwrap();
        assert_eq!(a.to_string(), "fd00:1::/64");
        assert!(a.contains("fd00:1::ffff".parse().unwrap()));
        assert!(!a.contains("fd00:2::1".parse().unwrap()));
        assert!(a.overlaps(&Subnet6::parse("fd00::/16").unwrap()));
        assert!(!a.overlaps(&Subnet6::parse("fd00:2::/64").unwrap()));
        assert_eq!(
            a.default_gateway(),
            "fd00:1::1".parse::<Ipv6Addr>().unwrap()
        );
        assert!(Subnet6::parse("fd00::/129").is_none());
        assert!(Subnet6::parse("10.0.0.0/8").is_none());
    }

    #[test]
    fn v6_addresses_skip_gateway_and_used() {
        let s = Subnet6::parse("fd00:1::/64").unwrap();
        let gw = Some(s.default_gateway());
        let two: Ipv6Addr = "fd00:1::2".parse().unwrap();
        assert_eq!(first_free(&s, None, gw, &[]), Some(two));
        assert_eq!(
            first_free(&s, None, gw, &[two]),
            Some("fd00:1::3".parse().unwrap())
        );
        let tiny = Subnet6::parse("fd00:1::/127").unwrap();
        assert_eq!(
            first_free(&tiny, None, Some(tiny.default_gateway()), &[]),
            None
        );
        let range = Subnet6::parse("fd00:1::100/120").unwrap();
        assert_eq!(
            first_free(&s, Some(&range), gw, &[]),
            Some("fd00:1::100".parse().unwrap())
        );
    }
}
