//! A split line ([`Node`]) to a typed instruction, with the classic builder's checks and words:
//! argument counts, flags (`--name=value`; unknown ones refused), stage names, HEALTHCHECK's
//! durations, ONBUILD's forbidden triggers.

use std::collections::BTreeMap;
use std::time::Duration;

use super::duration::parse_go_duration;
use super::node::{go_quote, Node};
use super::{ArgDecl, Command, CopySpec, From, Healthcheck, Instruction};

/// What a line is: a stage's start, or an instruction.
pub(super) enum Parsed {
    From(From),
    Instruction(Instruction),
}

/// The `--name=value` flags an instruction accepts, checked as dockerd checks them.
struct Flags<'a> {
    given: &'a [String],
}

impl<'a> Flags<'a> {
    /// The values of the given flags, each of which must be one of `known` and have a value.
    fn parse(&self, known: &[&str]) -> Result<BTreeMap<String, String>, String> {
        let mut values = BTreeMap::new();
        for arg in self.given {
            let Some(arg) = arg.strip_prefix("--") else {
                return Err(format!("Arg should start with -- : {arg}"));
            };
            if arg.is_empty() {
                break;
            }
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg, None),
            };
            if !known.contains(&name) {
                return Err(format!("Unknown flag: {name}"));
            }
            if values.contains_key(name) {
                return Err(format!("Duplicate flag specified: {name}"));
            }
            let Some(value) = value else {
                return Err(format!("Missing a value on flag: {name}"));
            };
            values.insert(name.to_string(), value.to_string());
        }
        Ok(values)
    }

    fn none(&self) -> Result<(), String> {
        self.parse(&[]).map(drop)
    }
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

/// The command of RUN, CMD, ENTRYPOINT: exec form keeps the array, shell form joins the words.
fn command(node: &Node, args: &[String]) -> Command {
    if node.json {
        Command::Exec(args.to_vec())
    } else {
        Command::Shell(args.join(" "))
    }
}

fn key_values(args: &[String], cmd: &str) -> Result<Vec<(String, String)>, String> {
    if args.is_empty() {
        return Err(at_least_one(cmd));
    }
    if !args.len().is_multiple_of(2) {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    args.chunks(2)
        .map(|kv| {
            if kv[0].is_empty() {
                Err(format!("{cmd} names can not be blank"))
            } else {
                Ok((kv[0].clone(), kv[1].clone()))
            }
        })
        .collect()
}

fn copy_spec(node: &Node, cmd: &str, known: &[&str]) -> Result<CopySpec, String> {
    if node.args.len() < 2 {
        return Err(format!(
            "{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let mut flags = Flags { given: &node.flags }.parse(known)?;
    let (dest, sources) = node.args.split_last().unwrap_or((&node.args[0], &[]));
    Ok(CopySpec {
        sources: sources.to_vec(),
        dest: dest.clone(),
        from: flags.remove("from"),
        chown: flags.remove("chown"),
        chmod: flags.remove("chmod"),
    })
}

fn stage_name(args: &[String]) -> Result<Option<String>, String> {
    match args {
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            let mut chars = lower.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                });
            if !valid {
                return Err(format!(
                    "invalid name for build stage: {}, name can't start with a number or contain symbols",
                    go_quote(name)
                ));
            }
            Ok(Some(lower))
        }
        [_] => Ok(None),
        _ => Err("FROM requires either one or three arguments".into()),
    }
}

/// A HEALTHCHECK duration flag: a Go duration, 0 for the default, else at least 1ms.
fn interval(flags: &BTreeMap<String, String>, name: &str) -> Result<Option<Duration>, String> {
    let Some(value) = flags.get(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let nanos = parse_go_duration(value)?;
    if nanos == 0 {
        return Ok(None);
    }
    if nanos < 1_000_000 {
        return Err(format!(
            "Interval {} cannot be less than 1ms",
            go_quote(name)
        ));
    }
    Ok(Some(Duration::from_nanos(nanos.unsigned_abs())))
}

/// Go's `strconv.ParseInt(v, 10, 32)`, with its errors.
fn parse_int32(v: &str) -> Result<i32, String> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseInt: parsing {}: invalid syntax",
            go_quote(v)
        ));
    }
    v.parse::<i32>().map_err(|_| {
        format!(
            "strconv.ParseInt: parsing {}: value out of range",
            go_quote(v)
        )
    })
}

fn healthcheck(node: &Node) -> Result<Healthcheck, String> {
    let Some((typ, args)) = node.args.split_first() else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let typ = typ.to_uppercase();
    if typ == "NONE" {
        if !args.is_empty() || !node.flags.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    let flags = Flags { given: &node.flags }.parse(&[
        "interval",
        "timeout",
        "start-period",
        "start-interval",
        "retries",
    ])?;
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            go_quote(&typ)
        ));
    }
    if args.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let test = command(node, args);
    let interval_ = interval(&flags, "interval")?;
    let timeout = interval(&flags, "timeout")?;
    let start_period = interval(&flags, "start-period")?;
    let start_interval = interval(&flags, "start-interval")?;
    let retries = match flags.get("retries").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let n = parse_int32(v)?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            Some(n.unsigned_abs())
        }
    };
    Ok(Healthcheck::Check {
        test,
        interval: interval_,
        timeout,
        start_period,
        start_interval,
        retries,
    })
}

fn onbuild(node: &Node) -> Result<String, String> {
    let Some(trigger) = node.args.first() else {
        return Err(at_least_one("ONBUILD"));
    };
    Flags { given: &node.flags }.none()?;
    let trigger = trigger.trim().to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    // The line without its leading `ONBUILD` and the blanks after it.
    let text = node.original.trim_start();
    let text = text.get(node.keyword.len()..).unwrap_or("");
    Ok(text.trim_start().to_string())
}

pub(super) fn arg_decls(args: &[String]) -> Result<Vec<ArgDecl>, String> {
    if args.is_empty() {
        return Err(at_least_one("ARG"));
    }
    args.iter()
        .map(|arg| match arg.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".to_string()),
            Some((name, value)) => Ok(ArgDecl {
                name: name.to_string(),
                default: Some(value.to_string()),
            }),
            None => Ok(ArgDecl {
                name: arg.clone(),
                default: None,
            }),
        })
        .collect()
}

fn one(node: &Node, cmd: &str) -> Result<String, String> {
    if node.args.len() != 1 {
        return Err(exactly_one(cmd));
    }
    Flags { given: &node.flags }.none()?;
    Ok(node.args[0].clone())
}

pub(super) fn parse(node: &Node) -> Result<Parsed, String> {
    let flags = Flags { given: &node.flags };
    let args = &node.args;
    let instruction = match node.cmd.as_str() {
        "from" => {
            let name = stage_name(args)?;
            let mut f = flags.parse(&["platform"])?;
            return Ok(Parsed::From(From {
                image: args[0].clone(),
                name,
                platform: f.remove("platform"),
            }));
        }
        "env" => {
            flags.none()?;
            Instruction::Env(key_values(args, "ENV")?)
        }
        "label" => {
            flags.none()?;
            Instruction::Label(key_values(args, "LABEL")?)
        }
        "maintainer" => Instruction::Maintainer(one(node, "MAINTAINER")?),
        "add" => Instruction::Add(copy_spec(node, "ADD", &["chown", "chmod"])?),
        "copy" => Instruction::Copy(copy_spec(node, "COPY", &["chown", "from", "chmod"])?),
        "onbuild" => Instruction::Onbuild(onbuild(node)?),
        "workdir" => Instruction::Workdir(one(node, "WORKDIR")?),
        "run" => {
            flags.none()?;
            if args.is_empty() {
                return Err(at_least_one("RUN"));
            }
            Instruction::Run(command(node, args))
        }
        "cmd" => {
            flags.none()?;
            Instruction::Cmd(command(node, args))
        }
        "entrypoint" => {
            flags.none()?;
            // An empty ENTRYPOINT resets it, whichever the form.
            if args.is_empty() {
                Instruction::Entrypoint(Command::Exec(Vec::new()))
            } else {
                Instruction::Entrypoint(command(node, args))
            }
        }
        "healthcheck" => Instruction::Healthcheck(healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            flags.none()?;
            let mut ports = args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "user" => Instruction::User(one(node, "USER")?),
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            flags.none()?;
            let mut volumes = Vec::with_capacity(args.len());
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                volumes.push(v.to_string());
            }
            Instruction::Volume(volumes)
        }
        "stopsignal" => Instruction::Stopsignal(one(node, "STOPSIGNAL")?),
        "arg" => {
            let decls = arg_decls(args)?;
            flags.none()?;
            Instruction::Arg(decls)
        }
        "shell" => {
            flags.none()?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Instruction::Shell(args.clone())
        }
        _ => {
            return Err(format!(
                "unknown instruction: {}",
                node.keyword.to_uppercase()
            ))
        }
    };
    Ok(Parsed::Instruction(instruction))
}
