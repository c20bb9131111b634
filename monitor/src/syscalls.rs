//! System call names by number. The table is data (`syscalls_x86_64.txt`, taken from
//! `<asm/unistd_64.h>`); other architectures name calls by number until they get a table.

const X86_64: &str = include_str!("syscalls_x86_64.txt");

/// The name of system call `nr` on this architecture, or `syscall_<nr>` when unknown.
pub fn name(nr: u32) -> String {
    if cfg!(target_arch = "x86_64") {
        for line in X86_64.lines().filter(|l| !l.starts_with('#')) {
            if let Some((n, name)) = line.split_once(' ') {
                if n.parse() == Ok(nr) {
                    return name.to_string();
                }
            }
        }
    }
    format!("syscall_{nr}")
}

/// The number of system call `name` on this architecture.
pub fn number(name: &str) -> Option<u32> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    X86_64
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .find(|(_, n)| *n == name)
        .and_then(|(nr, _)| nr.parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn names_known_calls() {
        for (nr, want) in [
            (0, "read"),
            (3, "close"),
            (59, "execve"),
            (110, "getppid"),
            (257, "openat"),
        ] {
            assert_eq!(super::name(nr), want, "syscall {nr}");
        }
        assert_eq!(super::name(100_000), "syscall_100000");
        assert_eq!(super::number("mkdir"), Some(83));
        assert_eq!(super::number("nosuch"), None);
    }
}
