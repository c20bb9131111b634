//! Compiles monitor/bpf/*.bpf.c into BPF objects (embedded by src/programs.rs) and turns
//! monitor/bpf/monitor.h's constants and layouts into Rust (`layout.rs`, read by src/abi.rs).
//!
//! Needs clang-19 and bpftool (scripts/install-deps.sh); vmlinux.h is generated from this
//! machine's kernel BTF into OUT_DIR, never checked in.

use std::path::{Path, PathBuf};
use std::process::Command;

const CLANG: &str = "clang-19";

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let bpf = Path::new("bpf");
    println!("cargo:rerun-if-changed=bpf");
    println!("cargo:rerun-if-env-changed=BERTH_VMLINUX_BTF");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(bpf).expect("reading monitor/bpf") {
        let path = entry.expect("reading monitor/bpf").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".c") || name.ends_with(".h") {
            println!("cargo:rerun-if-changed={}", path.display());
        }
        if name.ends_with(".bpf.c") {
            sources.push(path);
        }
    }
    sources.sort();

    let btf = std::env::var("BERTH_VMLINUX_BTF").unwrap_or("/sys/kernel/btf/vmlinux".into());
    let vmlinux = run(
        Command::new("bpftool").args(["btf", "dump", "file", &btf, "format", "c"]),
        "bpftool btf dump (install bpftool: scripts/install-deps.sh)",
    );
    std::fs::write(out.join("vmlinux.h"), vmlinux).expect("writing vmlinux.h");

    for src in &sources {
        let stem = src
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".bpf.c", "");
        let obj = out.join(format!("{stem}.bpf.o"));
        run(
            Command::new(CLANG)
                .args([
                    "-g",
                    "-O2",
                    "-target",
                    "bpf",
                    "-D__TARGET_ARCH_x86",
                    "-Wall",
                ])
                .arg("-I")
                .arg(&out)
                .arg("-I")
                .arg(bpf)
                .arg("-c")
                .arg(src)
                .arg("-o")
                .arg(&obj),
            "clang-19 -target bpf",
        );
        // DWARF is only for humans; .BTF and .BTF.ext, which the loader needs, stay.
        let _ = Command::new("llvm-strip-19").arg("-g").arg(&obj).status();
    }

    let probe = out.join("layout-probe");
    run(
        Command::new(CLANG)
            .arg("-I")
            .arg(bpf)
            .arg(bpf.join("layout.c"))
            .arg("-o")
            .arg(&probe),
        "clang-19 (layout probe)",
    );
    let layout = run(&mut Command::new(&probe), "running the layout probe");
    std::fs::write(out.join("layout.rs"), layout).expect("writing layout.rs");
}

fn run(cmd: &mut Command, what: &str) -> Vec<u8> {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {:?}: {e}", cmd.get_program()));
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.stdout
}
