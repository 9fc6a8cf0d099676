//! What the kernel tells about a process and the machine: CPU time from
//! `/proc/<pid>/stat`, resident memory from `/proc/<pid>/status`, the listen queues'
//! overflows from `/proc/net/netstat` (what `nstat` shows), and the CPU model,
//! core count and memory from `/proc/cpuinfo` and `/proc/meminfo`. Parsing is split from
//! reading so the tests can feed it sample text. Linux only, read only.

use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Clock ticks per second of `utime`/`stime` (USER_HZ). It is 100 on every Linux
/// architecture we run on; reading it needs `sysconf`, which this crate cannot call
/// without `unsafe`.
pub const CLK_TCK: u64 = 100;

/// A process's CPU time so far (all threads, user and system), from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_time(&stat).ok_or_else(|| io::Error::other(format!("unexpected /proc/{pid}/stat")))
}

/// The CPU time of several processes (the nodes of a cluster), summed.
pub fn cpu_time_all(pids: &[u32]) -> io::Result<Duration> {
    pids.iter().map(|&pid| cpu_time(pid)).sum()
}

/// This process's own CPU time.
pub fn own_cpu_time() -> io::Result<Duration> {
    cpu_time(std::process::id())
}

/// `utime + stime` from the text of a stat file. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_cpu_time(stat: &str) -> Option<Duration> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name: field 3 (state) is index 0, so utime (14) is index 11, stime 12.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_micros(ticks * (1_000_000 / CLK_TCK)))
}

/// Resident memory now and at its peak, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mem {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

pub fn mem(pid: u32) -> io::Result<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_mem(&status).ok_or_else(|| io::Error::other(format!("no VmRSS in /proc/{pid}/status")))
}

/// The resident memory of several processes, summed (each one's peak, summed).
pub fn mem_all(pids: &[u32]) -> io::Result<Mem> {
    let mut total = Mem::default();
    for &pid in pids {
        let m = mem(pid)?;
        total.rss_kb += m.rss_kb;
        total.hwm_kb += m.hwm_kb;
    }
    Ok(total)
}

pub fn parse_mem(status: &str) -> Option<Mem> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()
    };
    Some(Mem { rss_kb: field("VmRSS:")?, hwm_kb: field("VmHWM:").unwrap_or(0) })
}

/// Connections the kernel has dropped because a listen queue was full, since boot, in
/// this network namespace (`TcpExtListenOverflows` of `nstat`): each dropped client waits
/// for its SYN's retransmit, a second at first.
pub fn listen_overflows() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat")?;
    parse_netstat(&text, "TcpExt", "ListenOverflows")
        .ok_or_else(|| io::Error::other("no TcpExt ListenOverflows in /proc/net/netstat"))
}

/// A counter of `/proc/net/netstat`, whose groups come as two lines each: the names,
/// then the values, both after `Group:`.
pub fn parse_netstat(text: &str, group: &str, field: &str) -> Option<u64> {
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some((g, names)), Some((_, values))) = (names.split_once(':'), values.split_once(':')) else {
            return None;
        };
        if g == group {
            let at = names.split_whitespace().position(|n| n == field)?;
            return values.split_whitespace().nth(at)?.parse().ok();
        }
    }
    None
}

/// The machine a suite ran on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub nproc: usize,
    pub mem_total_kb: u64,
    pub kernel: String,
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    parse_machine(&cpuinfo, &meminfo, kernel.trim())
}

pub fn parse_machine(cpuinfo: &str, meminfo: &str, kernel: &str) -> Machine {
    let value = |line: &str| line.split_once(':').map(|(_, v)| v.trim().to_owned());
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(value)
        .unwrap_or_else(|| "unknown".to_owned());
    let nproc = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let mem_total_kb = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(value)
        .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Machine { cpu_model, nproc, mem_total_kb, kernel: kernel.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_from_the_last_parenthesis() {
        // A command name with a space and a parenthesis must not shift the fields.
        let stat = "4242 (chat (srv) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    250 75 0 0 20 0 3 0 12345 100000 2000 18446744073709551615";
        assert_eq!(parse_cpu_time(stat), Some(Duration::from_millis(3250)));
        assert_eq!(parse_cpu_time("garbage"), None);
    }

    #[test]
    fn the_real_stat_file_parses() {
        assert!(own_cpu_time().is_ok());
        let m = mem(std::process::id()).unwrap();
        assert!(m.rss_kb > 0 && m.hwm_kb >= m.rss_kb, "{m:?}");
        let me = std::process::id();
        let twice = mem_all(&[me, me]).unwrap();
        assert!(twice.rss_kb >= 2 * m.rss_kb && twice.hwm_kb >= 2 * m.hwm_kb, "{twice:?} vs {m:?}");
        assert!(cpu_time_all(&[me, me]).unwrap() >= own_cpu_time().unwrap());
        assert!(cpu_time_all(&[me, u32::MAX]).is_err(), "a process that is gone is an error");
    }

    #[test]
    fn memory_from_status() {
        let status = "Name:\tnode\nVmPeak:\t  999 kB\nVmHWM:\t   52000 kB\nVmRSS:\t   48123 kB\n";
        assert_eq!(parse_mem(status), Some(Mem { rss_kb: 48_123, hwm_kb: 52_000 }));
        assert_eq!(parse_mem("Name:\tx\n"), None);
    }

    #[test]
    fn listen_overflows_from_netstat() {
        let netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 3450 3451\n\
                       IpExt: InNoRoutes ListenOverflows\nIpExt: 0 7\n";
        assert_eq!(parse_netstat(netstat, "TcpExt", "ListenOverflows"), Some(3450));
        assert_eq!(parse_netstat(netstat, "IpExt", "ListenOverflows"), Some(7));
        assert_eq!(parse_netstat(netstat, "TcpExt", "Nothing"), None);
        assert!(listen_overflows().is_ok(), "this machine's /proc/net/netstat has the counter");
    }

    #[test]
    fn machine_from_cpuinfo_and_meminfo() {
        let cpuinfo = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n\n\
                       processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\n";
        let meminfo = "MemTotal:       24000000 kB\nMemFree: 1 kB\n";
        let m = parse_machine(cpuinfo, meminfo, "6.1.0");
        assert_eq!(m.cpu_model, "Intel(R) Xeon(R) Processor");
        assert_eq!(m.nproc, 2);
        assert_eq!(m.mem_total_kb, 24_000_000);
    }
}
