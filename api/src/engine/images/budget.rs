//! How much disk one `docker load` or `docker import`, or one pulled blob whose manifest gives no
//! size, may fill: the smaller of `BERTH_LOAD_MAX_BYTES` (64 GiB by default) and nine tenths of
//! the free space of the image store's file system when it starts. A load counts every byte it
//! spools (the archive after decompression) and every byte of tar its layers expand to; an
//! import, the tar after decompression and the bytes as received; past the budget it stops,
//! with a message that names the limit, and its temporary directory goes with it.

use crate::engine::EngineError;
use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

/// The variable that sets the absolute cap, in bytes.
pub const MAX_BYTES_ENV: &str = "BERTH_LOAD_MAX_BYTES";
/// The absolute cap when the variable is not set (the default bound on one layer).
pub const DEFAULT_MAX_BYTES: u64 = 64 << 30;

/// A number of bytes that may still be written, and which limit set it.
#[derive(Debug, Clone)]
pub struct Budget {
    max: u64,
    left: u64,
    limit: String,
}

impl Budget {
    /// The budget for one operation writing under `dir` (the store's temporary directory), with
    /// the cap the settings give (`BERTH_LOAD_MAX_BYTES` as the process read it).
    pub fn for_dir(dir: &Path, cap: Option<&str>) -> Result<Budget, EngineError> {
        let (cap, cap_name) = match cap {
            Some(v) => (
                v.trim().parse::<u64>().map_err(|_| {
                    EngineError::system_message(format!(
                        "{MAX_BYTES_ENV}={v:?} is not a number of bytes"
                    ))
                })?,
                MAX_BYTES_ENV.to_string(),
            ),
            None => (DEFAULT_MAX_BYTES, "berth's cap".to_string()),
        };
        let fs = nix::sys::statvfs::statvfs(dir)
            .map_err(|e| EngineError::system(dir.display(), io::Error::from(e)))?;
        let free = fs.blocks_available().saturating_mul(fs.fragment_size()) / 10 * 9;
        let (max, limit) = if free < cap {
            (free, format!("9/10 of the free space on {}", dir.display()))
        } else {
            (cap, cap_name)
        };
        Ok(Budget {
            max,
            left: max,
            limit,
        })
    }

    /// Bytes that may still be written.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Count `n` bytes written; the refusal once they pass the budget.
    pub fn take(&mut self, n: u64, what: &str) -> Result<(), EngineError> {
        match self.left.checked_sub(n) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(self.refusal(what)),
        }
    }

    /// The refusal of `what` (e.g. "the image archive"), naming the limit.
    pub fn refusal(&self, what: &str) -> EngineError {
        EngineError::invalid_parameter(format!(
            "{what} expands beyond the limit of {} bytes ({}): refused",
            self.max, self.limit
        ))
    }

    /// `r`, failing once more than [`Budget::left`] bytes have been read from it; the flag tells
    /// that failure from the reader's own.
    pub fn reader<R: Read>(&self, r: R) -> (Bounded<R>, Rc<Cell<bool>>) {
        let over = Rc::new(Cell::new(false));
        (
            Bounded {
                inner: r,
                left: self.left,
                read: 0,
                over: over.clone(),
            },
            over,
        )
    }
}

/// A reader bounded by a budget ([`Budget::reader`]).
pub struct Bounded<R> {
    inner: R,
    left: u64,
    read: u64,
    over: Rc<Cell<bool>>,
}

impl<R> Bounded<R> {
    /// Bytes read so far.
    pub fn read_bytes(&self) -> u64 {
        self.read
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.left {
            self.over.set(true);
            return Err(io::Error::other("over the load budget"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_stops_past_the_budget_and_says_so() {
        let b = Budget {
            max: 10,
            left: 10,
            limit: MAX_BYTES_ENV.into(),
        };
        let (mut r, over) = b.reader(&[7u8; 11][..]);
        let mut out = Vec::new();
        assert!(
            r.read_to_end(&mut out).is_err(),
            "11 bytes through a budget of 10 passed"
        );
        assert!(over.get(), "the refusal was not flagged as the budget's");
        let (mut r, over) = b.reader(&[7u8; 10][..]);
        r.read_to_end(&mut out)
            .expect("10 bytes through a budget of 10");
        assert!(!over.get());
        let msg = b.refusal("the image archive").to_string();
        assert!(
            msg.contains("10 bytes") && msg.contains(MAX_BYTES_ENV),
            "expected the limit named, got {msg:?}"
        );
    }

    #[test]
    fn take_counts_down_and_refuses_past_zero() {
        let mut b = Budget {
            max: 10,
            left: 10,
            limit: "x".into(),
        };
        b.take(6, "a").unwrap();
        assert_eq!(b.left(), 4);
        assert!(b.take(5, "a").is_err(), "5 more bytes with 4 left passed");
    }
}
