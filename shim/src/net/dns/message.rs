//! The few DNS messages the embedded server reads and writes (RFC 1035): a query's header and
//! one question (plus the EDNS payload size), and answers made of A or PTR records, an empty
//! answer, an error, or a truncation. Every byte comes from a hostile container: reads are
//! bounded, a compression pointer must point strictly backwards (no loops) and at most
//! `MAX_JUMPS` are followed, names stop at 255 bytes, and an answer never grows past the
//! size the client can take.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const TYPE_A: u16 = 1;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

pub const HEADER_LEN: usize = 12;
/// A UDP answer's size without EDNS (RFC 1035).
pub const CLASSIC_UDP: usize = 512;
/// The most a UDP answer is ever made, whatever EDNS size the client claims.
pub const MAX_UDP: usize = 4096;
const MAX_NAME: usize = 255;
const MAX_JUMPS: usize = 16;
/// dockerd's TTL for its own names.
const TTL: u32 = 600;

const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not even a header: nothing can be answered.
    #[error("shorter than a DNS header")]
    Short,
    /// A header, but no question that can be read: FORMERR, or NOTIMP for other opcodes.
    #[error("malformed query")]
    Malformed(Rcode),
}

/// A query's one question, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// The client's RD bit, echoed.
    rd: bool,
    /// Lower-case, dot-separated, without the root's trailing dot ("" for the root).
    pub name: String,
    /// The name's labels as sent, for the answer's question.
    wire_name: Vec<u8>,
    pub qtype: u16,
    pub qclass: u16,
    /// The most an answer over UDP may be: 512, or the EDNS size (at most `MAX_UDP`).
    pub udp_limit: usize,
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]))
}

/// The message's id, if it has a header.
pub fn id_of(msg: &[u8]) -> Option<u16> {
    u16_at(msg, 0)
}

/// Read the name at `at`: its labels (uncompressed, as wire bytes), its text, and where the
/// bytes after it start.
fn read_name(msg: &[u8], mut at: usize) -> Option<(Vec<u8>, String, usize)> {
    let mut wire = Vec::new();
    let mut text = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(at)? as usize;
        match len & 0xC0 {
            0x00 if len == 0 => {
                wire.push(0);
                return Some((wire, text, end.unwrap_or(at + 1)));
            }
            0x00 => {
                let label = msg.get(at + 1..at + 1 + len)?;
                if wire.len() + 1 + len + 1 > MAX_NAME {
                    return None;
                }
                wire.push(len as u8);
                wire.extend_from_slice(label);
                if !text.is_empty() {
                    text.push('.');
                }
                for &b in label {
                    // A dot or an unprintable byte inside a label is kept, escaped, so that it
                    // never matches a name of ours.
                    if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                        text.push(b.to_ascii_lowercase() as char);
                    } else {
                        text.push_str(&format!("\\{b:03}"));
                    }
                }
                at += 1 + len;
            }
            0xC0 => {
                let target = (u16_at(msg, at)? & 0x3FFF) as usize;
                jumps += 1;
                // Strictly backwards, and few: no loop and no long chase.
                if target >= at || jumps > MAX_JUMPS {
                    return None;
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return None,
        }
    }
}

/// Read a query: its header and its one question, and an EDNS OPT record if one follows.
pub fn parse_query(msg: &[u8]) -> Result<Query, ParseError> {
    if msg.len() < HEADER_LEN {
        return Err(ParseError::Short);
    }
    let flags = u16_at(msg, 2).unwrap_or(0);
    let opcode = (flags >> 11) & 0xF;
    if flags & QR != 0 {
        return Err(ParseError::Malformed(Rcode::FormErr));
    }
    if opcode != 0 {
        return Err(ParseError::Malformed(Rcode::NotImp));
    }
    let count = |at| u16_at(msg, at).unwrap_or(0);
    if count(4) != 1 {
        return Err(ParseError::Malformed(Rcode::FormErr));
    }
    let formerr = ParseError::Malformed(Rcode::FormErr);
    let (wire_name, name, after) = read_name(msg, HEADER_LEN).ok_or(formerr.clone())?;
    let qtype = u16_at(msg, after).ok_or(formerr.clone())?;
    let qclass = u16_at(msg, after + 2).ok_or(formerr)?;
    let mut udp_limit = CLASSIC_UDP;
    // Only an OPT record first among the additional ones counts (answers and authority
    // records in a query are skipped by not being read).
    if count(6) == 0 && count(8) == 0 && count(10) >= 1 {
        let at = after + 4;
        if msg.get(at) == Some(&0) && u16_at(msg, at + 1) == Some(TYPE_OPT) {
            if let Some(size) = u16_at(msg, at + 3) {
                udp_limit = (size as usize).clamp(CLASSIC_UDP, MAX_UDP);
            }
        }
    }
    Ok(Query {
        id: u16_at(msg, 0).unwrap_or(0),
        rd: flags & RD != 0,
        name,
        wire_name,
        qtype,
        qclass,
        udp_limit,
    })
}

/// A response's header bytes.
fn header(id: u16, flags: u16, qd: u16, an: u16) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..2].copy_from_slice(&id.to_be_bytes());
    h[2..4].copy_from_slice(&flags.to_be_bytes());
    h[4..6].copy_from_slice(&qd.to_be_bytes());
    h[6..8].copy_from_slice(&an.to_be_bytes());
    h
}

impl Query {
    fn flags(&self, rcode: Rcode, extra: u16) -> u16 {
        QR | RA | extra | if self.rd { RD } else { 0 } | rcode as u16
    }

    fn with_question(&self, flags: u16, answers: u16) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.wire_name.len() + 4 + 64);
        out.extend_from_slice(&header(self.id, flags, 1, answers));
        out.extend_from_slice(&self.wire_name);
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.extend_from_slice(&self.qclass.to_be_bytes());
        out
    }

    /// An answer with no records: `rcode`, or NOERROR for a name of ours with no data of the
    /// type asked.
    pub fn empty(&self, rcode: Rcode) -> Vec<u8> {
        let aa = if rcode == Rcode::ServFail { 0 } else { AA };
        self.with_question(self.flags(rcode, aa), 0)
    }

    /// The question back with TC set: the client asks again over TCP.
    pub fn truncated(&self) -> Vec<u8> {
        self.with_question(self.flags(Rcode::NoError, AA | TC), 0)
    }

    /// A records for the name asked, as many as fit in `limit` bytes (TC set when some do not).
    pub fn answer_a(&self, addrs: &[Ipv4Addr], limit: usize) -> Vec<u8> {
        let addrs: Vec<IpAddr> = addrs.iter().copied().map(IpAddr::V4).collect();
        self.answer_addrs(&addrs, limit)
    }

    /// AAAA records for `addrs`, as many as fit in `limit` bytes (TC set when some did not).
    pub fn answer_aaaa(&self, addrs: &[Ipv6Addr], limit: usize) -> Vec<u8> {
        let addrs: Vec<IpAddr> = addrs.iter().copied().map(IpAddr::V6).collect();
        self.answer_addrs(&addrs, limit)
    }

    /// A records for IPv4 addresses, AAAA for IPv6 ones (the caller gives one family).
    fn answer_addrs(&self, addrs: &[IpAddr], limit: usize) -> Vec<u8> {
        // Each record: a pointer to the question's name, type, class, TTL, length, address.
        const HEAD: usize = 2 + 2 + 2 + 4 + 2;
        let size = |a: &IpAddr| HEAD + if a.is_ipv4() { 4 } else { 16 };
        let base = HEADER_LEN + self.wire_name.len() + 4;
        let mut room = limit.saturating_sub(base);
        let mut n = 0;
        for a in addrs.iter().take(u16::MAX as usize) {
            if size(a) > room {
                break;
            }
            room -= size(a);
            n += 1;
        }
        let tc = if n < addrs.len() { TC } else { 0 };
        let mut out = self.with_question(self.flags(Rcode::NoError, AA | tc), n as u16);
        for a in &addrs[..n] {
            match a {
                IpAddr::V4(v4) => {
                    self.record_head(&mut out, TYPE_A, 4);
                    out.extend_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    self.record_head(&mut out, TYPE_AAAA, 16);
                    out.extend_from_slice(&v6.octets());
                }
            }
        }
        out
    }

    /// One PTR record naming `target` ("name.network"); None when `target` is not a name.
    pub fn answer_ptr(&self, target: &str) -> Option<Vec<u8>> {
        let wire = encode_name(target)?;
        let mut out = self.with_question(self.flags(Rcode::NoError, AA), 1);
        self.record_head(&mut out, TYPE_PTR, wire.len() as u16);
        out.extend_from_slice(&wire);
        Some(out)
    }

    fn record_head(&self, out: &mut Vec<u8>, rtype: u16, rdlen: u16) {
        // 0xC00C: the name at offset 12, the question's.
        out.extend_from_slice(&0xC00Cu16.to_be_bytes());
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&rdlen.to_be_bytes());
    }

    /// The question as it is on the wire (to check that a forwarded answer is the answer to it).
    pub fn question_bytes(&self) -> Vec<u8> {
        let mut q = self.wire_name.clone();
        q.extend_from_slice(&self.qtype.to_be_bytes());
        q.extend_from_slice(&self.qclass.to_be_bytes());
        q
    }

    pub fn is_in(&self) -> bool {
        self.qclass == CLASS_IN
    }
}

/// A header-only answer for a query whose question could not be read.
pub fn header_only(msg: &[u8], rcode: Rcode) -> Option<Vec<u8>> {
    if msg.len() < HEADER_LEN {
        return None;
    }
    let id = id_of(msg)?;
    let rd = u16_at(msg, 2)? & RD;
    Some(header(id, QR | RA | rd | rcode as u16, 0, 0).to_vec())
}

/// A dotted name as wire labels; None for an empty label or a name too long.
fn encode_name(name: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    (out.len() <= MAX_NAME).then_some(out)
}

/// Whether `answer` answers `query_id` and `question` (a forwarded query): a response with the
/// id and one question, the same (names compared without case).
pub fn answers(answer: &[u8], query_id: u16, question: &[u8]) -> bool {
    if answer.len() < HEADER_LEN || id_of(answer) != Some(query_id) {
        return false;
    }
    let flags = u16_at(answer, 2).unwrap_or(0);
    if flags & QR == 0 || u16_at(answer, 4) != Some(1) {
        return false;
    }
    answer
        .get(HEADER_LEN..HEADER_LEN + question.len())
        .is_some_and(|q| q.eq_ignore_ascii_case(question))
}

/// Whether a response has TC set.
pub fn is_truncated(msg: &[u8]) -> bool {
    u16_at(msg, 2).is_some_and(|f| f & TC != 0)
}

/// Copy of `msg` with its id replaced.
pub fn with_id(msg: &[u8], id: u16) -> Vec<u8> {
    let mut out = msg.to_vec();
    if out.len() >= 2 {
        out[0..2].copy_from_slice(&id.to_be_bytes());
    }
    out
}

/// The address a reverse name ("4.3.2.10.in-addr.arpa") stands for.
pub fn reverse_v4(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let mut o = [0u8; 4];
    let mut parts = rest.split('.');
    for i in (0..4).rev() {
        o[i] = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(o))
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
