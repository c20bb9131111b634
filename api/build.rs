//! What the binary says about its own build (`berth --version`, `GET /version`): the git commit
//! and the time of the build. `BERTH_GIT_COMMIT` and `SOURCE_DATE_EPOCH` in the environment win
//! (a packager's build from a tarball); otherwise git is asked, and "unknown" is said without it.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_GIT_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // Built again when HEAD moves: HEAD itself (a checkout) and the branch it names (a commit).
    if let Some(dir) = output("git", &["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let (Some(common), Some(branch)) = (
            output(
                "git",
                &["rev-parse", "--path-format=absolute", "--git-common-dir"],
            ),
            output("git", &["symbolic-ref", "-q", "HEAD"]),
        ) {
            let reference = format!("{common}/{branch}");
            if std::path::Path::new(&reference).exists() {
                println!("cargo:rerun-if-changed={reference}");
            } else {
                println!("cargo:rerun-if-changed={common}/packed-refs");
            }
        }
    }
    let commit = std::env::var("BERTH_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| output("git", &["rev-parse", "--short=7", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    // dockerd's form: 2023-10-26T09:08:02.000000000+00:00.
    let date_args: Vec<String> = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) if !epoch.is_empty() => vec![format!("--date=@{epoch}")],
        _ => Vec::new(),
    };
    let mut args: Vec<&str> = vec!["-u"];
    args.extend(date_args.iter().map(String::as_str));
    args.push("+%Y-%m-%dT%H:%M:%S.000000000+00:00");
    let time = output("date", &args).unwrap_or_default();
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=BERTH_BUILD_TIME={time}");
}
