//! Which network addresses the asset loader may reach. Remote assets come from URLs that
//! anyone can put in a request, so by default every address that is not globally routable
//! is refused (loopback, private, link-local, shared, unspecified, multicast, reserved and
//! documentation ranges, and IPv6 forms that embed such an IPv4 address), unless an allow
//! rule in the configuration names the host or a network that contains the address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// One `--allow-host` entry: a host name, an address, or a network in CIDR form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    Host(String),
    Net(IpNet),
}

impl FromStr for AllowRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().trim_start_matches('[').trim_end_matches(']');
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(AllowRule::Net(net));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(AllowRule::Net(IpNet::from(ip)));
        }
        let valid_name = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if valid_name {
            Ok(AllowRule::Host(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "expected a host name, an IP address or a CIDR network, found {s:?}"
            ))
        }
    }
}

/// The allow list; empty by default, which refuses every non-public address.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    rules: Vec<AllowRule>,
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub host: String,
    pub address: IpAddr,
    pub range: &'static str,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host {} resolves to {}, a {} address, which this server may not reach \
             (allow it with --allow-host)",
            self.host, self.address, self.range
        )
    }
}

impl std::error::Error for Refusal {}

impl AddressPolicy {
    pub fn new(rules: Vec<AllowRule>) -> Self {
        Self { rules }
    }

    /// Checks that `host` (as written in the URL) may be reached at `address`.
    pub fn check(&self, host: &str, address: IpAddr) -> Result<(), Refusal> {
        let Some(range) = non_public_range(address) else {
            return Ok(());
        };
        let host_lower = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let allowed = self.rules.iter().any(|rule| match rule {
            AllowRule::Host(name) => *name == host_lower,
            AllowRule::Net(net) => {
                net.contains(&address)
                    || canonical(address).is_some_and(|v4| net.contains(&IpAddr::V4(v4)))
            }
        });
        if allowed {
            Ok(())
        } else {
            Err(Refusal {
                host: host.to_owned(),
                address,
                range,
            })
        }
    }
}

/// The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4).
fn canonical(address: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = address else {
        return None;
    };
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, _, _] if v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST => {
            Some(low)
        }
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// The name of the non-public range that holds `address`, or `None` for a public one.
pub fn non_public_range(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = canonical(address) {
                return v4_range(v4)
                    .map(|_| "IPv4-embedding IPv6 (non-public IPv4 inside)")
                    .or(
                        // Mapped and compatible forms of public addresses are still odd enough
                        // to refuse: nothing legitimate serves assets from them.
                        if v6.segments()[0] == 0 {
                            Some("IPv4-mapped IPv6")
                        } else {
                            None
                        },
                    );
            }
            v6_range(v6)
        }
    }
}

fn v4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified",
        (127, _, _) => "loopback",
        (10, _, _) => "private",
        (172, 16..=31, _) => "private",
        (192, 168, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (carrier-grade NAT)",
        (192, 0, 0) => "IETF protocol",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn v6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        0xfc00..=0xfdff => "unique local (private)",
        0xfe80..=0xfebf => "link-local",
        0xfec0..=0xfeff => "site-local",
        0xff00..=0xffff => "multicast",
        0x2001 if s[1] == 0 => "Teredo",
        0x2001 if s[1] == 2 && s[2] == 0 => "benchmarking",
        0x2001 if (0x10..=0x1f).contains(&s[1]) => "ORCHID",
        0x0064 if s[1] == 0xff9b && s[2] == 1 => "local-use NAT64",
        0 if s[1..5] == [0, 0, 0, 0xffff] && s[5] == 0 => "IPv4-translated (SIIT)",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x0100 if s[1..4] == [0, 0, 0] => "discard",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn refused(ip: &str) -> bool {
        AddressPolicy::default()
            .check("h", ip.parse().expect("test address"))
            .is_err()
    }

    #[test]
    fn refuses_every_non_public_range() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "::ffff:8.8.8.8",
            "64:ff9b:1::a00:1",
            "::ffff:0:a00:1",
            "2001:2::1",
            "2001:10::1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn accepts_public_addresses() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "100.128.0.1",
        ] {
            assert!(!refused(ip), "{ip} should be accepted");
        }
    }

    #[test]
    fn allow_rules_match_names_addresses_and_networks() {
        let policy = AddressPolicy::new(vec![
            "assets.internal".parse().expect("rule"),
            "10.1.0.0/16".parse().expect("rule"),
            "[::1]".parse().expect("rule"),
        ]);
        assert!(policy
            .check("ASSETS.internal", "10.9.9.9".parse().expect("ip"))
            .is_ok());
        assert!(policy.check("x", "10.1.2.3".parse().expect("ip")).is_ok());
        assert!(policy.check("x", "::1".parse().expect("ip")).is_ok());
        assert!(policy.check("x", "10.2.0.1".parse().expect("ip")).is_err());
        assert!("bad host!".parse::<AllowRule>().is_err());
    }

    #[test]
    fn refusal_names_the_range() {
        let err = AddressPolicy::default()
            .check("metadata", "169.254.169.254".parse().expect("ip"))
            .unwrap_err();
        assert!(err.to_string().contains("link-local"), "{err}");
    }

    proptest! {
        #[test]
        fn allow_rules_never_panic(s in "\\PC{0,40}") {
            let _ = s.parse::<AllowRule>();
        }

        #[test]
        fn mapped_forms_agree_with_their_ipv4(a: u8, b: u8, c: u8, d: u8) {
            let v4 = Ipv4Addr::new(a, b, c, d);
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            if non_public_range(IpAddr::V4(v4)).is_some() {
                prop_assert!(non_public_range(mapped).is_some());
            }
        }
    }
}
