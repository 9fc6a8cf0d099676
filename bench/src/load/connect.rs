//! Connection set-up: a scenario's connections opened, upgraded and joined, and the task
//! that reads each one.

use super::*;

/// A scenario's connections once set up.
#[derive(Debug)]
pub(super) struct Ctx {
    pub(super) meter: Rc<Meter>,
    /// The server's process, or the nodes'.
    pub(super) pids: Vec<u32>,
    pub(super) redis_pid: Option<u32>,
    pub(super) addr: SocketAddr,
    /// The filled room the slow readers ask about, when the scenario has one.
    pub(super) big: Option<Big>,
    pub(super) layout: Option<Layout>,
    pub(super) rooms: usize,
    pub(super) side: Option<SendSide>,
    /// Room of each connection, and whether it counts as a receiver (stoppers do not).
    pub(super) members: Vec<(usize, bool)>,
}

pub(super) async fn connect_layout(
    meter: &Rc<Meter>,
    opts: &Options,
    layout: Layout,
    big: Option<Big>,
) -> Result<Ctx> {
    let conns = layout.conns() as usize;
    let rooms: Vec<String> = (0..layout.rooms).map(|r| format!("r{r}")).collect();
    let side = SendSide::start(opts.proto, meter.base, rooms.clone())?;
    let role = |i: usize| Role {
        idx: i,
        room: i % layout.rooms as usize,
        sender: i < layout.senders as usize,
        stopper: i >= conns - layout.stoppers as usize,
    };
    let results: Vec<Result<()>> = futures_util::stream::iter(0..conns)
        .map(|i| {
            let role = role(i);
            let join = rooms[role.room].clone();
            let meter = meter.clone();
            let side = side.clone();
            async move {
                tokio::time::timeout(
                    CONNECT_TIMEOUT,
                    connect(meter, opts.addr_of(i), role, Some(join), Some(side)),
                )
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
                .with_context(|| format!("connection {i}"))
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    let members = (0..conns).map(|i| (role(i).room, !role(i).stopper)).collect();
    Ok(Ctx {
        meter: meter.clone(),
        pids: opts.server_pids.clone(),
        redis_pid: opts.redis_pid,
        addr: opts.addr(),
        big,
        layout: Some(layout),
        rooms: rooms.len(),
        side: Some(side),
        members,
    })
}

impl Ctx {
    pub(super) fn idle(meter: Rc<Meter>, opts: &Options) -> Self {
        Self {
            meter,
            pids: opts.server_pids.clone(),
            redis_pid: opts.redis_pid,
            addr: opts.addr(),
            big: None,
            layout: None,
            rooms: 0,
            side: None,
            members: Vec::new(),
        }
    }
}

/// Connects `conns` clients that send nothing, `concurrency` handshakes at a time, each
/// joining `room` when given: one outcome per client.
pub(super) async fn connect_many(
    meter: &Rc<Meter>,
    addr: SocketAddr,
    conns: u32,
    room: Option<&str>,
    concurrency: usize,
) -> Vec<Result<()>> {
    futures_util::stream::iter(0..conns as usize)
        .map(|i| {
            let meter = meter.clone();
            let role = Role { idx: i, room: 0, sender: false, stopper: false };
            let room = room.map(str::to_owned);
            async move {
                tokio::time::timeout(CONNECT_TIMEOUT, connect(meter, addr, role, room, None))
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
                    .with_context(|| format!("connection {i}"))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Which connection a task runs, and its part in the scenario.
#[derive(Debug, Clone, Copy)]
pub(super) struct Role {
    pub(super) idx: usize,
    pub(super) room: usize,
    pub(super) sender: bool,
    /// Stops reading when told.
    pub(super) stopper: bool,
}

/// Where a connection's pongs go: its own write half, or the senders' thread that owns it.
#[derive(Debug)]
pub(super) enum Writer {
    Own(OwnedWriteHalf, Outbox),
    Sender(mpsc::Sender<Out>),
}

impl Writer {
    /// Sends a pong; false when the connection is gone.
    pub(super) async fn pong(&mut self, out: Out) -> bool {
        match self {
            Self::Own(wr, outbox) => {
                let frame = match &out {
                    Out::Text(t) => outbox.frame(ws::op::TEXT, t.as_bytes()),
                    Out::Pong(p) => outbox.frame(ws::op::PONG, p),
                };
                wr.write_all(frame).await.is_ok()
            }
            // A full queue drops this pong; the next ping gets the next one.
            Self::Sender(tx) => !matches!(tx.try_send(out), Err(mpsc::error::TrySendError::Closed(_))),
        }
    }
}

/// Opens one connection, upgrades it, waits for the server's greeting, joins `room` if
/// any, and leaves a task reading it. A sender's write half goes to `side`.
pub(super) async fn connect(
    meter: Rc<Meter>,
    addr: SocketAddr,
    role: Role,
    room: Option<String>,
    side: Option<SendSide>,
) -> Result<()> {
    let socket = TcpSocket::new_v4()?;
    if role.stopper {
        socket.set_recv_buffer_size(STOPPER_RCVBUF)?;
    }
    let mut tcp = socket.connect(addr).await?;
    tcp.set_nodelay(true)?;
    // A stream scenario's senders are version 2 WebSockets; its other clients, streams.
    let on_stream = meter.proto == Proto::Stream && !role.sender;
    let proto = if meter.proto == Proto::Stream && role.sender { Proto::V2 } else { meter.proto };
    let framing = match proto {
        Proto::Line => Framing::Lines,
        _ if on_stream => Framing::Events,
        _ => Framing::WebSocket,
    };
    let mut inbox = Inbox::new(framing);
    let mut outbox = Outbox::new(framing, role.idx);
    if on_stream {
        crate::conn::open_stream(&mut tcp, &mut inbox, &addr.to_string()).await?;
    } else if proto.path().is_some() {
        crate::conn::upgrade(&mut tcp, &mut inbox, &addr.to_string(), proto).await?;
    }
    Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox }.greet(proto, room.as_deref()).await?;
    // From here on `drive` counts what it reads.
    meter.bytes.set(meter.bytes.get() + inbox.total());
    let (rd, wr) = tcp.into_split();
    let writer = match side {
        Some(side) if role.sender => Writer::Sender(side.add(role.room, wr, outbox).await?),
        _ => Writer::Own(wr, outbox),
    };
    tokio::task::spawn_local(drive(meter, role, rd, inbox, writer));
    Ok(())
}

/// Reads a connection until it closes: accounts every message and answers pings.
pub(super) async fn drive(
    meter: Rc<Meter>,
    role: Role,
    mut rd: OwnedReadHalf,
    mut inbox: Inbox,
    mut writer: Writer,
) {
    let mut stop = meter.stop_reading.subscribe();
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s), if role.stopper => {
                // Hold the socket and never read again, until the process ends.
                std::future::pending::<()>().await;
            }
            n = rd.read(inbox.space()) => {
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        inbox.filled(n);
                        meter.bytes.set(meter.bytes.get() + n as u64);
                    }
                }
                let mut ping: Option<Vec<u8>> = None;
                let mut eio_pong = false;
                let mut closed = false;
                let drained = inbox.drain(|msg| match msg {
                    Msg::Text(t) => eio_pong |= meter.on_frame(role.idx, t) == Reply::Pong,
                    Msg::Ping(p) => ping = Some(p.to_vec()),
                    Msg::Close => closed = true,
                });
                if drained.is_err() || closed {
                    break;
                }
                if let Some(p) = ping && !writer.pong(Out::Pong(p)).await {
                    break;
                }
                if eio_pong && !writer.pong(Out::eio_pong()).await {
                    break;
                }
            }
        }
    }
    meter.on_closed();
}
