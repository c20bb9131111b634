//! `berth inspect`: Docker's inspect JSON of containers, images, volumes or networks, as one
//! array.

use super::{CliError, Global, Result};
use crate::engine::{EngineError, ErrorKind};
use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Container,
    Image,
    Volume,
    Network,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Only look for this kind of object (containers first, then images, volumes and
    /// networks, by default).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<Kind>,
    /// Containers, images, volumes or networks, by name or id.
    #[arg(required = true, value_name = "NAME|ID")]
    pub objects: Vec<String>,
}

/// The docker CLI's indentation: four spaces.
pub(super) fn pretty(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    let _ = v.serialize(&mut ser);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn run(g: &Global, args: InspectArgs) -> Result<i32> {
    let engine = g.engine();
    let mut found = Vec::new();
    let mut failed = false;
    for o in &args.objects {
        let container = match args.kind {
            Some(Kind::Image | Kind::Volume | Kind::Network) => {
                Err(EngineError::not_found(String::new()))
            }
            _ => engine.inspect(o),
        };
        let image = match (container, args.kind) {
            (Ok(v), _) => Ok(v),
            (Err(e), Some(Kind::Image) | None) if e.is(ErrorKind::NotFound) => engine
                .image(o)
                .map(|img| crate::engine::images::views::inspect(&img)),
            (Err(e), _) => Err(e),
        };
        let volume = match (image, args.kind) {
            (Err(e), Some(Kind::Volume) | None) if e.is(ErrorKind::NotFound) => {
                engine.volume(o).map(|v| engine.volume_json(&v))
            }
            (r, _) => r,
        };
        let v = match (volume, args.kind) {
            (Err(e), Some(Kind::Network) | None) if e.is(ErrorKind::NotFound) => engine
                .network(o)
                .map(|n| engine.network_json(&n, true))
                .map_err(|e| match (e, args.kind) {
                    (e, None) if e.is(ErrorKind::NotFound) => {
                        EngineError::not_found(format!("No such object: {o}"))
                    }
                    (e, _) => e,
                }),
            (r, _) => r,
        };
        match v {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("berth: {e}");
                failed = true;
            }
        }
    }
    println!("{}", pretty(&Value::Array(found)));
    if failed {
        Err(CliError::Reported)
    } else {
        Ok(0)
    }
}
