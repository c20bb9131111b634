//! Layer unpacking: whiteouts, metadata, compression, and hostile archives (each refused with a
//! clear error and nothing written outside the layer). Needs root (chown, mknod, trusted xattrs).

use super::unpack::{unpack_layer, Limits, UnpackError};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One tar entry written byte by byte, so names the tar crate's builder refuses can be made.
enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

fn raw_header(name: &str, kind: tar::EntryType, size: u64, link: &str) -> tar::Header {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(1000);
    h.set_gid(1001);
    h.set_mtime(1_000_000_000);
    h.set_cksum();
    h
}

fn tarball(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (h, data): (_, &[u8]) = match e {
            E::File(n, d) => (
                raw_header(n, tar::EntryType::Regular, d.len() as u64, ""),
                d,
            ),
            E::Dir(n) => (raw_header(n, tar::EntryType::Directory, 0, ""), &[]),
            E::Symlink(n, t) => (raw_header(n, tar::EntryType::Symlink, 0, t), &[]),
            E::Hardlink(n, t) => (raw_header(n, tar::EntryType::Link, 0, t), &[]),
        };
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

struct Scratch {
    _dir: tempfile::TempDir,
    /// Stands for "outside the layer": nothing may appear here.
    outside: PathBuf,
    layer: PathBuf,
}

fn scratch() -> Scratch {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    let layer = outside.join("layer");
    std::fs::create_dir_all(&layer).unwrap();
    Scratch {
        _dir: dir,
        outside,
        layer,
    }
}

fn unpack(s: &Scratch, bytes: &[u8]) -> Result<super::unpack::Unpacked, UnpackError> {
    unpack_layer(bytes, &s.layer, &Limits::default())
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn refused(entries: &[E], want: &str) -> Scratch {
    let s = scratch();
    let e = unpack(&s, &tarball(entries)).expect_err("the archive should be refused");
    assert!(
        e.to_string().contains(want),
        "expected an error containing {want:?}, got: {e}"
    );
    assert!(e.is_client_error(), "{e} should be the archive's fault");
    assert_eq!(
        names(&s.outside),
        ["layer"],
        "something was written outside the layer"
    );
    s
}

#[test]
fn dotdot_is_refused() {
    refused(&[E::File("../evil", b"x")], "contains ..");
    refused(&[E::Dir("a"), E::File("a/../../evil", b"x")], "contains ..");
}

#[test]
fn absolute_paths_are_refused() {
    let target = format!("/tmp/berth-abs-{}", std::process::id());
    refused(&[E::File(&target, b"x")], "absolute");
    assert!(!Path::new(&target).exists(), "{target} was written");
}

#[test]
fn writes_through_a_symlink_are_refused() {
    let s = refused(
        &[
            E::Symlink("escape", "/"),
            E::File("escape/tmp/berth-pwned", b"x"),
        ],
        "a parent is a symlink",
    );
    assert!(!Path::new("/tmp/berth-pwned").exists());
    // The same through a relative symlink to the outside.
    refused(
        &[E::Symlink("up", ".."), E::File("up/evil", b"x")],
        "a parent is a symlink",
    );
    drop(s);
}

#[test]
fn hardlinks_outside_are_refused() {
    refused(
        &[E::Hardlink("pw", "/etc/passwd")],
        "points outside the layer",
    );
    refused(
        &[E::Hardlink("pw", "../../../etc/passwd")],
        "points outside the layer",
    );
    refused(&[E::Hardlink("pw", "missing")], "points outside the layer");
    refused(
        &[E::Symlink("etc", "/etc"), E::Hardlink("pw", "etc/passwd")],
        "points outside the layer",
    );
}

#[test]
fn duplicates_are_refused() {
    refused(&[E::File("a", b"1"), E::File("a", b"2")], "duplicate entry");
    let before = std::fs::read("/etc/passwd").unwrap();
    refused(
        &[E::Symlink("x", "/etc/passwd"), E::File("x", b"owned")],
        "duplicate entry",
    );
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), before);
    refused(
        &[E::File("gone", b"1"), E::File(".wh.gone", b"")],
        "duplicate entry",
    );
}

#[test]
fn truncated_archives_are_refused() {
    let full = tarball(&[E::File("a", &[7u8; 3000]), E::File("b", b"bbb")]);
    let s = scratch();
    let e = unpack(&s, &full[..1500]).expect_err("cut in the middle of a file");
    assert!(matches!(e, UnpackError::Archive(_)), "got {e}");
    // Cut cleanly at a header boundary: only the missing end marker tells.
    let s = scratch();
    let e = unpack(&s, &full[..512 + 3072]).expect_err("cut after the first entry");
    assert!(e.to_string().contains("end-of-archive"), "got {e}");
    let s = scratch();
    let e = unpack(&s, &[]).expect_err("empty");
    assert!(e.to_string().contains("end-of-archive"), "got {e}");
    // A truncated gzip stream.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&full).unwrap();
    let gz = gz.finish().unwrap();
    let s = scratch();
    unpack(&s, &gz[..gz.len() - 10]).expect_err("truncated gzip");
}

#[test]
fn gzip_bomb_stops_at_the_bound() {
    let zeros = vec![0u8; 8 << 20];
    let tar = tarball(&[E::File("zeros", &zeros)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    assert!(
        gz.len() < 64 << 10,
        "the bomb should be small: {}",
        gz.len()
    );
    let s = scratch();
    let limits = Limits {
        max_bytes: 1 << 20,
        max_entries: 10,
    };
    let e = unpack_layer(&gz[..], &s.layer, &limits).expect_err("beyond the bound");
    assert!(matches!(e, UnpackError::TooLarge(_)), "got {e}");
    let many: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
    let entries: Vec<E> = many.iter().map(|n| E::File(n, b"")).collect();
    let s = scratch();
    let e = unpack_layer(&tarball(&entries)[..], &s.layer, &limits).expect_err("too many");
    assert!(matches!(e, UnpackError::TooManyEntries(10)), "got {e}");
}

#[test]
fn whiteouts_become_overlay_whiteouts() {
    let s = scratch();
    unpack(
        &s,
        &tarball(&[
            E::Dir("etc"),
            E::File("etc/.wh.motd", b""),
            E::Dir("var"),
            E::File("var/.wh..wh..opq", b""),
            E::File(".wh..wh.plnk", b""),
        ]),
    )
    .unwrap();
    let motd = std::fs::symlink_metadata(s.layer.join("etc/motd")).unwrap();
    assert!(motd.file_type().is_char_device(), "etc/motd: {motd:?}");
    assert_eq!((motd.rdev(), motd.uid(), motd.gid()), (0, 0, 0));
    assert!(!s.layer.join("etc/.wh.motd").exists());
    let opaque = xattr::get(s.layer.join("var"), "trusted.overlay.opaque").unwrap();
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert_eq!(names(&s.layer), ["etc", "var"]);
    assert!(names(&s.layer.join("var")).is_empty());
}

#[test]
fn metadata_links_and_digests() {
    let tar = tarball(&[
        E::Dir("bin"),
        E::File("bin/tool", b"#!/bin/sh\n"),
        E::Hardlink("bin/tool2", "bin/tool"),
        E::Symlink("bin/sh", "/bin/tool"),
        E::File("deep/er/file", b"made its parents"),
    ]);
    let s = scratch();
    let got = unpack(&s, &tar).unwrap();
    let want = format!("sha256:{}", super::store::sha256_hex(&tar));
    assert_eq!(got.diff_id, want);
    assert_eq!(got.size, 10 + 16);
    let tool = std::fs::symlink_metadata(s.layer.join("bin/tool")).unwrap();
    assert_eq!(
        (tool.mode() & 0o7777, tool.uid(), tool.gid(), tool.mtime()),
        (0o644, 1000, 1001, 1_000_000_000)
    );
    let tool2 = std::fs::symlink_metadata(s.layer.join("bin/tool2")).unwrap();
    assert_eq!(tool.ino(), tool2.ino(), "the hardlink shares the inode");
    assert_eq!(
        std::fs::read_link(s.layer.join("bin/sh")).unwrap(),
        Path::new("/bin/tool")
    );
    let bin = std::fs::metadata(s.layer.join("bin")).unwrap();
    assert_eq!((bin.mode() & 0o7777, bin.mtime()), (0o755, 1_000_000_000));

    // The same layer compressed has the same diff id.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let s = scratch();
    assert_eq!(unpack(&s, &gz.finish().unwrap()).unwrap().diff_id, want);
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let s = scratch();
    assert_eq!(unpack(&s, &zst).unwrap().diff_id, want);
}
