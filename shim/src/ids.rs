//! Random ids, from the kernel's random source (getrandom(2)): container, exec, network and
//! endpoint ids, and the random part of generated names.
//!
//! A failure of the random source panics: it cannot happen on a kernel berth runs on (getrandom
//! blocks until the pool is ready and then never fails), and an id made of zeros instead would
//! collide silently with the next one.

/// `N` random bytes.
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if let Err(e) = getrandom::fill(&mut b) {
        panic!("the kernel's random source failed: {e}");
    }
    b
}

/// 64 random hex digits (dockerd's id format).
pub fn random_id() -> String {
    random_bytes::<32>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A random number (to pick generated names).
pub fn random_u64() -> u64 {
    u64::from_ne_bytes(random_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_digits_and_differ() {
        let (a, b) = (random_id(), random_id());
        assert!(
            a.len() == 64
                && a.bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "expected 64 lowercase hex digits, got {a:?}"
        );
        assert_ne!(a, b, "expected two ids to differ");
        assert_ne!(a, "0".repeat(64), "expected an id that is not all zeros");
        assert_ne!(random_u64(), random_u64(), "expected two numbers to differ");
    }
}
