//! Benchmark of the shim alone (not a test): the time from spawning `berth-shim` to the
//! container's first instruction, and the resident memory of one shim while its container runs.
//! Prints the figures; docker-compat/bench.sh sets them beside dockerd's.
use berth_shim::spawn::{self, StartOptions};
use berth_tests::TestEnv;
use std::time::{Duration, Instant};

fn monotonic_ns() -> i64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    t.tv_sec() * 1_000_000_000 + t.tv_nsec()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let stamp = std::env::args()
        .nth(2)
        .expect("usage: berth-bench-shim RUNS STAMP_BINARY");
    let env = TestEnv::new();
    std::fs::copy(&stamp, env.layer.join("bin/stamp")).unwrap();
    let mut first = Vec::new();
    let mut ready = Vec::new();
    for _ in 0..runs {
        let spec = env.spec(&["/bin/stamp"]);
        env.create(&spec);
        let t0 = monotonic_ns();
        let i0 = Instant::now();
        spawn::start(&env.paths, &spec.id, &StartOptions::default()).unwrap();
        ready.push(i0.elapsed().as_secs_f64() * 1e3);
        env.wait_exited(&spec.id, Duration::from_secs(10));
        let out = env.log_text(&spec.id);
        let t1: i64 = out.trim().parse().unwrap();
        first.push((t1 - t0) as f64 / 1e6);
    }
    // A freshly built binary's pages sit dirty in the page cache and would count as private to
    // the one process mapping them; write them back first, as on an installed system.
    nix::unistd::sync();
    let warm = memory(&env, &["sleep", "1000"], 300);
    // A container that writes a line to its log 50 times a second: the shim's steady loop runs.
    let busy = memory(
        &env,
        &["sh", "-c", "while :; do echo tick; usleep 20000; done"],
        2000,
    );
    // The first container of a fresh root compiles its seccomp profile (no cache yet).
    let cold = memory(&TestEnv::new(), &["sleep", "1000"], 300);
    println!("shim_first_instruction_ms_median {:.2}", median(&mut first));
    println!("shim_start_returned_ms_median {:.2}", median(&mut ready));
    for (prefix, m) in [
        ("shim", &warm),
        ("shim_logging", &busy),
        ("shim_cold_cache", &cold),
    ] {
        println!("{prefix}_rss_kib {}", m.rss);
        println!("{prefix}_rss_anon_kib {}", m.anon);
        println!("{prefix}_rss_file_kib {}", m.file);
        println!("{prefix}_pss_kib {}", m.pss);
        println!("{prefix}_private_kib {}", m.private);
    }
    // What each further shim costs: its anonymous memory (the binary's and libc's pages are
    // shared by every shim).
    println!("shim_marginal_kib {}", warm.anon);
}

struct Memory {
    rss: u64,
    anon: u64,
    file: u64,
    pss: u64,
    private: u64,
}

/// The memory of the shim of a container of `env` running `argv`, `settle_ms` after its start.
fn memory(env: &TestEnv, argv: &[&str], settle_ms: u64) -> Memory {
    let spec = env.spec(argv);
    env.run(&spec);
    std::thread::sleep(Duration::from_millis(settle_ms));
    let shim = env.state(&spec.id).shim_pid;
    let status = std::fs::read_to_string(format!("/proc/{shim}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let rollup = std::fs::read_to_string(format!("/proc/{shim}/smaps_rollup")).unwrap();
    let kib = |name: &str| -> u64 {
        rollup
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
        file: field("RssFile:"),
        pss: kib("Pss:"),
        private: kib("Private_Clean:") + kib("Private_Dirty:"),
    }
}
