//! Rust mirrors of monitor/bpf/monitor.h. The header is the one definition: build.rs runs a
//! probe compiled against it and writes its constants, sizes and offsets to `layout.rs`; the
//! tests below check every mirror against them.
#![allow(unsafe_code)]

#[allow(non_upper_case_globals, dead_code)]
pub(crate) mod layout {
    include!(concat!(env!("OUT_DIR"), "/layout.rs"));
}

pub const ABI: usize = layout::BERTH_MONITOR_ABI;
pub const COMM_LEN: usize = layout::BERTH_COMM_LEN;
pub const FILENAME_LEN: usize = layout::BERTH_FILENAME_LEN;
pub const ARGS_LEN: usize = layout::BERTH_ARGS_LEN;
pub const CONTAINER_ID_LEN: usize = layout::BERTH_CONTAINER_ID_LEN;
pub const RINGBUF_BYTES: usize = layout::BERTH_RINGBUF_BYTES;
pub const MAX_RINGS: usize = layout::BERTH_MAX_RINGS;
pub const EVENT_EXEC: u32 = layout::BERTH_EVENT_EXEC as u32;
pub const EVENT_FORK: u32 = layout::BERTH_EVENT_FORK as u32;
pub const EVENT_EXIT: u32 = layout::BERTH_EVENT_EXIT as u32;
pub const EVENT_SYSCALL: u32 = layout::BERTH_EVENT_SYSCALL as u32;
pub const EVENT_KILLED: u32 = layout::BERTH_EVENT_KILLED as u32;
pub const EVENT_REFUSED: u32 = layout::BERTH_EVENT_REFUSED as u32;
pub const WANT_EXEC: u32 = layout::BERTH_WANT_EXEC as u32;
pub const WANT_FORK: u32 = layout::BERTH_WANT_FORK as u32;
pub const WANT_SECURITY: u32 = layout::BERTH_WANT_SECURITY as u32;
pub const WANT_NET: u32 = layout::BERTH_WANT_NET as u32;
pub const PATH_KEY_LEN: usize = layout::BERTH_PATH_KEY_LEN;
pub const DEV_RULES_MAX: usize = layout::BERTH_DEV_RULES_MAX;
pub const DEV_ANY: u32 = layout::BERTH_DEV_ANY as u32;
pub const DEV_BLOCK: u32 = layout::BERTH_DEV_BLOCK as u32;
pub const DEV_CHAR: u32 = layout::BERTH_DEV_CHAR as u32;
pub const ACC_MKNOD: u32 = layout::BERTH_ACC_MKNOD as u32;
pub const ACC_READ: u32 = layout::BERTH_ACC_READ as u32;
pub const ACC_WRITE: u32 = layout::BERTH_ACC_WRITE as u32;

/// `struct berth_watch`: the value of the watched map, keyed by cgroup id.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    pub dropped: u64,
    /// `WANT_*` bits: the events the container asked for.
    pub events: u32,
    /// Set by the cgroup's first exec: events before it are the runtime's set-up.
    pub started: u32,
    pub container_id: [u8; CONTAINER_ID_LEN],
}

/// `struct berth_count_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountKey {
    pub cgroup_id: u64,
    pub nr: u32,
    pub pad: u32,
}

/// `struct berth_count`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Count {
    pub calls: u64,
    pub errors: u64,
}

/// `struct berth_event`: one record of a container's ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawEvent {
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    pub nr: u32,
    pub cgroup_id: u64,
    pub time_ns: u64,
    pub ret: i64,
    pub arg: [u64; 6],
    pub argc: u32,
    pub args_len: u32,
    pub comm: [u8; COMM_LEN],
    pub filename: [u8; FILENAME_LEN],
    pub args: [u8; ARGS_LEN],
}

/// `struct berth_net`: the value of the netstat map, keyed by cgroup id.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Net {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

/// `struct berth_connect_key` (packed) after its prefixlen, which aya's `lpm_trie::Key` puts
/// in front: the data of a key of the deny_connect LPM trie.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectKey {
    pub cgroup_id: u64,
    /// Network order; 0 for any port.
    pub port: u16,
    pub addr: [u8; 16],
    pub pad: [u8; 6],
}

/// `struct berth_dev_rule` (devices.h): one allow rule of the device filter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevRule {
    /// `DEV_BLOCK` or `DEV_CHAR`.
    pub kind: u32,
    /// A number, or `DEV_ANY`.
    pub major: u32,
    pub minor: u32,
    /// `ACC_*` bits.
    pub access: u32,
}

/// `struct berth_path_key`: a sensitive path, NUL-padded.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PathKey {
    pub path: [u8; PATH_KEY_LEN],
}

// SAFETY: each is #[repr(C)], made only of integers and byte arrays (every bit pattern is a
// valid value) and, as the layout tests check against the C compiler, has no padding bytes the
// kernel would not also write: aya may copy them to and from the kernel as plain bytes.
unsafe impl aya::Pod for Watch {}
// SAFETY: as for Watch.
unsafe impl aya::Pod for CountKey {}
// SAFETY: as for Watch.
unsafe impl aya::Pod for Count {}
// SAFETY: as for Watch.
unsafe impl aya::Pod for PathKey {}
// SAFETY: as for Watch.
unsafe impl aya::Pod for Net {}
// SAFETY: as for Watch.
unsafe impl aya::Pod for DevRule {}
// SAFETY: as for Watch (packed, as in C: there is no padding at all).
unsafe impl aya::Pod for ConnectKey {}

impl RawEvent {
    /// Decodes one ring-buffer record; None when it is too short or of an unknown kind.
    pub fn from_bytes(b: &[u8]) -> Option<RawEvent> {
        if b.len() < size_of::<RawEvent>() {
            return None;
        }
        // SAFETY: `b` holds at least size_of::<RawEvent>() bytes (checked above), the read is
        // unaligned-safe, and RawEvent is made only of integers and byte arrays, for which
        // every bit pattern is a valid value.
        let e = unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<RawEvent>()) };
        matches!(
            e.kind,
            EVENT_EXEC | EVENT_FORK | EVENT_EXIT | EVENT_SYSCALL | EVENT_KILLED | EVENT_REFUSED
        )
        .then_some(e)
    }

    /// The bytes of `args` in use.
    pub fn args_bytes(&self) -> &[u8] {
        &self.args[..(self.args_len as usize).min(ARGS_LEN)]
    }
}

impl RawEvent {
    /// argv: the NUL-terminated strings in `args` (at most `argc`), the last one possibly cut.
    pub fn argv(&self) -> Vec<String> {
        let bytes = self.args_bytes();
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        if bytes.is_empty() {
            return Vec::new();
        }
        bytes
            .split(|&c| c == 0)
            .take(self.argc as usize)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }
}

/// The text of a NUL-terminated C string field.
pub fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn mirrors_match_the_c_layouts() {
        assert_eq!(
            size_of::<Watch>(),
            layout::SIZEOF_berth_watch,
            "struct berth_watch"
        );
        assert_eq!(
            offset_of!(Watch, container_id),
            layout::OFFSETOF_berth_watch_container_id
        );
        assert_eq!(size_of::<CountKey>(), layout::SIZEOF_berth_count_key);
        assert_eq!(
            offset_of!(CountKey, nr),
            layout::OFFSETOF_berth_count_key_nr
        );
        assert_eq!(size_of::<Count>(), layout::SIZEOF_berth_count);
        assert_eq!(
            offset_of!(Count, errors),
            layout::OFFSETOF_berth_count_errors
        );
        assert_eq!(size_of::<RawEvent>(), layout::SIZEOF_berth_event);
        assert_eq!(size_of::<PathKey>(), layout::SIZEOF_berth_path_key);
        assert_eq!(size_of::<Net>(), layout::SIZEOF_berth_net);
        assert_eq!(size_of::<DevRule>(), layout::SIZEOF_berth_dev_rule);
        assert_eq!(
            offset_of!(DevRule, major),
            layout::OFFSETOF_berth_dev_rule_major
        );
        assert_eq!(
            offset_of!(DevRule, minor),
            layout::OFFSETOF_berth_dev_rule_minor
        );
        assert_eq!(
            offset_of!(DevRule, access),
            layout::OFFSETOF_berth_dev_rule_access
        );
        // The C key starts with the 4-byte prefixlen.
        assert_eq!(
            4 + size_of::<ConnectKey>(),
            layout::SIZEOF_berth_connect_key
        );
        assert_eq!(
            4 + offset_of!(ConnectKey, cgroup_id),
            layout::OFFSETOF_berth_connect_key_cgroup_id
        );
        assert_eq!(
            4 + offset_of!(ConnectKey, port),
            layout::OFFSETOF_berth_connect_key_port
        );
        assert_eq!(
            4 + offset_of!(ConnectKey, addr),
            layout::OFFSETOF_berth_connect_key_addr
        );
        assert_eq!(
            offset_of!(Net, tx_packets),
            layout::OFFSETOF_berth_net_tx_packets
        );
        assert_eq!(
            offset_of!(Watch, events),
            layout::OFFSETOF_berth_watch_events
        );
        for (ours, theirs, field) in [
            (
                offset_of!(RawEvent, pid),
                layout::OFFSETOF_berth_event_pid,
                "pid",
            ),
            (
                offset_of!(RawEvent, tid),
                layout::OFFSETOF_berth_event_tid,
                "tid",
            ),
            (
                offset_of!(RawEvent, nr),
                layout::OFFSETOF_berth_event_nr,
                "nr",
            ),
            (
                offset_of!(RawEvent, cgroup_id),
                layout::OFFSETOF_berth_event_cgroup_id,
                "cgroup_id",
            ),
            (
                offset_of!(RawEvent, time_ns),
                layout::OFFSETOF_berth_event_time_ns,
                "time_ns",
            ),
            (
                offset_of!(RawEvent, ret),
                layout::OFFSETOF_berth_event_ret,
                "ret",
            ),
            (
                offset_of!(RawEvent, arg),
                layout::OFFSETOF_berth_event_arg,
                "arg",
            ),
            (
                offset_of!(RawEvent, argc),
                layout::OFFSETOF_berth_event_argc,
                "argc",
            ),
            (
                offset_of!(RawEvent, args_len),
                layout::OFFSETOF_berth_event_args_len,
                "args_len",
            ),
            (
                offset_of!(RawEvent, comm),
                layout::OFFSETOF_berth_event_comm,
                "comm",
            ),
            (
                offset_of!(RawEvent, filename),
                layout::OFFSETOF_berth_event_filename,
                "filename",
            ),
            (
                offset_of!(RawEvent, args),
                layout::OFFSETOF_berth_event_args,
                "args",
            ),
        ] {
            assert_eq!(ours, theirs, "offset of berth_event.{field}");
        }
    }

    #[test]
    fn exec_events_decode() {
        let mut b = vec![0u8; size_of::<RawEvent>()];
        b[0..4].copy_from_slice(&EVENT_EXEC.to_ne_bytes());
        b[4..8].copy_from_slice(&42u32.to_ne_bytes());
        b[16..24].copy_from_slice(&7u64.to_ne_bytes());
        b[layout::OFFSETOF_berth_event_comm..][..3].copy_from_slice(b"cat");
        b[layout::OFFSETOF_berth_event_filename..][..8].copy_from_slice(b"/bin/cat");
        let e = RawEvent::from_bytes(&b).expect("an exec event");
        assert_eq!((e.pid, e.cgroup_id), (42, 7));
        assert_eq!(c_str(&e.comm), "cat");
        assert_eq!(c_str(&e.filename), "/bin/cat");
        assert_eq!(e.argv(), Vec::<String>::new());
        let mut with_args = e;
        with_args.args[..12].copy_from_slice(b"cat\0/dev/nul");
        with_args.args_len = 12;
        with_args.argc = 2;
        assert_eq!(with_args.argv(), ["cat", "/dev/nul"], "a cut last argument");
        with_args.args[12] = b'l';
        with_args.args[13] = 0;
        with_args.args[14..20].copy_from_slice(b"PATH=\0");
        with_args.args_len = 20;
        assert_eq!(
            with_args.argv(),
            ["cat", "/dev/null"],
            "more strings than argc"
        );
        assert!(
            RawEvent::from_bytes(&b[..10]).is_none(),
            "short record accepted"
        );
        b[0..4].copy_from_slice(&99u32.to_ne_bytes());
        assert!(RawEvent::from_bytes(&b).is_none(), "unknown kind accepted");
    }
}
