//! One line of `GET /containers/json`, encoded ahead of time. The parts of a [`ListEntry`] that
//! do not change while the container lives (its id, names, image, command, labels, networks,
//! mounts) are encoded once, when the listing's cache takes the row in; a listing then copies
//! them and encodes only what it computes at each call (Ports, sizes, State, Status). For 1,000
//! containers this replaces cloning and re-encoding every entry (maps of network endpoints
//! included) by a few hundred KiB of copies into one buffer sized in advance.
//!
//! The bytes are exactly serde's encoding of the whole [`ListEntry`], in its field order: the
//! tests below compare the two.

use super::summary::{ListEntry, Port};
use serde::Serialize;

/// The fixed parts of one entry's JSON object, in dockerd's field order around the parts a
/// listing fills in: `head` (`{"Id":...,"Created":N,`), then the listing's Ports and sizes,
/// `labels` (`"Labels":{...},`), the listing's State and Status, then `tail`
/// (`"HostConfig":...,"Mounts":[...]}`).
#[derive(Debug, Clone, Default)]
pub struct RowJson {
    /// `{"Id":"...",`
    id: Box<[u8]>,
    /// `"Names":[...],`: the record's name (a listing may add link names, [`LiveParts::names`]).
    names: Box<[u8]>,
    head: Box<[u8]>,
    labels: Box<[u8]>,
    tail: Box<[u8]>,
}

/// What a listing computes for an entry at each call.
#[derive(Debug, Clone, Default)]
pub struct LiveParts {
    /// All the names when legacy links add some to the record's one; None: the record's.
    pub names: Option<Vec<String>>,
    pub ports: Vec<Port>,
    pub size_rw: Option<u64>,
    pub size_root_fs: Option<u64>,
    pub state: &'static str,
    pub status: String,
}

/// Longest the live parts usually take, ports aside: a guess that sizes the output buffer.
const LIVE_GUESS: usize = 96;

fn field<T: Serialize + ?Sized>(out: &mut Vec<u8>, name: &str, value: &T) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    // Writing into a Vec cannot fail, and these types always encode.
    let _ = serde_json::to_writer(&mut *out, value);
    out.push(b',');
}

impl RowJson {
    /// Encode the fixed parts of `e` (its Ports, sizes, State and Status are ignored).
    pub fn new(e: &ListEntry) -> RowJson {
        let mut id = Vec::with_capacity(80);
        id.push(b'{');
        field(&mut id, "Id", &e.id);
        let mut names = Vec::with_capacity(32);
        field(&mut names, "Names", &e.names);
        let mut head = Vec::with_capacity(256);
        field(&mut head, "Image", &e.image);
        field(&mut head, "ImageID", &e.image_id);
        field(&mut head, "Command", &e.command);
        field(&mut head, "Created", &e.created);
        let mut labels = Vec::with_capacity(16);
        field(&mut labels, "Labels", &e.labels);
        let mut tail = Vec::with_capacity(512);
        field(&mut tail, "HostConfig", &e.host_config);
        field(&mut tail, "NetworkSettings", &e.network_settings);
        field(&mut tail, "Mounts", &e.mounts);
        // The last field ends the object instead.
        if let Some(last) = tail.last_mut() {
            *last = b'}';
        }
        RowJson {
            id: id.into(),
            names: names.into(),
            head: head.into(),
            labels: labels.into(),
            tail: tail.into(),
        }
    }

    /// About how many bytes [`RowJson::write`] adds (exact but for the live parts).
    pub fn size_hint(&self) -> usize {
        self.id.len()
            + self.names.len()
            + self.head.len()
            + self.labels.len()
            + self.tail.len()
            + LIVE_GUESS
    }

    /// Append the whole entry, `live` filled in, to `out`.
    pub fn write(&self, live: &LiveParts, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id);
        match &live.names {
            Some(names) => field(out, "Names", names),
            None => out.extend_from_slice(&self.names),
        }
        out.extend_from_slice(&self.head);
        field(out, "Ports", &live.ports);
        if let Some(n) = live.size_rw {
            field(out, "SizeRw", &n);
        }
        if let Some(n) = live.size_root_fs {
            field(out, "SizeRootFs", &n);
        }
        out.extend_from_slice(&self.labels);
        if !live.state.is_empty() {
            field(out, "State", live.state);
        }
        if !live.status.is_empty() {
            field(out, "Status", &live.status);
        }
        out.extend_from_slice(&self.tail);
    }
}

impl LiveParts {
    /// `e` with these parts filled in.
    pub fn fill(self, mut e: ListEntry) -> ListEntry {
        if let Some(names) = self.names {
            e.names = names;
        }
        e.ports = self.ports;
        e.size_rw = self.size_rw;
        e.size_root_fs = self.size_root_fs;
        e.state = self.state.to_string();
        e.status = self.status;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::containers::mounts::MountPoint;

    fn entry() -> ListEntry {
        let mut e = ListEntry {
            id: "ab".repeat(32),
            names: vec!["/we\"b\\ \u{1}é".into()],
            image: "busybox:latest".into(),
            image_id: "sha256:00".into(),
            command: "sh -c 'echo \"hi\"\n'".into(),
            created: 1_795_943_055,
            ..ListEntry::default()
        };
        e.labels.insert("HostConfig".into(), "\"x\",".into());
        e.labels.insert("a".into(), String::new());
        e.host_config.network_mode = "bridge".into();
        e.network_settings.networks.insert(
            "bridge".into(),
            serde_json::json!({"IPAMConfig": null, "NetworkID": "n1", "IPPrefixLen": 16}),
        );
        e.mounts.push(MountPoint {
            kind: "volume".into(),
            name: "data".into(),
            destination: "/data".into(),
            rw: true,
            ..MountPoint::default()
        });
        e
    }

    fn live() -> LiveParts {
        LiveParts {
            ports: vec![Port {
                ip: "0.0.0.0".into(),
                private_port: 80,
                public_port: Some(32768),
                kind: "tcp".into(),
            }],
            size_rw: Some(12),
            size_root_fs: Some(0),
            state: "running",
            status: "Up 5 seconds (healthy)".into(),
            names: None,
        }
    }

    /// The bytes must be serde's own encoding of the entry, byte for byte.
    fn assert_same(e: &ListEntry, live: LiveParts) {
        let mut out = Vec::new();
        RowJson::new(e).write(&live, &mut out);
        let want = serde_json::to_vec(&live.fill(e.clone())).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want),
            "pre-encoded row differs from serde's encoding of the entry"
        );
    }

    #[test]
    fn a_row_is_serdes_encoding_of_the_entry() {
        assert_same(&entry(), live());
    }

    #[test]
    fn empty_and_missing_parts_as_serde_leaves_them() {
        assert_same(&ListEntry::default(), LiveParts::default());
        let created = LiveParts {
            state: "created",
            status: "Created".into(),
            ..LiveParts::default()
        };
        assert_same(&entry(), created);
        let only_rw = LiveParts {
            size_rw: Some(0),
            ..live()
        };
        assert_same(&entry(), only_rw);
        let linked = LiveParts {
            names: Some(vec!["/db".into(), "/web/data\"base".into()]),
            ..live()
        };
        assert_same(&entry(), linked);
    }

    #[test]
    fn the_size_hint_covers_a_usual_row() {
        let row = RowJson::new(&entry());
        let mut out = Vec::new();
        let created = LiveParts {
            state: "exited",
            status: "Exited (137) 3 weeks ago".into(),
            ..LiveParts::default()
        };
        row.write(&created, &mut out);
        assert!(
            out.len() <= row.size_hint(),
            "{} bytes written, hint {}",
            out.len(),
            row.size_hint()
        );
    }
}
