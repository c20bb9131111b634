//! berth-shim: one detached process per container (see the library for what it does).
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(berth_shim::entry::main(args));
}
