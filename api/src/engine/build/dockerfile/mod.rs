//! The Dockerfile, read as the classic builder reads it: a pure function from text to stages of
//! instructions, with no I/O. Words keep their quotes and `$variables` here: they are expanded
//! at each step, with the ARG and ENV values in force there ([`words`]).
//! `.dockerignore` matching is in [`ignore`].

mod duration;
pub mod ignore;
mod instructions;
mod lines;
mod node;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_robust;
pub mod words;

use std::time::Duration;

/// A parse failure, with the (1-based) line it is on, worded as dockerd words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// A whole Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`# escape=`), `\` by default.
    pub escape: char,
    /// `# syntax=`: accepted and not used.
    pub syntax: Option<String>,
    /// The ARGs before the first FROM: usable in FROM lines, and in a stage that declares them.
    pub meta_args: Vec<Located<ArgDecl>>,
    /// Empty for a file of ARGs only: dockerd then fails the build with `No image was
    /// generated. Is your Dockerfile empty?`.
    pub stages: Vec<Stage>,
    /// What dockerd prints before the steps (empty continuation lines).
    pub warnings: Vec<String>,
}

/// One FROM and what follows it up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub from: Located<From>,
    pub instructions: Vec<Located<Instruction>>,
}

/// An instruction and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// The line its keyword is on (1-based).
    pub line: usize,
    /// The instruction as dockerd prints it in `Step N/M : <text>`: the keyword as written,
    /// then the rest with continuation lines joined.
    pub text: String,
    pub value: T,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image reference, unexpanded (meta ARGs apply); `scratch` for none.
    pub image: String,
    /// `AS name`, lowercased.
    pub name: Option<String>,
    /// `--platform=`, unexpanded.
    pub platform: Option<String>,
}

/// `ARG name` or `ARG name=default` (the name as written, the default unexpanded: dockerd
/// expands both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// A command in shell form (run with the SHELL in force) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

/// COPY and ADD. Sources and destination unexpanded, each to be expanded on its own with
/// [`words::process`] (the shell form splits them at white space, not at quotes, as dockerd
/// does; the JSON form keeps the array's strings); the flags' values unexpanded too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from=`: a stage name or index, or an image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// HEALTHCHECK NONE: the image's check is switched off.
    None,
    Check {
        test: Command,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

/// The instructions after FROM. Key-value lists keep their order; words are unexpanded: ENV and
/// LABEL keys and values, EXPOSE ports, VOLUME paths, USER, WORKDIR and STOPSIGNAL each go
/// through [`words::process`] at their step (the legacy `ENV k v w` keeps `v w` as one value).
/// A shell-form command is the text as written; an empty ENTRYPOINT is `Exec(vec![])` (it
/// resets the entrypoint). HEALTHCHECK durations of 0 are `None` (the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run(Command),
    Cmd(Command),
    Entrypoint(Command),
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Copy(CopySpec),
    Add(CopySpec),
    /// The trigger's text as written after ONBUILD (it goes into the image's `OnBuild` list
    /// and is parsed with [`parse_instruction`] by the build that uses the image).
    Onbuild(String),
    Stopsignal(String),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
    Maintainer(String),
}

/// Read a Dockerfile. The whole file is split first (the errors of that pass come first, as in
/// dockerd), then each line is read as its instruction.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let lines = lines::split(text)?;
    let mut nodes = Vec::with_capacity(lines.lines.len());
    for line in &lines.lines {
        let node = node::from_line(&line.text, lines.escape).map_err(|message| ParseError {
            line: line.start,
            message,
        })?;
        nodes.push((line, node));
    }
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for (line, node) in nodes {
        let error = |message| ParseError {
            line: line.start,
            message,
        };
        let text = line.text.trim().to_string();
        match instructions::parse(&node).map_err(error)? {
            instructions::Parsed::From(from) => stages.push(Stage {
                from: Located {
                    line: line.start,
                    text,
                    value: from,
                },
                instructions: Vec::new(),
            }),
            instructions::Parsed::Instruction(Instruction::Arg(decls)) if stages.is_empty() => {
                meta_args.extend(decls.into_iter().map(|value| Located {
                    line: line.start,
                    text: text.clone(),
                    value,
                }));
            }
            instructions::Parsed::Instruction(value) => {
                let Some(stage) = stages.last_mut() else {
                    return Err(error("no build stage in current context".into()));
                };
                stage.instructions.push(Located {
                    line: line.start,
                    text,
                    value,
                });
            }
        }
    }
    Ok(Dockerfile {
        escape: lines.escape,
        syntax: lines.syntax,
        meta_args,
        stages,
        warnings: lines.warnings,
    })
}

/// Read one instruction (an ONBUILD trigger), with the default escape character. The triggers
/// dockerd refuses (ONBUILD, FROM, MAINTAINER) are refused here too.
pub fn parse_instruction(text: &str) -> Result<Located<Instruction>, ParseError> {
    let lines = lines::split(text)?;
    let line = &lines.lines[0];
    let error = |message| ParseError {
        line: line.start,
        message,
    };
    let node = node::from_line(&line.text, lines.escape).map_err(error)?;
    match node.cmd.as_str() {
        "onbuild" => {
            return Err(error(
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into(),
            ))
        }
        "from" | "maintainer" => {
            return Err(error(format!(
                "{} isn't allowed as an ONBUILD trigger",
                node.cmd.to_uppercase()
            )))
        }
        _ => {}
    }
    match instructions::parse(&node).map_err(error)? {
        instructions::Parsed::Instruction(value) => Ok(Located {
            line: line.start,
            text: line.text.trim().to_string(),
            value,
        }),
        instructions::Parsed::From(_) => {
            Err(error("FROM isn't allowed as an ONBUILD trigger".into()))
        }
    }
}
