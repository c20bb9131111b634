//! The kernel calls that std and nix do not wrap safely, each behind a safe function. This is the
//! one module of the shim allowed to use `unsafe`.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::path::Path;
use std::process::Command;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// flock(2) on a descriptor the caller owns.
pub fn flock(fd: RawFd, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock only reads its integer arguments; an invalid fd is reported as EBADF.
    check(unsafe { libc::flock(fd, op) }).map(drop)
}

/// Give the heap's free memory back to the kernel (glibc's malloc_trim). Creating a container
/// (compiling its seccomp profile above all) frees megabytes that would otherwise stay
/// resident for the container's whole life.
pub fn release_free_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists under its arena lock and
    // returns their pages to the kernel; it touches no memory the program has allocated.
    unsafe { libc::malloc_trim(0) };
}

/// A private, unwritten mapping of a file (the shim's program or a library): its resident pages
/// are copies of the page cache and can be dropped from this process and faulted back in.
struct FileMapping {
    start: usize,
    len: usize,
    unwritten: bool,
}

/// The private file mappings of this process that hold no page of its own: read-only or
/// executable, no anonymous (copy-on-write) page, not locked. Read from /proc/self/smaps.
fn unwritten_file_mappings() -> Vec<(usize, usize)> {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut current: Option<FileMapping> = None;
    let mut finish = |m: Option<FileMapping>| {
        if let Some(m) = m.filter(|m| m.unwritten) {
            found.push((m.start, m.len));
        }
    };
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if let Some((lo, hi)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            finish(current.take());
            let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            else {
                continue;
            };
            let perms = words.next().unwrap_or_default();
            let inode = words.nth(2).unwrap_or("0");
            let path = words.next().unwrap_or_default();
            current = Some(FileMapping {
                start: lo,
                len: hi.saturating_sub(lo),
                // A private (`p`) mapping of a file (`/...`, inode not 0) that this process can
                // not write (no `w`): its pages are the file's.
                unwritten: perms.len() == 4
                    && !perms.contains('w')
                    && perms.ends_with('p')
                    && inode != "0"
                    && path.starts_with('/'),
            });
        } else if let Some(m) = current.as_mut() {
            match first {
                // A page copied on write (relocations written before a mprotect to read-only)
                // exists only here: dropping it would lose it.
                "Anonymous:" | "Swap:" if words.next() != Some("0") => m.unwritten = false,
                "VmFlags:" if line.split_whitespace().any(|f| f == "lo") => m.unwritten = false,
                _ => {}
            }
        }
    }
    finish(current.take());
    found
}

/// Drop from this process's resident set the pages of its program and libraries that it only
/// reads: they stay in the page cache, shared, and come back on the next touch. Creating a
/// container runs most of the shim's code once; afterwards only the loop that carries output and
/// requests is touched again, so that is all that stays resident.
pub fn release_file_pages() {
    // The list is read whole first: reading /proc allocates, and what runs after the last
    // madvise is what stays resident.
    let mappings = unwritten_file_mappings();
    for &(start, len) in &mappings {
        // SAFETY: MADV_DONTNEED on a private file mapping with no copied-on-write page only
        // unmaps page-cache pages from this process; their content is the file's and a later
        // access faults the same bytes back in. Mappings holding any private page are skipped
        // above, and the shim is single-threaded, so none is written between the read and here.
        unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    }
}

/// Which side of a fork or clone we are on.
pub enum Forked {
    Parent { child: libc::pid_t },
    Child,
}

/// fork(2). The caller must be single-threaded: the shim never creates a thread, and the only
/// callers are the shim's own processes.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the shim is single-threaded (it never spawns threads), so the child inherits no
    // lock held by another thread and may run arbitrary code until it execs or exits.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        child => Ok(Forked::Parent { child }),
    }
}

/// clone(2) with namespace flags and no new stack: fork semantics (copy-on-write), so the child
/// continues here, in new namespaces. Same single-thread rule as [`fork`].
pub fn clone_with_flags(flags: libc::c_int) -> io::Result<Forked> {
    // SAFETY: a null stack makes the child run on a copy-on-write copy of the parent's stack, as
    // fork does; the flags carry no CLONE_VM/CLONE_THREAD, and the caller is single-threaded.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match rc {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        child => Ok(Forked::Parent {
            child: child as libc::pid_t,
        }),
    }
}

/// One of the standard streams, the only descriptors [`replace_std_stream`] may overwrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

impl StdStream {
    pub const ALL: [StdStream; 3] = [StdStream::Stdin, StdStream::Stdout, StdStream::Stderr];
}

/// dup2(2) onto a standard stream: make `target` a copy of `fd` (close-on-exec cleared on it).
pub fn replace_std_stream(fd: std::os::fd::BorrowedFd<'_>, target: StdStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: dup2 closes `target` first. Descriptors 0-2 belong to the process as a whole: no
    // OwnedFd or File of ours owns them (std's Stdin/Stdout/Stderr never close them), so no
    // owner is left holding a descriptor that now means another file. `fd` is borrowed, open
    // for the call.
    check(unsafe { libc::dup2(fd.as_raw_fd(), target as libc::c_int) }).map(drop)
}

/// Mark every descriptor from `first` up close-on-exec, so nothing the shim inherited or opened
/// leaks into the container (the leaked-fd escape class).
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on descriptors in range.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Set or clear close-on-exec on one descriptor.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and write the descriptor's flag word.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let flags = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags) }).map(drop)
}

/// Make a descriptor non-blocking.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL only read and write the file status flags.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// Make the terminal on `fd` the calling process's controlling terminal.
pub fn set_controlling_tty(fd: RawFd) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    check(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// Set a terminal's window size.
pub fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that lives on our stack for the call.
    check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// setdomainname(2).
pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, alive for the call.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// poll(2) over raw descriptors; returns how many have events.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: the pointer and count describe the caller's slice, alive and writable for the call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    check(rc).map(|n| n as usize)
}

/// Have `cmd`'s child receive `fd` as descriptor `target` (close-on-exec cleared), whatever
/// flags `fd` has in the parent. The parent's copy keeps its close-on-exec flag, so concurrent
/// spawns from other threads never inherit it.
pub fn pass_fd(cmd: &mut Command, fd: RawFd, target: RawFd) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and only calls dup2 and fcntl,
    // which are async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if fd == target {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, target) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// waitpid(2) returning the raw status; `None` with WNOHANG when nothing changed.
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<(libc::pid_t, i32)>> {
    let mut status = 0;
    // SAFETY: `status` is a valid int the kernel writes to.
    let rc = unsafe { libc::waitpid(pid, &mut status, flags) };
    match rc {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some((pid, status))),
    }
}

/// Turn a wait status into Docker's exit code: the code, or 128 + the signal.
pub fn exit_code_of(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// `_exit(2)`: leave without running destructors or atexit handlers (after fork).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// execve(2) of an absolute path; returns only on failure.
pub fn execve(path: &CString, argv: &[CString], envp: &[CString]) -> io::Error {
    match nix::unistd::execve(path, argv, envp) {
        Ok(never) => match never {},
        Err(e) => io::Error::from(e),
    }
}

/// A process's start time (field 22 of /proc/<pid>/stat, in clock ticks since boot).
pub fn process_start_time(pid: libc::pid_t) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad /proc stat"))?;
    rest.split_whitespace()
        .nth(19)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad /proc stat"))
}

/// read(2) into `buf`'s spare capacity, after clearing it; `buf` then holds what was read. A
/// buffer allocated with capacity only is never written but by the kernel, so the pages a short
/// read leaves untouched never become resident.
pub fn read_to_spare(fd: RawFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    let spare = buf.spare_capacity_mut();
    // SAFETY: the pointer and length describe `buf`'s spare capacity, alive and writable for the
    // call; the kernel writes at most that many bytes.
    let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), spare.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: read(2) initialized the first `n` bytes of the spare capacity.
    unsafe { buf.set_len(n) };
    Ok(n)
}

/// The extended attribute `name` of `path` (not following a last symlink); None when it has none.
pub fn lgetxattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let c_name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: both strings are NUL-terminated and alive for the call; the pointer and length
    // describe `buf`, which the kernel writes at most that many bytes into.
    let n = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) => Ok(None),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    Ok(Some(buf))
}

/// Set the extended attribute `name` of `path` (not following a last symlink) to `value`.
pub fn lsetxattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let c_name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both strings are NUL-terminated and alive for the call; the pointer and length
    // describe `value`, which the kernel only reads.
    let rc = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    check(rc).map(|_| ())
}

/// One write(2) of `data` to `fd`: how much was taken (a non-blocking descriptor may take
/// less, or fail with WouldBlock).
pub fn write_some(fd: std::os::fd::BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: the pointer and length describe `data`, alive for the call; `fd` is borrowed
    // open for the call.
    let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// write(2) all of `data` to a raw descriptor (used where no owner of the fd exists).
pub fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: the pointer and length describe `data`, alive for the call.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// Restore a signal's default disposition (the shim ignores SIGPIPE; containers must not).
pub fn default_signal(sig: nix::sys::signal::Signal) -> io::Result<()> {
    // SAFETY: installing SIG_DFL runs no code of ours in signal context.
    let rc = unsafe { libc::signal(sig as libc::c_int, libc::SIG_DFL) };
    if rc == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bring up the loopback interface of the current network namespace, as every container has it.
pub fn loopback_up() -> io::Result<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: socket takes integers and returns a new descriptor or -1.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: the descriptor was just created and is owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFFLAGS fills the flags of the ifreq that lives on our stack.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
    // SAFETY: the union member ifru_flags is the one SIOCGIFFLAGS just wrote.
    unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq that lives on our stack.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) }).map(drop)
}

/// Install a seccomp BPF program (an array of `struct sock_filter`) for the calling thread.
pub fn seccomp_set_filter(program: &[u8]) -> io::Result<()> {
    let len = program.len() / std::mem::size_of::<libc::sock_filter>();
    if len == 0
        || len > u16::MAX as usize
        || !program
            .len()
            .is_multiple_of(std::mem::size_of::<libc::sock_filter>())
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a BPF program",
        ));
    }
    // Copy into properly aligned storage for the kernel.
    let mut filters: Vec<libc::sock_filter> = program
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        len: len as u16,
        filter: filters.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `filters`, a live array of `len` sock_filter structs; the kernel
    // copies the program during the call and keeps no pointer to our memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// bpf(2)'s BPF_PROG_ATTACH command and BPF_CGROUP_DEVICE attach type (uapi/linux/bpf.h).
const BPF_PROG_ATTACH: libc::c_long = 8;
pub const BPF_CGROUP_DEVICE: u32 = 6;

/// bpf(BPF_PROG_ATTACH): attach the cgroup program `prog` to the cgroup directory `cgroup`,
/// with no flags. This is the attachment the cgroup owns (not a bpf_link): it stays with no
/// descriptor held and goes with the cgroup. Without BPF_F_ALLOW_OVERRIDE or
/// BPF_F_ALLOW_MULTI no program of this type can be attached below it, and attaching again
/// here replaces the program.
pub fn bpf_prog_attach(
    cgroup: std::os::fd::BorrowedFd<'_>,
    prog: std::os::fd::BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    /// The head of `union bpf_attr` that BPF_PROG_ATTACH reads; the kernel treats the rest
    /// of the union, beyond the size passed, as zero.
    #[repr(C)]
    struct AttachAttr {
        target_fd: u32,
        attach_bpf_fd: u32,
        attach_type: u32,
        attach_flags: u32,
        replace_bpf_fd: u32,
    }
    let attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: 0,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attr` is a live, fully initialised #[repr(C)] struct laid out as the head of
    // union bpf_attr, and the size passed is its own, so the kernel reads only those bytes
    // (copying them during the call). Both descriptors are borrowed, so they stay open for
    // the call; the kernel takes its own references to the program and the cgroup.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const AttachAttr,
            std::mem::size_of::<AttachAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Open a new terminal from the ptmx at `ptmx` (the caller's own /dev/pts instance): the master,
/// unlocked, and its slave (TIOCGPTPEER, so no path lookup is involved).
pub fn open_pty(ptmx: &str) -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let path = std::ffi::CString::new(ptmx).map_err(io::Error::other)?;
    // SAFETY: `path` is a valid C string for the call; open returns a new descriptor or -1.
    let m = check(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the descriptor was just opened and is owned by nothing else.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int from our stack.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor for the slave.
    let s = check(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: as above, a new descriptor owned by nothing else.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    Ok((master, slave))
}

/// Send one descriptor over a unix socket (SCM_RIGHTS).
pub fn send_fd(socket: RawFd, fd: RawFd) -> io::Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    let iov = [std::io::IoSlice::new(b"t")];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(socket, &iov, &cmsg, MsgFlags::empty(), None).map_err(io::Error::from)?;
    Ok(())
}

/// Receive one descriptor sent with [`send_fd`]; None when the other side closed first.
pub fn recv_fd(socket: RawFd) -> io::Result<Option<std::os::fd::OwnedFd>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::FromRawFd;
    let mut byte = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our table for us.
                return Ok(Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(*fd) }));
            }
        }
    }
    Ok(None)
}

/// Take ownership of descriptor `fd` inherited from our parent, if it is open, and mark it
/// close-on-exec.
///
/// # Safety
/// Nothing in this process may own `fd` (no `OwnedFd`, `File` or socket holds it), and the
/// caller takes it once: after this the returned value is its only owner and closes it.
pub unsafe fn take_fd_if_open(fd: RawFd) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    set_cloexec(fd, true).ok()?;
    // SAFETY: F_SETFD just succeeded, so `fd` is open; the caller guarantees (see above) that
    // nothing else owns it.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Close every descriptor from `first` up (the `--init` reaper keeps none of the shim's).
///
/// # Safety
/// No owner (`OwnedFd`, `File`, socket, ...) of a descriptor from `first` up may be used or
/// dropped afterwards: each would act on, or close, whatever file later takes its number.
pub unsafe fn close_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range only closes descriptors; the caller guarantees (see above) that no
    // owner of one of them is used again.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Close every descriptor above 2 but `keep`, in a process that then only execs or exits: the
/// container's process before it touches its working directory (a leaked directory fd would be
/// a way out of the root), so that nothing it did not ask for survives into it.
///
/// # Safety
/// As [`close_from`]: no owner of a descriptor above 2 but `keep` may be used or dropped
/// afterwards; the process only execs or exits next.
pub unsafe fn close_all_but(keep: RawFd) -> io::Result<()> {
    let ranges = match u32::try_from(keep) {
        Ok(k) if k > 2 => [(3, k - 1), (k + 1, u32::MAX)],
        _ => [(3, u32::MAX), (1, 0)],
    };
    for (first, last) in ranges {
        if first > last {
            continue;
        }
        // SAFETY: close_range only closes descriptors. The caller guarantees (see above) that it
        // uses none of those above 2 again but `keep`, and never drops an owner of one.
        let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// At a shim's start: close whatever its caller leaked (every descriptor above `pipe`), and
/// `pipe` itself unless it is a pipe (the ready pipe `spawn` passes there). Runs first thing in
/// `main`, before anything of this process owns a descriptor above 2.
///
/// # Safety
/// Nothing in this process may own a descriptor above 2 yet (call it first thing in `main`).
pub unsafe fn close_inherited(pipe: RawFd) -> io::Result<()> {
    // SAFETY: `st` is a plain struct on our stack that fstat fills; a closed fd gives EBADF.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the pointer is to `st`, alive and writable for the call.
    let open = unsafe { libc::fstat(pipe, &mut st) } == 0;
    let keep = if open && st.st_mode & libc::S_IFMT == libc::S_IFIFO {
        pipe
    } else {
        -1
    };
    // SAFETY: the caller guarantees that nothing owns a descriptor above 2 yet.
    unsafe { close_all_but(keep) }
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// Make the mount at `fd` and every mount under it read-only, nosuid, nodev and noexec
/// (mount_setattr with AT_RECURSIVE; a remount would change the top one only).
pub fn make_tree_readonly(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    set_tree_attrs(
        fd,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
    )
}

/// Set `attrs` (`MOUNT_ATTR_*`) on the mount at `fd` and on every mount under it, leaving each
/// one's other flags as they are (mount_setattr(2) with AT_RECURSIVE).
pub fn set_tree_attrs(fd: std::os::fd::BorrowedFd<'_>, attrs: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the path is an empty C string literal and `attr` a struct on our stack, both alive
    // for the call, with its true size passed; the kernel only reads them. `fd` is borrowed, so
    // open for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A detached copy of the mount at `path` (the mount itself, not the mounts under it):
/// open_tree(2) with OPEN_TREE_CLONE. It belongs to no mount namespace until it is attached
/// with [`move_mount_to`], and is unmounted when its last descriptor closes.
pub fn open_tree_clone(path: &Path) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a NUL-terminated string alive for the call, which the kernel only reads;
    // AT_FDCWD makes a relative path the working directory's. No memory of ours is written.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open_tree just returned this new descriptor, which nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(rc as RawFd) })
}

pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
/// move_mount(2): the source is the descriptor itself (linux/mount.h).
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;

/// Make the detached mount at `fd` (from [`open_tree_clone`]) show its files through the id
/// maps of the user namespace `userns`: mount_setattr(2) with MOUNT_ATTR_IDMAP. The kernel
/// refuses a filesystem that cannot be idmapped (EINVAL), an attached mount, or a mount that is
/// already idmapped.
pub fn set_idmap(
    fd: std::os::fd::BorrowedFd<'_>,
    userns: std::os::fd::BorrowedFd<'_>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: the path is an empty C string literal and `attr` a struct on our stack, both alive
    // for the call, with its true size passed; the kernel only reads them. Both descriptors are
    // borrowed, so open for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Attach the detached mount at `fd` on `target` in the caller's mount namespace:
/// move_mount(2) from the descriptor itself (MOVE_MOUNT_F_EMPTY_PATH).
pub fn move_mount_to(fd: std::os::fd::BorrowedFd<'_>, target: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let c = CString::new(target.as_os_str().as_encoded_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: the empty literal and `c` are NUL-terminated strings alive for the call, which the
    // kernel only reads; `fd` is borrowed, so open for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Attach the detached mount at `fd` on the directory (or file) open at `target` (an O_PATH
/// descriptor from a walk inside the root): move_mount(2) from and to descriptors, so that no
/// path is looked up again.
pub fn move_mount_onto(
    fd: std::os::fd::BorrowedFd<'_>,
    target: std::os::fd::BorrowedFd<'_>,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: both paths are the empty C string literal, which the kernel only reads; both
    // descriptors are borrowed, so open for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// The resident KiB of the mapping that starts at `start`, from /proc/self/smaps.
    fn resident_kib(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
        lines.next().expect("the mapping is listed");
        lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }

    /// mmap(2) of `len` bytes of `fd`, private.
    fn map(fd: RawFd, len: usize, prot: libc::c_int) -> *mut u8 {
        // SAFETY: a fresh mapping chosen by the kernel; it overlaps nothing of the test's.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_PRIVATE, fd, 0) };
        assert_ne!(p, libc::MAP_FAILED);
        p.cast()
    }

    #[test]
    fn releasing_file_pages_drops_clean_ones_and_keeps_written_ones() {
        let page = 4096;
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &vec![b'a'; 4 * page]).unwrap();
        let fd = file.as_raw_fd();
        // Read-only and read, as a program's code is.
        let clean = map(fd, 4 * page, libc::PROT_READ);
        // Written, then made read-only, as relocated data is: its page exists only here.
        let written = map(fd, 4 * page, libc::PROT_READ | libc::PROT_WRITE);
        // SAFETY: both mappings are 4 pages long, alive until the munmaps below, and `written`
        // is writable until the mprotect.
        unsafe {
            assert_eq!(std::ptr::read_volatile(clean), b'a');
            written.write_volatile(b'z');
            assert_eq!(libc::mprotect(written.cast(), 4 * page, libc::PROT_READ), 0);
        }
        assert!(resident_kib(clean as usize) > 0);

        release_file_pages();

        assert_eq!(
            resident_kib(clean as usize),
            0,
            "the clean mapping's pages are dropped"
        );
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                std::ptr::read_volatile(written),
                b'z',
                "the written page is kept"
            );
            assert_eq!(
                std::ptr::read_volatile(clean),
                b'a',
                "dropped pages fault back in"
            );
            libc::munmap(clean.cast(), 4 * page);
            libc::munmap(written.cast(), 4 * page);
        }
    }

    #[test]
    fn start_time_of_self_is_stable() {
        let pid = std::process::id() as libc::pid_t;
        let a = process_start_time(pid).unwrap();
        let b = process_start_time(pid).unwrap();
        assert_eq!(a, b);
        assert!(a > 0);
    }

    #[test]
    fn exit_codes_follow_docker() {
        // A status as waitpid encodes it: exited with 3; killed by signal 9.
        assert_eq!(exit_code_of(3 << 8), 3);
        assert_eq!(exit_code_of(9), 137);
    }
}

/// keyctl(KEYCTL_GET_KEYRING_ID, keyring, create): the serial number of one of the caller's
/// special keyrings (`KEY_SPEC_*`, negative). Used to probe whether the seccomp filter lets
/// the keyring calls through (the seccomp tests).
#[cfg(test)]
pub fn keyctl_get_keyring_id(keyring: i32, create: bool) -> io::Result<i64> {
    const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
    // SAFETY: KEYCTL_GET_KEYRING_ID takes two integers and no pointers: the kernel reads and
    // writes none of our memory, and every argument value is accepted or rejected with an errno.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            libc::c_long::from(keyring),
            libc::c_long::from(create),
        )
    };
    if rc >= 0 {
        Ok(rc)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Run `f` in a forked child and report its outcome: `Ok` when it returned `Ok`, otherwise the
/// message it returned (or that it panicked), as the tests that change process state need
/// (youki's `test_in_child_process`). The child never returns into the caller: it ends with
/// `_exit` after `f`.
#[cfg(test)]
pub(crate) fn in_child<F>(f: F) -> Result<(), String>
where
    F: FnOnce() -> Result<(), String>,
{
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, pipe, ForkResult};
    use std::fs::File;
    use std::io::{Read, Write};

    let (rd, wr) = pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the test harness is multi-threaded, so the child may only rely on what survives a
    // fork: it runs `f` (tests keep to syscalls and glibc malloc, whose locks glibc resets in
    // the child) and leaves through `_exit`, never unwinding into the harness's frames.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(rd);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err("the child panicked".to_string()));
            let code = match outcome {
                Ok(()) => 0,
                Err(msg) => {
                    let _ = File::from(wr).write_all(msg.as_bytes());
                    1
                }
            };
            // SAFETY: _exit ends the process at once without running atexit handlers or
            // destructors that belong to the parent's copy of the harness.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut msg = String::new();
            let _ = File::from(rd).read_to_string(&mut msg);
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(status) => Err(format!("{msg} (child ended: {status:?})")),
                Err(e) => Err(format!("waitpid: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod in_child_tests {
    use super::*;

    #[test]
    fn in_child_reports_failure_and_panic() {
        assert_eq!(in_child(|| Ok(())), Ok(()));
        let err = in_child(|| Err("wanted 1, got 2".to_string())).unwrap_err();
        assert!(err.starts_with("wanted 1, got 2"), "got {err:?}");
        let err = in_child(|| panic!("boom")).unwrap_err();
        assert!(err.starts_with("the child panicked"), "got {err:?}");
    }
}
