//! The URLs people can open: the local one and one per LAN address, so a phone on the
//! same network can reach the server by the host's IP. Reads interfaces; binds nothing.

use std::net::{IpAddr, SocketAddr};

/// `http://` URLs for `addr`: when it is the unspecified address (0.0.0.0 or ::), one for
/// localhost and one per non-loopback interface address; otherwise just `addr`'s own.
pub fn urls(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    if !addr.ip().is_unspecified() {
        return vec![url(addr.ip(), port)];
    }
    let mut out = vec![format!("http://localhost:{port}/")];
    out.extend(lan_ips(addr.is_ipv6()).into_iter().map(|ip| url(ip, port)));
    out
}

/// Only the LAN URLs (what a phone can open); empty when bound to loopback only.
pub fn lan_urls(addr: SocketAddr) -> Vec<String> {
    urls(addr)
        .into_iter()
        .filter(|u| !u.contains("localhost") && !u.contains("//127.") && !u.contains("[::1]"))
        .collect()
}

fn lan_ips(include_v6: bool) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback())
        // Link-local IPv6 needs a zone id that browsers do not take in URLs.
        .filter(|ip| ip.is_ipv4() || (include_v6 && !is_link_local_v6(ip)))
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

fn is_link_local_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

fn url(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{port}/"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_address_is_its_own_url() {
        assert_eq!(urls("192.168.1.5:3000".parse().unwrap()), ["http://192.168.1.5:3000/"]);
        assert_eq!(urls("[::1]:80".parse().unwrap()), ["http://[::1]:80/"]);
        assert!(lan_urls("127.0.0.1:3000".parse().unwrap()).is_empty());
    }

    #[test]
    fn the_unspecified_address_lists_localhost_and_no_loopback() {
        let all = urls("0.0.0.0:3000".parse().unwrap());
        assert_eq!(all[0], "http://localhost:3000/");
        assert!(all.iter().skip(1).all(|u| !u.contains("127.0.0.1")), "{all:?}");
    }
}
