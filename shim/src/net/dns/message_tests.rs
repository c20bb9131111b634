use super::*;

/// `dig example.com` as dig 9.18 sends it: RD and AD set, an EDNS OPT record (4096 bytes) with
/// a cookie.
const DIG_EXAMPLE_COM: &[u8] = &[
    0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // header
    0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00, // name
    0x00, 0x01, 0x00, 0x01, // A IN
    0x00, 0x00, 0x29, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, // OPT, 4096
    0x00, 0x0a, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, // cookie
];

/// busybox nslookup's AAAA query for "Peer" (no EDNS).
const BUSYBOX_AAAA_PEER: &[u8] = &[
    0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, b'P', b'e', b'e',
    b'r', 0x00, 0x00, 0x1c, 0x00, 0x01,
];

fn query_for(name_wire: &[u8]) -> Vec<u8> {
    let mut q = vec![0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(name_wire);
    q.extend_from_slice(&[0, 1, 0, 1]);
    q
}

#[test]
fn real_queries_are_read() {
    let q = parse_query(DIG_EXAMPLE_COM).expect("dig's query");
    assert_eq!(
        (q.id, q.name.as_str(), q.qtype, q.udp_limit, q.is_in()),
        (0x1234, "example.com", TYPE_A, 4096, true)
    );
    let q = parse_query(BUSYBOX_AAAA_PEER).expect("busybox's query");
    assert_eq!(
        (q.name.as_str(), q.qtype, q.udp_limit),
        ("peer", TYPE_AAAA, 512),
        "expected the name lower-cased and no EDNS"
    );
}

#[test]
fn an_a_answer_echoes_the_question_and_points_at_its_name() {
    let q = parse_query(BUSYBOX_AAAA_PEER).unwrap();
    let a = q.answer_a(&[Ipv4Addr::new(10, 1, 0, 3)], CLASSIC_UDP);
    let want: &[u8] = &[
        0xab, 0xcd, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // QR AA RD RA
        0x04, b'P', b'e', b'e', b'r', 0x00, 0x00, 0x1c, 0x00, 0x01, // question as sent
        0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x04, 10, 1, 0, 3,
    ];
    assert_eq!(a, want);
    assert!(answers(&a, 0xabcd, &q.question_bytes()));
    assert!(!answers(&a, 0xabce, &q.question_bytes()), "another id");
    assert!(
        !answers(BUSYBOX_AAAA_PEER, 0xabcd, &q.question_bytes()),
        "a query"
    );
}

#[test]
fn an_aaaa_answer_carries_sixteen_bytes_per_address() {
    let q = parse_query(BUSYBOX_AAAA_PEER).unwrap();
    let a = q.answer_aaaa(&["fd00:1::3".parse().unwrap()], CLASSIC_UDP);
    let mut want: Vec<u8> = vec![
        0xab, 0xcd, 0x85, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // QR AA RD RA
        0x04, b'P', b'e', b'e', b'r', 0x00, 0x00, 0x1c, 0x00, 0x01, // question as sent
        0xc0, 0x0c, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x02, 0x58, 0x00, 0x10,
    ];
    want.extend_from_slice(&[0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
    assert_eq!(a, want, "expected one AAAA record for fd00:1::3");
    let many: Vec<std::net::Ipv6Addr> = (0..100u128).map(std::net::Ipv6Addr::from).collect();
    let a = q.answer_aaaa(&many, CLASSIC_UDP);
    let n = u16::from_be_bytes([a[6], a[7]]) as usize;
    assert!(
        is_truncated(&a) && a.len() == 22 + n * 28 && a.len() <= CLASSIC_UDP,
        "expected whole AAAA records within 512 bytes and TC, got {} bytes for {n}",
        a.len()
    );
}

#[test]
fn answers_never_grow_past_the_clients_limit() {
    let q = parse_query(BUSYBOX_AAAA_PEER).unwrap();
    let many: Vec<Ipv4Addr> = (0..1000u32).map(Ipv4Addr::from).collect();
    let a = q.answer_a(&many, CLASSIC_UDP);
    assert!(a.len() <= CLASSIC_UDP, "{} bytes over UDP", a.len());
    assert!(is_truncated(&a), "expected TC when records were left out");
    let n = u16::from_be_bytes([a[6], a[7]]) as usize;
    assert_eq!(a.len(), 22 + n * 16, "expected {n} whole records");
    let t = q.truncated();
    assert!(is_truncated(&t) && t.len() == 22, "{t:?}");
}

#[test]
fn hostile_names_are_refused_without_looping() {
    let formerr = Err(ParseError::Malformed(Rcode::FormErr));
    // A pointer to itself, a pointer forwards, a pointer into the header, a chain that
    // outruns its budget.
    assert_eq!(parse_query(&query_for(&[0xc0, 12])), formerr);
    assert_eq!(parse_query(&query_for(&[0xc0, 40])), formerr);
    // A chain of backward pointers: followed up to its budget, refused past it.
    let mut chain = vec![0u8; 12];
    chain.push(0);
    for i in 0..40u16 {
        let previous = if i == 0 { 12 } else { 13 + 2 * (i - 1) };
        chain.extend_from_slice(&(0xC000 | previous).to_be_bytes());
    }
    assert!(read_name(&chain, 13 + 2 * 15).is_some(), "16 jumps");
    assert_eq!(read_name(&chain, 13 + 2 * 16), None, "17 jumps");
    assert_eq!(read_name(&chain, chain.len() - 2), None, "40 jumps");
    // A label running off the end; the reserved label kinds; a name over 255 bytes.
    assert_eq!(parse_query(&query_for(&[60, b'a'])), formerr);
    assert_eq!(parse_query(&query_for(&[0x40, 0])), formerr);
    let long: Vec<u8> = (0..5)
        .flat_map(|_| std::iter::once(63).chain([b'x'; 63]))
        .chain([0])
        .collect();
    assert_eq!(parse_query(&query_for(&long)), formerr);
    // No question, two questions, a response, another opcode, a header cut short.
    let mut none = query_for(&[0]);
    none[5] = 0;
    assert_eq!(parse_query(&none), formerr);
    none[5] = 2;
    assert_eq!(parse_query(&none), formerr);
    let mut resp = query_for(&[0]);
    resp[2] |= 0x80;
    assert_eq!(parse_query(&resp), formerr);
    let mut notify = query_for(&[0]);
    notify[2] = 4 << 3;
    assert_eq!(
        parse_query(&notify),
        Err(ParseError::Malformed(Rcode::NotImp))
    );
    assert_eq!(parse_query(&[0; 11]), Err(ParseError::Short));
    assert_eq!(parse_query(&query_for(&[0])[..14]), formerr);
    // A pointer forwards after a label; dots inside labels never match our names.
    assert_eq!(parse_query(&query_for(&[1, b'a', 0xc0, 17])), formerr);
    let dotted = parse_query(&query_for(&[3, b'a', b'.', b'b', 0])).unwrap();
    assert_eq!(dotted.name, "a\\046b");
}

#[test]
fn any_bytes_parse_or_fail_without_panic() {
    // Every prefix and every one-byte change of real queries.
    for base in [DIG_EXAMPLE_COM, BUSYBOX_AAAA_PEER] {
        for n in 0..base.len() {
            let _ = parse_query(&base[..n]);
        }
        for i in 0..base.len() {
            for v in [0u8, 1, 0x3f, 0x40, 0xc0, 0xff] {
                let mut m = base.to_vec();
                m[i] = v;
                if let Ok(q) = parse_query(&m) {
                    assert!(q.answer_a(&[Ipv4Addr::LOCALHOST], CLASSIC_UDP).len() <= 512);
                }
            }
        }
    }
}

#[test]
fn a_compressed_question_name_is_read_through_its_pointer() {
    // Offset 12: "a" then a pointer back to 12 would loop; a pointer back into a name
    // written earlier is what compression is. Two names: the question's first label points
    // back to a label put in the header's place is impossible, so test the chase directly.
    let msg = [
        0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, b'c', b'o', b'm', 0, 3, b'w', b'w', b'w', 0xc0, 12,
    ];
    let (wire, text, end) = read_name(&msg, 17).expect("a name with a pointer");
    assert_eq!((text.as_str(), end), ("www.com", 23));
    assert_eq!(wire, [3, b'w', b'w', b'w', 3, b'c', b'o', b'm', 0]);
}

#[test]
fn reverse_names_and_ptr_answers() {
    assert_eq!(
        reverse_v4("3.0.1.10.in-addr.arpa"),
        Some(Ipv4Addr::new(10, 1, 0, 3))
    );
    assert_eq!(reverse_v4("0.1.10.in-addr.arpa"), None);
    assert_eq!(reverse_v4("1.3.0.1.10.in-addr.arpa"), None);
    let q = parse_query(&query_for(&[1, b'3', 1, b'0', 0])).unwrap();
    let a = q.answer_ptr("web.front").expect("a name");
    assert!(a.ends_with(&[
        0, 12, 0, 1, 0, 0, 2, 88, 0, 11, 3, b'w', b'e', b'b', 5, b'f', b'r', b'o', b'n', b't', 0
    ]));
    assert_eq!(q.answer_ptr("a..b"), None);
}

#[test]
fn errors_and_forwarded_answers() {
    let h = header_only(&[9, 9, 1, 0, 0, 0], Rcode::FormErr);
    assert_eq!(h, None, "no header, no answer");
    let h = header_only(&query_for(&[0xc0, 12]), Rcode::FormErr).unwrap();
    assert_eq!(h, [0, 7, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]);
    let q = parse_query(DIG_EXAMPLE_COM).unwrap();
    let e = q.empty(Rcode::ServFail);
    assert_eq!(e[3] & 0x0f, 2, "SERVFAIL");
    let renumbered = with_id(&e, 0x4242);
    assert!(answers(&renumbered, 0x4242, &q.question_bytes()));
    let mut upper = renumbered.clone();
    upper[13] = b'E';
    assert!(answers(&upper, 0x4242, &q.question_bytes()), "case differs");
    upper[14] = b'z';
    assert!(
        !answers(&upper, 0x4242, &q.question_bytes()),
        "another name"
    );
}
