//! Platforms ("linux/amd64", "linux/arm/v7"): the `platform` of create and pull (a specifier, read
//! as containerd's `platforms.Parse` reads it) and of save, load and history (an OCI platform
//! object in JSON, API 1.48 on), normalised, and matched against an image as dockerd matches
//! (containerd's `platforms.Only`: an arm/v7 request takes v7, v6 and v5 images, an arm/v6 one
//! not v7).

use super::{host_arch, Image};
use crate::engine::{EngineError, Result};
use serde::Deserialize;
use std::fmt;

/// A normalised platform: the variant is empty where it is the architecture's only or default one
/// (amd64 v1, arm64 v8), and "v7" for a plain "arm".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: String,
}

const KNOWN_OS: [&str; 12] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "linux",
    "netbsd",
    "openbsd",
    "solaris",
    "windows",
];

const KNOWN_ARCH: [&str; 24] = [
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// containerd's normalizeArch: aliases to the Go name, the variant to its canonical form.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" { "" } else { &variant };
            ("amd64".into(), v.to_string())
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "8" | "v8" | "" => "",
                other => other,
            };
            ("arm64".into(), v.to_string())
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                other => other.to_string(),
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

impl Platform {
    /// The platform berth runs: linux on the host's architecture.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: host_arch().into(),
            variant: String::new(),
        }
    }

    /// A specifier as containerd's `platforms.Parse` reads it: "amd64", "linux",
    /// "linux/x86_64", "linux/arm/v6".
    pub fn parse(spec: &str) -> Result<Platform> {
        let bad = |why: &str| EngineError::invalid_parameter(format!("{spec:?}: {why}"));
        if spec.contains('*') {
            return Err(bad("wildcards not yet supported: invalid argument"));
        }
        let parts: Vec<&str> = spec.split('/').collect();
        if parts.iter().any(|p| {
            p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        }) {
            return Err(bad(
                "invalid platform component: must be ^[A-Za-z0-9_.-]+$: invalid argument",
            ));
        }
        let os = |s: &str| {
            let s = s.to_ascii_lowercase();
            if s == "macos" {
                "darwin".to_string()
            } else {
                s
            }
        };
        match parts.as_slice() {
            [one] => {
                let lower = os(one);
                if KNOWN_OS.contains(&lower.as_str()) {
                    let host = Platform::host();
                    return Ok(Platform { os: lower, ..host });
                }
                let (architecture, variant) = normalize_arch(one, "");
                if KNOWN_ARCH.contains(&architecture.as_str()) {
                    return Ok(Platform {
                        os: "linux".into(),
                        architecture,
                        variant,
                    });
                }
                Err(bad(
                    "unknown operating system or architecture: invalid argument",
                ))
            }
            [o, a] => {
                let (architecture, variant) = normalize_arch(a, "");
                Ok(Platform {
                    os: os(o),
                    architecture,
                    variant,
                })
            }
            [o, a, v] => {
                let (architecture, variant) = normalize_arch(a, v);
                Ok(Platform {
                    os: os(o),
                    architecture,
                    variant,
                })
            }
            _ => Err(bad("cannot parse platform specifier: invalid argument")),
        }
    }

    /// The OCI platform object of save, load and history (dockerd's `DecodePlatform`).
    pub fn from_json(text: &str) -> Result<Platform> {
        #[derive(Deserialize)]
        struct Oci {
            #[serde(default)]
            os: String,
            #[serde(default)]
            architecture: String,
            #[serde(default)]
            variant: String,
        }
        let p: Oci = serde_json::from_str(text).map_err(|e| {
            EngineError::invalid_parameter(format!("failed to parse platform: {e}"))
        })?;
        if p.os.is_empty() && p.architecture.is_empty() && !p.variant.is_empty() {
            return Err(EngineError::invalid_parameter(
                "optional platform fields provided, but OS and Architecture are missing".into(),
            ));
        }
        if p.os.is_empty() || p.architecture.is_empty() {
            return Err(EngineError::invalid_parameter(
                "both OS and Architecture must be provided".into(),
            ));
        }
        Ok(Platform::of(&p.os, &p.architecture, &p.variant))
    }

    /// A platform from an image's or a descriptor's fields (an empty os is linux).
    pub fn of(os: &str, architecture: &str, variant: &str) -> Platform {
        let (architecture, variant) = normalize_arch(architecture, variant);
        let os = if os.is_empty() { "linux" } else { os };
        Platform {
            os: os.to_ascii_lowercase(),
            architecture,
            variant,
        }
    }

    /// The platform of an image's config.
    pub fn of_image(img: &Image) -> Platform {
        Platform::of(&img.os, &img.architecture, &img.variant)
    }

    /// Whether an image of `other` serves a request for `self` (containerd's `platforms.Only`,
    /// with dockerd's fallback: an image without a variant serves any variant's request).
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        if other.variant.is_empty() || self.variant == other.variant {
            return true;
        }
        // Older variants of the same family run on a newer one.
        let rank = |v: &str| v.strip_prefix('v').and_then(|n| n.parse::<u32>().ok());
        match (rank(&self.variant), rank(&other.variant)) {
            (Some(want), Some(have)) => {
                let floor = if self.architecture == "arm" { 5 } else { 1 };
                have >= floor && have <= want
            }
            _ => false,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// dockerd's answer when an image is there but for another platform (404, as dockerd's
/// `GetImage`).
pub fn mismatch(reference: &str, img: &Image, wanted: &Platform) -> EngineError {
    EngineError::not_found(format!(
        "image with reference {reference} was found but its platform ({}) does not match the \
         specified platform ({wanted})",
        Platform::of_image(img)
    ))
}

/// Check that `img` serves `wanted`.
pub fn check(reference: &str, img: &Image, wanted: Option<&Platform>) -> Result<()> {
    match wanted {
        Some(w) if !w.matches(&Platform::of_image(img)) => Err(mismatch(reference, img, w)),
        _ => Ok(()),
    }
}

impl crate::engine::Engine {
    /// dockerd's check of create's `platform`: a missing image is left to the create's own
    /// "No such image".
    pub fn check_image_platform(&self, reference: &str, wanted: &Platform) -> Result<()> {
        match self.image(reference) {
            Ok(img) => check(reference, &img, Some(wanted)),
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        Platform::parse(s).unwrap().to_string()
    }

    #[test]
    fn specifiers_normalise_as_containerd_does() {
        let host = format!("linux/{}", host_arch());
        assert_eq!(p("linux"), host);
        assert_eq!(p("amd64"), "linux/amd64");
        assert_eq!(p("linux/amd64"), "linux/amd64");
        assert_eq!(p("linux/x86_64"), "linux/amd64");
        assert_eq!(p("Linux/AMD64"), "linux/amd64");
        assert_eq!(p("linux/amd64/v1"), "linux/amd64");
        assert_eq!(p("linux/aarch64"), "linux/arm64");
        assert_eq!(p("linux/arm64/v8"), "linux/arm64");
        assert_eq!(p("linux/arm"), "linux/arm/v7");
        assert_eq!(p("linux/armhf"), "linux/arm/v7");
        assert_eq!(p("linux/arm/6"), "linux/arm/v6");
        for bad in ["foo", "linux/", "linux/arm/v7/x", "*", "linux/a b"] {
            assert!(
                Platform::parse(bad).is_err(),
                "expected {bad:?} to be refused"
            );
        }
    }

    #[test]
    fn variants_are_matched() {
        let v6 = Platform::parse("linux/arm/v6").unwrap();
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(v7.matches(&v6), "an arm/v7 request takes an arm/v6 image");
        assert!(
            !v6.matches(&v7),
            "an arm/v6 request does not take an arm/v7 image"
        );
        let amd = Platform::parse("amd64").unwrap();
        assert!(amd.matches(&Platform::of("", "x86_64", "")));
        assert!(!amd.matches(&Platform::of("linux", "arm64", "")));
        assert!(!amd.matches(&Platform::of("windows", "amd64", "")));
    }

    #[test]
    fn oci_objects_need_os_and_architecture() {
        let p = Platform::from_json(r#"{"os":"linux","architecture":"arm","variant":"v6"}"#);
        assert_eq!(p.unwrap().to_string(), "linux/arm/v6");
        let e = Platform::from_json(r#"{"os":"linux"}"#).unwrap_err();
        assert_eq!(e.message(), "both OS and Architecture must be provided");
        assert!(Platform::from_json("linux/amd64").is_err());
    }
}
