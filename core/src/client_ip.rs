//! The client's address, for rate limits and the audit trail.
//!
//! The address is the socket peer's, unless that peer is a configured
//! trusted proxy. Then it is the nearest address in `Forwarded` (RFC 7239)
//! or `X-Forwarded-For` that is not itself a trusted proxy. Addresses
//! further left in those headers come from the client and could be anything,
//! so they are never used.

use std::{net::IpAddr, str::FromStr};

use ipnet::IpNet;

/// The resolved client address, stored in request extensions by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|network| network.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// Parses a comma-separated list of addresses and CIDR networks.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// Returns the client address of a request that arrived from `peer` with
/// the given `Forwarded` and `X-Forwarded-For` header values.
pub fn resolve<'a>(
    peer: IpAddr,
    forwarded: impl IntoIterator<Item = &'a str>,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }

    // `Forwarded` is the standard; a proxy that sends it is believed over
    // one that sends the older header.
    let mut hops: Vec<Option<IpAddr>> = forwarded
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(forwarded_for_parameter)
        .collect();
    if hops.is_empty() {
        hops = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(|hop| parse_node(hop.trim()))
            .collect();
    }

    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            // A trusted proxy wrote this hop, so the address is reliable.
            Some(address) => {
                client = canonical(address);
                if !trusted.contains(client) {
                    break;
                }
            }
            // An obfuscated or damaged entry ends the chain at the last
            // address that can be trusted.
            None => break,
        }
    }
    client
}

/// The scheme a client used to reach the first proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim().trim_matches('"');
        if text.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else if text.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else {
            None
        }
    }
}

/// Returns the scheme a trusted proxy reports for the client's connection,
/// from `Forwarded` (`proto=`) or else `X-Forwarded-Proto`; `None` when
/// `peer` is no trusted proxy or the headers carry no usable value.
///
/// In `Forwarded`, the element that names the client (the same one that
/// [`resolve`] stops at) says how the client connected: elements further
/// right describe hops between proxies. `X-Forwarded-Proto` carries no
/// such pairing, so its last value, the one the nearest proxy wrote, counts.
pub fn forwarded_scheme<'a>(
    peer: IpAddr,
    forwarded: impl IntoIterator<Item = &'a str>,
    forwarded_proto: impl IntoIterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> Option<Scheme> {
    if !trusted.contains(canonical(peer)) {
        return None;
    }

    let elements: Vec<&str> = forwarded.into_iter().flat_map(|value| value.split(',')).collect();
    if elements.is_empty() {
        return forwarded_proto
            .into_iter()
            .flat_map(|value| value.split(','))
            .last()
            .and_then(Scheme::parse);
    }
    let client_element = elements
        .iter()
        .rev()
        .find(|element| forwarded_for_parameter(element).is_none_or(|hop| !trusted.contains(canonical(hop))))
        .or(elements.first())?;
    forwarded_parameter(client_element, "proto").and_then(Scheme::parse)
}

/// Reads the `for=` parameter of one `Forwarded` element.
fn forwarded_for_parameter(element: &str) -> Option<IpAddr> {
    forwarded_parameter(element, "for").and_then(|value| parse_node(value.trim_matches('"')))
}

/// Reads one parameter of a `Forwarded` element, such as `proto`.
fn forwarded_parameter<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    element
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
}

/// Parses `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Maps `::ffff:a.b.c.d` to `a.b.c.d`, so that one client has one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(text: &str) -> TrustedProxies {
        text.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_cannot_choose_its_address() {
        let resolved = resolve(ip("203.0.113.9"), [], ["198.51.100.1"], &proxies("10.0.0.0/8"));
        assert_eq!(resolved, ip("203.0.113.9"));
        let resolved = resolve(ip("203.0.113.9"), ["for=198.51.100.1"], [], &TrustedProxies::default());
        assert_eq!(resolved, ip("203.0.113.9"));
    }

    #[test]
    fn trusted_proxy_names_the_client() {
        let resolved = resolve(ip("10.0.0.2"), [], ["198.51.100.1"], &proxies("10.0.0.0/8"));
        assert_eq!(resolved, ip("198.51.100.1"));
    }

    #[test]
    fn spoofed_entries_left_of_the_client_are_ignored() {
        let resolved = resolve(
            ip("10.0.0.2"),
            [],
            ["1.1.1.1, 198.51.100.1", "10.0.0.3"],
            &proxies("10.0.0.0/8"),
        );
        assert_eq!(resolved, ip("198.51.100.1"));
    }

    #[test]
    fn forwarded_header_wins_and_accepts_ports() {
        let resolved = resolve(
            ip("10.0.0.2"),
            [r#"for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711""#],
            ["198.51.100.1"],
            &proxies("10.0.0.0/8"),
        );
        assert_eq!(resolved, ip("2001:db8:cafe::17"));
        let resolved = resolve(
            ip("10.0.0.2"),
            [r#"For="192.0.2.43:47011""#],
            [],
            &proxies("10.0.0.0/8"),
        );
        assert_eq!(resolved, ip("192.0.2.43"));
    }

    #[test]
    fn obfuscated_hop_ends_the_chain() {
        let resolved = resolve(
            ip("10.0.0.2"),
            ["for=198.51.100.1, for=_hidden, for=10.0.0.5"],
            [],
            &proxies("10.0.0.0/8"),
        );
        assert_eq!(resolved, ip("10.0.0.5"));
    }

    #[test]
    fn scheme_comes_only_from_a_trusted_proxy() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(forwarded_scheme(ip("203.0.113.9"), [], ["http"], &trusted), None);
        assert_eq!(
            forwarded_scheme(ip("10.0.0.2"), [], ["http"], &trusted),
            Some(Scheme::Http)
        );
        // A value the client sent comes first; the proxy's own comes last.
        assert_eq!(
            forwarded_scheme(ip("10.0.0.2"), [], ["https", "HTTP"], &trusted),
            Some(Scheme::Http)
        );
        assert_eq!(forwarded_scheme(ip("10.0.0.2"), [], ["gopher"], &trusted), None);
    }

    #[test]
    fn forwarded_scheme_is_the_client_hop() {
        let trusted = proxies("10.0.0.0/8");
        // The edge proxy (10.0.0.5) took the client's HTTPS connection and
        // spoke plain HTTP to the inner one, which also appended its hop.
        let header = "proto=http, for=198.51.100.1;proto=https, for=10.0.0.5;proto=http";
        assert_eq!(
            forwarded_scheme(ip("10.0.0.2"), [header], ["http"], &trusted),
            Some(Scheme::Https)
        );
        assert_eq!(
            forwarded_scheme(ip("10.0.0.2"), [r#"for=10.0.0.9;proto="HTTPS""#], [], &trusted),
            Some(Scheme::Https)
        );
        assert_eq!(
            forwarded_scheme(ip("10.0.0.2"), ["for=198.51.100.1"], [], &trusted),
            None
        );
    }

    #[test]
    fn trusted_list_parses_addresses_and_networks() {
        let trusted = proxies(" 127.0.0.1, 10.0.0.0/8 ,::1");
        assert!(trusted.contains(ip("127.0.0.1")));
        assert!(trusted.contains(ip("::ffff:127.0.0.1")));
        assert!(trusted.contains(ip("10.200.0.1")));
        assert!(trusted.contains(ip("::1")));
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
    }
}
