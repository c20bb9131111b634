//! One query on its way to the forwarders, from the host's network namespace (where the shim
//! lives): over UDP from a fresh socket with a random port and id, over TCP when the answer
//! comes back truncated, to each forwarder in turn when one fails or is slow; SERVFAIL when
//! none answers. An answer counts only if it carries the id sent and the question asked.

use super::message::{self, Query, Rcode};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// Queries forwarded at once; more are answered SERVFAIL.
pub const MAX_FORWARDS: usize = 64;
/// How long a forwarder has for one attempt.
const ATTEMPT: Duration = Duration::from_secs(2);
/// The largest answer taken over TCP (its length field's limit).
const MAX_TCP_ANSWER: usize = u16::MAX as usize;

/// Who asked.
#[derive(Debug, Clone, Copy)]
pub enum Client {
    Udp(SocketAddr),
    /// A connection of the server's, by key.
    Tcp(u64),
}

enum Stage {
    Udp(UdpSocket),
    /// Over TCP: until `sent`, a connect under way (the query goes once it is made); then
    /// the answer's bytes so far (its length first).
    Tcp {
        sock: Socket,
        sent: bool,
        got: Vec<u8>,
    },
}

pub struct Forward {
    pub key: u64,
    pub client: Client,
    pub query: Query,
    /// The query as forwarded (the client's bytes, with our id).
    sent: Vec<u8>,
    id: u16,
    question: Vec<u8>,
    /// The forwarder being asked.
    upstream: usize,
    stage: Stage,
    pub deadline: Instant,
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("the kernel's random source failed: {e}");
    }
    u16::from_ne_bytes(b)
}

/// A UDP socket connected to `to`, on a random port of the host's.
fn udp_to(to: SocketAddr, msg: &[u8]) -> std::io::Result<UdpSocket> {
    let any: SocketAddr = if to.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any)?;
    s.connect(to)?;
    s.set_nonblocking(true)?;
    s.send(msg)?;
    Ok(s)
}

/// A non-blocking TCP connect to `to`, under way.
fn tcp_to(to: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    match s.connect(&SockAddr::from(to)) {
        Ok(()) => Ok(s),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(s),
        Err(e) => Err(e),
    }
}

impl Forward {
    /// Send `raw` (the client's query, read as `q`) to the first forwarder that takes it; the
    /// query back when none does.
    pub fn start(
        key: u64,
        query: Query,
        raw: &[u8],
        client: Client,
        upstreams: &[SocketAddr],
    ) -> Result<Forward, Query> {
        let id = random_id();
        let sent = message::with_id(raw, id);
        let question = query.question_bytes();
        for (i, &to) in upstreams.iter().enumerate() {
            if let Ok(sock) = udp_to(to, &sent) {
                return Ok(Forward {
                    key,
                    client,
                    query,
                    sent,
                    id,
                    question,
                    upstream: i,
                    stage: Stage::Udp(sock),
                    deadline: Instant::now() + ATTEMPT,
                });
            }
        }
        Err(query)
    }

    /// The descriptor to wait on and for what.
    pub fn interest(&self) -> (RawFd, libc::c_short) {
        match &self.stage {
            Stage::Udp(s) => (s.as_raw_fd(), libc::POLLIN),
            Stage::Tcp { sock, sent, .. } => {
                let events = if *sent { libc::POLLIN } else { libc::POLLOUT };
                (sock.as_raw_fd(), events)
            }
        }
    }

    /// Progress on a ready descriptor; the answer for the client when the forward is over.
    pub fn on_ready(&mut self, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
        match self.step() {
            Step::Wait => None,
            Step::Answer(a) => Some(message::with_id(&a, self.query.id)),
            Step::Failed => self.next_upstream(upstreams),
        }
    }

    /// A forwarder too slow: the next one, or SERVFAIL.
    pub fn on_timer(&mut self, now: Instant, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
        if self.deadline > now {
            return None;
        }
        self.next_upstream(upstreams)
    }

    fn next_upstream(&mut self, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
        for (i, &to) in upstreams.iter().enumerate().skip(self.upstream + 1) {
            if let Ok(sock) = udp_to(to, &self.sent) {
                self.upstream = i;
                self.stage = Stage::Udp(sock);
                self.deadline = Instant::now() + ATTEMPT;
                return None;
            }
        }
        Some(self.query.empty(Rcode::ServFail))
    }

    fn step(&mut self) -> Step {
        match &mut self.stage {
            Stage::Udp(sock) => {
                let mut buf = [0u8; message::MAX_UDP];
                loop {
                    let n = match sock.recv(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Step::Wait,
                        Err(_) => return Step::Failed,
                    };
                    let answer = &buf[..n];
                    // Anything else (late, forged) is skipped; the real one may follow.
                    if !message::answers(answer, self.id, &self.question) {
                        continue;
                    }
                    if !message::is_truncated(answer) {
                        return Step::Answer(answer.to_vec());
                    }
                    // Truncated: the same forwarder again, over TCP.
                    let Ok(sock) = sock.peer_addr().and_then(tcp_to) else {
                        return Step::Failed;
                    };
                    self.stage = Stage::Tcp {
                        sock,
                        sent: false,
                        got: Vec::new(),
                    };
                    self.deadline = Instant::now() + ATTEMPT;
                    return Step::Wait;
                }
            }
            Stage::Tcp {
                sock,
                sent: sent @ false,
                ..
            } => {
                if !matches!(sock.take_error(), Ok(None)) {
                    return Step::Failed;
                }
                let mut framed = (self.sent.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&self.sent);
                // A few hundred bytes on a new connection: all of it goes, or it fails.
                match (&*sock).write(&framed) {
                    Ok(n) if n == framed.len() => {
                        *sent = true;
                        Step::Wait
                    }
                    _ => Step::Failed,
                }
            }
            Stage::Tcp { sock, got, .. } => {
                let mut buf = [0u8; 4096];
                match (&*sock).read(&mut buf) {
                    Ok(0) => return Step::Failed,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Step::Wait,
                    Err(_) => return Step::Failed,
                }
                if got.len() < 2 {
                    return Step::Wait;
                }
                let len = u16::from_be_bytes([got[0], got[1]]) as usize;
                if got.len() > 2 + len.min(MAX_TCP_ANSWER) {
                    return Step::Failed;
                }
                if got.len() < 2 + len {
                    return Step::Wait;
                }
                if message::answers(&got[2..], self.id, &self.question) {
                    Step::Answer(got[2..].to_vec())
                } else {
                    Step::Failed
                }
            }
        }
    }
}

enum Step {
    Wait,
    Answer(Vec<u8>),
    Failed,
}
