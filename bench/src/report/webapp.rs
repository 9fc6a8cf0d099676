//! The web app: its first load file by file, and the slow phone's runs.

use std::fmt::Write;

use super::*;

/// The first load file by file, and the slow phone's runs.
pub(super) fn section(r: &Report, out: &mut String) {
    let _ = writeln!(out, "## Web app: first load\n");
    match &r.first_load {
        Some(load) => {
            out.push_str(
                "`index.html` and every file it names, fetched from the release server with \
                 `Accept-Encoding: br, gzip` as a browser sends it; bytes on the wire are the response's \
                 head and body.\n\n",
            );
            let mut rows: Vec<Vec<String>> = load
                .files
                .iter()
                .map(|f| {
                    let encoding = if f.encoding.is_empty() { "none" } else { f.encoding.as_str() };
                    vec![
                        format!("`{}`", f.path),
                        encoding.to_owned(),
                        format!("{:.1}", f.wire_bytes as f64 / 1024.0),
                    ]
                })
                .collect();
            rows.push(vec![
                "**total**".into(),
                String::new(),
                format!("**{:.1}**", load.total() as f64 / 1024.0),
            ]);
            table(out, &["file", "encoding", "KiB on the wire"], &rows);
        }
        None => out.push_str("Not measured: no built app in `dist/` (run `cargo xtask build` first).\n\n"),
    }
    let _ = writeln!(out, "## Web app: a slow phone\n");
    match &r.slow_phone {
        Some(phone) => {
            let runs: Vec<String> = phone.runs_ms.iter().map(|ms| format!("{:.2} s", ms / 1000.0)).collect();
            let median = phone.median_ms().map_or("–".into(), |ms| format!("{:.2} s", ms / 1000.0));
            let _ = writeln!(
                out,
                "From navigation to the status reading \"Connected\", the release app on the real server in \
                 headless Chromium ({}), with an empty cache each time (`e2e/tests/load.rs`): median {median} \
                 (runs: {}).\n",
                phone.conditions,
                runs.join(", ")
            );
        }
        None => out.push_str("Not measured: the end-to-end timing did not run.\n\n"),
    }
}
