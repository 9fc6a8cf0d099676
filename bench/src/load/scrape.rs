//! A Prometheus beside the server: reads `/metrics` of every node once each
//! [`SCRAPE_EVERY`] for as long as a phase runs (the caller aborts it), as a scraper on
//! the same machine would (from loopback, which `/metrics` admits without a token).

use super::*;
use crate::scenario::SCRAPE_EVERY;

/// Reads `/metrics` of each of `addrs` every [`SCRAPE_EVERY`] until aborted; an error if a
/// read fails or does not answer `200` (the phase would then not measure scraping).
pub(super) async fn scrape(addrs: Vec<SocketAddr>) -> Result<()> {
    let mut every = tokio::time::interval(SCRAPE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        for &addr in &addrs {
            let bytes = read_metrics(addr).await.with_context(|| format!("scraping {addr}/metrics"))?;
            ensure!(bytes > 0, "{addr}/metrics answered nothing");
        }
    }
}

/// One `GET /metrics` on a connection of its own: the body's length in bytes. Prometheus
/// keeps its connection open between scrapes; a new one each time is the costlier case
/// (an accept and a handshake more per scrape), so the figure bounds the real cost.
async fn read_metrics(addr: SocketAddr) -> Result<usize> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await??;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").context("no complete answer")?;
    ensure!(head.starts_with("HTTP/1.1 200"), "answered {}", head.lines().next().unwrap_or(""));
    Ok(body.len())
}
