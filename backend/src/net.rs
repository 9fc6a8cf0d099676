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

/// The URLs to offer a phone for a request that came in for `host` (its `Host` header):
/// that address first when the person used one a phone can reach too (they are looking
/// at it), then the server's LAN URLs. None when the server is not on a LAN at all.
pub fn phone_urls(lan_urls: &[String], host: Option<&str>) -> Vec<String> {
    if lan_urls.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> =
        host.filter(|h| reachable_host(h)).map(|h| format!("http://{h}/")).into_iter().collect();
    for url in lan_urls {
        if !out.contains(url) {
            out.push(url.clone());
        }
    }
    out
}

/// A `Host` a phone could use too: a valid host[:port] that is not loopback.
fn reachable_host(host: &str) -> bool {
    let Ok(authority) = host.parse::<axum::http::uri::Authority>() else { return false };
    if authority.as_str().contains('@') {
        return false;
    }
    let name = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let loopback = name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified());
    !name.is_empty() && !loopback
}

fn lan_ips(include_v6: bool) -> Vec<IpAddr> {
    let mut ips: Vec<(u8, IpAddr)> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.ip().is_loopback())
        // Link-local IPv6 needs a zone id that browsers do not take in URLs.
        .filter(|i| i.ip().is_ipv4() || (include_v6 && !is_link_local_v6(&i.ip())))
        .map(|i| (rank(&i.name, i.ip()), i.ip()))
        .collect();
    ips.sort();
    ips.dedup_by_key(|(_, ip)| *ip);
    ips.into_iter().map(|(_, ip)| ip).collect()
}

/// Which address a phone most likely shares a network with comes first: home networks
/// (192.168/16), then other private ranges, then the rest; the bridges of containers and
/// virtual machines (docker0's 172.17.0.1 on a developer's laptop) last.
fn rank(interface: &str, ip: IpAddr) -> u8 {
    let virtual_bridge = ["docker", "br-", "veth", "virbr", "vboxnet", "vmnet", "cni", "flannel", "podman"]
        .iter()
        .any(|prefix| interface.starts_with(prefix));
    let range = match ip {
        IpAddr::V4(v4) => match v4.octets() {
            [192, 168, ..] => 0,
            [10, ..] => 1,
            [172, b, ..] if (16..32).contains(&b) => 2,
            _ => 3,
        },
        IpAddr::V6(_) => 4,
    };
    if virtual_bridge { 10 + range } else { range }
}

fn is_link_local_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// Percent-encodes everything but unreserved URL characters (RFC 3986), for a room name
/// in the app's `#/room/<name>` links.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` as a QR code drawn with Unicode half blocks, for a terminal.
pub fn qr_text(url: &str) -> String {
    use qrcode::render::unicode::Dense1x2;
    match qrcode::QrCode::new(url.as_bytes()) {
        // Light modules as spaces on the terminal's background would invert on dark
        // themes; drawing them explicitly keeps the code scannable on any theme.
        Ok(code) => {
            code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).build() + "\n"
        }
        Err(_) => String::new(),
    }
}

/// `url` as a QR code in SVG, for the app to show.
pub fn qr_svg(url: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    Some(code.render::<svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build())
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
    fn home_networks_come_first_and_container_bridges_last() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut found = [
            ("docker0", ip("172.17.0.1")),
            ("eth1", ip("10.0.0.7")),
            ("wlan0", ip("192.168.1.20")),
            ("eth2", ip("172.20.0.3")),
            ("br-4f2a", ip("192.168.49.1")),
            ("eth3", ip("2001:db8::5")),
        ];
        found.sort_by_key(|(name, ip)| (rank(name, *ip), *ip));
        let order: Vec<&str> = found.iter().map(|(name, _)| *name).collect();
        assert_eq!(order, ["wlan0", "eth1", "eth2", "eth3", "br-4f2a", "docker0"]);
    }

    #[test]
    fn the_address_in_use_is_offered_to_the_phone_first() {
        let lan = vec!["http://192.168.1.20:3000/".to_owned(), "http://10.0.0.7:3000/".to_owned()];
        assert_eq!(phone_urls(&lan, Some("10.0.0.7:3000"))[0], "http://10.0.0.7:3000/");
        assert_eq!(phone_urls(&lan, Some("10.0.0.7:3000")).len(), 2, "no duplicate");
        assert_eq!(phone_urls(&lan, Some("chat.lan:3000"))[0], "http://chat.lan:3000/");
        assert_eq!(phone_urls(&lan, Some("[fd00::2]:3000"))[0], "http://[fd00::2]:3000/");
        for local in ["localhost:3000", "127.0.0.1:3000", "[::1]:3000", "app.localhost", "a b", "x/y", ""] {
            assert_eq!(phone_urls(&lan, Some(local)), lan, "{local}");
        }
        assert_eq!(phone_urls(&lan, None), lan);
        assert!(phone_urls(&[], Some("10.0.0.7:3000")).is_empty(), "loopback-only server");
    }

    #[test]
    fn room_names_are_percent_encoded() {
        assert_eq!(percent_encode("rust"), "rust");
        assert_eq!(percent_encode("café au lait/2"), "caf%C3%A9%20au%20lait%2F2");
    }

    #[test]
    fn qr_codes_are_drawn() {
        let text = qr_text("http://192.168.1.5:3000/");
        assert!(text.lines().count() > 10 && text.contains('█'), "{text}");
        let svg = qr_svg("http://192.168.1.5:3000/").unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{svg}");
    }

    #[test]
    fn the_unspecified_address_lists_localhost_and_no_loopback() {
        let all = urls("0.0.0.0:3000".parse().unwrap());
        assert_eq!(all[0], "http://localhost:3000/");
        assert!(all.iter().skip(1).all(|u| !u.contains("127.0.0.1")), "{all:?}");
    }
}
