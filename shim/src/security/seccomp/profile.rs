//! Docker's seccomp profile format, and what each rule means on this host.

use super::{Result, SeccompError};
use crate::security::caps::CapSet;
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp};
use serde::{Deserialize, Deserializer};
use std::str::FromStr;

/// A profile in Docker's format. Fields berth does not use (`listenerPath`, `flags`, comments)
/// are ignored.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub architectures: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, deserialize_with = "nullable")]
    pub syscalls: Vec<SyscallRule>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sub_architectures: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    /// The legacy single-name form.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub names: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<Arg>,
    #[serde(default, deserialize_with = "nullable")]
    pub includes: Condition,
    #[serde(default, deserialize_with = "nullable")]
    pub excludes: Condition,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// When a rule applies (`includes`: all must hold) or is skipped (`excludes`: any holds).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(default, deserialize_with = "nullable")]
    pub caps: Vec<String>,
    /// Go's names: "amd64", "arm64", "x32", ...
    #[serde(default, deserialize_with = "nullable")]
    pub arches: Vec<String>,
    /// "4.8".
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// Docker's profiles write `null` for empty lists and objects.
fn nullable<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Profile {
    /// Parse and check a profile.
    pub fn parse(json: &str) -> Result<Profile> {
        let profile: Profile = serde_json::from_str(json).map_err(SeccompError::Decode)?;
        if !profile.architectures.is_empty() && !profile.arch_map.is_empty() {
            return Err(SeccompError::ArchitecturesAndArchMap);
        }
        if profile
            .syscalls
            .iter()
            .any(|r| !r.name.is_empty() && !r.names.is_empty())
        {
            return Err(SeccompError::NameAndNames);
        }
        Ok(profile)
    }
}

/// What the rules are matched against: the container's capabilities and this host.
pub(super) struct Host<'a> {
    pub(super) caps: &'a CapSet,
    /// Go's name of the native architecture.
    pub(super) arch: &'static str,
    pub(super) kernel: (u32, u32),
}

/// Docker's action names; ERRNO and TRACE default to EPERM.
pub(super) fn action(name: &str, errno_ret: Option<u32>) -> Result<ScmpAction> {
    let ret = errno_ret.map_or(libc::EPERM, |e| e as i32);
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(ret),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(ret as u16),
        "SCMP_ACT_LOG" => ScmpAction::Log,
        _ => return Err(SeccompError::Action(name.to_string())),
    })
}

/// The architectures the filter covers besides the native one: `architectures`, or from
/// `archMap` the native entry and its sub-architectures.
pub(super) fn architectures(profile: &Profile) -> Result<Vec<ScmpArch>> {
    let parse =
        |s: &String| ScmpArch::from_str(s).map_err(|_| SeccompError::Architecture(s.clone()));
    if !profile.architectures.is_empty() {
        return profile.architectures.iter().map(parse).collect();
    }
    let native = ScmpArch::native();
    for entry in &profile.arch_map {
        // Entries for architectures this libseccomp does not know cannot be ours.
        if ScmpArch::from_str(&entry.architecture).ok() == Some(native) {
            let mut arches = vec![native];
            for sub in &entry.sub_architectures {
                arches.push(parse(sub)?);
            }
            return Ok(arches);
        }
    }
    Ok(Vec::new())
}

/// Whether a rule's includes all hold and none of its excludes does.
pub(super) fn applies(rule: &SyscallRule, host: &Host) -> Result<bool> {
    let inc = &rule.includes;
    if !inc.caps.iter().all(|c| host.caps.contains_name(c)) {
        return Ok(false);
    }
    if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == host.arch) {
        return Ok(false);
    }
    if let Some(min) = &inc.min_kernel {
        if host.kernel < parse_kernel(min)? {
            return Ok(false);
        }
    }
    let exc = &rule.excludes;
    if exc.caps.iter().any(|c| host.caps.contains_name(c)) {
        return Ok(false);
    }
    if exc.arches.iter().any(|a| a == host.arch) {
        return Ok(false);
    }
    if let Some(min) = &exc.min_kernel {
        if host.kernel >= parse_kernel(min)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The rule's argument checks as groups of comparisons, one libseccomp rule per group. All
/// checks go in one rule (ANDed) unless two of them test the same argument, which libseccomp
/// refuses in one rule: then each check becomes a rule of its own (ORed), as runc does.
pub(super) fn comparisons(
    rule: &SyscallRule,
    names: &[String],
) -> Result<Vec<Vec<ScmpArgCompare>>> {
    let mut all = Vec::with_capacity(rule.args.len());
    let mut seen = [0u8; 6];
    for arg in &rule.args {
        let Some(count) = seen.get_mut(arg.index as usize) else {
            return Err(SeccompError::ArgIndex {
                syscall: names.join(","),
                index: arg.index,
            });
        };
        *count += 1;
        let (op, datum) = match arg.op.as_str() {
            "SCMP_CMP_NE" => (ScmpCompareOp::NotEqual, arg.value),
            "SCMP_CMP_LT" => (ScmpCompareOp::Less, arg.value),
            "SCMP_CMP_LE" => (ScmpCompareOp::LessOrEqual, arg.value),
            "SCMP_CMP_EQ" => (ScmpCompareOp::Equal, arg.value),
            "SCMP_CMP_GE" => (ScmpCompareOp::GreaterEqual, arg.value),
            "SCMP_CMP_GT" => (ScmpCompareOp::Greater, arg.value),
            // Docker's `value` is the mask, `valueTwo` what the masked argument must equal.
            "SCMP_CMP_MASKED_EQ" => (ScmpCompareOp::MaskedEqual(arg.value), arg.value_two),
            other => return Err(SeccompError::Operator(other.to_string())),
        };
        all.push(ScmpArgCompare::new(arg.index, op, datum));
    }
    if seen.iter().any(|&n| n > 1) {
        Ok(all.into_iter().map(|c| vec![c]).collect())
    } else {
        Ok(vec![all])
    }
}

/// Go's GOARCH for this build's architecture, the names Docker profiles use in `arches`.
pub(super) fn native_go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "mips" if cfg!(target_endian = "little") => "mipsle",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// "4.8" or "6.18.44-fc-v669" as (major, minor).
pub(super) fn parse_kernel(s: &str) -> Result<(u32, u32)> {
    let bad = || SeccompError::MinKernel(s.to_string());
    let mut parts = s.trim().splitn(3, '.');
    let major = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
    let minor: String = parts
        .next()
        .ok_or_else(bad)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Ok((major, minor.parse().map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::caps::default_set;
    use crate::security::seccomp::{build, running_kernel, Arches, DEFAULT_PROFILE};
    use crate::spec::SeccompSpec;

    fn host(caps: &CapSet) -> Host<'_> {
        Host {
            caps,
            arch: "amd64",
            kernel: (6, 18),
        }
    }

    fn rule(json: &str) -> SyscallRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn embedded_default_profile_parses() {
        let p = Profile::parse(DEFAULT_PROFILE).unwrap();
        assert_eq!(p.default_action, "SCMP_ACT_ERRNO");
        assert_eq!(p.default_errno_ret, Some(1));
        assert!(p.syscalls.len() > 20, "got {} rules", p.syscalls.len());
        let arches = architectures(&p).unwrap();
        assert_eq!(arches, vec![ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32]);
    }

    #[test]
    fn default_profile_builds_with_default_and_all_caps() {
        build(&SeccompSpec::Default, &default_set(), Arches::Profile)
            .unwrap()
            .expect("a filter for the default profile");
        build(&SeccompSpec::Default, &CapSet::all(), Arches::Profile)
            .unwrap()
            .expect("a filter for the default profile with every capability");
        assert!(
            build(&SeccompSpec::Unconfined, &default_set(), Arches::Profile)
                .unwrap()
                .is_none()
        );
        build(&SeccompSpec::Default, &default_set(), Arches::NativeOnly)
            .unwrap()
            .expect("a native-only filter for the default profile");
        build(&SeccompSpec::Unconfined, &default_set(), Arches::NativeOnly)
            .unwrap()
            .expect("an architecture-only filter for an unconfined container with deny rules");
    }

    #[test]
    fn bad_json_uses_dockerd_wording() {
        let err = build(
            &SeccompSpec::Profile("{nope".into()),
            &default_set(),
            Arches::Profile,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("decoding seccomp profile failed: "),
            "got {err}"
        );
    }

    #[test]
    fn legacy_name_nulls_and_all_ops_parse_and_build() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [
                {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "args": null},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                 "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_GT"},
                          {"index": 0, "value": 0, "op": "SCMP_CMP_NE"}]},
                {"names": ["fchmod"], "action": "SCMP_ACT_KILL",
                 "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_LT"},
                          {"index": 1, "value": 9, "op": "SCMP_CMP_GE"}]},
                {"names": ["fchown"], "action": "SCMP_ACT_LOG",
                 "args": [{"index": 2, "value": 7, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"},
                          {"index": 1, "value": 5, "op": "SCMP_CMP_LE"},
                          {"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
                {"names": ["no_such_call_anywhere"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["tkill"], "action": "SCMP_ACT_TRAP", "includes": null, "excludes": {}},
                {"names": ["tgkill"], "action": "SCMP_ACT_TRACE", "errnoRet": 5},
                {"names": ["getpid"], "action": "SCMP_ACT_KILL_THREAD", "includes": {"arches": ["s390x"]}}
            ]
        }"#;
        let p = Profile::parse(json).unwrap();
        assert_eq!(p.syscalls[0].name, "mkdir");
        assert!(p.syscalls[0].args.is_empty());
        assert_eq!(p.syscalls[3].args[0].value_two, 3);
        build(
            &SeccompSpec::Profile(json.into()),
            &default_set(),
            Arches::Profile,
        )
        .unwrap()
        .unwrap();
    }

    #[test]
    fn conflicting_fields_and_bad_values_are_errors() {
        let both = r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
                       "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}]}"#;
        assert!(matches!(
            Profile::parse(both),
            Err(SeccompError::ArchitecturesAndArchMap)
        ));
        let both = r#"{"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]}"#;
        assert!(matches!(
            Profile::parse(both),
            Err(SeccompError::NameAndNames)
        ));
        let caps = default_set();
        let spec = |s: &str| SeccompSpec::Profile(s.to_string());
        let bad_action = r#"{"defaultAction": "SCMP_ACT_SOMETIMES"}"#;
        assert!(matches!(
            build(&spec(bad_action), &caps, Arches::Profile),
            Err(SeccompError::Action(a)) if a == "SCMP_ACT_SOMETIMES"
        ));
        let bad_op = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}"#;
        assert!(matches!(
            build(&spec(bad_op), &caps, Arches::Profile),
            Err(SeccompError::Operator(_))
        ));
        let bad_index = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
            "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#;
        assert!(matches!(
            build(&spec(bad_index), &caps, Arches::Profile),
            Err(SeccompError::ArgIndex { index: 6, .. })
        ));
        let bad_arch =
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]}"#;
        for arches in [Arches::Profile, Arches::NativeOnly] {
            assert!(matches!(
                build(&spec(bad_arch), &caps, arches),
                Err(SeccompError::Architecture(_))
            ));
        }
    }

    #[test]
    fn includes_and_excludes() {
        let defaults = default_set();
        let mut admin = default_set();
        admin.insert(::caps::Capability::CAP_SYS_ADMIN);
        let needs_admin = rule(
            r#"{"names": ["mount"], "action": "SCMP_ACT_ALLOW",
                                   "includes": {"caps": ["CAP_SYS_ADMIN"]}}"#,
        );
        assert!(!applies(&needs_admin, &host(&defaults)).unwrap());
        assert!(applies(&needs_admin, &host(&admin)).unwrap());
        let unless_admin = rule(
            r#"{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                                    "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}}"#,
        );
        assert!(applies(&unless_admin, &host(&defaults)).unwrap());
        assert!(!applies(&unless_admin, &host(&admin)).unwrap());
        let arches = rule(
            r#"{"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW",
                              "includes": {"arches": ["amd64", "x32"]}}"#,
        );
        assert!(applies(&arches, &host(&defaults)).unwrap());
        let s390 = rule(
            r#"{"names": ["x"], "action": "SCMP_ACT_ALLOW",
                            "includes": {"arches": ["s390x"]}}"#,
        );
        assert!(!applies(&s390, &host(&defaults)).unwrap());
        let old = rule(
            r#"{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
                           "includes": {"minKernel": "4.8"}}"#,
        );
        assert!(applies(&old, &host(&defaults)).unwrap());
        let future = rule(
            r#"{"names": ["x"], "action": "SCMP_ACT_ALLOW",
                              "includes": {"minKernel": "6.19"}}"#,
        );
        assert!(!applies(&future, &host(&defaults)).unwrap());
        let before = rule(
            r#"{"names": ["x"], "action": "SCMP_ACT_ALLOW",
                              "excludes": {"minKernel": "5.10"}}"#,
        );
        assert!(!applies(&before, &host(&defaults)).unwrap());
        let bad = rule(
            r#"{"names": ["x"], "action": "SCMP_ACT_ALLOW",
                           "includes": {"minKernel": "four"}}"#,
        );
        assert!(matches!(
            applies(&bad, &host(&defaults)),
            Err(SeccompError::MinKernel(_))
        ));
    }

    #[test]
    fn same_argument_twice_splits_into_separate_rules() {
        let r = rule(
            r#"{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}"#,
        );
        let groups = comparisons(&r, &r.names).unwrap();
        assert_eq!(groups.len(), 2);
        assert!(groups.iter().all(|g| g.len() == 1));
        let r = rule(
            r#"{"names": ["x"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]}"#,
        );
        assert_eq!(comparisons(&r, &r.names).unwrap().len(), 1);
        assert_eq!(comparisons(&r, &r.names).unwrap()[0].len(), 2);
    }

    #[test]
    fn actions_and_kernel_versions() {
        assert_eq!(
            action("SCMP_ACT_ERRNO", None).unwrap(),
            ScmpAction::Errno(1)
        );
        assert_eq!(
            action("SCMP_ACT_ERRNO", Some(38)).unwrap(),
            ScmpAction::Errno(38)
        );
        assert_eq!(
            action("SCMP_ACT_KILL", None).unwrap(),
            ScmpAction::KillThread
        );
        assert_eq!(
            action("SCMP_ACT_TRACE", None).unwrap(),
            ScmpAction::Trace(1)
        );
        assert!(action("SCMP_ACT_NOTIFY", None).is_err());
        assert_eq!(parse_kernel("4.8").unwrap(), (4, 8));
        assert_eq!(parse_kernel("6.18.44-fc-v669\n").unwrap(), (6, 18));
        assert_eq!(parse_kernel("5.15-rc1").unwrap(), (5, 15));
        assert!(parse_kernel("6").is_err());
        assert!(running_kernel().unwrap() >= (4, 8));
    }
}
