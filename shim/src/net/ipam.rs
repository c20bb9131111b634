//! IPv4 address arithmetic for networks: subnets in CIDR notation, the pool berth picks default
//! subnets from, and the first free address of a subnet.

use std::net::Ipv4Addr;

/// Where berth's own subnets come from when a network names none: 10.213.0.0/16 in /24s. Not
/// dockerd's default pools (172.17.0.0/16 .. 172.31.0.0/16 and 192.168.0.0/16), and each
/// candidate is checked against the host's routes (which include every other berth root's
/// bridges) before it is used.
pub const POOL_BASE: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 0);
pub const POOL_SUBNETS: u32 = 256;
pub const POOL_PREFIX: u8 = 24;

/// An IPv4 network: its base address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub base: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parse "10.1.2.0/24"; the address must be the network's base unless `loose`.
    pub fn parse(s: &str) -> Option<Subnet> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        let base = Ipv4Addr::from(u32::from(addr) & mask(prefix));
        Some(Subnet { base, prefix })
    }

    pub fn first(&self) -> u32 {
        u32::from(self.base)
    }

    pub fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) & mask(self.prefix)) == self.first()
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The conventional gateway: the first address after the base.
    pub fn default_gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + 1)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

/// The IPv4 destinations of the host's routes (main table), from /proc/net/route.
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_routes(&text)
}

fn parse_routes(text: &str) -> Vec<Subnet> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The file shows addresses in the kernel's (little-endian) byte order.
            let dest = Ipv4Addr::from(dest.swap_bytes());
            let m = m.swap_bytes();
            if m == 0 {
                return None; // the default route overlaps everything
            }
            Some(Subnet {
                base: dest,
                prefix: m.count_ones() as u8,
            })
        })
        .collect()
}

/// Where the default `bridge` network's subnet comes from: a /16 among 10.220.0.0/16 ..
/// 10.243.0.0/16, so that, as on dockerd's 172.17.0.0/16, thousands of containers fit on it
/// (an address is held from create to remove, stopped containers included).
pub const DEFAULT_BRIDGE_POOL_BASE: Ipv4Addr = Ipv4Addr::new(10, 220, 0, 0);
pub const DEFAULT_BRIDGE_POOL_SUBNETS: u32 = 24;
pub const DEFAULT_BRIDGE_PREFIX: u8 = 16;

/// The first subnet of the pool of user-defined networks that overlaps none of `taken`.
pub fn pick_subnet(taken: &[Subnet]) -> Option<Subnet> {
    pick_subnet_in(taken, POOL_BASE, POOL_SUBNETS, POOL_PREFIX)
}

/// The first subnet of the default bridge's pool that overlaps none of `taken`.
pub fn pick_default_bridge_subnet(taken: &[Subnet]) -> Option<Subnet> {
    pick_subnet_in(
        taken,
        DEFAULT_BRIDGE_POOL_BASE,
        DEFAULT_BRIDGE_POOL_SUBNETS,
        DEFAULT_BRIDGE_PREFIX,
    )
}

fn pick_subnet_in(taken: &[Subnet], base: Ipv4Addr, count: u32, prefix: u8) -> Option<Subnet> {
    (0..count)
        .map(|i| Subnet {
            base: Ipv4Addr::from(u32::from(base) + (i << (32 - u32::from(prefix)))),
            prefix,
        })
        .find(|s| !taken.iter().any(|t| t.overlaps(s)))
}

/// The first address of `range` (within `subnet`) that is not the base, the broadcast address,
/// the gateway or in `used`.
pub fn first_free(
    subnet: &Subnet,
    range: Option<&Subnet>,
    gateway: Option<Ipv4Addr>,
    used: &[Ipv4Addr],
) -> Option<Ipv4Addr> {
    let r = range.unwrap_or(subnet);
    let lo = r.first().max(subnet.first() + 1);
    let hi = r.last().min(subnet.last().saturating_sub(1));
    (lo..=hi)
        .map(Ipv4Addr::from)
        .find(|ip| Some(*ip) != gateway && !used.contains(ip))
}

/// Docker's MAC for an address: 02:42 then the four bytes of the IPv4 address.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap() {
        let a = Subnet::parse("10.1.2.0/24").unwrap();
        assert_eq!(a.to_string(), "10.1.2.0/24");
        assert_eq!(Subnet::parse("10.1.2.9/24").unwrap(), a);
        assert!(Subnet::parse("10.1.2.0/33").is_none());
        assert!(Subnet::parse("10.1.2.0").is_none());
        assert!(a.overlaps(&Subnet::parse("10.0.0.0/8").unwrap()));
        assert!(!a.overlaps(&Subnet::parse("10.1.3.0/24").unwrap()));
        assert!(a.contains("10.1.2.200".parse().unwrap()));
        assert_eq!(a.default_gateway(), Ipv4Addr::new(10, 1, 2, 1));
    }

    #[test]
    fn routes_are_read_in_kernel_byte_order() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(
            parse_routes(text),
            vec![Subnet::parse("192.0.2.0/24").unwrap()]
        );
    }

    #[test]
    fn the_pool_skips_taken_subnets() {
        let taken = [
            Subnet::parse("10.213.0.0/24").unwrap(),
            Subnet::parse("10.213.1.128/25").unwrap(),
        ];
        assert_eq!(
            pick_subnet(&taken),
            Some(Subnet::parse("10.213.2.0/24").unwrap())
        );
        assert_eq!(pick_subnet(&[Subnet::parse("10.0.0.0/8").unwrap()]), None);
        assert_eq!(
            pick_default_bridge_subnet(&[Subnet::parse("10.220.3.0/24").unwrap()]),
            Some(Subnet::parse("10.221.0.0/16").unwrap())
        );
        assert!(!Subnet::parse("10.213.0.0/16")
            .unwrap()
            .overlaps(&pick_default_bridge_subnet(&[]).unwrap()));
    }

    #[test]
    fn addresses_skip_gateway_used_and_broadcast() {
        let s = Subnet::parse("10.9.0.0/30").unwrap();
        let gw = Some(s.default_gateway());
        assert_eq!(
            first_free(&s, None, gw, &[]),
            Some(Ipv4Addr::new(10, 9, 0, 2))
        );
        assert_eq!(
            first_free(&s, None, gw, &[Ipv4Addr::new(10, 9, 0, 2)]),
            None
        );
        let wide = Subnet::parse("10.9.0.0/16").unwrap();
        let range = Subnet::parse("10.9.5.0/24").unwrap();
        assert_eq!(
            first_free(&wide, Some(&range), gw, &[]),
            Some(Ipv4Addr::new(10, 9, 5, 0))
        );
        assert_eq!(mac_for(Ipv4Addr::new(10, 9, 0, 2)), "02:42:0a:09:00:02");
    }
}
