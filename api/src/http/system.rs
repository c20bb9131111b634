//! System routes: `/_ping` (liveness and version negotiation), `/version` and `/info`.

use super::version::{API_VERSION, MIN_API_VERSION};
use super::{AppState, Route};
use crate::engine::system::host;
use crate::engine::Result;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub use crate::build_info::{BUILD_TIME, GIT_COMMIT, VERSION as ENGINE_VERSION};

pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/_ping", ping),
        Route::head("/_ping", ping_head),
        Route::get("/version", version),
        Route::get("/info", info),
    ]
}

/// The headers of both `/_ping` methods (the version layer adds Api-Version, Ostype and
/// Docker-Experimental to every response). `Builder-Version: 1`: there is no BuildKit, so the
/// CLI must use the classic `POST /build`.
fn ping_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |name: &'static str, value: &'static str| {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    put("builder-version", "1");
    put("swarm", "inactive");
    put("cache-control", "no-cache, no-store, must-revalidate");
    put("pragma", "no-cache");
    put("content-type", "text/plain; charset=utf-8");
    h
}

async fn ping() -> Response {
    (ping_headers(), "OK").into_response()
}

async fn ping_head() -> Response {
    let mut h = ping_headers();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    (h, ()).into_response()
}

async fn version() -> Json<Value> {
    let kernel = host::kernel_version();
    let arch = host::go_arch();
    Json(json!({
        "Platform": { "Name": "berth" },
        "Components": [{
            "Name": "Engine",
            "Version": ENGINE_VERSION,
            "Details": {
                "ApiVersion": API_VERSION.to_string(),
                "MinAPIVersion": MIN_API_VERSION.to_string(),
                "GitCommit": GIT_COMMIT,
                "GoVersion": "n/a",
                "Os": "linux",
                "Arch": arch,
                "KernelVersion": kernel,
                "Experimental": "false",
                "BuildTime": BUILD_TIME,
            },
        }],
        "Version": ENGINE_VERSION,
        "ApiVersion": API_VERSION.to_string(),
        "MinAPIVersion": MIN_API_VERSION.to_string(),
        "GitCommit": GIT_COMMIT,
        "GoVersion": "n/a",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": kernel,
        "BuildTime": BUILD_TIME,
    }))
}

async fn info(State(state): State<AppState>) -> Result<Json<Value>> {
    let engine = state.engine.clone();
    // Directory walks and state reads: off the async workers.
    tokio::task::spawn_blocking(move || info_blocking(&engine))
        .await
        .map_err(|e| crate::engine::EngineError::system("collecting /info", e))?
}

fn info_blocking(engine: &crate::engine::Engine) -> Result<Json<Value>> {
    let root = &engine.paths.root;
    let containers = engine.container_counts()?;
    let images = engine.count_images()?;
    let id = engine.engine_id()?;
    let cgroup = host::cgroup();
    // cgroup v2 has no oom_kill_disable; the shim ignores it there, as runc does.
    let oom_kill_disable = cgroup.version == "1" && cgroup.memory;
    let mut warnings: Vec<String> = crate::engine::host::check(&engine.settings.runtime)
        .into_iter()
        .filter(|r| !r.ok)
        .map(|r| format!("WARNING: {}: {}", r.name, r.found))
        .collect();
    let mut push = |w: &str| warnings.push(w.to_string());
    if !cgroup.memory {
        push("WARNING: No memory limit support");
    }
    if !cgroup.swap {
        push("WARNING: No swap limit support");
    }
    if !cgroup.cpu {
        push("WARNING: No cpu cfs quota support");
        push("WARNING: No cpu shares support");
    }
    if !cgroup.cpuset {
        push("WARNING: No cpuset support");
    }
    if !cgroup.pids {
        push("WARNING: No pids limit support");
    }
    let ipv4_forwarding = host::ipv4_forwarding();
    if !ipv4_forwarding {
        push("WARNING: IPv4 forwarding is disabled");
    }
    // Two halves: one json! of this size exceeds the macro recursion limit.
    let mut info = json!({
        "ID": id,
        "Containers": containers.total,
        "ContainersRunning": containers.running,
        "ContainersPaused": containers.paused,
        "ContainersStopped": containers.stopped,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", host::backing_filesystem(root)],
            ["Supports d_type", "true"],
            ["Using metacopy", "false"],
            ["Native Overlay Diff", "true"],
            ["userxattr", "false"],
        ],
        "DockerRootDir": root.display().to_string(),
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": null,
            "Log": ["json-file"],
        },
        "MemoryLimit": cgroup.memory,
        "SwapLimit": cgroup.swap,
        "KernelMemoryTCP": false,
        "CpuCfsPeriod": cgroup.cpu,
        "CpuCfsQuota": cgroup.cpu,
        "CPUShares": cgroup.cpu,
        "CPUSet": cgroup.cpuset,
        "PidsLimit": cgroup.pids,
        "OomKillDisable": oom_kill_disable,
        "IPv4Forwarding": ipv4_forwarding,
        "Debug": false,
        "NFd": open_fds(),
        "NGoroutines": 0,
        "SystemTime": humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup.version,
        "NEventsListener": 0,
    });
    let more = json!({
        "KernelVersion": host::kernel_version(),
        "OperatingSystem": host::operating_system(),
        "OSVersion": host::os_version(),
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": host::ncpu(),
        "MemTotal": host::mem_total(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "InsecureRegistryCIDRs": [],
            "IndexConfigs": {
                "docker.io": {
                    "Name": "docker.io",
                    "Mirrors": [],
                    "Secure": true,
                    "Official": true,
                },
            },
            "Mirrors": [],
        },
        "GenericResources": null,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": host::hostname(),
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": ENGINE_VERSION,
        "Runtimes": { "runc": { "path": "berth-shim" } },
        "DefaultRuntime": "runc",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": false,
            "Error": "",
            "RemoteManagers": null,
        },
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": { "ID": "" },
        "RuncCommit": { "ID": "" },
        "InitCommit": { "ID": "" },
        "SecurityOptions": security_options(engine),
        "Warnings": warnings,
    });
    if let (Some(info), Value::Object(more)) = (info.as_object_mut(), more) {
        info.extend(more);
    }
    Ok(Json(info))
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// `SecurityOptions` of `docker info`: seccomp, and `name=userns` when containers get a user
/// namespace of their own by default (`--userns-remap`), as dockerd shows it.
fn security_options(engine: &crate::engine::Engine) -> Vec<&'static str> {
    let mut out = vec!["name=seccomp,profile=builtin"];
    if engine.settings.userns.remap != crate::config::UsernsRemap::Off {
        out.push("name=userns");
    }
    out
}
