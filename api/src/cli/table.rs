//! Output shared by the listing commands: columns aligned as the docker CLI's tabwriter aligns
//! them (minimum width 10, padding 3), sizes and times in its words.

use std::io::Write;

/// Print `rows` under `header`, each column as wide as its widest cell plus 3 (at least 10),
/// the last column unpadded.
pub fn print(header: &[&str], rows: &[Vec<String>]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(render(header, rows).as_bytes());
    let _ = out.flush();
}

pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths = vec![0usize; cols];
    let all = std::iter::once(header.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .chain(rows.iter().cloned())
        .collect::<Vec<_>>();
    for row in &all {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut s = String::new();
    for row in &all {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(cols) {
            line.push_str(cell);
            if i + 1 < cols {
                let width = (widths[i] + 3).max(10);
                line.push_str(&" ".repeat(width - cell.chars().count()));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// go-units HumanSizeWithPrecision(size, 3): decimal units, three significant digits ("4.26MB").
pub fn human_size(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", significant(v, 3), UNITS[i])
}

/// go-units BytesSize: binary units, four significant digits ("1.5MiB").
pub fn binary_size(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", significant(v, 4), UNITS[i])
}

/// Go's `%.{digits}g` for 0 <= v < 10000: at most `digits` significant digits, no trailing
/// zeros.
fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let int_digits = (v.abs().log10().floor() as i32 + 1).max(1);
    let decimals = (digits - int_digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Go's strings-as-runes Ellipsis: at most `max` characters, the last one "…" when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Go's strconv.Quote for the strings berth shows (printable text, quotes and backslashes).
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// "5 seconds ago" for a unix time.
pub fn ago(unix: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let d = std::time::Duration::from_secs((now - unix).max(0) as u64);
    format!("{} ago", crate::engine::time::human_duration(d))
}

/// The docker CLI's CreatedAt, in UTC: "2024-05-01 10:00:00 +0000 UTC".
pub fn created_at(unix: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} +0000 UTC", s.trim_end_matches('Z').replace('T', " "))
}

/// A JSON value as one cell: strings bare, null empty, anything else as JSON.
pub fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `berth network|volume inspect`: each of `names` as `lookup` finds it, printed as one JSON
/// array or, with `keys` (from --format), one tab-separated line of those fields each. A name
/// that is not found is said on stderr, and the command fails once the others are printed.
pub fn inspect_named<E: std::fmt::Display>(
    names: &[String],
    keys: Option<Vec<&str>>,
    mut lookup: impl FnMut(&str) -> Result<serde_json::Value, E>,
) -> super::Result<i32> {
    let mut found = Vec::new();
    let mut failed = false;
    for name in names {
        match lookup(name) {
            Ok(v) => found.push(v),
            Err(e) => {
                eprintln!("berth: {e}");
                failed = true;
            }
        }
    }
    match keys {
        Some(keys) => {
            for v in &found {
                let cells: Vec<String> = keys.iter().map(|k| cell(&v[*k])).collect();
                println!("{}", cells.join("\t"));
            }
        }
        None => println!(
            "{}",
            super::inspect::pretty(&serde_json::Value::Array(found))
        ),
    }
    if failed {
        Err(super::CliError::Reported)
    } else {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_as_tabwriter() {
        let t = render(
            &["CONTAINER ID", "NAMES"],
            &[vec!["abc".into(), "web".into()]],
        );
        assert_eq!(t, "CONTAINER ID   NAMES\nabc            web\n");
        let t = render(&["A", "B"], &[vec!["x".into(), "y".into()]]);
        assert_eq!(t, "A         B\nx         y\n");
    }

    #[test]
    fn sizes_and_text_as_the_docker_cli() {
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_000), "1kB");
        assert_eq!(binary_size(1536 * 1024), "1.5MiB");
        assert_eq!(binary_size(64 << 20), "64MiB");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
        assert_eq!(quote("sh -c 'x'"), "\"sh -c 'x'\"");
        assert_eq!(created_at(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
