//! `allowed_outbound_hosts`: the network destinations a component may reach,
//! checked before every outbound Postgres connection and HTTP request, as
//! Spin checks them. An entry is `scheme://host[:port]` (templates already
//! expanded) where the scheme may be `*`, the host `*` or `*.example.com`,
//! and the port a number, `*` or a range `a-b`; without a port the scheme's
//! default applies (http 80, https 443, postgres 5432). An empty list
//! denies everything.

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Exact(String),
    Subdomain(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Default,
    Range(u16, u16),
}

/// A malformed entry.
#[derive(Debug, thiserror::Error)]
#[error("allowed_outbound_hosts entry {entry:?} of component {component:?} is invalid: {reason}")]
pub struct AllowedHostError {
    component: String,
    entry: String,
    reason: &'static str,
}

/// The allow-list of one component.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<AllowedHost>);

/// The port a scheme uses when an address names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" | "postgresql" => Some(5432),
        _ => None,
    }
}

impl AllowedHosts {
    pub fn parse(component: &str, entries: &[String]) -> Result<AllowedHosts, AllowedHostError> {
        let error = |entry: &str, reason| AllowedHostError { component: component.to_owned(), entry: entry.to_owned(), reason };
        let mut hosts = Vec::new();
        for entry in entries {
            let (scheme, rest) = entry.split_once("://").ok_or_else(|| error(entry, "it has no scheme://"))?;
            let rest = rest.trim_end_matches('/');
            if rest.contains('/') {
                return Err(error(entry, "it must not contain a path"));
            }
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (h, Some(p)),
                _ => (rest, None),
            };
            let host = match host.to_ascii_lowercase() {
                h if h == "*" => HostPattern::Any,
                h if h.starts_with("*.") => HostPattern::Subdomain(h[1..].to_owned()),
                h if h.is_empty() || h.contains('*') => return Err(error(entry, "the host is empty or has a misplaced '*'")),
                h => HostPattern::Exact(h),
            };
            let port = match port {
                None => PortPattern::Default,
                Some("*") => PortPattern::Any,
                Some(p) => match p.split_once('-') {
                    Some((a, b)) => match (a.parse(), b.parse()) {
                        (Ok(a), Ok(b)) if a <= b => PortPattern::Range(a, b),
                        _ => return Err(error(entry, "the port range is invalid")),
                    },
                    None => {
                        let n = p.parse().map_err(|_| error(entry, "the port is not a number"))?;
                        PortPattern::Range(n, n)
                    }
                },
            };
            let scheme = (scheme != "*").then(|| scheme.to_ascii_lowercase());
            if scheme.is_none() && port == PortPattern::Default {
                return Err(error(entry, "a '*' scheme needs an explicit port"));
            }
            hosts.push(AllowedHost { scheme, host, port });
        }
        Ok(AllowedHosts(hosts))
    }

    /// May the component reach `host:port` with `scheme`?
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let scheme = if scheme == "postgresql" { "postgres".to_owned() } else { scheme };
        let host = host.to_ascii_lowercase();
        self.0.iter().any(|allowed| {
            let scheme_ok = allowed.scheme.as_deref().is_none_or(|s| s == scheme);
            let host_ok = match &allowed.host {
                HostPattern::Any => true,
                HostPattern::Exact(h) => *h == host,
                HostPattern::Subdomain(suffix) => host.ends_with(suffix.as_str()),
            };
            let port_ok = match allowed.port {
                PortPattern::Any => true,
                PortPattern::Range(a, b) => (a..=b).contains(&port),
                PortPattern::Default => allowed.scheme.as_deref().and_then(default_port) == Some(port),
            };
            scheme_ok && host_ok && port_ok
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse("c", &entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn exact_entries_match_scheme_host_and_port() {
        let h = hosts(&["postgres://127.0.0.1:54322", "http://localhost:8080"]);
        assert!(h.allows("postgres", "127.0.0.1", 54322));
        assert!(h.allows("postgresql", "127.0.0.1", 54322));
        assert!(!h.allows("postgres", "127.0.0.1", 5432));
        assert!(!h.allows("http", "127.0.0.1", 54322));
        assert!(h.allows("http", "LOCALHOST", 8080));
        assert!(!h.allows("https", "localhost", 8080));
    }

    #[test]
    fn default_ports_wildcards_and_ranges() {
        let h = hosts(&["https://*.example.com", "postgres://db", "*://10.0.0.1:*", "http://h:8000-8010"]);
        assert!(h.allows("https", "api.example.com", 443));
        assert!(!h.allows("https", "example.org", 443));
        assert!(h.allows("postgres", "db", 5432));
        assert!(!h.allows("postgres", "db", 5433));
        assert!(h.allows("redis", "10.0.0.1", 6379));
        assert!(h.allows("http", "h", 8005));
        assert!(!h.allows("http", "h", 8011));
    }

    #[test]
    fn empty_list_denies_everything_and_bad_entries_are_refused() {
        assert!(!hosts(&[]).allows("http", "localhost", 80));
        for bad in ["localhost", "http://a/b", "http://a:x", "*://a", "http://a*b"] {
            assert!(AllowedHosts::parse("c", &[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
