use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match berth::cli::run(berth::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::FAILURE
        }
    }
}
