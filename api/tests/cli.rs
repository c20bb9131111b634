//! berth's own command line, run as the real binary against the real kernel, with no API process
//! unless the test is about the two working together. Each test has its own root and run root
//! and imports busybox with `berth import` first. Needs root and `cargo build --workspace`
//! first, so that `berth-shim` sits next to `berth`.

use crate::cli_support::{output, Root, BERTH, LIMIT};
use crate::common::eventually;

use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn a_whole_life_cycle_with_no_server() {
    let r = Root::new();
    let out = r
        .berth(&[
            "run",
            "-d",
            "--name",
            "web",
            "-l",
            "berth.monitor=security,counts",
            "-m",
            "64m",
            "--pids-limit",
            "50",
            "busybox",
            "sh",
            "-c",
            "echo hello; while true; do sleep 1; done",
        ])
        .expect(0, "berth run -d");
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "run -d printed {:?}, not an id", out.stdout);
    assert!(
        !r.tmp.path().join("run").join("berth.sock").exists(),
        "no API socket may exist"
    );

    let list = r.berth(&["list"]).expect(0, "berth list").stdout;
    let header = list.lines().next().unwrap_or_default();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "NAMES",
    ] {
        assert!(header.contains(col), "list header lacks {col}: {list}");
    }
    let row = list
        .lines()
        .find(|l| l.starts_with(&id[..12]))
        .unwrap_or_else(|| panic!("list does not show {}: {list}", &id[..12]));
    assert!(
        row.contains("busybox") && row.contains("Up ") && row.ends_with("web"),
        "list row: {row}"
    );
    let json = r
        .berth(&["ps", "--format", "json", "--filter", "name=web"])
        .expect(0, "berth ps --format json")
        .stdout;
    let v: serde_json::Value = serde_json::from_str(json.trim())
        .unwrap_or_else(|e| panic!("ps --format json is not one object per line ({e}): {json}"));
    assert_eq!(v["Names"], "web", "{v}");
    assert_eq!(v["State"], "running", "{v}");
    let fields = r
        .berth(&["ps", "--format", "id,name,status"])
        .expect(0, "berth ps --format id,name,status")
        .stdout;
    assert!(
        fields.starts_with(&format!("{}\tweb\tUp ", &id[..12])),
        "fields: {fields:?}"
    );

    assert_eq!(r.status("web", "State"), "running");
    let pid: i32 = r.status("web", "PID").parse().expect("PID is a number");
    assert!(
        pid > 0 && Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid}"
    );
    assert_eq!(r.status("web", "Memory").split(" / ").nth(1), Some("64MiB"));
    assert_eq!(r.status("web", "PIDs").split(" / ").nth(1), Some("50"));
    assert_eq!(r.status("web", "Health"), "none");
    // The eBPF monitor's counts: "<n> calls, <m> errors (<name> <calls>, ...)".
    let calls = r.status("web", "Syscalls");
    let total: u64 = calls
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("Syscalls: {calls:?}"));
    assert!(
        total > 0 && calls.contains(" errors ("),
        "Syscalls: {calls:?}"
    );
    let net = r.status("web", "Network");
    assert!(
        net.starts_with("rx ") && net.contains(", tx "),
        "Network: {net:?}"
    );

    r.berth(&["freeze", "web"]).expect(0, "berth freeze");
    assert_eq!(r.status("web", "State"), "paused");
    r.berth(&["thaw", "web"]).expect(0, "berth thaw");
    assert_eq!(r.status("web", "State"), "running");

    eventually("logs show hello", || {
        r.berth(&["logs", "web"]).stdout.contains("hello")
    });
    let tail = r.berth(&["logs", "--tail", "0", "web"]).expect(0, "logs");
    assert_eq!(tail.stdout, "", "logs --tail 0");

    r.berth(&["stop", "-t", "1", "web"]).expect(0, "berth stop");
    assert_eq!(r.status("web", "State"), "exited");
    assert_eq!(r.status("web", "Exit code"), "137");
    r.berth(&["start", "web"]).expect(0, "berth start");
    assert_eq!(r.status("web", "State"), "running");
    let before: i32 = r.status("web", "PID").parse().unwrap();
    r.berth(&["restart", "-t", "1", "web"])
        .expect(0, "berth restart");
    assert_eq!(r.status("web", "State"), "running");
    assert_ne!(r.status("web", "PID").parse::<i32>().unwrap(), before);

    let out = r
        .berth(&["rm", "web"])
        .expect(125, "berth rm of a running one");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    r.berth(&["stop", "-t", "1", "web"]).expect(0, "berth stop");
    r.berth(&["rm", "web"]).expect(0, "berth rm");
    assert_eq!(r.containers(), Vec::<String>::new(), "nothing is left");
    let list = r
        .berth(&["list", "-a", "-q"])
        .expect(0, "list -a -q")
        .stdout;
    assert_eq!(list, "", "list -a -q after rm");
}

#[test]
fn an_attached_run_prints_and_exits_with_the_containers_code() {
    let r = Root::new();
    let out = r
        .berth(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo hi; echo oops >&2; exit 3",
        ])
        .expect(3, "berth run --rm");
    assert_eq!(out.stdout, "hi\n");
    assert_eq!(out.stderr, "oops\n");
    assert_eq!(r.containers(), Vec::<String>::new(), "--rm leaves nothing");

    // Without --rm the container stays, exited with its code.
    r.berth(&["run", "--name", "kept", "busybox", "sh", "-c", "exit 5"])
        .expect(5, "berth run");
    assert_eq!(r.status("kept", "Exit code"), "5");
    // start -a runs it again, attached.
    r.berth(&["start", "-a", "kept"])
        .expect(5, "berth start -a");
}

#[test]
fn an_attached_run_records_the_attach_event() {
    let r = Root::new();
    r.berth(&["run", "--name", "att", "busybox", "true"])
        .expect(0, "berth run");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let until = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    let out = r
        .berth(&[
            "events",
            "--since",
            "0",
            "--until",
            &until,
            "--filter",
            "container=att",
            "--format",
            "json",
        ])
        .expect(0, "berth events");
    let actions: Vec<String> = out
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("an event line that is not JSON ({e}): {l}"));
            v["Action"].as_str().unwrap_or_default().to_string()
        })
        .filter(|a| matches!(a.as_str(), "create" | "attach" | "start"))
        .collect();
    assert_eq!(
        actions,
        ["create", "attach", "start"],
        "the events of an attached berth run, as dockerd records docker run's; all: {}",
        out.stdout
    );
}

#[test]
fn run_i_sends_stdin_and_closes_it_at_eof() {
    let r = Root::new();
    let out = r
        .berth_with(
            &["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done"],
            Some(b"piped in\n"),
        )
        .expect(0, "berth run -i");
    assert_eq!(out.stdout, "piped in\ndone\n");
    assert_eq!(r.containers(), Vec::<String>::new());
}

#[test]
fn wrong_input_is_one_line_and_125_with_nothing_left() {
    let r = Root::new();
    r.berth(&["create", "--name", "taken", "busybox", "true"])
        .expect(0, "berth create");
    let before = r.containers();
    assert_eq!(before.len(), 1);
    for (args, message) in [
        (
            vec!["run", "nosuch", "true"],
            "berth: No such image: nosuch:latest",
        ),
        (
            vec!["run", "-m", "1k", "busybox", "true"],
            "berth: Minimum memory limit allowed is 6MB",
        ),
        (
            vec!["run", "-m", "lots", "busybox", "true"],
            "berth: invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'",
        ),
        (
            vec!["run", "--name", "taken", "busybox", "true"],
            "berth: Conflict. The container name \"/taken\" is already in use",
        ),
    ] {
        let out = r.berth(&args).expect(125, &args.join(" "));
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "{args:?}: one line: {}",
            out.stderr
        );
        assert!(
            out.stderr.starts_with(message),
            "{args:?}: want {message:?}, got {:?}",
            out.stderr
        );
        assert_eq!(r.containers(), before, "{args:?} left something behind");
    }
    // A command that cannot run: 127 or 126, as the docker CLI maps them.
    let out = r
        .berth(&["run", "--rm", "busybox", "nosuchcmd"])
        .expect(127, "run of a missing command");
    assert!(
        out.stderr.contains("executable file not found"),
        "{}",
        out.stderr
    );
    r.berth(&["run", "--rm", "busybox", "/etc"])
        .expect(126, "run of a directory");
    assert_eq!(
        r.containers(),
        before,
        "--rm starts that failed left nothing"
    );
}

#[test]
fn the_cli_and_the_docker_cli_through_berth_serve_share_one_world() {
    let r = Root::new();
    let id = r
        .berth(&[
            "run", "-d", "--name", "mine", "-l", "made=cli", "busybox", "sleep", "300",
        ])
        .expect(0, "berth run -d")
        .stdout
        .trim()
        .to_string();
    let sock = r.tmp.path().join("api.sock");
    /// The server, killed however the test ends.
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let server = Server(
        r.command(&[
            "serve",
            "--socket",
            sock.to_str().unwrap(),
            "--idle-timeout",
            "0",
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("starting berth serve"),
    );
    eventually("berth serve listens", || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    let docker = |args: &[&str]| {
        let mut c = Command::new("docker");
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .stdin(Stdio::null());
        output(c, None, &format!("docker {}", args.join(" ")))
    };
    let ps = docker(&["ps", "--no-trunc"]).expect(0, "docker ps");
    assert!(
        ps.stdout.contains(&id) && ps.stdout.contains("mine"),
        "docker ps does not show the CLI's container: {}",
        ps.stdout
    );
    let labels = docker(&[
        "inspect",
        "-f",
        "{{.Config.Labels.made}} {{.HostConfig.NetworkMode}}",
        "mine",
    ])
    .expect(0, "docker inspect");
    assert_eq!(labels.stdout.trim(), "cli bridge");
    docker(&["stop", "-t", "1", "mine"]).expect(0, "docker stop");
    assert_eq!(r.status("mine", "State"), "exited");

    let theirs = docker(&["run", "-d", "--name", "theirs", "busybox", "sleep", "300"])
        .expect(0, "docker run -d")
        .stdout
        .trim()
        .to_string();
    let list = r
        .berth(&["list", "--no-trunc"])
        .expect(0, "berth list")
        .stdout;
    assert!(
        list.contains(&theirs) && list.contains("theirs"),
        "berth list does not show docker's container: {list}"
    );
    r.berth(&["rm", "-f", "theirs"]).expect(0, "berth rm -f");
    let ps = docker(&["ps", "-a"]).expect(0, "docker ps -a");
    assert!(!ps.stdout.contains("theirs"), "{}", ps.stdout);
    drop(server);
}

#[test]
fn run_it_in_a_pty_gets_a_terminal_of_the_local_size() {
    let r = Root::new();
    let line = format!(
        "stty rows 30 cols 100; {BERTH} run -it --rm busybox sh -c '[ -t 0 ] && [ -t 1 ] && echo both-ttys; tty; stty size'"
    );
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"])
        .env("BERTH_ROOT", r.root())
        .env("BERTH_RUN_ROOT", r.tmp.path().join("run"))
        .stdin(Stdio::piped());
    // stdin stays open (an EOF would be typed into the terminal) until the run is over.
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("script (util-linux)");
    let held_open = child.stdin.take();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(LIMIT).unwrap_or_else(|_| {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        panic!("berth run -it in script: no exit in {LIMIT:?}")
    });
    drop(held_open);
    let out = out.expect("waiting for script");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert_eq!(out.status.code(), Some(0), "exit: {text}");
    assert!(
        text.contains("both-ttys"),
        "stdin and stdout are no tty: {text:?}"
    );
    assert!(
        text.contains("30 100"),
        "the local size did not arrive: {text:?}"
    );
    // The terminal is opened in the container's own devpts, so `tty` names it.
    assert!(
        text.contains("/dev/pts/") && !text.contains("not a tty"),
        "tty: {text:?}"
    );
    assert_eq!(r.containers(), Vec::<String>::new());
}

#[test]
fn help_and_completion() {
    let r = Root::new();
    let out = r.berth(&["run", "--help"]).expect(0, "berth run --help");
    for flag in [
        "--detach",
        "--interactive",
        "--tty",
        "--rm",
        "--name",
        "--env",
        "--volume",
        "--memory",
        "--memory-swap",
        "--cpus",
        "--cpu-shares",
        "--pids-limit",
        "--network",
        "--restart",
        "--user",
        "--workdir",
        "--entrypoint",
        "--label",
        "--cap-add",
        "--cap-drop",
        "--privileged",
        "--read-only",
        "--init",
        "--security-opt",
        "--ulimit",
        "-h, --hostname",
    ] {
        assert!(
            out.stdout.contains(flag),
            "run --help lacks {flag}: {}",
            out.stdout
        );
    }
    let out = r.berth(&["--help"]).expect(0, "berth --help");
    for cmd in [
        "run",
        "list",
        "status",
        "freeze",
        "thaw",
        "serve",
        "completion",
    ] {
        assert!(
            out.stdout.contains(cmd),
            "--help lacks {cmd}: {}",
            out.stdout
        );
    }
    let out = r
        .berth(&["completion", "bash"])
        .expect(0, "completion bash");
    assert!(out.stdout.contains("berth"), "{}", out.stdout);
    let images = r.berth(&["images"]).expect(0, "berth images").stdout;
    assert!(
        images
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("busybox ") && l.contains("latest")),
        "{images}"
    );
}

#[test]
fn exec_runs_in_the_container_and_events_tell_its_life() {
    let r = Root::new();
    r.berth(&["run", "-d", "--name", "ex", "busybox", "sleep", "1000"])
        .expect(0, "berth run -d");
    let out = r
        .berth(&["exec", "ex", "sh", "-c", "echo in; echo err >&2; exit 4"])
        .expect(4, "berth exec");
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("in\n", "err\n")
    );
    let out = r
        .berth_with(&["exec", "-i", "ex", "tr", "a-z", "A-Z"], Some(b"quiet\n"))
        .expect(0, "berth exec -i");
    assert_eq!(out.stdout, "QUIET\n");
    let out = r
        .berth(&[
            "exec",
            "-u",
            "65534",
            "-w",
            "/tmp",
            "-e",
            "X=1",
            "ex",
            "sh",
            "-c",
            "id -u; pwd; echo $X",
        ])
        .expect(0, "berth exec -u -w -e");
    assert_eq!(out.stdout, "65534\n/tmp\n1\n");
    let out = r.berth(&["exec", "ex", "nosuchcmd"]);
    assert_eq!(out.code, 127, "a missing command: {}", out.stderr);
    r.berth(&["exec", "-d", "ex", "touch", "/tmp/detached"])
        .expect(0, "berth exec -d");
    eventually("the detached exec", || {
        r.berth(&["exec", "ex", "ls", "/tmp/detached"]).code == 0
    });
    r.berth(&["freeze", "ex"]).expect(0, "freeze");
    let out = r
        .berth(&["exec", "ex", "true"])
        .expect(125, "exec in a frozen container");
    assert!(out.stderr.contains("is paused"), "{}", out.stderr);
    r.berth(&["thaw", "ex"]).expect(0, "thaw");
    r.berth(&["rm", "-f", "ex"]).expect(0, "rm -f");

    // Every event of `ex` is logged before its command returns, so a bound taken now holds them
    // all (10 ms more for the rounding to milliseconds; `events` waits for a bound to pass).
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 0.01;
    let out = r
        .berth(&[
            "events",
            "--since",
            "0",
            "--until",
            &format!("{until:.3}"),
            "--filter",
            "container=ex",
            "--format",
            "json",
        ])
        .expect(0, "berth events");
    let actions: Vec<String> = out
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let pos = |a: &str| {
        actions
            .iter()
            .position(|x| x.starts_with(a))
            .unwrap_or_else(|| panic!("no {a} in {actions:?}"))
    };
    assert!(pos("create") < pos("start"), "{actions:?}");
    assert!(pos("start") < pos("exec_create"), "{actions:?}");
    assert!(pos("pause") < pos("unpause"), "{actions:?}");
    assert!(pos("die") < pos("destroy"), "{actions:?}");
}
