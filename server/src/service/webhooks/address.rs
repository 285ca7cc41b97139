//! Where webhooks may be sent: the guard against server-side request forgery.
//!
//! A subscription names a URL, and the server then makes requests to it from inside the
//! deployment's network. Unguarded, a staff system could point it at the database, a cloud
//! metadata service or an admin page on a private address and use the deliveries' answers
//! (their timing and status) to probe them. So:
//! - **One rule** ([`is_public`]): only globally routable unicast addresses. Loopback,
//!   unspecified, private (RFC 1918, ULA), shared (CGNAT), link-local, multicast, broadcast,
//!   documentation, benchmarking, reserved and the IPv6 forms that carry an IPv4 address
//!   (mapped, compatible, NAT64, 6to4, Teredo) are refused.
//! - **Checked twice.** When subscribing ([`check_target`]: an IP literal, or every address a
//!   name resolves to) and at every delivery: an IP literal is checked before connecting, and
//!   a name is resolved by [`PublicOnlyResolver`], which hands the HTTP client only the public
//!   addresses, so a name whose answers changed after subscribing (DNS rebinding) cannot
//!   reach a refused one.
//! - **Turned off only by the deployment** (`serve --webhook-allow-private-targets`), for a
//!   network where the case system lives on a private address; never by a staff system.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use livingwell_core::domain::FieldErrorCode;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` may be sent to: a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// `(network, prefix length)`: the IPv4 ranges that are not public unicast.
const REFUSED_V4: [(u32, u32); 16] = [
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network", unspecified
    (0x0a00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared address space (CGNAT)
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
    (0xa9fe_0000, 16), // 169.254.0.0/16 link-local (cloud metadata lives here)
    (0xac10_0000, 12), // 172.16.0.0/12 private
    (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments
    (0xc000_0200, 24), // 192.0.2.0/24 documentation
    (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168.0.0/16 private
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xc633_6400, 24), // 198.51.100.0/24 documentation
    (0xcb00_7100, 24), // 203.0.113.0/24 documentation
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved, and 255.255.255.255 broadcast
    (0xffff_ffff, 32), // broadcast (inside the above; listed so it is never missed)
];

fn in_v4(ip: u32, (network, prefix): (u32, u32)) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    ip & mask == network & mask
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !REFUSED_V4.iter().any(|range| in_v4(bits, *range))
}

/// `(network, prefix length)`: the IPv6 ranges that are not public unicast. Forms that embed
/// an IPv4 address are refused whole rather than judged by the address inside: a target on
/// the public internet has a plain address of its own.
const REFUSED_V6: [(u128, u32); 15] = [
    (0, 128),                                        // ::/128 unspecified
    (1, 128),                                        // ::1/128 loopback
    (0, 96),                                         // ::/96 IPv4-compatible (deprecated)
    (0x0000_0000_0000_0000_0000_ffff_0000_0000, 96), // ::ffff:0:0/96 IPv4-mapped
    (0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96), // 64:ff9b::/96 NAT64
    (0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48), // 64:ff9b:1::/48 local NAT64
    (0x0100_0000_0000_0000_0000_0000_0000_0000, 64), // 100::/64 discard
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 23), // 2001::/23 IETF (Teredo, benchmarking…)
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // 2001:db8::/32 documentation
    (0x2002_0000_0000_0000_0000_0000_0000_0000, 16), // 2002::/16 6to4
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20), // 3fff::/20 documentation
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7),  // fc00::/7 unique local (ULA)
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10), // fe80::/10 link-local
    (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10), // fec0::/10 site-local (deprecated)
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8),  // ff00::/8 multicast
];

fn in_v6(ip: u128, (network, prefix): (u128, u32)) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    ip & mask == network & mask
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    // Only global unicast (2000::/3) is ever public; the rest is reserved or one of the above.
    in_v6(bits, (0x2000_0000_0000_0000_0000_0000_0000_0000, 3))
        && !REFUSED_V6.iter().any(|range| in_v6(bits, *range))
}

/// Why a target URL is refused, as the field error that names `url`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetRefusal {
    /// Not `http(s)://host…`, or with a user name or password in it.
    Malformed,
    /// The host is, or resolves to, an address [`is_public`] refuses.
    PrivateAddress,
    /// The host name does not resolve.
    Unresolvable,
}

impl TargetRefusal {
    pub fn code(self) -> FieldErrorCode {
        match self {
            TargetRefusal::Malformed => FieldErrorCode::InvalidUrl,
            TargetRefusal::PrivateAddress => FieldErrorCode::PrivateAddress,
            TargetRefusal::Unresolvable => FieldErrorCode::Unresolvable,
        }
    }
}

/// Reads a target URL: http or https, a host, no credentials (they would sit in the
/// database and in every request line's logs at the target).
pub fn parse_target(url: &str) -> Result<Url, TargetRefusal> {
    let parsed = Url::parse(url).map_err(|_| TargetRefusal::Malformed)?;
    let web = matches!(parsed.scheme(), "http" | "https");
    let credentials = !parsed.username().is_empty() || parsed.password().is_some();
    if !web || credentials || parsed.host().is_none() {
        return Err(TargetRefusal::Malformed);
    }
    Ok(parsed)
}

/// The IP address a URL names literally, if it names one.
pub fn literal_address(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// Whether a subscription may name `url`: its literal address, or every address its name
/// resolves to now, must be public (unless the deployment allows private targets).
pub async fn check_target(url: &Url, allow_private: bool) -> Result<(), TargetRefusal> {
    if allow_private {
        return Ok(());
    }
    if let Some(ip) = literal_address(url) {
        return if is_public(ip) {
            Ok(())
        } else {
            Err(TargetRefusal::PrivateAddress)
        };
    }
    let host = url.host_str().ok_or(TargetRefusal::Malformed)?;
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| TargetRefusal::Unresolvable)?
        .collect();
    if addresses.is_empty() {
        return Err(TargetRefusal::Unresolvable);
    }
    // Any refused answer refuses the name: which answer a later lookup picks is not ours.
    if addresses.iter().all(|address| is_public(address.ip())) {
        Ok(())
    } else {
        Err(TargetRefusal::PrivateAddress)
    }
}

/// A name resolved only to addresses [`is_public`] refuses, at delivery.
#[derive(Debug, thiserror::Error)]
#[error("the target resolves only to addresses webhooks are not sent to")]
pub struct AddressRefused;

/// Resolves names for webhook deliveries and passes on only public addresses, so the HTTP
/// client can never connect to a refused one, whatever the name resolves to by then.
#[derive(Debug, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the client puts in the URL's own port.
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(Box::new(AddressRefused) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addresses: Addrs = Box::new(public.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn public(address: &str) -> bool {
        is_public(address.parse().unwrap())
    }

    #[test]
    fn public_unicast_addresses_are_allowed() {
        for address in [
            "8.8.8.8",
            "1.1.1.1",
            "81.2.69.160",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "223.255.255.254",
            "2a00:1450:4009:81f::200e",
            "2606:4700:4700::1111",
        ] {
            assert!(public(address), "{address}");
        }
    }

    #[test]
    fn loopback_private_link_local_and_other_special_addresses_are_refused() {
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "3fff::1",
        ] {
            assert!(!public(address), "{address}");
        }
    }

    #[test]
    fn a_target_is_http_or_https_with_a_host_and_no_credentials() {
        assert!(parse_target("https://case.example.org/hooks?x=1").is_ok());
        assert!(parse_target("http://case.example.org:8080/").is_ok());
        for refused in [
            "ftp://case.example.org/",
            "https://user:pass@case.example.org/",
            "https://user@case.example.org/",
            "file:///etc/passwd",
            "https://",
            "not a url",
        ] {
            assert_eq!(
                parse_target(refused).err(),
                Some(TargetRefusal::Malformed),
                "{refused}"
            );
        }
    }

    #[tokio::test]
    async fn a_private_literal_or_a_name_for_one_is_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/",
            "http://[::1]:9/",
            "http://localhost:9/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let url = parse_target(url).unwrap();
            assert_eq!(
                check_target(&url, false).await,
                Err(TargetRefusal::PrivateAddress),
                "{url}"
            );
            assert_eq!(check_target(&url, true).await, Ok(()), "{url}");
        }
        let public = parse_target("https://8.8.8.8/").unwrap();
        assert_eq!(check_target(&public, false).await, Ok(()));
    }
}
