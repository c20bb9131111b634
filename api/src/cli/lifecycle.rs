//! start, stop, restart, kill, rm, freeze, thaw, rename and update: each target in turn, its
//! name printed on success and `berth: <message>` on failure, as the docker CLI does.

use super::{attach, CliError, Global, Result};
use crate::engine::{Engine, EngineError, ErrorKind};
use clap::Args;
use serde_json::{json, Map, Value};

#[derive(Debug, Args)]
pub struct Targets {
    /// Containers, by name, id or unique id prefix.
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach stdout and stderr and wait for the container's exit (its exit code is berth's).
    #[arg(short, long)]
    pub attach: bool,
    /// Attach stdin as well.
    #[arg(short, long)]
    pub interactive: bool,
    #[command(flatten)]
    pub targets: Targets,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container (its own stop timeout by default).
    #[arg(
        short,
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS"
    )]
    pub time: Option<i64>,
    /// The signal to stop the container with (its stop signal by default).
    #[arg(short, long)]
    pub signal: Option<String>,
    #[command(flatten)]
    pub targets: Targets,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait for the stop before killing the container.
    #[arg(
        short,
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS"
    )]
    pub time: Option<i64>,
    /// The signal to stop the container with (its stop signal by default).
    #[arg(short, long)]
    pub signal: Option<String>,
    #[command(flatten)]
    pub targets: Targets,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// The signal to send: a name (SIGHUP, HUP) or number.
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[command(flatten)]
    pub targets: Targets,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill and remove running containers too.
    #[arg(short, long)]
    pub force: bool,
    /// Remove the containers' anonymous volumes too (those no other container uses).
    #[arg(short, long)]
    pub volumes: bool,
    #[command(flatten)]
    pub targets: Targets,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container to rename.
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit (512m, 1g).
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs (fractions allowed).
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long, value_name = "INT")]
    pub cpu_shares: Option<i64>,
    /// CFS period, in microseconds.
    #[arg(long, value_name = "INT")]
    pub cpu_period: Option<i64>,
    /// CFS quota, in microseconds.
    #[arg(long, value_name = "INT")]
    pub cpu_quota: Option<i64>,
    /// CPUs the container may use (0-3, 0,1).
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 for unlimited).
    #[arg(long, value_name = "INT", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight, 10 to 1000.
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
    /// Restart policy: no, always, unless-stopped, on-failure[:MAX-RETRIES].
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    #[command(flatten)]
    pub targets: Targets,
}

/// Run `f` on each target: its name printed on success, an error line otherwise.
pub fn each(
    g: &Global,
    targets: &[String],
    f: impl Fn(&Engine, &str) -> std::result::Result<(), EngineError>,
) -> Result<i32> {
    let engine = g.engine();
    let mut failed = false;
    for t in targets {
        match f(&engine, t) {
            Ok(()) => println!("{t}"),
            Err(e) if e.is(ErrorKind::NotModified) => println!("{t}"),
            Err(e) => {
                eprintln!("berth: {e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(CliError::Reported)
    } else {
        Ok(0)
    }
}

pub fn start(g: &Global, args: StartArgs) -> Result<i32> {
    if !args.attach && !args.interactive {
        let engine = g.engine();
        let mut failed = None;
        for t in &args.targets.containers {
            match engine.start(t) {
                Ok(()) => println!("{t}"),
                Err(e) if e.is(ErrorKind::NotModified) => println!("{t}"),
                Err(e) => {
                    let e = CliError::Start(e);
                    eprintln!("berth: {e}");
                    failed = Some(e.exit_code());
                }
            }
        }
        return match failed {
            Some(code) if args.targets.containers.len() == 1 => Ok(code),
            Some(_) => Err(CliError::Reported),
            None => Ok(0),
        };
    }
    let [target] = args.targets.containers.as_slice() else {
        return Err(CliError::Usage(
            "you cannot start and attach multiple containers at once".into(),
        ));
    };
    let engine = g.engine();
    let id = engine.lookup(target)?;
    let record = engine.record(&id)?;
    let opts = attach::Options {
        stdin: args.interactive && record.config.open_stdin,
        tty: record.config.tty,
        remove: false,
    };
    attach::run(&engine, &id, &opts)
}

pub fn stop(g: &Global, args: StopArgs) -> Result<i32> {
    each(g, &args.targets.containers, |e, c| {
        e.stop(c, args.time, args.signal.clone())
    })
}

pub fn restart(g: &Global, args: RestartArgs) -> Result<i32> {
    each(g, &args.targets.containers, |e, c| {
        e.restart(c, args.time, args.signal.clone())
    })
}

pub fn kill(g: &Global, args: KillArgs) -> Result<i32> {
    each(g, &args.targets.containers, |e, c| {
        e.kill(c, Some(args.signal.clone()))
    })
}

pub fn rm(g: &Global, args: RmArgs) -> Result<i32> {
    each(g, &args.targets.containers, |e, c| {
        e.remove_with_volumes(c, args.force, args.volumes)
    })
}

pub fn rename(g: &Global, args: RenameArgs) -> Result<i32> {
    g.engine().rename(&args.container, &args.new_name)?;
    Ok(0)
}

/// The update body the docker CLI sends, with only the given fields (the engine keeps the
/// others as they are).
pub fn update_body(a: &UpdateArgs) -> Result<Value> {
    let mut m = Map::new();
    let size = |v: &str, flag: &str| -> Result<i64> {
        if v == "-1" {
            return Ok(-1);
        }
        crate::engine::sizes::parse_size(v)
            .map(|n| n as i64)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "invalid argument \"{v}\" for \"{flag}\" flag: invalid size: '{v}'"
                ))
            })
    };
    if let Some(v) = &a.memory {
        m.insert("Memory".into(), json!(size(v, "-m, --memory")?));
    }
    if let Some(v) = &a.memory_swap {
        m.insert("MemorySwap".into(), json!(size(v, "--memory-swap")?));
    }
    if let Some(v) = &a.memory_reservation {
        m.insert(
            "MemoryReservation".into(),
            json!(size(v, "--memory-reservation")?),
        );
    }
    if let Some(v) = &a.cpus {
        m.insert("NanoCpus".into(), json!(super::create_flags::nano_cpus(v)?));
    }
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("CpuShares", a.cpu_shares.map(|v| json!(v)));
    put("CpuPeriod", a.cpu_period.map(|v| json!(v)));
    put("CpuQuota", a.cpu_quota.map(|v| json!(v)));
    put("CpusetCpus", a.cpuset_cpus.as_ref().map(|v| json!(v)));
    put("CpusetMems", a.cpuset_mems.as_ref().map(|v| json!(v)));
    put("PidsLimit", a.pids_limit.map(|v| json!(v)));
    put("BlkioWeight", a.blkio_weight.map(|v| json!(v)));
    if let Some(r) = &a.restart {
        m.insert(
            "RestartPolicy".into(),
            json!(super::create_flags::restart_policy(r)?),
        );
    }
    if m.is_empty() {
        return Err(CliError::Usage(
            "you must provide one or more flags when using this command".into(),
        ));
    }
    Ok(Value::Object(m))
}

pub fn update(g: &Global, args: UpdateArgs) -> Result<i32> {
    let body = update_body(&args)?;
    each(g, &args.targets.containers, |e, c| {
        e.update(c, &body).map(|warnings| {
            for w in warnings {
                eprintln!("WARNING: {w}");
            }
        })
    })
}
