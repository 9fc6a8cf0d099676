//! The slow readers: a room filled with big messages, and clients that ask for its history
//! and never read.

use super::*;

/// The filled room, as the slow readers ask for it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Big {
    pub(super) room: &'static str,
    /// Asking for messages before this id gets the newest page.
    pub(super) before: u64,
    /// The size of that page's `history` frame.
    pub(super) answer_bytes: u64,
}

/// Stores `fill.msgs` messages of `fill.text_len` characters in `fill.room` from one
/// connection, then asks for one page of history as the slow readers will, and checks it
/// is as big as the server gives.
pub(super) async fn fill_room(opts: &Options, fill: Fill) -> Result<Big> {
    let proto = opts.proto;
    ensure!(proto.is_v1_family(), "history needs protocol v1");
    let mut tcp = TcpStream::connect(opts.addr()).await?;
    tcp.set_nodelay(true)?;
    let mut inbox = Inbox::new(Framing::WebSocket);
    let mut outbox = Outbox::new(Framing::WebSocket, usize::MAX);
    crate::conn::upgrade(&mut tcp, &mut inbox, &opts.addr().to_string(), proto).await?;
    let mut setup = Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox };
    setup.greet(proto, Some(fill.room)).await?;
    // No benchmark marker: these are never deliveries of a phase.
    let mut text = "fill ".to_owned();
    text.extend(std::iter::repeat_n('x', fill.text_len.saturating_sub(text.len())));
    // The echoes wait in the server's queue for this connection (about 1 MB, far below
    // its bound) until they are read below.
    for k in 0..fill.msgs {
        setup.send(&proto.say(fill.room, &text, u64::from(k))).await?;
    }
    let mut newest = 0;
    for _ in 0..fill.msgs {
        let frame = loop {
            let frame = setup.next_text().await?;
            ensure!(!proto::v1_is(&frame, "error"), "refused: {}", head(&frame));
            if proto::v1_is(&frame, "message") {
                break frame;
            }
        };
        let id = serde_json::from_str::<serde_json::Value>(&frame)?["id"].as_u64();
        newest = newest.max(id.with_context(|| format!("a message without an id: {}", head(&frame)))?);
    }
    let before = newest + 1;
    let ask = proto.history(fill.room, before, HISTORY_LIMIT).context("history needs protocol v1")?;
    setup.send(&ask).await?;
    let answer = loop {
        let frame = setup.next_text().await?;
        ensure!(!proto::v1_is(&frame, "error"), "history refused: {}", head(&frame));
        if proto::v1_is(&frame, "history") {
            break frame;
        }
    };
    let page: serde_json::Value = serde_json::from_str(&answer)?;
    let got = page["messages"].as_array().map_or(0, Vec::len);
    ensure!(got == HISTORY_LIMIT as usize, "history answered {got} messages, not {HISTORY_LIMIT}");
    Ok(Big { room: fill.room, before, answer_bytes: answer.len() as u64 })
}

/// The start of a frame, for an error message.
pub(super) fn head(frame: &str) -> &str {
    let mut end = frame.len().min(200);
    while !frame.is_char_boundary(end) {
        end -= 1;
    }
    &frame[..end]
}

/// What a slow reader found when it looked at its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The server's `too_slow`: it dropped the connection.
    TooSlow,
    /// The connection ended without one.
    Closed,
    /// Every request answered, with a page or a refusal (`rate_limited`), and the
    /// connection kept; or still answers coming after [`VERDICT_TIMEOUT`].
    Kept,
}

/// What a slow reader's connections do.
#[derive(Debug, Clone, Copy)]
pub(super) struct SlowConn {
    pub(super) proto: Proto,
    pub(super) addr: SocketAddr,
    pub(super) big: Big,
    /// Requests sent at once when it connects.
    pub(super) burst: u32,
    pub(super) seed: usize,
}

/// One slow reader: connection after connection until `until`, each asking for history
/// without reading for [`SLOW_READER_LIFE`], then looked at.
pub(super) async fn slow_reader(conn: SlowConn, until: Instant) -> SlowReaders {
    let mut out = SlowReaders::default();
    while Instant::now() < until {
        out.conns += 1;
        let verdict = slow_connection(conn, until, &mut out).await;
        if out.failed == 0 {
            // The first failure of each reader says why, on the suite's terminal.
            match &verdict {
                Err(e) => eprintln!("    slow reader {}: {e:#}", conn.seed),
                Ok(Verdict::Closed) => eprintln!("    slow reader {}: closed without too_slow", conn.seed),
                Ok(_) => {}
            }
        }
        match verdict {
            Ok(Verdict::TooSlow) => out.too_slow += 1,
            Ok(Verdict::Kept) => out.kept += 1,
            Ok(Verdict::Closed) | Err(_) => {
                out.failed += 1;
                // A server that refuses connections must not be hammered in a loop.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    out
}

/// Connects, asks for the big room's history within the default rate limit (a burst,
/// then a steady rate) for [`SLOW_READER_LIFE`] or until `until`, never reading; then
/// reads to learn what the server did with it.
pub(super) async fn slow_connection(
    conn: SlowConn,
    until: Instant,
    out: &mut SlowReaders,
) -> Result<Verdict> {
    let SlowConn { proto, addr, big, burst, seed } = conn;
    let socket = TcpSocket::new_v4()?;
    // A small window, as the stoppers have: what it does not read stays in the server.
    socket.set_recv_buffer_size(STOPPER_RCVBUF)?;
    let mut tcp = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(addr)).await??;
    tcp.set_nodelay(true)?;
    let mut inbox = Inbox::new(Framing::WebSocket);
    let mut outbox = Outbox::new(Framing::WebSocket, seed);
    crate::conn::upgrade(&mut tcp, &mut inbox, &addr.to_string(), proto).await?;
    let mut setup = Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox };
    setup.greet(proto, None).await?;
    let ask = proto.history(big.room, big.before, HISTORY_LIMIT).context("history needs protocol v1")?;
    let end = (Instant::now() + SLOW_READER_LIFE).min(until);
    let interval = Duration::from_secs_f64(1.0 / HISTORY_RATE);
    let mut next = Instant::now();
    let mut requests = 0u64;
    // A failed write means the server is gone; what it said is read below either way.
    for _ in 0..burst {
        if setup.send(&ask).await.is_err() {
            break;
        }
        requests += 1;
    }
    loop {
        next += interval;
        if next >= end {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        if setup.send(&ask).await.is_err() {
            break;
        }
        requests += 1;
    }
    out.requests += requests;
    let (mut answers, mut refused) = (0u64, 0u64);
    let look = async {
        loop {
            let n = setup.tcp.read(setup.inbox.space()).await?;
            if n == 0 {
                return Ok(Verdict::Closed);
            }
            setup.inbox.filled(n);
            let mut seen = None;
            setup.inbox.drain(|msg| match msg {
                Msg::Text(t) if proto.is_too_slow(t) => seen = Some(Verdict::TooSlow),
                Msg::Text(t) if t.starts_with(br#"{"type":"history""#) => answers += 1,
                Msg::Text(t) if proto.is_error(t) && memchr::memmem::find(t, b"rate_limited").is_some() => {
                    refused += 1;
                }
                Msg::Close => {
                    seen.get_or_insert(Verdict::Closed);
                }
                Msg::Text(_) | Msg::Ping(_) => {}
            })?;
            if let Some(v) = seen {
                return Ok::<_, anyhow::Error>(v);
            }
            if answers + refused >= requests {
                return Ok(Verdict::Kept);
            }
        }
    };
    let verdict = tokio::time::timeout(VERDICT_TIMEOUT, look).await.unwrap_or(Ok(Verdict::Kept));
    out.answers += answers;
    out.refused += refused;
    verdict
}
