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
pub const EVENT_EXEC: u32 = layout::BERTH_EVENT_EXEC as u32;

/// `struct berth_watch`: the value of the watched map, keyed by cgroup id.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    pub dropped: u64,
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

/// `struct berth_exec_event`: one record of the ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecEvent {
    pub kind: u32,
    pub pid: u32,
    pub tid: u32,
    pub args_len: u32,
    pub cgroup_id: u64,
    pub time_ns: u64,
    pub argc: u32,
    pub pad: u32,
    pub comm: [u8; COMM_LEN],
    pub filename: [u8; FILENAME_LEN],
    pub args: [u8; ARGS_LEN],
}

// SAFETY: each is #[repr(C)], made only of integers and byte arrays (every bit pattern is a
// valid value) and, as the layout tests check against the C compiler, has no padding bytes the
// kernel would not also write: aya may copy them to and from the kernel as plain bytes.
unsafe impl aya::Pod for Watch {}
// SAFETY: as for Watch.
unsafe impl aya::Pod for CountKey {}
// SAFETY: as for Watch.
unsafe impl aya::Pod for Count {}

impl ExecEvent {
    /// Decodes one ring-buffer record; None when it is not an exec event of this layout.
    pub fn from_bytes(b: &[u8]) -> Option<ExecEvent> {
        if b.len() < size_of::<ExecEvent>() {
            return None;
        }
        let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
        let e = ExecEvent {
            kind: u32_at(0),
            pid: u32_at(4),
            tid: u32_at(layout::OFFSETOF_berth_exec_event_tid),
            args_len: u32_at(layout::OFFSETOF_berth_exec_event_args_len),
            cgroup_id: u64_at(layout::OFFSETOF_berth_exec_event_cgroup_id),
            time_ns: u64_at(layout::OFFSETOF_berth_exec_event_time_ns),
            argc: u32_at(layout::OFFSETOF_berth_exec_event_argc),
            pad: 0,
            comm: b[layout::OFFSETOF_berth_exec_event_comm..][..COMM_LEN]
                .try_into()
                .unwrap(),
            filename: b[layout::OFFSETOF_berth_exec_event_filename..][..FILENAME_LEN]
                .try_into()
                .unwrap(),
            args: b[layout::OFFSETOF_berth_exec_event_args..][..ARGS_LEN]
                .try_into()
                .unwrap(),
        };
        (e.kind == EVENT_EXEC).then_some(e)
    }
}

impl ExecEvent {
    /// argv: the NUL-terminated strings in `args` (at most `argc`), the last one possibly cut.
    pub fn argv(&self) -> Vec<String> {
        let used = (self.args_len as usize).min(ARGS_LEN);
        let bytes = &self.args[..used];
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
        assert_eq!(size_of::<ExecEvent>(), layout::SIZEOF_berth_exec_event);
        assert_eq!(
            offset_of!(ExecEvent, tid),
            layout::OFFSETOF_berth_exec_event_tid
        );
        assert_eq!(
            offset_of!(ExecEvent, cgroup_id),
            layout::OFFSETOF_berth_exec_event_cgroup_id
        );
        assert_eq!(
            offset_of!(ExecEvent, time_ns),
            layout::OFFSETOF_berth_exec_event_time_ns
        );
        assert_eq!(
            offset_of!(ExecEvent, comm),
            layout::OFFSETOF_berth_exec_event_comm
        );
        assert_eq!(
            offset_of!(ExecEvent, filename),
            layout::OFFSETOF_berth_exec_event_filename
        );
        assert_eq!(
            offset_of!(ExecEvent, args_len),
            layout::OFFSETOF_berth_exec_event_args_len
        );
        assert_eq!(
            offset_of!(ExecEvent, args),
            layout::OFFSETOF_berth_exec_event_args
        );
        assert_eq!(
            offset_of!(ExecEvent, argc),
            layout::OFFSETOF_berth_exec_event_argc
        );
    }

    #[test]
    fn exec_events_decode() {
        let mut b = vec![0u8; size_of::<ExecEvent>()];
        b[0..4].copy_from_slice(&EVENT_EXEC.to_ne_bytes());
        b[4..8].copy_from_slice(&42u32.to_ne_bytes());
        b[16..24].copy_from_slice(&7u64.to_ne_bytes());
        b[layout::OFFSETOF_berth_exec_event_comm..][..3].copy_from_slice(b"cat");
        b[layout::OFFSETOF_berth_exec_event_filename..][..8].copy_from_slice(b"/bin/cat");
        let e = ExecEvent::from_bytes(&b).expect("an exec event");
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
            ExecEvent::from_bytes(&b[..10]).is_none(),
            "short record accepted"
        );
    }
}
