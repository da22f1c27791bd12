//! Where a `spec.source.url` may lead. A URL source is fetched from inside the
//! cluster, so without a guard anyone who can create a PdfExtraction could
//! make the runner read the cloud's metadata service (169.254.169.254), the
//! API server or any internal service (SSRF). Every address a URL's host
//! resolves to must be public, or inside a range the operator allows
//! (`--url-allowed-ranges`); the check runs before connecting and again for
//! every redirect, and the connection goes to the addresses checked, so a DNS
//! answer that changes in between (rebinding) cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use pdfx_crd::ip_range::{IpRange, canonical};

/// Why an address is refused, or `None` for a public one.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified (this host)")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata lives at 169.254.169.254)")
    } else if ip.is_private() {
        Some("private")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared address space (carrier-grade NAT, often a cluster's range)")
    } else if a == 192 && b == 0 && ip.octets()[2] == 0 {
        Some("IETF protocol assignments")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast, broadcast or reserved")
    } else {
        None
    }
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified (this host)")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private (unique local)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if first == 0x64 && ip.segments()[1] == 0xff9b {
        // NAT64 embeds an IPv4 address, which may be private.
        let [.., c, d] = ip.segments();
        let v4 = Ipv4Addr::new((c >> 8) as u8, c as u8, (d >> 8) as u8, d as u8);
        non_public_v4(v4)
    } else {
        None
    }
}

/// Refuses `addresses` unless each is public or inside an allowed range;
/// the message names the address and why.
pub fn check(host: &str, addresses: &[SocketAddr], allowed: &[IpRange]) -> Result<(), String> {
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    for address in addresses {
        let ip = address.ip();
        if allowed.iter().any(|range| range.contains(ip)) {
            continue;
        }
        if let Some(why) = non_public(ip) {
            return Err(format!(
                "refused: {host} resolves to {ip}, a {why} address; URL sources must be public (an operator can allow a range with --url-allowed-ranges)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_and_public_ones_pass() {
        for internal in [
            "127.0.0.1",
            "127.9.9.9",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(non_public(ip(internal)).is_some(), "{internal} passed");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            assert_eq!(non_public(ip(public)), None, "{public} refused");
        }
    }

    #[test]
    fn an_allowed_range_lets_its_addresses_through_only() {
        let allowed: Vec<IpRange> = vec!["10.20.0.0/16".parse().unwrap()];
        let at = |text: &str| vec![SocketAddr::new(ip(text), 443)];
        assert!(check("files.internal", &at("10.20.3.4"), &allowed).is_ok());
        let refused = check("files.internal", &at("10.21.0.1"), &allowed).unwrap_err();
        assert!(
            refused.contains("10.21.0.1") && refused.contains("private"),
            "{refused}"
        );
        let metadata = check("x", &at("169.254.169.254"), &allowed).unwrap_err();
        assert!(metadata.contains("metadata"), "{metadata}");
        // One bad address among several refuses the host.
        let mixed = [
            SocketAddr::new(ip("8.8.8.8"), 443),
            SocketAddr::new(ip("127.0.0.1"), 443),
        ];
        assert!(check("mixed", &mixed, &[]).is_err());
        assert!(check("none", &[], &[]).is_err());
    }
}
