//! Images: `images` (`image ls`), `load`, `import`, `rmi` and `tag`, printing what the docker
//! CLI prints.

use super::table::{self, ago, human_size};
use super::{CliError, Global, Result};
use crate::engine::images::created_unix;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (by default the unnamed parents of other images, a build's
    /// intermediate steps, are hidden).
    #[arg(short, long)]
    pub all: bool,
    /// Print image ids only.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show full image ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Output: "json" (one object per line) or fields such as "repository,tag,id,size".
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images.
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read the archive from this file instead of stdin.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, WORKDIR, USER, ...).
    #[arg(short, long, value_name = "CHANGE")]
    pub change: Vec<String>,
    /// The commit message shown in the image's history.
    #[arg(short, long)]
    pub message: Option<String>,
    /// The tarball (optionally gzip, bzip2, xz or zstd compressed); "-" for stdin.
    #[arg(value_name = "FILE|-")]
    pub file: String,
    /// The name to give the image.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove the image even when stopped containers use it, and every tag of it.
    #[arg(short, long)]
    pub force: bool,
    /// Keep the untagged parents of a deleted image (dockerd deletes them).
    #[arg(long)]
    pub no_prune: bool,
    /// Images, by name or id.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image to name.
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    /// Its new name.
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

fn short_id(id: &str, trunc: bool) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if trunc {
        hex[..hex.len().min(12)].to_string()
    } else {
        id.to_string()
    }
}

/// The docker CLI's `images --format json` objects: one per name (or one `<none>` row).
fn rows(images: &[crate::engine::images::Image], trunc: bool) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    for img in images {
        let created = created_unix(&img.created);
        let tags: Vec<(String, String)> = if img.repo_tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            img.repo_tags
                .iter()
                .map(|t| match t.rsplit_once(':') {
                    Some((r, tag)) if !tag.contains('/') => (r.to_string(), tag.to_string()),
                    _ => (t.clone(), "<none>".into()),
                })
                .collect()
        };
        for (repo, tag) in tags {
            let mut m = Map::new();
            m.insert("Containers".into(), json!("N/A"));
            m.insert("CreatedAt".into(), json!(table::created_at(created)));
            m.insert("CreatedSince".into(), json!(ago(created)));
            m.insert("Digest".into(), json!("<none>"));
            m.insert("ID".into(), json!(short_id(&img.id, trunc)));
            m.insert("Repository".into(), json!(repo));
            m.insert("SharedSize".into(), json!("N/A"));
            m.insert("Size".into(), json!(human_size(img.size)));
            m.insert("Tag".into(), json!(tag));
            m.insert("UniqueSize".into(), json!("N/A"));
            m.insert("VirtualSize".into(), json!(human_size(img.size)));
            out.push(m);
        }
    }
    out
}

/// "repository,tag" to the keys of `rows`; an unknown field is an error.
fn fields(format: &str) -> Result<Vec<&'static str>> {
    format
        .split(',')
        .map(|f| {
            Ok(match f.trim().to_ascii_lowercase().as_str() {
                "repository" | "repo" => "Repository",
                "tag" => "Tag",
                "id" => "ID",
                "digest" => "Digest",
                "created" | "createdsince" => "CreatedSince",
                "createdat" | "created_at" => "CreatedAt",
                "size" => "Size",
                other => {
                    return Err(CliError::Usage(format!(
                        "unknown field {other:?} in --format"
                    )))
                }
            })
        })
        .collect()
}

pub fn list(g: &Global, args: ImagesArgs) -> Result<i32> {
    let format = args.format.as_deref().filter(|f| !f.is_empty());
    let wanted = match format {
        Some("json") | None => None,
        Some(f) => Some(fields(f)?),
    };
    let images = g.engine().listed_images(args.all)?;
    let trunc = !args.no_trunc;
    if args.quiet {
        for img in &images {
            println!("{}", short_id(&img.id, trunc));
        }
        return Ok(0);
    }
    let rows = rows(&images, trunc);
    let cell = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if format == Some("json") {
        for r in rows {
            println!("{}", Value::Object(r));
        }
    } else if let Some(keys) = wanted {
        for r in &rows {
            let cells: Vec<String> = keys.iter().map(|k| cell(&r[*k])).collect();
            println!("{}", cells.join("\t"));
        }
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                ["Repository", "Tag", "ID", "CreatedSince", "Size"]
                    .iter()
                    .map(|k| cell(&r[*k]))
                    .collect()
            })
            .collect();
        table::print(
            &["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
            &cells,
        );
    }
    Ok(0)
}

/// A file, or stdin for "-" or none.
fn input(path: Option<&std::path::Path>) -> Result<Box<dyn Read>> {
    match path {
        Some(p) if p != std::path::Path::new("-") => {
            let f = std::fs::File::open(p)
                .map_err(|e| CliError::io(format!("opening {}", p.display()), e))?;
            Ok(Box::new(std::io::BufReader::new(f)))
        }
        _ => Ok(Box::new(std::io::stdin().lock())),
    }
}

pub fn load(g: &Global, args: LoadArgs) -> Result<i32> {
    if args.input.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(CliError::Usage(
            "requested load from stdin, but stdin is empty".into(),
        ));
    }
    let lines = g.engine().load(input(args.input.as_deref())?)?;
    for l in lines {
        println!("{l}");
    }
    Ok(0)
}

pub fn import(g: &Global, args: ImportArgs) -> Result<i32> {
    let path = PathBuf::from(&args.file);
    let image = g.engine().import(
        input(Some(&path))?,
        args.reference.as_deref(),
        &args.change,
        args.message.as_deref().unwrap_or(""),
    )?;
    println!("{}", image.id);
    Ok(0)
}

pub fn rmi(g: &Global, args: RmiArgs) -> Result<i32> {
    let engine = g.engine();
    let mut failed = false;
    for i in &args.images {
        match engine.remove_image_with(i, args.force, !args.no_prune) {
            Ok(items) => {
                for item in items {
                    for (k, v) in item.as_object().into_iter().flatten() {
                        println!("{k}: {}", v.as_str().unwrap_or_default());
                    }
                }
            }
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

pub fn tag(g: &Global, args: TagArgs) -> Result<i32> {
    g.engine().tag(&args.source, &args.target, "")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_fields_as_the_docker_cli() {
        let img = crate::engine::images::Image {
            id: format!("sha256:{}", "ab".repeat(32)),
            repo_tags: vec!["busybox:latest".into(), "localhost:5000/bb".into()],
            size: 4_261_000,
            ..Default::default()
        };
        let r = rows(std::slice::from_ref(&img), true);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (
                &r[0]["Repository"],
                &r[0]["Tag"],
                &r[0]["ID"],
                &r[0]["Size"]
            ),
            (
                &json!("busybox"),
                &json!("latest"),
                &json!("abababababab"),
                &json!("4.26MB")
            )
        );
        assert_eq!(
            (&r[1]["Repository"], &r[1]["Tag"]),
            (&json!("localhost:5000/bb"), &json!("<none>"))
        );
        assert_eq!(
            fields("repository, Tag,id").unwrap(),
            ["Repository", "Tag", "ID"]
        );
        assert!(fields("colour").is_err());
    }
}
