//! Network patterns: `scheme://host[:port]`, where the host is exact (a DNS
//! name or an IP address), a leading `*.` wildcard over subdomains, or `*`
//! for any host; the port is a number, `*` for any, or the scheme's default.
//!
//! A skill's manifest requests patterns, an agent grants patterns, and a
//! grant must be covered by a request. A request's URL is allowed when some
//! granted pattern matches its scheme, host and port.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderName;
use url::{Host, Url};

use super::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// One DNS name, lowercase.
    Name(String),
    /// One IP address.
    Ip(IpAddr),
    /// Any name below this domain (`*.example.com` holds `.example.com`);
    /// never the domain itself, never an IP address.
    Subdomains(String),
    /// Any host at all (`*`), names and addresses.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NetPattern {
    pub scheme: Scheme,
    pub host: HostPattern,
    /// `None` for any port.
    pub port: Option<u16>,
}

impl NetPattern {
    pub fn parse(text: &str) -> Result<NetPattern, ParseError> {
        let bad = |why: &str| ParseError::new(text, "a network pattern", why);
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("write scheme://host[:port], e.g. https://api.example.com"))?;
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(bad(
                "a pattern names a host and port only: no path, query or user",
            ));
        }
        let (host, port) = split_port(authority).map_err(|why| bad(&why))?;
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(ip) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            HostPattern::Ip(IpAddr::from_str(ip).map_err(|_| bad("bad IPv6 address"))?)
        } else if let Ok(ip) = IpAddr::from_str(host) {
            HostPattern::Ip(ip)
        } else if let Some(domain) = host.strip_prefix("*.") {
            check_domain(domain).map_err(|why| bad(&why))?;
            HostPattern::Subdomains(format!(".{}", domain.to_ascii_lowercase()))
        } else {
            check_domain(host).map_err(|why| bad(&why))?;
            HostPattern::Name(host.to_ascii_lowercase())
        };
        Ok(NetPattern {
            scheme,
            port: match port {
                Port::Any => None,
                Port::Number(n) => Some(n),
                Port::Default => Some(scheme.default_port()),
            },
            host,
        })
    }

    /// Whether `url` is a request this pattern allows.
    pub fn matches(&self, url: &Url) -> bool {
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return false,
        };
        if scheme != self.scheme
            || self
                .port
                .is_some_and(|p| url.port_or_known_default() != Some(p))
        {
            return false;
        }
        match (&self.host, url.host()) {
            (HostPattern::Any, Some(_)) => true,
            (HostPattern::Name(name), Some(Host::Domain(domain))) => {
                domain.eq_ignore_ascii_case(name)
            }
            (HostPattern::Subdomains(suffix), Some(Host::Domain(domain))) => {
                domain.len() > suffix.len()
                    && domain.to_ascii_lowercase().ends_with(suffix.as_str())
            }
            (HostPattern::Ip(ip), Some(Host::Ipv4(v4))) => *ip == IpAddr::V4(v4),
            (HostPattern::Ip(ip), Some(Host::Ipv6(v6))) => *ip == IpAddr::V6(v6),
            _ => false,
        }
    }

    /// Whether everything `other` allows, this allows too.
    pub fn covers(&self, other: &NetPattern) -> bool {
        let port_covered = self.port.is_none() || self.port == other.port;
        if self.scheme != other.scheme || !port_covered {
            return false;
        }
        match (&self.host, &other.host) {
            (HostPattern::Any, _) => true,
            (HostPattern::Subdomains(mine), HostPattern::Subdomains(theirs)) => {
                theirs.ends_with(mine.as_str())
            }
            (HostPattern::Subdomains(mine), HostPattern::Name(name)) => {
                name.len() > mine.len() && name.ends_with(mine.as_str())
            }
            (mine, theirs) => mine == theirs,
        }
    }

    /// A pattern that names one host or address, rather than a family.
    pub fn is_exact(&self) -> bool {
        matches!(self.host, HostPattern::Name(_) | HostPattern::Ip(_))
    }
}

impl fmt::Display for NetPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            HostPattern::Name(name) => f.write_str(name)?,
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]")?,
            HostPattern::Ip(ip) => write!(f, "{ip}")?,
            HostPattern::Subdomains(suffix) => write!(f, "*{suffix}")?,
            HostPattern::Any => f.write_str("*")?,
        }
        match self.port {
            None => f.write_str(":*"),
            Some(port) if port != self.scheme.default_port() => write!(f, ":{port}"),
            Some(_) => Ok(()),
        }
    }
}

/// Headers the host sets itself; neither a guest nor a secret template may.
pub(crate) fn is_host_controlled_header(name: &HeaderName) -> bool {
    wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(name)
        || *name == http::header::CONTENT_LENGTH
        || *name == http::header::TE
        || *name == http::header::TRAILER
}

enum Port {
    Default,
    Any,
    Number(u16),
}

fn split_port(authority: &str) -> Result<(&str, Port), String> {
    let (host, port) = match authority.rfind(':') {
        // A colon inside brackets belongs to an IPv6 address.
        Some(i) if !authority[i..].contains(']') && !authority[..i].is_empty() => {
            (&authority[..i], Some(&authority[i + 1..]))
        }
        _ => (authority, None),
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    match port {
        None => Ok((host, Port::Default)),
        Some("*") => Ok((host, Port::Any)),
        Some(port) => match port.parse::<u16>() {
            Ok(p) if p > 0 => Ok((host, Port::Number(p))),
            _ => Err(format!("bad port '{port}'")),
        },
    }
}

fn check_domain(domain: &str) -> Result<(), String> {
    let valid = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "'{domain}' is not a host name (wildcards only as a leading '*.')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> NetPattern {
        NetPattern::parse(s).unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn parses_and_prints() {
        for text in [
            "https://api.github.com",
            "https://*.wikipedia.org",
            "http://127.0.0.1:8080",
            "http://[::1]:9000",
            "https://example.com:8443",
            "https://*",
            "http://*.test:*",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
        assert_eq!(
            p("https://API.GitHub.com:443/").to_string(),
            "https://api.github.com"
        );
        for bad in [
            "api.github.com",
            "ftp://x.org",
            "https://x.org/path",
            "https://*.x*.org",
            "https://a.*.org",
            "https://x.org:0",
            "https://x.org:http",
            "https://user@x.org",
            "https://",
        ] {
            assert!(NetPattern::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn matches_scheme_host_and_port() {
        let github = p("https://api.github.com");
        assert!(github.matches(&url("https://api.github.com/repos?x=1")));
        assert!(github.matches(&url("https://API.github.com:443/")));
        assert!(!github.matches(&url("http://api.github.com/")));
        assert!(!github.matches(&url("https://api.github.com:8443/")));
        assert!(!github.matches(&url("https://api.github.com.evil.org/")));
        assert!(!github.matches(&url("https://evil.org/?api.github.com")));

        let wiki = p("https://*.wikipedia.org");
        assert!(wiki.matches(&url("https://en.wikipedia.org/wiki/X")));
        assert!(wiki.matches(&url("https://a.b.wikipedia.org/")));
        assert!(!wiki.matches(&url("https://wikipedia.org/")));
        assert!(!wiki.matches(&url("https://evilwikipedia.org/")));

        let local = p("http://127.0.0.1:8080");
        assert!(local.matches(&url("http://127.0.0.1:8080/x")));
        assert!(!local.matches(&url("http://127.0.0.2:8080/x")));
        assert!(!local.matches(&url("http://localhost:8080/x")));
        assert!(p("http://[::1]:8080").matches(&url("http://[::1]:8080/")));

        let any = p("https://*");
        assert!(any.matches(&url("https://anything.example/")));
        assert!(any.matches(&url("https://10.0.0.1/")));
        assert!(!any.matches(&url("https://x.example:8443/")));
        assert!(!any.matches(&url("http://x.example/")));
        assert!(p("http://*.test:*").matches(&url("http://a.test:41234/")));
    }

    #[test]
    fn covers_only_narrower_patterns() {
        let wiki = p("https://*.wikipedia.org");
        assert!(wiki.covers(&p("https://en.wikipedia.org")));
        assert!(wiki.covers(&p("https://*.en.wikipedia.org")));
        assert!(wiki.covers(&wiki));
        assert!(!wiki.covers(&p("https://wikipedia.org")));
        assert!(!wiki.covers(&p("http://en.wikipedia.org")));
        assert!(!wiki.covers(&p("https://*.org")));
        assert!(!p("https://en.wikipedia.org").covers(&wiki));
        assert!(p("http://10.0.0.1:80").covers(&p("http://10.0.0.1")));
        assert!(p("https://*").covers(&p("https://*.wikipedia.org")));
        assert!(p("https://*").covers(&p("https://1.2.3.4")));
        assert!(!p("https://*").covers(&p("https://x.org:8443")));
        assert!(p("http://*.test:*").covers(&p("http://a.test:8080")));
        assert!(!p("http://a.test:*").covers(&p("http://*.test:*")));
    }
}
