//! The server's sockets in the container's namespace and the work on them, driven by the shim's
//! poll loop: [`Server::interests`] says what to wait for, [`Server::on_ready`] and
//! [`Server::on_timer`] do it. Nothing here blocks.

use super::forward::{Client, Forward, MAX_FORWARDS};
use super::message::{self, ParseError, Query, Rcode};
use super::names::{self, Local};
use super::{Plan, ADDRESS};
use crate::net::store::{NetworkRecord, Store};
use crate::net::{InNetns, NetError};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Connections from the container served at once; more are closed at once.
const MAX_CONNS: usize = 16;
/// A connection with nothing to do is closed after this.
const CONN_IDLE: Duration = Duration::from_secs(10);
/// A query over TCP larger than this is refused (and the connection closed).
const MAX_TCP_QUERY: usize = message::MAX_UDP;
/// Datagrams taken per wake-up, so that a flood does not starve the container's output.
const BATCH: usize = 32;

/// What a ready descriptor is, for [`Server::on_ready`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Udp,
    Listener,
    Conn(u64),
    Forward(u64),
}

struct Conn {
    key: u64,
    stream: TcpStream,
    /// Bytes read and not yet a whole query.
    input: Vec<u8>,
    /// An answer not yet written.
    output: Vec<u8>,
    /// A forwarded query's answer is awaited: nothing more is read meanwhile.
    waiting: bool,
    idle_at: Instant,
}

/// What to do with a query.
enum Outcome {
    Reply(Vec<u8>, Query),
    /// For a query whose question could not be read.
    Header(Vec<u8>),
    Forward(Query),
    Drop,
}

pub struct Server {
    udp: UdpSocket,
    tcp: TcpListener,
    conns: Vec<Conn>,
    forwards: Vec<Forward>,
    next_key: u64,
    records: Records,
    me: String,
    plan: Plan,
}

/// The network records as last read, and the store directory's modification time then: every
/// record is replaced by a rename or removed, and either changes that time. A read taken less
/// than `SETTLED` after that time is used once only (the clock behind it is coarse: a change in
/// the same tick would not show).
struct Records {
    store: Store,
    list: Vec<NetworkRecord>,
    /// The directory's modification time at the last read, and the time of that read.
    stamp: Option<(SystemTime, SystemTime)>,
}

const SETTLED: Duration = Duration::from_millis(50);

impl Records {
    fn get(&mut self) -> &[NetworkRecord] {
        let mtime = std::fs::metadata(&self.store.dir).and_then(|m| m.modified());
        let fresh = match (&mtime, self.stamp) {
            (Ok(m), Some((was, at))) => {
                *m == was && at.duration_since(was).is_ok_and(|d| d > SETTLED)
            }
            _ => false,
        };
        if !fresh {
            let now = SystemTime::now();
            self.list = self.store.list();
            self.stamp = mtime.ok().map(|m| (m, now));
        }
        &self.list
    }
}

impl Server {
    /// Bind 127.0.0.11:53 (UDP and TCP) in the network namespace of process `pid`.
    pub fn bind(pid: i32, root: &Path, me: &str, plan: Plan) -> Result<Server, NetError> {
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let target = File::open(&path).map_err(|e| NetError::io(&path, e))?;
        let addr = SocketAddr::from((ADDRESS, 53));
        let in_container = |e| NetError::io(Path::new("127.0.0.11:53"), e);
        let (udp, tcp) = {
            let _inside = InNetns::enter(&target, &format!("process {pid}"))?;
            // 127.0.0.11 is an address of lo once lo is up (the container's init brings it
            // up too, later).
            crate::sys::loopback_up().map_err(in_container)?;
            let udp = UdpSocket::bind(addr).map_err(in_container)?;
            let tcp = TcpListener::bind(addr).map_err(in_container)?;
            (udp, tcp)
        };
        udp.set_nonblocking(true).map_err(in_container)?;
        tcp.set_nonblocking(true).map_err(in_container)?;
        Ok(Server {
            udp,
            tcp,
            conns: Vec::new(),
            forwards: Vec::new(),
            next_key: 0,
            records: Records {
                store: Store::new(root),
                list: Vec::new(),
                stamp: None,
            },
            me: me.to_string(),
            plan,
        })
    }

    /// Each descriptor to wait on, with the events and its token.
    pub fn interests(&self, mut add: impl FnMut(RawFd, libc::c_short, Token)) {
        add(self.udp.as_raw_fd(), libc::POLLIN, Token::Udp);
        add(self.tcp.as_raw_fd(), libc::POLLIN, Token::Listener);
        for c in &self.conns {
            let events = if !c.output.is_empty() {
                libc::POLLOUT
            } else if c.waiting {
                continue;
            } else {
                libc::POLLIN
            };
            add(c.stream.as_raw_fd(), events, Token::Conn(c.key));
        }
        for f in &self.forwards {
            let (fd, events) = f.interest();
            add(fd, events, Token::Forward(f.key));
        }
    }

    /// The earliest timer: a forward's or an idle connection's.
    pub fn deadline(&self) -> Option<Instant> {
        let conns = self.conns.iter().map(|c| c.idle_at);
        let fwds = self.forwards.iter().map(|f| f.deadline);
        conns.chain(fwds).min()
    }

    pub fn on_ready(&mut self, token: Token) {
        match token {
            Token::Udp => self.on_udp(),
            Token::Listener => self.on_accept(),
            Token::Conn(key) => self.on_conn(key),
            Token::Forward(key) => {
                let Some(i) = self.forwards.iter().position(|f| f.key == key) else {
                    return;
                };
                if let Some(answer) = self.forwards[i].on_ready(&self.plan.upstreams) {
                    let f = self.forwards.swap_remove(i);
                    self.deliver(&f, answer);
                }
            }
        }
    }

    pub fn on_timer(&mut self, now: Instant) {
        self.conns.retain(|c| c.idle_at > now);
        let mut i = 0;
        while i < self.forwards.len() {
            match self.forwards[i].on_timer(now, &self.plan.upstreams) {
                Some(answer) => {
                    let f = self.forwards.swap_remove(i);
                    self.deliver(&f, answer);
                }
                None => i += 1,
            }
        }
    }

    fn on_udp(&mut self) {
        let mut buf = [0u8; message::MAX_UDP];
        for _ in 0..BATCH {
            let (n, from) = match self.udp.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => continue,
            };
            match self.answer(&buf[..n]) {
                Outcome::Reply(r, q) => self.send(Client::Udp(from), &q, r),
                Outcome::Header(r) => drop(self.udp.send_to(&r, from)),
                Outcome::Forward(q) => self.forward(q, &buf[..n], Client::Udp(from)),
                Outcome::Drop => {}
            }
        }
    }

    fn on_accept(&mut self) {
        while let Ok((stream, _)) = self.tcp.accept() {
            if self.conns.len() >= MAX_CONNS || stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.next_key += 1;
            self.conns.push(Conn {
                key: self.next_key,
                stream,
                input: Vec::new(),
                output: Vec::new(),
                waiting: false,
                idle_at: Instant::now() + CONN_IDLE,
            });
        }
    }

    fn on_conn(&mut self, key: u64) {
        let Some(i) = self.conns.iter().position(|c| c.key == key) else {
            return;
        };
        let c = &mut self.conns[i];
        c.idle_at = Instant::now() + CONN_IDLE;
        if !c.output.is_empty() {
            match c.stream.write(&c.output) {
                Ok(n) => drop(c.output.drain(..n)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.conns.swap_remove(i);
                    return;
                }
            }
            if !c.output.is_empty() {
                return;
            }
        } else {
            let mut buf = [0u8; 2048];
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    self.conns.swap_remove(i);
                    return;
                }
                Ok(n) => c.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.conns.swap_remove(i);
                    return;
                }
            }
        }
        self.serve_conn(key);
    }

    /// Answer the next whole query a connection has sent, if any and if it is free to.
    fn serve_conn(&mut self, key: u64) {
        let Some(i) = self.conns.iter().position(|c| c.key == key) else {
            return;
        };
        let c = &self.conns[i];
        if c.waiting || !c.output.is_empty() || c.input.len() < 2 {
            return;
        }
        let len = u16::from_be_bytes([c.input[0], c.input[1]]) as usize;
        if len > MAX_TCP_QUERY {
            self.conns.swap_remove(i);
            return;
        }
        if c.input.len() < 2 + len {
            return;
        }
        let query: Vec<u8> = self.conns[i].input.drain(..2 + len).skip(2).collect();
        match self.answer(&query) {
            Outcome::Reply(r, _) | Outcome::Header(r) => self.conns[i].output = framed(&r),
            Outcome::Forward(q) => {
                self.conns[i].waiting = true;
                self.forward(q, &query, Client::Tcp(key));
            }
            Outcome::Drop => {
                self.conns.swap_remove(i);
            }
        }
    }

    /// Answer a query from the records, or say it goes to the forwarders.
    fn answer(&mut self, msg: &[u8]) -> Outcome {
        let q = match message::parse_query(msg) {
            Ok(q) => q,
            Err(ParseError::Short) => return Outcome::Drop,
            Err(ParseError::Malformed(rcode)) => {
                return message::header_only(msg, rcode).map_or(Outcome::Drop, Outcome::Header)
            }
        };
        let ours = q.is_in()
            && matches!(
                q.qtype,
                message::TYPE_A | message::TYPE_AAAA | message::TYPE_PTR
            );
        let local = if ours {
            names::lookup(self.records.get(), &self.me, &self.plan.order, &q.name)
        } else {
            Local::Unknown
        };
        let reply = match local {
            Local::Addrs(addrs) if q.qtype == message::TYPE_A => {
                let v4: Vec<Ipv4Addr> = addrs
                    .iter()
                    .filter_map(|a| match a {
                        IpAddr::V4(v4) => Some(*v4),
                        IpAddr::V6(_) => None,
                    })
                    .collect();
                q.answer_a(&v4, u16::MAX as usize)
            }
            // A peer on a network with IPv6 has an AAAA record too.
            Local::Addrs(addrs) if q.qtype == message::TYPE_AAAA => {
                let v6: Vec<Ipv6Addr> = addrs
                    .iter()
                    .filter_map(|a| match a {
                        IpAddr::V6(v6) => Some(*v6),
                        IpAddr::V4(_) => None,
                    })
                    .collect();
                if v6.is_empty() {
                    // Ours, with no data of that type: NOERROR, nothing.
                    q.empty(Rcode::NoError)
                } else {
                    q.answer_aaaa(&v6, u16::MAX as usize)
                }
            }
            Local::Addrs(_) => q.empty(Rcode::NoError),
            Local::Ptr(name) if q.qtype == message::TYPE_PTR => q
                .answer_ptr(&name)
                .unwrap_or_else(|| q.empty(Rcode::ServFail)),
            _ if !self.plan.forwarding || self.forwards.len() >= MAX_FORWARDS => {
                q.empty(Rcode::ServFail)
            }
            _ => return Outcome::Forward(q),
        };
        Outcome::Reply(reply, q)
    }

    fn forward(&mut self, q: Query, raw: &[u8], client: Client) {
        self.next_key += 1;
        match Forward::start(self.next_key, q, raw, client, &self.plan.upstreams) {
            Ok(f) => self.forwards.push(f),
            Err(q) => self.send(client, &q, q.empty(Rcode::ServFail)),
        }
    }

    /// A forward is over: its answer (or SERVFAIL) to its client.
    fn deliver(&mut self, f: &Forward, answer: Vec<u8>) {
        self.send(f.client, &f.query, answer);
    }

    /// An answer to `q` to its client: over UDP, the question with TC set when it is larger
    /// than the client can take.
    fn send(&mut self, client: Client, q: &Query, answer: Vec<u8>) {
        match client {
            Client::Udp(to) => {
                let r = if answer.len() > q.udp_limit {
                    q.truncated()
                } else {
                    answer
                };
                // A client gone or a full buffer: the datagram is lost, as any.
                let _ = self.udp.send_to(&r, to);
            }
            Client::Tcp(key) => {
                if let Some(c) = self.conns.iter_mut().find(|c| c.key == key) {
                    c.waiting = false;
                    c.output = framed(&answer);
                }
            }
        }
    }
}

/// A message with TCP's two-byte length in front.
fn framed(msg: &[u8]) -> Vec<u8> {
    let len = msg.len().min(u16::MAX as usize);
    let mut out = Vec::with_capacity(2 + len);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&msg[..len]);
    out
}
