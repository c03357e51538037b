//! The relay addresses a node learnt from `addr` gossip and from its own dialling: only
//! well-formed public `ws://`/`wss://` relay URLs, at most [`MAX_ADDRS`] in all and
//! [`MAX_PER_SOURCE`] from any one source, so that one peer's made-up list can neither take
//! the book over nor point others at private, loopback or link-local services (a cloud
//! metadata endpoint, a router's page) once tabs dial gossiped relays.

use core::net::{Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;

use litemap::LiteMap;

use crate::protocol::{MAX_ADDRS, PeerAddress};

/// New addresses one source may put in the book.
pub(super) const MAX_PER_SOURCE: usize = 64;
/// The source of addresses the node found itself (relays it reached by their address).
pub(super) const OWN_SOURCE: &str = "";

#[derive(Clone, Debug)]
struct Entry {
    last_seen: u64,
    source: String,
}

#[derive(Clone, Debug, Default)]
pub(super) struct AddressBook {
    entries: LiteMap<String, Entry>,
    per_source: HashMap<String, usize>,
    /// Private, loopback and link-local hosts are kept too (an operator's choice, and the
    /// loopback tests').
    allow_private: bool,
}

impl AddressBook {
    pub(super) fn new(allow_private: bool) -> AddressBook {
        AddressBook { allow_private, ..AddressBook::default() }
    }

    pub(super) fn contains(&self, url: &str) -> bool {
        self.entries.contains_key(url)
    }

    /// The addresses, newest first.
    pub(super) fn list(&self) -> Vec<PeerAddress> {
        let mut list: Vec<PeerAddress> =
            self.entries.iter().map(|(url, e)| PeerAddress { url: url.clone(), last_seen: e.last_seen }).collect();
        crate::sort::sort_by(&mut list, |a, b| b.last_seen.cmp(&a.last_seen).then(a.url.cmp(&b.url)));
        list
    }

    /// Adds (or refreshes) `address`, learnt from `source` (a peer's own address, or
    /// [`OWN_SOURCE`]): `false` if it is refused.
    pub(super) fn add(&mut self, address: PeerAddress, source: &str) -> bool {
        if !is_relay_url(&address.url, self.allow_private) {
            return false;
        }
        if let Some(entry) = self.entries.get_mut(&address.url) {
            entry.last_seen = entry.last_seen.max(address.last_seen);
            return true;
        }
        let group = source_group(source);
        if group != OWN_SOURCE && self.per_source.get(&group).copied().unwrap_or(0) >= MAX_PER_SOURCE {
            return false;
        }
        if self.entries.len() >= MAX_ADDRS {
            // Full: the least recently seen goes, if the newcomer is newer.
            let oldest = self.entries.iter().min_by_key(|(_, e)| e.last_seen).map(|(u, e)| (u.clone(), e.last_seen));
            match oldest {
                Some((url, seen)) if seen < address.last_seen => self.remove(&url),
                _ => return false,
            }
        }
        *self.per_source.entry(group.clone()).or_default() += 1;
        self.entries.insert(address.url, Entry { last_seen: address.last_seen, source: group });
        true
    }

    fn remove(&mut self, url: &str) {
        if let Some(entry) = self.entries.remove(url)
            && let Some(count) = self.per_source.get_mut(&entry.source)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_source.remove(&entry.source);
            }
        }
    }
}

/// Where a source's addresses are counted: its host without the port (a peer reconnecting
/// from another port is the same source).
fn source_group(source: &str) -> String {
    let without_scheme = source.split_once("://").map_or(source, |(_, rest)| rest);
    let authority = without_scheme.split('/').next().unwrap_or("");
    match authority.rsplit_once(':') {
        // "[::1]:3000" or "1.2.3.4:3000"; a bare IPv6 address has more than one colon.
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') => host.to_string(),
        _ => authority.to_string(),
    }
}

/// Whether `url` is a relay URL worth keeping and passing on: `ws://` or `wss://`, a host
/// (a DNS name, a dotted IPv4 address or a bracketed IPv6 one), an optional port and an
/// optional path of printable ASCII; and, unless `allow_private`, a public host.
pub(super) fn is_relay_url(url: &str, allow_private: bool) -> bool {
    let Some(rest) = url.strip_prefix("ws://").or_else(|| url.strip_prefix("wss://")) else { return false };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if !path.bytes().all(|b| b.is_ascii_graphic()) || path.contains(['?', '#']) {
        return false;
    }
    // No userinfo (`user@host`: a browser would dial what follows the `@`), no backslash.
    if authority.contains(['@', '\\']) {
        return false;
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else { return false };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
        };
        (Host::V6(inside), port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (Host::Name(host), Some(port)),
            None => (Host::Name(authority), None),
        }
    };
    if let Some(port) = port
        && !(port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p != 0))
    {
        return false;
    }
    match host {
        Host::V6(text) => text.parse::<Ipv6Addr>().is_ok_and(|ip| allow_private || is_public_v6(&ip)),
        Host::Name(name) => match name.parse::<Ipv4Addr>() {
            Ok(ip) => allow_private || is_public_v4(&ip),
            Err(_) => is_dns_name(name) && (allow_private || !is_local_name(name)),
        },
    }
}

enum Host<'a> {
    V6(&'a str),
    Name(&'a str),
}

/// Letters, digits and hyphens in labels of 1 to 63, at most 253 in all; the last label not
/// numeric (browsers read "127.1" or "0x7f.1" as an IPv4 address).
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let last = name.rsplit('.').next().unwrap_or("");
    let numeric = last.bytes().all(|b| b.is_ascii_digit()) || last.to_ascii_lowercase().starts_with("0x");
    labels_ok && !numeric
}

/// Names that never lead to a public relay.
fn is_local_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    ["localhost", "local", "internal", "lan", "home.arpa"]
        .iter()
        .any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}")))
}

fn is_public_v4(ip: &Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b)))
}

fn is_public_v6(ip: &Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(&v4);
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local fc00::/7, link-local fe80::/10, documentation 2001:db8::/32.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_relay_urls_are_kept_and_others_refused() {
        for good in [
            "ws://relay.example.org/ws",
            "wss://relay.example.org:8443/ws",
            "ws://198.51.99.200:3000/ws",
            "ws://8.8.8.8",
            "wss://[2606:4700::1111]:443/ws",
        ] {
            assert!(is_relay_url(good, false), "{good}");
        }
        for bad in [
            "http://relay.example.org/ws",
            "ws://",
            "ws://relay.example.org:0/ws",
            "ws://relay.example.org:99999/ws",
            "ws://relay example.org/ws",
            "ws://relay.example.org/w s",
            "ws://relay.example.org/ws?x=1",
            "ws://169.254.169.254/",
            "ws://127.0.0.1:3000/ws",
            "ws://10.1.2.3/ws",
            "ws://192.168.1.1/ws",
            "ws://172.16.0.1/ws",
            "ws://100.64.0.1/ws",
            "ws://0.0.0.0/ws",
            "ws://localhost:3000/ws",
            "ws://router.local/ws",
            "ws://127.1/ws",
            "ws://0x7f000001/ws",
            "ws://[::1]:3000/ws",
            "ws://[fe80::1]/ws",
            "ws://[fd00::1]/ws",
            "ws://[::ffff:127.0.0.1]/ws",
            "ws://-bad-.example/ws",
            "ws://[2001:4860::1]@169.254.169.254/",
            "ws://[2001:4860::1]@127.0.0.1:8080/",
            "ws://[2001:4860::1]x/",
            "ws://relay.example.org@127.0.0.1/",
            "ws://relay.example.org\\@127.0.0.1/",
        ] {
            assert!(!is_relay_url(bad, false), "{bad}");
        }
        assert!(is_relay_url("ws://127.0.0.1:3000/ws", true));
        assert!(is_relay_url("ws://localhost:3000/ws", true));
        assert!(!is_relay_url("http://127.0.0.1:3000/ws", true));
    }

    #[test]
    fn one_source_adds_a_bounded_share() {
        let mut book = AddressBook::new(false);
        let url = |i: usize| format!("ws://relay{i}.example.org/ws");
        for i in 0..1_000 {
            book.add(PeerAddress { url: url(i), last_seen: 10 + i as u64 }, "198.51.99.7:51000");
        }
        assert_eq!(book.list().len(), MAX_PER_SOURCE);
        // The same host from another port is the same source; another host has its own share.
        assert!(!book.add(PeerAddress { url: url(5_000), last_seen: 1 }, "198.51.99.7:51001"));
        assert!(book.add(PeerAddress { url: url(5_001), last_seen: 1 }, "198.51.99.8:51000"));
        // Seen again: refreshed, whoever tells.
        assert!(book.add(PeerAddress { url: url(0), last_seen: 9_999 }, "198.51.99.9:1"));
        assert_eq!(book.list()[0].url, url(0));
        // What the node found itself is not limited by source.
        for i in 0..100 {
            assert!(book.add(PeerAddress { url: format!("ws://own{i}.example.org/ws"), last_seen: 1 }, OWN_SOURCE));
        }
    }

    #[test]
    fn source_groups_drop_the_port() {
        assert_eq!(source_group("198.51.99.7:51000"), "198.51.99.7");
        assert_eq!(source_group("[2606:4700::1]:443"), "[2606:4700::1]");
        assert_eq!(source_group("ws://relay.example.org:3000/ws"), "relay.example.org");
        assert_eq!(source_group("sim://4"), "4");
    }
}
