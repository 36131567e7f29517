//! Which addresses are public: everything but loopback, private,
//! link-local, CGNAT, multicast, documentation, reserved and cloud metadata
//! ranges. IPv6 forms that embed an IPv4 address are judged by that address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::{Ipv4Net, Ipv6Net};

const V4_NOT_PUBLIC: &[&str] = &[
    "0.0.0.0/8",        // "this network"
    "10.0.0.0/8",       // private
    "100.64.0.0/10",    // CGNAT (also holds 100.100.100.200, a metadata endpoint)
    "168.63.129.16/32", // Azure's platform endpoint
    "127.0.0.0/8",      // loopback
    "169.254.0.0/16",   // link-local (holds 169.254.169.254, cloud metadata)
    "172.16.0.0/12",    // private
    "192.0.0.0/24",     // IETF protocol assignments
    "192.0.2.0/24",     // documentation
    "192.88.99.0/24",   // 6to4 relay
    "192.168.0.0/16",   // private
    "198.18.0.0/15",    // benchmarking
    "198.51.100.0/24",  // documentation
    "203.0.113.0/24",   // documentation
    "224.0.0.0/4",      // multicast
    "240.0.0.0/4",      // reserved, and broadcast
];

const V6_NOT_PUBLIC: &[&str] = &[
    "::/96",          // unspecified, loopback, IPv4-compatible (deprecated)
    "100::/64",       // discard
    "2001::/32",      // Teredo
    "2001:db8::/32",  // documentation
    "64:ff9b:1::/48", // local-use NAT64
    "fec0::/10",      // site-local (deprecated)
    "fc00::/7",       // unique local (holds fd00:ec2::254, cloud metadata)
    "fe80::/10",      // link-local
    "ff00::/8",       // multicast
];

static V4_RANGES: LazyLock<Vec<Ipv4Net>> = LazyLock::new(|| {
    V4_NOT_PUBLIC
        .iter()
        .map(|n| n.parse().expect("a valid range"))
        .collect()
});
static V6_RANGES: LazyLock<Vec<Ipv6Net>> = LazyLock::new(|| {
    V6_NOT_PUBLIC
        .iter()
        .map(|n| n.parse().expect("a valid range"))
        .collect()
});

/// Whether `ip` is an ordinary public address.
pub(super) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => !V6_RANGES.iter().any(|net| net.contains(&v6)),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !V4_RANGES.iter().any(|net| net.contains(&ip))
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated
/// (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`)
/// address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last32 = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(last32()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last32()),
        [0x2002, a, b, ..] => Some(Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_every_non_public_range() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "::127.0.0.1",
            "::2",
            "::ffff:0:7f00:1",
            "64:ff9b:1::1",
            "fec0::1",
            "168.63.129.16",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} should not be public");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} should be public");
        }
    }
}
