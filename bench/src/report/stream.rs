//! The chat over plain HTTP (issue 22), where a network refuses WebSockets: what a
//! delivery costs when its receiver is on the HTTP stream rather than a WebSocket, what an
//! idle stream holds, and how long the slow phone takes to read "Connected · HTTP".

use std::fmt::Write;

use super::*;

/// Issue 22: a delivery to a stream client costs at most this many times one to a
/// WebSocket client; the slow phone with its WebSocket refused connects within this.
const STREAM_CPU_VS_WS: f64 = 1.3;
const SLOW_PHONE_HTTP_S: f64 = 5.0;
/// The phase of `idle1k-stream`, and the idle WebSockets it is held against (the smaller
/// count first: the same as the streams', when it ran).
const IDLE_STREAMS: &str = "1000 idle";
const IDLE_WEBSOCKETS: [(Scenario, &str); 2] =
    [(Scenario::Idle1k, "1000 idle"), (Scenario::Idle10k, "10000 idle")];

impl Report {
    /// Ours' CPU per delivery in the room of 1000 at `phase`: receivers on the HTTP
    /// stream, and on WebSockets.
    fn stream_and_ws_cpu(&self, phase: &str) -> (Option<f64>, Option<f64>) {
        let cpu = |s: Scenario| self.median(OURS, s, phase, |p| p.cpu_per_delivery_us);
        (cpu(Scenario::Room1000Stream), cpu(Scenario::Room1000))
    }

    /// The memory of an idle WebSocket this run measured, and at how many connections.
    fn idle_ws_bytes(&self) -> Option<(f64, &'static str)> {
        IDLE_WEBSOCKETS.into_iter().find_map(|(scenario, phase)| {
            self.median(OURS, scenario, phase, |p| p.mem_per_conn_bytes).map(|b| (b, phase))
        })
    }

    /// Issue 22's figures: the stream's CPU per delivery against the WebSocket's, an idle
    /// stream's memory (no target: shown beside an idle WebSocket's), the slow phone.
    pub(super) fn stream_targets(&self) -> Vec<Target> {
        let (stream, ws) = self.stream_and_ws_cpu(&at_50k());
        let cpu = ratio(stream, ws);
        let idle = self.median(OURS, Scenario::Idle1kStream, IDLE_STREAMS, |p| p.mem_per_conn_bytes);
        let beside = self
            .idle_ws_bytes()
            .map_or(String::new(), |(b, at)| format!(" (a WebSocket: {:.1} KB, {at})", b / 1024.0));
        let slow = self.slow_phone_http.as_ref().and_then(SlowPhone::median_ms).map(|ms| ms / 1000.0);
        vec![
            Target {
                what: "CPU per delivery, HTTP stream clients vs WebSocket clients (1000 members, 50k/s)"
                    .into(),
                goal: format!("≤ {STREAM_CPU_VS_WS:.2}×"),
                measured: match (cpu, stream, ws) {
                    (Some(r), Some(a), Some(b)) => format!("{r:.2}× ({a:.2} µs vs {b:.2} µs)"),
                    _ => "–".into(),
                },
                status: Status::of(cpu, |r| r <= STREAM_CPU_VS_WS),
            },
            Target {
                what: "memory per idle HTTP stream connection at 1k streams".into(),
                goal: "–".into(),
                measured: idle.map_or("–".into(), |v| format!("{:.1} KB{beside}", v / 1024.0)),
                status: if idle.is_some() { Status::Reported } else { Status::NotMeasured },
            },
            Target {
                what: "slow phone with the WebSocket refused: navigation to \"Connected · HTTP\"".into(),
                goal: format!("≤ {SLOW_PHONE_HTTP_S} s"),
                measured: slow
                    .map_or("– (the end-to-end timing did not run)".into(), |v| format!("{v:.2} s")),
                status: Status::of(slow, |v| v <= SLOW_PHONE_HTTP_S),
            },
        ]
    }
}

/// The room of 1000 with its receivers on the stream, the ratio to WebSockets at each
/// rate, idle streams, and the slow phone on the stream.
pub(super) fn section(r: &Report, out: &mut String) {
    let _ = writeln!(out, "## Over plain HTTP: the fallback's stream\n");
    out.push_str(
        "Where a network refuses WebSockets, the app reads the server's event stream \
         (`GET /http/stream`) and posts its frames (`POST /http/send`). The room of 1000 as above, \
         its 990 receivers on the stream (version 2) and its 10 senders on version 2 WebSockets, \
         held against the room of 1000 on WebSockets (`room1000`, version 1): the same messages to \
         the same number of receivers.\n\n",
    );
    table(out, &FANOUT_HEADER, &fanout_rows(r, Scenario::Room1000Stream));
    let rows: Vec<Vec<String>> = r
        .phase_names(Scenario::Room1000Stream)
        .into_iter()
        .map(|phase| {
            let (stream, ws) = r.stream_and_ws_cpu(&phase);
            let show_us = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.2}"));
            vec![
                phase.clone(),
                show_us(stream),
                show_us(ws),
                ratio(stream, ws).map_or("–".into(), |x| format!("{x:.2}×")),
            ]
        })
        .collect();
    table(out, &["offered", "stream µs/delivery", "WebSocket µs/delivery", "stream / WebSocket"], &rows);

    let _ = writeln!(out, "Idle streams: the server's memory per open stream, nothing said.\n");
    let mut rows = Vec::new();
    for server in &r.servers {
        let runs = r.runs(server, Scenario::Idle1kStream, IDLE_STREAMS);
        if runs.is_empty() {
            continue;
        }
        let fig =
            |f: fn(&PhaseResult) -> Option<f64>| r.figure(server, Scenario::Idle1kStream, IDLE_STREAMS, f);
        rows.push(vec![
            IDLE_STREAMS.to_owned(),
            server.clone(),
            show(fig(|p| Some(p.server.rss_start_kb as f64)), 1.0 / 1024.0, 1),
            show(fig(|p| Some(p.server.rss_end_kb as f64)), 1.0 / 1024.0, 1),
            show(fig(|p| p.mem_per_conn_bytes), 1.0 / 1024.0, 2),
            validity(&runs),
        ]);
    }
    table(
        out,
        &["streams", "server", "RSS before MB", "RSS after MB", "KB per stream", "valid rounds"],
        &rows,
    );

    match &r.slow_phone_http {
        Some(phone) => {
            let runs: Vec<String> = phone.runs_ms.iter().map(|ms| format!("{:.2} s", ms / 1000.0)).collect();
            let median = phone.median_ms().map_or("–".into(), |ms| format!("{:.2} s", ms / 1000.0));
            let _ = writeln!(
                out,
                "The slow phone behind a proxy that refuses WebSocket upgrades, from navigation to the \
                 status reading \"Connected · HTTP\" ({}), with an empty cache each time \
                 (`e2e/tests/load.rs`): median {median} (runs: {}).\n",
                phone.conditions,
                runs.join(", ")
            );
        }
        None => out
            .push_str("The slow phone on the stream: not measured (the end-to-end timing did not run).\n\n"),
    }
}
