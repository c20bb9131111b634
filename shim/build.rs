//! Links `berth-shim` with the code of its steady loop laid out side by side.
//!
//! The shim stays resident for its container's whole life, but after the set-up it runs only
//! the loop that carries output and requests. The kernel maps a program's pages in 64 KiB
//! windows around each page touched, so a loop whose few functions lie scattered across the
//! binary keeps a dozen windows resident. `hot-text.ld` names those functions' sections (globs
//! over their symbol names) and puts them in an output section of their own just ahead of
//! `.text`, as an addition to the linker's default script. The section starts on a 64 KiB
//! boundary and the segments are aligned to 64 KiB (so the kernel loads the program at a
//! 64 KiB-aligned address): the loop's code then lies in one window whatever the load address,
//! where a random 4 KiB-aligned base made it straddle two windows in some runs.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rerun-if-changed=hot-text.ld");
    println!("cargo:rustc-link-arg-bin=berth-shim=-Wl,-T,{dir}/hot-text.ld");
    println!("cargo:rustc-link-arg-bin=berth-shim=-Wl,-z,max-page-size=0x10000");
}
