//! Capabilities as dockerd grants them: its default set, `--cap-add`/`--cap-drop` with its name
//! rules, `--privileged`, never beyond the bounding set this process was given.

use ::caps::errors::CapsError;
use ::caps::{Capability, CapsHashSet};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum CapError {
    /// dockerd's wording; `field` is "CapAdd" or "CapDrop".
    #[error("invalid {field}: unknown capability: {name:?}")]
    Unknown { field: &'static str, name: String },
    #[error("reading the capability bounding set: {0}")]
    ReadBounding(#[source] CapsError),
    #[error("dropping {cap} from the bounding set: {source}")]
    DropBounding {
        cap: Capability,
        #[source]
        source: CapsError,
    },
    #[error("setting the {set} capability set: {source}")]
    Set {
        set: &'static str,
        #[source]
        source: CapsError,
    },
}

pub type Result<T> = std::result::Result<T, CapError>;

/// A set of capabilities.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CapSet {
    caps: CapsHashSet,
}

/// dockerd's default capabilities.
const DEFAULT_CAPS: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

impl CapSet {
    pub fn new() -> CapSet {
        CapSet::default()
    }

    /// Every capability this library knows.
    pub fn all() -> CapSet {
        CapSet {
            caps: ::caps::all(),
        }
    }

    pub fn contains(&self, cap: Capability) -> bool {
        self.caps.contains(&cap)
    }

    /// Whether the set holds the capability named `name` ("CAP_SYS_ADMIN"); false for a name
    /// that is no capability.
    pub fn contains_name(&self, name: &str) -> bool {
        Capability::from_str(name).is_ok_and(|c| self.contains(c))
    }

    pub fn insert(&mut self, cap: Capability) {
        self.caps.insert(cap);
    }

    pub fn remove(&mut self, cap: Capability) {
        self.caps.remove(&cap);
    }

    pub fn len(&self) -> usize {
        self.caps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.caps.is_empty()
    }

    /// The capabilities in kernel order.
    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        let mut v: Vec<Capability> = self.caps.iter().copied().collect();
        v.sort_by_key(|c| c.index());
        v.into_iter()
    }

    /// The capabilities held by both sets.
    pub fn intersection(&self, other: &CapSet) -> CapSet {
        CapSet {
            caps: self.caps.intersection(&other.caps).copied().collect(),
        }
    }

    /// The set as the kernel's bit mask (as in `CapEff` of /proc/PID/status).
    pub fn mask(&self) -> u64 {
        self.caps.iter().fold(0, |m, c| m | c.bitmask())
    }

    /// "CAP_CHOWN", ... in kernel order.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|c| c.to_string()).collect()
    }

    fn as_hash_set(&self) -> &CapsHashSet {
        &self.caps
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> CapSet {
        CapSet {
            caps: iter.into_iter().collect(),
        }
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// dockerd's default set (CapEff 00000000a80425fb in a default container).
pub fn default_set() -> CapSet {
    DEFAULT_CAPS.into_iter().collect()
}

/// The bounding set of the calling thread: nothing outside it can be granted.
pub fn current_bounding() -> Result<CapSet> {
    ::caps::read(None, ::caps::CapSet::Bounding)
        .map(|caps| CapSet { caps })
        .map_err(CapError::ReadBounding)
}

/// The container's capabilities, with Docker's rules: `--privileged` gets every capability
/// (and its add/drop lists are ignored, unchecked); otherwise the default set, less `cap_drop`,
/// plus `cap_add`. Names are case-insensitive, with or without `CAP_`; "ALL" in `cap_add`
/// means every capability except those dropped, "ALL" in `cap_drop` means only those added.
/// The result never leaves this process's bounding set.
pub fn resolve(privileged: bool, cap_add: &[String], cap_drop: &[String]) -> Result<CapSet> {
    let bounding = current_bounding()?;
    resolve_within(&bounding, privileged, cap_add, cap_drop)
}

/// [`resolve`] against a given bounding set.
pub fn resolve_within(
    bounding: &CapSet,
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
) -> Result<CapSet> {
    if privileged {
        return Ok(bounding.clone());
    }
    // dockerd checks the drop list first.
    let drop = normalize("CapDrop", cap_drop)?;
    let add = normalize("CapAdd", cap_add)?;
    let caps = if add.all {
        let mut all = CapSet::all();
        for c in drop.caps.iter() {
            all.remove(c);
        }
        all
    } else if drop.all {
        add.caps
    } else {
        let mut caps = default_set();
        for c in drop.caps.iter() {
            caps.remove(c);
        }
        for c in add.caps.iter() {
            caps.insert(c);
        }
        caps
    };
    Ok(caps.intersection(bounding))
}

/// A parsed add or drop list.
struct Names {
    all: bool,
    caps: CapSet,
}

fn normalize(field: &'static str, names: &[String]) -> Result<Names> {
    let mut out = Names {
        all: false,
        caps: CapSet::new(),
    };
    for name in names {
        let upper = name.to_uppercase();
        if upper == "ALL" {
            out.all = true;
            continue;
        }
        let canonical = ::caps::to_canonical(&upper);
        let cap = Capability::from_str(&canonical).map_err(|_| CapError::Unknown {
            field,
            name: canonical.clone(),
        })?;
        out.caps.insert(cap);
    }
    Ok(out)
}

/// Drop every capability outside `set` from the bounding set, so that no later exec can gain it.
/// Needs CAP_SETPCAP: run it before leaving root.
pub fn drop_bounding(set: &CapSet) -> Result<()> {
    for cap in current_bounding()?.iter() {
        if !set.contains(cap) {
            ::caps::drop(None, ::caps::CapSet::Bounding, cap)
                .map_err(|source| CapError::DropBounding { cap, source })?;
        }
    }
    Ok(())
}

/// Make the effective and permitted sets exactly `set`, and the inheritable and ambient sets
/// empty (as dockerd does since CVE-2022-24769: an inheritable set would let a program with file
/// capabilities gain them beyond what `--cap-drop` meant).
/// Run it after the uid change (made with PR_SET_KEEPCAPS, so the permitted set survived it). For
/// a non-root uid the kernel then clears the effective and permitted sets at execve, as it does
/// under Docker.
pub fn apply(set: &CapSet) -> Result<()> {
    use ::caps::CapSet as Kind;
    ::caps::clear(None, Kind::Ambient).map_err(|source| CapError::Set {
        set: "ambient",
        source,
    })?;
    ::caps::clear(None, Kind::Inheritable).map_err(|source| CapError::Set {
        set: "inheritable",
        source,
    })?;
    // Effective first: it must stay within permitted, which may still be larger than `set`;
    // permitted shrinks last.
    for (kind, name) in [
        (Kind::Effective, "effective"),
        (Kind::Permitted, "permitted"),
    ] {
        ::caps::set(None, kind, set.as_hash_set())
            .map_err(|source| CapError::Set { set: name, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// This machine's kind of bounding set: everything but CAP_SYS_RESOURCE.
    fn bounding() -> CapSet {
        let mut b = CapSet::all();
        b.remove(Capability::CAP_SYS_RESOURCE);
        b
    }

    fn resolve_test(add: &[&str], drop: &[&str]) -> Result<CapSet> {
        resolve_within(&bounding(), false, &strings(add), &strings(drop))
    }

    #[test]
    fn default_mask_is_dockerd_cap_eff() {
        assert_eq!(
            default_set().mask(),
            0xa80425fb,
            "got {:x}",
            default_set().mask()
        );
        assert_eq!(default_set().len(), 14);
    }

    #[test]
    fn nothing_to_tweak_gives_the_defaults() {
        assert_eq!(resolve_test(&[], &[]).unwrap(), default_set());
    }

    #[test]
    fn names_with_or_without_prefix_any_case() {
        let caps =
            resolve_test(&["net_admin", "CAP_SYS_PTRACE", "Cap_Sys_Time"], &["chown"]).unwrap();
        assert!(caps.contains(Capability::CAP_NET_ADMIN));
        assert!(caps.contains(Capability::CAP_SYS_PTRACE));
        assert!(caps.contains(Capability::CAP_SYS_TIME));
        assert!(!caps.contains(Capability::CAP_CHOWN));
        assert_eq!(caps.len(), 16);
    }

    #[test]
    fn drop_all_then_add_gives_only_the_added() {
        let caps = resolve_test(&["NET_BIND_SERVICE"], &["ALL"]).unwrap();
        assert_eq!(caps.names(), vec!["CAP_NET_BIND_SERVICE"]);
        assert!(resolve_test(&[], &["all"]).unwrap().is_empty());
    }

    #[test]
    fn add_all_keeps_everything_in_bounding_but_the_dropped() {
        let caps = resolve_test(&["ALL"], &["MKNOD"]).unwrap();
        let mut expected = bounding();
        expected.remove(Capability::CAP_MKNOD);
        assert_eq!(caps, expected);
        assert!(!caps.contains(Capability::CAP_SYS_RESOURCE));
        // ALL in both: add wins, as in dockerd.
        assert_eq!(resolve_test(&["ALL"], &["ALL"]).unwrap(), bounding());
    }

    #[test]
    fn never_beyond_the_bounding_set() {
        let caps = resolve_test(&["SYS_RESOURCE", "SYS_ADMIN"], &[]).unwrap();
        assert!(!caps.contains(Capability::CAP_SYS_RESOURCE));
        assert!(caps.contains(Capability::CAP_SYS_ADMIN));
        let priv_caps = resolve_within(&bounding(), true, &[], &[]).unwrap();
        assert_eq!(priv_caps, bounding());
    }

    #[test]
    fn privileged_ignores_bad_names() {
        let caps = resolve_within(&bounding(), true, &strings(&["FOO"]), &[]).unwrap();
        assert_eq!(caps, bounding());
    }

    #[test]
    fn unknown_names_use_dockerd_wording() {
        let err = resolve_test(&["foo"], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid CapAdd: unknown capability: "CAP_FOO""#
        );
        let err = resolve_test(&[], &["CAP_BAR"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid CapDrop: unknown capability: "CAP_BAR""#
        );
    }

    #[test]
    fn resolve_stays_within_this_process_bounding_set() {
        let bnd = current_bounding().unwrap();
        let caps = resolve(true, &[], &[]).unwrap();
        assert_eq!(caps, bnd);
        let caps = resolve(false, &strings(&["ALL"]), &[]).unwrap();
        assert_eq!(caps.intersection(&bnd), caps);
    }

    fn status_mask(field: &str) -> std::result::Result<u64, String> {
        let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .ok_or(format!("no {field} in /proc/self/status"))?;
        u64::from_str_radix(line.trim(), 16).map_err(|e| e.to_string())
    }

    fn apply_in_child(set: CapSet) -> std::result::Result<(), String> {
        crate::sys::in_child(move || {
            drop_bounding(&set).map_err(|e| e.to_string())?;
            apply(&set).map_err(|e| e.to_string())?;
            let want = set.mask();
            for field in ["CapEff:", "CapPrm:", "CapBnd:"] {
                let got = status_mask(field)?;
                if got != want {
                    return Err(format!("{field} expected {want:016x}, got {got:016x}"));
                }
            }
            for field in ["CapInh:", "CapAmb:"] {
                let got = status_mask(field)?;
                if got != 0 {
                    return Err(format!("{field} expected 0, got {got:016x}"));
                }
            }
            Ok(())
        })
    }

    #[test]
    fn drop_all_leaves_no_capability() {
        let set = resolve(false, &[], &strings(&["ALL"])).unwrap();
        assert!(set.is_empty());
        apply_in_child(set).unwrap();
    }

    #[test]
    fn default_set_applied_reads_as_dockerd() {
        apply_in_child(resolve(false, &[], &[]).unwrap()).unwrap();
    }
}
