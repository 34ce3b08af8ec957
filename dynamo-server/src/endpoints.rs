//! How clients reach a node: its HTTP base URL and binary-protocol address, announced in its
//! cluster-state entry (opaque to the core) so that a client that knows one node learns every
//! other from `/ring` and `/members`, and routes each request to a replica of its key.
//!
//! The text form is `http=<url> binary=<host:port>` (either part may be missing), short and
//! readable in a dump of the cluster state. Unknown parts are ignored, so a later version may
//! add some.

use std::net::SocketAddr;

/// A node's client endpoints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientEndpoints {
    /// The HTTP API's base URL (`https://` when TLS is on).
    pub http: Option<String>,
    /// The binary protocol's `host:port`, when it listens.
    pub binary: Option<String>,
}

impl ClientEndpoints {
    /// The endpoints of a node whose HTTP API listens on `http` and binary protocol on
    /// `binary`, reached over TLS when `tls`. A listener bound to every interface
    /// (`0.0.0.0`, `::`) is announced at `host`, the host other nodes reach this one at.
    pub fn of_listeners(
        http: SocketAddr,
        binary: Option<SocketAddr>,
        tls: bool,
        host: &str,
    ) -> ClientEndpoints {
        let reachable = |a: SocketAddr| {
            if a.ip().is_unspecified() {
                let host = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]")
                } else {
                    host.to_owned()
                };
                format!("{host}:{}", a.port())
            } else {
                a.to_string()
            }
        };
        let scheme = if tls { "https" } else { "http" };
        ClientEndpoints {
            http: Some(format!("{scheme}://{}", reachable(http))),
            binary: binary.map(reachable),
        }
    }

    /// The text form (see the [module documentation](self)).
    pub fn to_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(http) = &self.http {
            parts.push(format!("http={http}"));
        }
        if let Some(binary) = &self.binary {
            parts.push(format!("binary={binary}"));
        }
        parts.join(" ")
    }

    /// Reads the text form; anything else (empty, unknown parts) reads as missing parts.
    pub fn parse(text: &str) -> ClientEndpoints {
        let mut endpoints = ClientEndpoints::default();
        for part in text.split_whitespace() {
            match part.split_once('=') {
                Some(("http", v)) if !v.is_empty() => endpoints.http = Some(v.to_owned()),
                Some(("binary", v)) if !v.is_empty() => endpoints.binary = Some(v.to_owned()),
                _ => {}
            }
        }
        endpoints
    }
}

/// The host part of `host:port` (`[v6]:port` keeps its brackets off).
pub fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_unknown_parts() {
        let e = ClientEndpoints::of_listeners(
            "127.0.0.1:8001".parse().unwrap(),
            Some("127.0.0.1:7001".parse().unwrap()),
            true,
            "ignored",
        );
        assert_eq!(e.http.as_deref(), Some("https://127.0.0.1:8001"));
        assert_eq!(
            e.to_text(),
            "http=https://127.0.0.1:8001 binary=127.0.0.1:7001"
        );
        assert_eq!(ClientEndpoints::parse(&e.to_text()), e);
        assert_eq!(
            ClientEndpoints::parse("x=1 http=http://a:1 nonsense"),
            ClientEndpoints {
                http: Some("http://a:1".into()),
                binary: None
            }
        );
        assert_eq!(ClientEndpoints::parse(""), ClientEndpoints::default());
    }

    #[test]
    fn every_interface_is_announced_at_the_peer_host() {
        let e = ClientEndpoints::of_listeners(
            "0.0.0.0:8001".parse().unwrap(),
            Some("[::]:7001".parse().unwrap()),
            false,
            host_of("10.0.0.5:9001"),
        );
        assert_eq!(e.http.as_deref(), Some("http://10.0.0.5:8001"));
        assert_eq!(e.binary.as_deref(), Some("10.0.0.5:7001"));
        let v6 = ClientEndpoints::of_listeners(
            "[::]:8001".parse().unwrap(),
            None,
            false,
            host_of("[fd00::1]:9001"),
        );
        assert_eq!(v6.http.as_deref(), Some("http://[fd00::1]:8001"));
    }
}
