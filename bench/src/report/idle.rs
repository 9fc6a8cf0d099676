//! Idle connections: the server's memory per connection.

use std::fmt::Write;

use super::*;

/// Per count of idle connections and server: RSS before and after, and per connection.
pub(super) fn section(r: &Report, out: &mut String) {
    let _ = writeln!(out, "## Idle connections: the server's memory per connection\n");
    let mut rows = Vec::new();
    for scenario in [Scenario::Idle1k, Scenario::Idle5k, Scenario::Idle10k] {
        for phase in r.phase_names(scenario) {
            for server in &r.servers {
                let runs = r.runs(server, scenario, &phase);
                if runs.is_empty() {
                    continue;
                }
                let fig = |f: fn(&PhaseResult) -> Option<f64>| r.figure(server, scenario, &phase, f);
                rows.push(vec![
                    phase.clone(),
                    server.clone(),
                    show(fig(|p| Some(p.server.rss_start_kb as f64)), 1.0 / 1024.0, 1),
                    show(fig(|p| Some(p.server.rss_end_kb as f64)), 1.0 / 1024.0, 1),
                    show(fig(|p| p.mem_per_conn_bytes), 1.0 / 1024.0, 2),
                    show(fig(|p| Some(p.secs)), 1.0, 1),
                    validity(&runs),
                ]);
            }
        }
    }
    table(
        out,
        &[
            "connections",
            "server",
            "RSS before MB",
            "RSS after MB",
            "KB per connection",
            "connect s",
            "valid rounds",
        ],
        &rows,
    );
}
