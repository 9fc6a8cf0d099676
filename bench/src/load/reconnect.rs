//! The reconnect storm: clients in one room (or each in a room of its own, so the server
//! holds as many rooms), the server restarted under them (SIGTERM, then the same command
//! started again), and every client coming back within a second, as browsers do after a
//! restart: with its resume token, rejoining with `join.after` (on a server without
//! resuming, a bare upgrade). What is timed is the restarted server's start until the
//! last client is in again; the largest `welcome` they got back is kept too.
//!
//! The generator restarts the server itself, from what `/proc` says of the process it was
//! given (its command line, environment, folder and CPUs), so the suite needs to know
//! nothing of it; the new process is killed when the phase ends.

use std::process::{Child, Command, Stdio};

use super::*;

/// Each client comes back at a moment spread evenly over this long after its connection
/// ends.
const COME_BACK_WITHIN: Duration = Duration::from_secs(1);
/// A client whose connect is refused (the server is not listening yet) tries again after
/// about this long (from half to one and a half times it).
const RETRY: Duration = Duration::from_millis(100);
/// How long the old server may take to exit after SIGTERM before it is killed.
const EXIT_LIMIT: Duration = Duration::from_secs(10);

/// How to start a process again as it was started.
#[derive(Debug)]
struct Relaunch {
    argv: Vec<String>,
    env: Vec<(String, String)>,
    cwd: std::path::PathBuf,
    cpus: Option<String>,
}

impl Relaunch {
    fn of(pid: u32) -> Result<Self> {
        let split = |bytes: Vec<u8>| -> Vec<String> {
            bytes
                .split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        };
        let argv = split(std::fs::read(format!("/proc/{pid}/cmdline"))?);
        ensure!(!argv.is_empty(), "no command line for process {pid}");
        let env = split(std::fs::read(format!("/proc/{pid}/environ"))?)
            .into_iter()
            .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect();
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let cpus =
            status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map(|c| c.trim().to_owned());
        Ok(Self { argv, env, cwd, cpus })
    }

    /// Starts the process again, on the CPUs it had (with `taskset`, when there).
    fn start(&self) -> Result<Child> {
        let pin = self
            .cpus
            .as_deref()
            .filter(|_| Command::new("taskset").arg("-V").output().is_ok_and(|o| o.status.success()));
        let mut cmd = match pin {
            Some(cpus) => {
                let mut cmd = Command::new("taskset");
                cmd.args(["-c", cpus]).args(&self.argv);
                cmd
            }
            None => {
                let mut cmd = Command::new(&self.argv[0]);
                cmd.args(&self.argv[1..]);
                cmd
            }
        };
        // The generator's stdout carries its result: the server's banner must not.
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd.spawn().with_context(|| format!("starting {} again", self.argv[0]))
    }
}

/// Whether a process has exited (gone, or a zombie its parent has not reaped yet).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|at| stat[at + 1..].split_whitespace().next())
            .is_none_or(|s| s == "Z" || s == "X"),
    }
}

/// Sends `signal` (`TERM`, `KILL`) to `pid`.
fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status()?;
    ensure!(status.success(), "kill -{signal} {pid} failed");
    Ok(())
}

/// The restarted server: killed when the phase ends, however it ends.
struct Restarted(Child);

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A number from `seed`, spread evenly (splitmix64): the jitter of the clients, the same
/// in every run.
fn spread(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as f64 / u64::MAX as f64
}

/// A client of the storm: who it is, its room, and what it has seen.
#[derive(Debug, Clone)]
struct Member {
    idx: usize,
    room: String,
    resume: Option<String>,
    /// The newest message of its room it saw: it rejoins after it.
    after: Option<u64>,
}

/// The room of client `idx` when the storm's clients are spread over `rooms`: the first
/// is [`STORM_ROOM`], so one room is the storm of old.
fn room_of(idx: usize, rooms: u32) -> String {
    format!("r{}", idx as u64 % u64::from(rooms.max(1)))
}

/// What a connection got when it came in.
struct Entered {
    tcp: TcpStream,
    inbox: Inbox,
    resume: Option<String>,
    /// The payload of its `welcome`, in bytes.
    welcome_bytes: u64,
}

/// Opens a connection (to `/ws?resume=` when `resume` is known), reads the greeting,
/// and joins `room` after `after` in our protocol.
async fn enter(
    proto: Proto,
    addr: SocketAddr,
    idx: usize,
    room: &str,
    resume: Option<&str>,
    after: Option<u64>,
) -> Result<Entered> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut inbox = Inbox::new(Framing::WebSocket);
    let mut outbox = Outbox::new(Framing::WebSocket, idx);
    let path = match resume {
        Some(token) => format!("/ws?resume={token}"),
        None => "/ws".to_owned(),
    };
    crate::conn::upgrade_at(&mut tcp, &mut inbox, &addr.to_string(), &path, proto).await?;
    let mut setup = Setup { tcp: &mut tcp, inbox: &mut inbox, outbox: &mut outbox };
    let welcome = setup.next_text().await?;
    ensure!(proto::v1_is(&welcome, "welcome"), "expected welcome, got {welcome}");
    let token = proto::v1_field(&welcome, "resume");
    let welcome_bytes = welcome.len() as u64;
    if proto == Proto::V2 {
        let join = common::ClientMsg::Join { room: room.to_owned(), after, password: None, max: None };
        setup.send(&serde_json::to_string(&join)?).await?;
        loop {
            let frame = setup.next_text().await?;
            if proto::v1_is(&frame, "joined") {
                break;
            }
            ensure!(!proto::v1_is(&frame, "error"), "join refused: {frame}");
        }
    }
    Ok(Entered { tcp, inbox, resume: token, welcome_bytes })
}

/// Reads `tcp` until the server closes it, then comes back within
/// [`COME_BACK_WITHIN`], retrying while refused; returns when it is in again, with the
/// bytes of the `welcome` it got back.
async fn live(proto: Proto, addr: SocketAddr, member: Member, mut tcp: TcpStream) -> Result<(Instant, u64)> {
    let mut buf = vec![0u8; 16 * 1024];
    // What the room sends meanwhile is not measured; the end of the connection is.
    while let Ok(1..) = tcp.read(&mut buf).await {}
    drop(tcp);
    let seed = member.idx as u64;
    tokio::time::sleep(COME_BACK_WITHIN.mul_f64(spread(seed))).await;
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        match enter(proto, addr, member.idx, &member.room, member.resume.as_deref(), member.after).await {
            Ok(Entered { tcp, welcome_bytes, .. }) => {
                let back = Instant::now();
                // Held until the phase ends, as a browser would stay.
                tokio::task::spawn_local(async move {
                    let mut tcp = tcp;
                    let mut buf = vec![0u8; 4096];
                    while let Ok(1..) = tcp.read(&mut buf).await {}
                });
                return Ok((back, welcome_bytes));
            }
            Err(e)
                if e.downcast_ref::<std::io::Error>().is_some_and(|e| {
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                    )
                }) =>
            {
                let jitter = 0.5 + spread(seed ^ attempt.rotate_left(32));
                tokio::time::sleep(RETRY.mul_f64(jitter)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs the reconnect storm of `conns` clients over `rooms`: see the module's
/// documentation.
pub(super) async fn reconnect(
    ctx: &Ctx,
    opts: &Options,
    spec: &PhaseSpec,
    result: &mut ScenarioResult,
) -> Result<PhaseResult> {
    let &PhaseSpec::Reconnect { conns, rooms } = spec else { bail!("not a reconnect storm: {spec:?}") };
    let proto = ctx.meter.proto;
    let addr = opts.addr();
    let &[pid] = ctx.pids.as_slice() else { bail!("the reconnect storm restarts one server") };
    let relaunch = Relaunch::of(pid)?;
    // `BENCH_EMPTY_ROOMS=1`: rooms of their own get no message, so that a restart finds
    // them empty and each rejoin creates its room again (what a restart costs when many
    // rooms have neither messages nor settings).
    let empty = std::env::var_os("BENCH_EMPTY_ROOMS").is_some_and(|v| v == "1");
    let started = Instant::now();
    let members: Vec<Result<(Member, TcpStream)>> = futures_util::stream::iter(0..conns as usize)
        .map(|idx| async move {
            let room = room_of(idx, rooms);
            let entering = async {
                let mut entered = enter(proto, addr, idx, &room, None, None).await?;
                // Rooms of their own each get a message from their member, as the one
                // room gets one below: a room people come back to has a history (and a
                // room with neither a message nor settings would be created anew, its
                // owner written again, when its member comes back to it).
                let after = match (proto, rooms) {
                    (Proto::V2, 2..) if !empty => Some(say_in(&mut entered, &room, idx).await?),
                    _ => None,
                };
                anyhow::Ok((entered, after))
            };
            let (entered, after) = tokio::time::timeout(CONNECT_TIMEOUT, entering)
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
                .with_context(|| format!("connection {idx}"))?;
            Ok((Member { idx, room, resume: entered.resume, after }, entered.tcp))
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let mut members = members.into_iter().collect::<Result<Vec<_>>>()?;
    // One message in the one room, so every member rejoins after an id it has seen.
    if proto == Proto::V2 && rooms <= 1 {
        let after = Some(say_one(addr).await?);
        for (member, _) in &mut members {
            member.after = after;
        }
    }
    result.setup_ms = ms(started.elapsed());
    tokio::time::sleep(SETTLE).await;
    let tasks: Vec<_> = members
        .into_iter()
        .map(|(member, tcp)| tokio::task::spawn_local(live(proto, addr, member, tcp)))
        .collect();
    let stopping = Instant::now();
    signal(pid, "TERM")?;
    while !exited(pid) {
        if stopping.elapsed() > EXIT_LIMIT {
            signal(pid, "KILL")?;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopped = stopping.elapsed();
    let overflows_start = procfs::listen_overflows().ok();
    let restart = Instant::now();
    let server = Restarted(relaunch.start()?);
    let new_pid = server.0.id();
    let backs = tokio::time::timeout(STORM_LIMIT, futures_util::future::join_all(tasks)).await;
    let cpu = procfs::cpu_time(new_pid).unwrap_or_default();
    let mem = procfs::mem(new_pid).unwrap_or_default();
    let overflows = overflows_start.zip(procfs::listen_overflows().ok()).map(|(a, b)| b.saturating_sub(a));
    let (last, invalid, welcome_bytes) = match backs {
        Err(_) => (None, Some(format!("not all back within {} s", STORM_LIMIT.as_secs())), None),
        Ok(backs) => {
            let mut last = restart;
            let mut largest = 0;
            let mut failed = Vec::new();
            for back in backs {
                match back.context("a client panicked").and_then(|r| r) {
                    Ok((at, bytes)) => {
                        last = last.max(at);
                        largest = largest.max(bytes);
                    }
                    Err(e) => failed.push(e),
                }
            }
            let invalid = failed
                .first()
                .map(|e| format!("{} of {conns} clients failed, the first: {e:#}", failed.len()));
            (Some(last), invalid, Some(largest))
        }
    };
    let secs = last.map_or(STORM_LIMIT, |at| at.saturating_duration_since(restart)).as_secs_f64();
    eprintln!(
        "    old server stopped in {:.2} s; all back {secs:.2} s after the restart; largest welcome {} bytes",
        stopped.as_secs_f64(),
        welcome_bytes.unwrap_or(0)
    );
    Ok(PhaseResult {
        name: spec.name(),
        conns,
        offered: 0.0,
        secs,
        sent: 0,
        expected: 0,
        received: 0,
        lossy_receivers: 0,
        rate: f64::from(conns) / secs.max(1e-6),
        latency: None,
        server: ServerUse {
            cpu_ms: ms(cpu),
            rss_start_kb: 0,
            rss_end_kb: mem.rss_kb,
            rss_peak_kb: mem.hwm_kb,
            hwm_kb: mem.hwm_kb,
        },
        cpu_per_delivery_us: None,
        mem_per_conn_bytes: None,
        // How long the old server took to stop after SIGTERM.
        drain_ms: Some(ms(stopped)),
        generator: GenHealth::default(),
        closed: 0,
        errors: 0,
        stale: 0,
        invalid,
        slow_readers: None,
        bytes_per_conn: None,
        cluster: None,
        listen_overflows: overflows,
        welcome_bytes,
    })
}

/// Says one message in [`STORM_ROOM`] from a client of its own, and returns its id.
async fn say_one(addr: SocketAddr) -> Result<u64> {
    let mut entered = enter(Proto::V2, addr, usize::MAX, STORM_ROOM, None, None).await?;
    say_in(&mut entered, STORM_ROOM, 7).await
}

/// Says one message in `room` (which the connection is in) and returns its id.
async fn say_in(entered: &mut Entered, room: &str, seed: usize) -> Result<u64> {
    let mut outbox = Outbox::new(Framing::WebSocket, seed);
    let mut setup = Setup { tcp: &mut entered.tcp, inbox: &mut entered.inbox, outbox: &mut outbox };
    setup.send(&Proto::V2.say(room, "before the restart", 1)).await?;
    loop {
        let frame = setup.next_text().await?;
        if proto::v1_is(&frame, "message") {
            return proto::v1_field(&frame, "id")
                .and_then(|id| id.parse().ok())
                .context("a message without an id");
        }
        ensure!(!proto::v1_is(&frame, "error"), "the message was refused: {frame}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_spread_over_the_rooms_the_first_in_the_storm_room() {
        assert_eq!(room_of(0, 10_000), STORM_ROOM);
        assert_eq!((room_of(9_999, 10_000), room_of(10_000, 10_000)), ("r9999".into(), "r0".into()));
        // One room: every client in the storm's room, as before rooms were spread.
        assert!((0..100).all(|i| room_of(i, 1) == STORM_ROOM));
    }
}
