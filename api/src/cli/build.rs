//! `berth build`: the docker CLI's classic build through the engine. The context (a directory,
//! or `-`: a tar or a Dockerfile on stdin) is sent as a tar from a thread, a `-f` Dockerfile
//! from outside the context added to it as the docker CLI adds it; the stream's texts printed
//! as the docker CLI prints them (with `-q` only the image id), a failed step's exit code kept.

use super::{CliError, Global, Result};
use crate::engine::build::BuildOptions;
use clap::Args;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); repeatable.
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// The Dockerfile (default PATH/Dockerfile); `-` reads it from stdin.
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// A build-time variable, KEY=VALUE (KEY alone: its value from this environment).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// The stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Use no cached step.
    #[arg(long)]
    pub no_cache: bool,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    /// The build context: a directory, or `-` for a tar or a Dockerfile on stdin.
    pub context: String,
}

/// The magic of the archives a context may come as.
fn is_archive(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(b"BZh")
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 262 && &head[257..262] == b"ustar")
}

fn tar_of_file(name: &str, content: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, content)?;
    b.into_inner()
}

/// The context as a reader of a tar, and the Dockerfile's name in it (empty: the default).
fn context(args: &BuildArgs) -> Result<(Box<dyn Read + Send>, String)> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e| CliError::io(what, e)
    };
    if args.context == "-" {
        if args.file.as_deref() == Some("-") {
            return Err(CliError::Usage(
                "invalid argument: can't use stdin for both build context and dockerfile".into(),
            ));
        }
        let mut all = Vec::new();
        std::io::stdin()
            .read_to_end(&mut all)
            .map_err(io("reading stdin"))?;
        if is_archive(&all[..all.len().min(512)]) {
            return Ok((
                Box::new(std::io::Cursor::new(all)),
                args.file.clone().unwrap_or_default(),
            ));
        }
        let tar = tar_of_file("Dockerfile", &all).map_err(io("the context"))?;
        return Ok((Box::new(std::io::Cursor::new(tar)), String::new()));
    }
    let dir = PathBuf::from(&args.context);
    if !dir.is_dir() {
        return Err(CliError::Usage(format!(
            "unable to prepare context: path {:?} not found",
            args.context
        )));
    }
    // A Dockerfile outside the context (or from stdin) joins it under a name of its own.
    let (extra, name) = match args.file.as_deref() {
        None => (None, String::new()),
        Some("-") => {
            let mut text = Vec::new();
            std::io::stdin()
                .read_to_end(&mut text)
                .map_err(io("reading stdin"))?;
            let name = format!(".dockerfile.{}", crate::engine::ids::random_hex(20));
            (Some((name.clone(), text)), name)
        }
        Some(f) => {
            let p = Path::new(f);
            let abs = std::fs::canonicalize(p).map_err(io(&format!("the Dockerfile {f}")))?;
            let root = std::fs::canonicalize(&dir).map_err(io("the context"))?;
            match abs.strip_prefix(&root) {
                Ok(rel) => (None, rel.to_string_lossy().into_owned()),
                Err(_) => {
                    let text = std::fs::read(&abs).map_err(io(&format!("reading {f}")))?;
                    let name = format!(".dockerfile.{}", crate::engine::ids::random_hex(20));
                    (Some((name.clone(), text)), name)
                }
            }
        }
    };
    let (r, mut w) = std::io::pipe().map_err(io("a pipe"))?;
    std::thread::spawn(move || {
        let mut b = tar::Builder::new(std::io::BufWriter::new(&mut w));
        b.follow_symlinks(false);
        let mut done = b.append_dir_all(".", &dir);
        if let (Ok(()), Some((name, text))) = (&done, &extra) {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o600);
            h.set_entry_type(tar::EntryType::Regular);
            done = b.append_data(&mut h, name, text.as_slice());
        }
        let done = done.and_then(|_| b.into_inner()?.flush());
        if let Err(e) = done {
            // The engine sees the tar cut short and says so.
            tracing::warn!("sending the build context: {e}");
        }
    });
    Ok((Box::new(r), name))
}

pub fn build(g: &Global, args: BuildArgs) -> Result<i32> {
    let (tar, dockerfile) = context(&args)?;
    let mut build_args = std::collections::BTreeMap::new();
    for a in &args.build_args {
        match a.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), Some(v.to_string())),
            None => build_args.insert(a.clone(), std::env::var(a).ok()),
        };
    }
    let opts = BuildOptions {
        dockerfile,
        tags: args.tags.clone(),
        build_args,
        target: args.target.clone().unwrap_or_default(),
        no_cache: args.no_cache,
        quiet: args.quiet,
        rm: true,
        ..Default::default()
    };
    let mut stdout = std::io::stdout();
    let mut print = |v: serde_json::Value| {
        if let Some(s) = v["stream"].as_str() {
            let _ = stdout.write_all(s.as_bytes());
            let _ = stdout.flush();
        }
    };
    match g.engine().build(&opts, tar, &mut print) {
        Ok(_) => Ok(0),
        // As the docker CLI ends a failed build: the message, and the step's exit code.
        Err(e) => {
            eprintln!("{}", e.message());
            Ok(e.exit_code().unwrap_or(1))
        }
    }
}
