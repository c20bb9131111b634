//! The steady loop's functions are where `hot-text.ld` puts them. Its globs match mangled
//! names, so a renamed function would silently fall back to the rest of `.text`: here every
//! glob must match a function of the built berth-shim, and every function a glob matches must
//! lie in the output section `.text.hot`. Reads the binary with binutils' `readelf` and `nm`.

use std::process::Command;

const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");

/// What `program args` printed; panics unless it succeeded.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (binutils): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The input-section globs of the script, without their `.text.` prefix.
fn globs() -> Vec<String> {
    let script = include_str!("../hot-text.ld");
    let globs: Vec<String> = script
        .split("*(.text.")
        .skip(1)
        .map(|rest| rest.split(')').next().unwrap().to_string())
        .collect();
    assert!(!globs.is_empty(), "no globs found in hot-text.ld");
    globs
}

/// The linker's glob: `*` matches any run of characters, everything else itself.
fn glob_match(glob: &str, name: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return glob == name;
    }
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    if !name.ends_with(last) {
        return false;
    }
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// The address range of the output section `.text.hot`.
fn hot_range() -> std::ops::Range<u64> {
    let sections = run("readelf", &["-SW", SHIM]);
    let line = sections
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == ".text.hot"))
        .unwrap_or_else(|| panic!("berth-shim has no .text.hot section:\n{sections}"));
    // [Nr] Name Type Address Off Size ...: the fields after the name.
    let fields: Vec<&str> = line
        .split_once(".text.hot")
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
    let (addr, size) = (hex(fields[1]), hex(fields[3]));
    assert!(size > 0, ".text.hot is empty: {line}");
    addr..addr + size
}

/// Function symbols of berth-shim, mangled: (address, name).
fn functions() -> Vec<(u64, String)> {
    run("nm", &["--no-demangle", "--defined-only", SHIM])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [addr, kind, name] = f[..] else {
                return None;
            };
            matches!(kind, "t" | "T" | "w" | "W")
                .then(|| (u64::from_str_radix(addr, 16).unwrap(), name.to_string()))
        })
        .collect()
}

#[test]
fn every_glob_of_hot_text_holds_its_functions_in_the_hot_section() {
    let hot = hot_range();
    let functions = functions();
    for glob in globs() {
        let matched: Vec<&(u64, String)> = functions
            .iter()
            .filter(|(_, name)| glob_match(&glob, name))
            .collect();
        assert!(
            !matched.is_empty(),
            "hot-text.ld's glob {glob:?} matches no function of berth-shim: renamed? \
             Update the glob with the function's new mangled name"
        );
        let outside: Vec<String> = matched
            .iter()
            .filter(|(addr, _)| !hot.contains(addr))
            .map(|(addr, name)| format!("{name} at {addr:#x}"))
            .collect();
        assert!(
            outside.is_empty(),
            "hot-text.ld's glob {glob:?}: expected its functions in .text.hot \
             ({:#x}..{:#x}), these are not: {outside:?}",
            hot.start,
            hot.end
        );
    }
}

#[test]
fn the_glob_matcher_is_the_linkers() {
    assert!(glob_match(
        "*Supervisor5serve*",
        "_ZN3abc10Supervisor5serve17hE"
    ));
    assert!(glob_match("*Drain*4drop*", "_ZN5Drain3foo4drop17hE"));
    assert!(glob_match("*x", "ax"));
    assert!(!glob_match(
        "*Supervisor5serve*",
        "_ZN3abc10Supervisor10serve_loop17hE"
    ));
    assert!(!glob_match("*Drain*4drop*", "_ZN4drop5Drain"));
    assert!(!glob_match("a*a", "a"));
}
