//! A stand-in for an API process or CLI run: starts one container through the shim library,
//! prints the outcome, then waits to be killed. The runtime tests SIGKILL it at chosen instants.
use berth_shim::spawn::{self, StartOptions};
use berth_shim::Paths;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, run_root, id] = args.as_slice() else {
        eprintln!("usage: berth-test-caller ROOT RUN_ROOT ID");
        std::process::exit(2);
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "spawning");
    let _ = out.flush();
    let r = spawn::start(&Paths::new(root, run_root), id, &StartOptions::default());
    let _ = writeln!(out, "{r:?}");
    let _ = out.flush();
    std::thread::sleep(std::time::Duration::from_secs(3600));
}
