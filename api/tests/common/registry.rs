//! Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 for the registry tests: storage
//! in a temporary directory, optionally behind htpasswd basic auth.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `docker-registry serve` on 127.0.0.1:<port>, storage in `dir`; killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
}

impl Registry {
    pub fn start(dir: &Path, htpasswd: Option<&Path>) -> Option<Registry> {
        if Command::new("docker-registry")
            .arg("--version")
            .output()
            .is_err()
        {
            // No silent skips in CI: there the registry is required.
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "docker-registry is not installed (scripts/install-deps.sh installs it)"
            );
            eprintln!("skipping: docker-registry is not installed (scripts/install-deps.sh)");
            return None;
        }
        // A port found free may be taken again before the registry binds it (another test's
        // listener): then the registry exits, and we try another port.
        for _ in 0..5 {
            if let Some(r) = Registry::try_port(dir, htpasswd, free_port()) {
                return Some(r);
            }
        }
        panic!("docker-registry did not come up on any of 5 ports");
    }

    fn try_port(dir: &Path, htpasswd: Option<&Path>, port: u16) -> Option<Registry> {
        let auth = htpasswd.map_or(String::new(), |p| {
            format!(
                "auth:\n  htpasswd:\n    realm: berth\n    path: {}\n",
                p.display()
            )
        });
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.join("storage").display()
        );
        let cfg = dir.join(format!("registry-{port}.yml"));
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let mut reg = Registry { child, port };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if reg.child.try_wait().unwrap().is_some() {
                return None; // the port was taken
            }
            // The registry, and not some other listener, answers: its API version header.
            if let Ok(r) = agent.get(format!("http://127.0.0.1:{port}/v2/")).call() {
                if r.headers().contains_key("docker-distribution-api-version") {
                    return Some(reg);
                }
                let _ = reg.child.kill();
                return None;
            }
            assert!(Instant::now() < deadline, "docker-registry did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
