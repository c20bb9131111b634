//! A minimal rtnetlink client: the handful of link, address and route requests a container's
//! endpoint needs, sent on a NETLINK_ROUTE socket of the network namespace it was opened in.
//! No process is forked (an `ip` command costs a fork and an exec per step, some milliseconds
//! each); every request asks for an acknowledgement and returns the kernel's errno.

use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const NLA_F_NESTED: u16 = 0x8000;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RTN_UNICAST: u8 = 1;

const IFF_UP: u32 = 0x1;
const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
/// ifa_flags: no duplicate address detection, so the address is usable at once (a network's
/// addresses are handed out by its IPAM, never twice).
const IFA_F_NODAD: u8 = 0x02;

/// A NETLINK_ROUTE socket bound in the network namespace of the thread that opened it.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

/// A request the kernel refused: the errno it answered.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {errno}")]
pub struct NetlinkError {
    pub what: String,
    pub errno: nix::Error,
}

pub type Result<T> = std::result::Result<T, NetlinkError>;

fn err(what: &str, errno: nix::Error) -> NetlinkError {
    NetlinkError {
        what: what.to_string(),
        errno,
    }
}

/// A message under construction: the header, the fixed part, then attributes.
struct Msg {
    buf: Vec<u8>,
    /// Offsets of the length fields of the nested attributes still open.
    open: Vec<usize>,
}

impl Msg {
    fn new(kind: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, set in finish
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // seq, set in request
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        Msg {
            buf,
            open: Vec::new(),
        }
    }

    /// struct ifinfomsg.
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) {
        self.buf.push(0); // AF_UNSPEC
        self.buf.push(0);
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }

    fn attr(&mut self, kind: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn attr_str(&mut self, kind: u16, s: &str) {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data);
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn begin(&mut self, kind: u16) {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }

    fn end(&mut self) {
        if let Some(at) = self.open.pop() {
            let len = (self.buf.len() - at) as u16;
            self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        }
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

/// Parse a MAC address "02:42:0a:00:00:02".
pub fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = mac.split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

impl Netlink {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| err("netlink socket", e))?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| err("netlink bind", e))?;
        Ok(Netlink { fd, seq: 0 })
    }

    /// Send one request and wait for its acknowledgement.
    fn request(&mut self, what: &str, msg: Msg) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let data = msg.finish(seq);
        send(self.fd.as_raw_fd(), &data, MsgFlags::empty()).map_err(|e| err(what, e))?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n =
                recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(|e| err(what, e))?;
            let mut at = 0;
            while at + 16 <= n {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap_or_default());
                let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().unwrap_or_default());
                let mseq = u32::from_ne_bytes(buf[at + 8..at + 12].try_into().unwrap_or_default());
                if kind == NLMSG_ERROR && mseq == seq && at + 20 <= n {
                    let code =
                        i32::from_ne_bytes(buf[at + 16..at + 20].try_into().unwrap_or_default());
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(err(what, nix::Error::from_raw(-code)))
                    };
                }
                if len < 16 {
                    break;
                }
                at += (len as usize + 3) & !3;
            }
        }
    }

    /// Create a bridge (with `mtu` when not 0); Ok(false) when one of that name exists already.
    pub fn add_bridge(&mut self, name: &str, mtu: u32) -> Result<bool> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        if mtu != 0 {
            m.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        m.begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "bridge");
        m.end();
        match self.request(&format!("creating bridge {name}"), m) {
            Ok(()) => Ok(true),
            Err(e) if e.errno == nix::Error::EEXIST => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Create a veth pair: `host` here, `peer` (with `mac`) in the namespace `peer_netns`; both
    /// ends with `mtu` when not 0.
    pub fn add_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_netns: &impl AsRawFd,
        mac: Option<[u8; 6]>,
        mtu: u32,
    ) -> Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0);
        m.attr_str(IFLA_IFNAME, host);
        if mtu != 0 {
            m.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        m.begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "veth");
        m.begin(IFLA_INFO_DATA);
        m.begin(VETH_INFO_PEER);
        m.ifinfo(0, 0, 0);
        m.attr_str(IFLA_IFNAME, peer);
        m.attr(IFLA_NET_NS_FD, &peer_netns.as_raw_fd().to_ne_bytes());
        if mtu != 0 {
            m.attr(IFLA_MTU, &mtu.to_ne_bytes());
        }
        if let Some(mac) = mac {
            m.attr(IFLA_ADDRESS, &mac);
        }
        m.end();
        m.end();
        m.end();
        self.request(&format!("creating veth {host}"), m)
    }

    /// Delete a link by name; Ok(false) when there was none.
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let mut m = Msg::new(RTM_DELLINK, 0);
        m.ifinfo(0, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        match self.request(&format!("deleting {name}"), m) {
            Ok(()) => Ok(true),
            Err(e) if e.errno == nix::Error::ENODEV => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Set a link up, and enslave it to `master` (an ifindex) when given.
    pub fn set_up(&mut self, index: u32, master: Option<u32>) -> Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(index as i32, IFF_UP, IFF_UP);
        if let Some(master) = master {
            m.attr(IFLA_MASTER, &master.to_ne_bytes());
        }
        self.request(&format!("setting link {index} up"), m)
    }

    /// Add an IPv4 address; Ok(false) when the link has it already.
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<bool> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.extend_from_slice(&[AF_INET, prefix, 0, 0]);
        m.buf.extend_from_slice(&index.to_ne_bytes());
        m.attr(IFA_LOCAL, &addr.octets());
        m.attr(IFA_ADDRESS, &addr.octets());
        let host_bits = 32 - u32::from(prefix.min(32));
        let bcast = u32::from(addr) | ((1u64 << host_bits) - 1) as u32;
        if prefix < 31 {
            m.attr(IFA_BROADCAST, &Ipv4Addr::from(bcast).octets());
        }
        match self.request(&format!("adding {addr}/{prefix}"), m) {
            Ok(()) => Ok(true),
            Err(e) if e.errno == nix::Error::EEXIST => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Add an IPv6 address (without duplicate address detection); Ok(false) when the link has
    /// it already.
    pub fn add_address6(&mut self, index: u32, addr: Ipv6Addr, prefix: u8) -> Result<bool> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        // struct ifaddrmsg: family, prefixlen, flags, scope (universe), index.
        m.buf.extend_from_slice(&[AF_INET6, prefix, IFA_F_NODAD, 0]);
        m.buf.extend_from_slice(&index.to_ne_bytes());
        m.attr(IFA_LOCAL, &addr.octets());
        m.attr(IFA_ADDRESS, &addr.octets());
        match self.request(&format!("adding {addr}/{prefix}"), m) {
            Ok(()) => Ok(true),
            Err(e) if e.errno == nix::Error::EEXIST => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Add the IPv6 default route through `gateway`.
    pub fn add_default_route6(&mut self, gateway: Ipv6Addr) -> Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        m.buf
            .extend_from_slice(&[AF_INET6, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, 0]);
        m.buf.push(RTN_UNICAST);
        m.buf.extend_from_slice(&0u32.to_ne_bytes());
        m.attr(RTA_GATEWAY, &gateway.octets());
        self.request(&format!("adding the default route via {gateway}"), m)
    }

    /// Add the default route through `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        m.buf
            .extend_from_slice(&[AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, 0]);
        m.buf.push(RTN_UNICAST);
        m.buf.extend_from_slice(&0u32.to_ne_bytes());
        m.attr(RTA_GATEWAY, &gateway.octets());
        self.request(&format!("adding the default route via {gateway}"), m)
    }
}

/// The index of a link in the calling thread's network namespace.
pub fn index_of(name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(|e| err(&format!("finding link {name}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(parse_mac("02:42:0a:00:00:02"), Some([2, 0x42, 10, 0, 0, 2]));
        assert_eq!(parse_mac("02:42:0a:00:00"), None);
        assert_eq!(parse_mac("02:42:0a:00:00:02:01"), None);
        assert_eq!(parse_mac("zz:42:0a:00:00:02"), None);
    }

    #[test]
    fn nested_attributes_carry_their_length() {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(0, 0, 0);
        m.begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "veth");
        m.end();
        let buf = m.finish(7);
        assert_eq!(
            u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize,
            buf.len()
        );
        // header 16 + ifinfomsg 16, then the nest: 4 + ("veth\0" attr: 4 + 5, padded to 12).
        assert_eq!(u16::from_ne_bytes(buf[32..34].try_into().unwrap()), 16);
        assert_eq!(u32::from_ne_bytes(buf[8..12].try_into().unwrap()), 7);
    }
}
