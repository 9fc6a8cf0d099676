//! The floor: the least a server can do to fan a message out over loopback TCP, to
//! measure what one `send()` per delivery costs on this machine.
//!
//! Plain lines, no WebSocket, no JSON: `J room` joins (answered `OK`), `S room text`
//! sends `M text` to every member of the room, the sender included, with exactly one
//! `write()` per member and nothing else: no queue, no task switch, no copy per member.
//! A member whose socket cannot take a whole line at once is dropped (the floor has no
//! queue to hold it), which the generator sees as loss. One thread, like the other
//! servers when pinned to one core. It must never be used as a chat server.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use anyhow::Result;
use tokio::net::{TcpListener, TcpStream};

/// The longest line the floor accepts; a longer one ends the connection.
const MAX_LINE: usize = 16 * 1024;

type Rooms = Rc<RefCell<HashMap<String, Vec<Member>>>>;

#[derive(Debug, Clone)]
struct Member {
    id: u64,
    tcp: Rc<TcpStream>,
}

/// Serves on `addr` until the process is killed.
pub fn run(addr: SocketAddr) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(addr).await?;
        println!("floor listening on {}", listener.local_addr()?);
        let rooms: Rooms = Rc::default();
        for id in 0u64.. {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    tcp.set_nodelay(true)?;
                    tokio::task::spawn_local(serve(id, Rc::new(tcp), rooms.clone()));
                }
                // Out of file descriptors or a reset before accept: keep serving the rest.
                Err(e) => eprintln!("floor: accept failed: {e}"),
            }
        }
        Ok(())
    })
}

async fn serve(id: u64, tcp: Rc<TcpStream>, rooms: Rooms) {
    let mut buf = vec![0u8; MAX_LINE];
    let mut filled = 0;
    let mut joined: Vec<String> = Vec::new();
    'conn: loop {
        if tcp.readable().await.is_err() {
            break;
        }
        match tcp.try_read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
        let mut start = 0;
        while let Some(end) = memchr::memchr(b'\n', &buf[start..filled]) {
            let line = &buf[start..start + end];
            start += end + 1;
            if !handle(id, &tcp, line, &rooms, &mut joined) {
                break 'conn;
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            break;
        }
    }
    let mut rooms = rooms.borrow_mut();
    for name in joined {
        if let Some(members) = rooms.get_mut(&name) {
            members.retain(|m| m.id != id);
        }
    }
}

/// Applies one line; false ends the connection.
fn handle(id: u64, tcp: &Rc<TcpStream>, line: &[u8], rooms: &Rooms, joined: &mut Vec<String>) -> bool {
    let Ok(line) = std::str::from_utf8(line) else { return false };
    if let Some(room) = line.strip_prefix("J ") {
        if !write_line(tcp, b"OK\n") {
            return false;
        }
        rooms.borrow_mut().entry(room.to_owned()).or_default().push(Member { id, tcp: tcp.clone() });
        joined.push(room.to_owned());
        return true;
    }
    if let Some(rest) = line.strip_prefix("S ") {
        let Some((room, text)) = rest.split_once(' ') else { return false };
        // The line is built once and the same bytes go to every member.
        let out = format!("M {text}\n");
        let mut rooms = rooms.borrow_mut();
        if let Some(members) = rooms.get_mut(room) {
            members.retain(|m| write_line(&m.tcp, out.as_bytes()));
        }
        return true;
    }
    false
}

/// One `write()`; true when the whole line went out.
fn write_line(tcp: &TcpStream, line: &[u8]) -> bool {
    matches!(tcp.try_write(line), Ok(n) if n == line.len())
}
