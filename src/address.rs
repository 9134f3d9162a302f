//! Monitor addresses: a Unix socket path or a TCP `host:port`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::Error;

/// Where a QMP monitor listens.
///
/// Accepted forms (see [`Address::from_str`]):
///
/// | form | example |
/// |---|---|
/// | a path | `/run/vm1.qmp`, `./qmp.sock`, `qmp.sock` |
/// | `unix:PATH` | `unix:/run/vm1.qmp`, `unix:odd:name` |
/// | `unix:@NAME` | `unix:@vm1-qmp` (an abstract socket, QEMU's `abstract=on`) |
/// | `HOST:PORT` | `localhost:4444`, `127.0.0.1:4444` |
/// | `tcp:HOST:PORT` | `tcp:localhost:4444` |
/// | `[IPV6]:PORT` | `[::1]:4444`, `tcp:[::1]:4444` |
/// | `listen:ADDR` | `listen:/tmp/vm1.qmp`, `listen:localhost:4444`: bind there and wait for QEMU to connect |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Address {
    /// A Unix domain socket. Any length: a path longer than a socket
    /// address holds (107 bytes) is reached through its directory.
    Unix(PathBuf),
    /// A Unix socket in Linux's abstract namespace (QEMU's `abstract=on`),
    /// by its name without the leading NUL.
    Abstract(String),
    /// Listen at the inner address and take the first connection: QEMU
    /// started with `-qmp unix:PATH` (no `server=on`) connects to us.
    Listen(Box<Address>),
    /// A TCP endpoint; `host` is a name or an IP address without brackets.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port number (1-65535).
        port: u16,
    },
}

impl fmt::Display for Address {
    /// The address as the user would write it, with a `unix:` or `tcp:`
    /// prefix only where it would otherwise read back as something else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (bare, prefix) = match self {
            Address::Unix(p) => (p.display().to_string(), "unix:"),
            Address::Abstract(name) => return write!(f, "unix:@{name}"),
            Address::Listen(inner) => return write!(f, "listen:{inner}"),
            Address::Tcp { host, port } if host.contains(':') => {
                (format!("[{host}]:{port}"), "tcp:")
            }
            Address::Tcp { host, port } => (format!("{host}:{port}"), "tcp:"),
        };
        if bare.parse::<Address>().is_ok_and(|a| a == *self) {
            f.write_str(&bare)
        } else {
            write!(f, "{prefix}{bare}")
        }
    }
}

fn bad(input: &str, reason: impl Into<String>) -> Error {
    Error::Address {
        input: input.to_string(),
        reason: reason.into(),
    }
}

fn parse_tcp(input: &str, rest: &str) -> Result<Address, Error> {
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| bad(input, "missing ']' after an IPv6 address"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| bad(input, "missing ':PORT' after ']'"))?;
        (host, port)
    } else {
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad(input, "missing ':PORT' after the host"))?;
        if host.contains(':') {
            return Err(bad(
                input,
                "write an IPv6 address in brackets, as [::1]:PORT",
            ));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(bad(input, "empty host"));
    }
    // Found by fuzzing: '[[x]:1' took '[x' for a host.
    if host.contains(['[', ']']) {
        return Err(bad(input, "stray '[' or ']' in the host"));
    }
    if rest.starts_with('[') && !host.contains(':') {
        return Err(bad(input, "only IPv6 addresses go in brackets"));
    }
    let port: u16 = match port.parse() {
        Ok(0) | Err(_) => {
            return Err(bad(
                input,
                format!(
                    "port '{}' is not a number from 1 to 65535",
                    port.escape_debug()
                ),
            ));
        }
        Ok(p) => p,
    };
    Ok(Address::Tcp {
        host: host.to_string(),
        port,
    })
}

impl FromStr for Address {
    type Err = Error;

    /// Parses an address.
    ///
    /// A string containing `/`, or no `:` at all, is a path. `unix:` and
    /// `tcp:` prefixes force the kind. Anything else must be `HOST:PORT`
    /// with a numeric port, so a mistyped port is reported instead of being
    /// taken for a file name (write `./a:b` or `unix:a:b` for such a file).
    ///
    /// # Errors
    ///
    /// [`Error::Address`] naming what is wrong.
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() {
            return Err(bad(s, "empty address"));
        }
        if let Some(path) = s.strip_prefix("unix:") {
            if let Some(name) = path.strip_prefix('@') {
                if name.is_empty() {
                    return Err(bad(s, "empty name after 'unix:@'"));
                }
                return Ok(Address::Abstract(name.to_string()));
            }
            if path.is_empty() {
                return Err(bad(s, "empty path after 'unix:'"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("tcp:") {
            return parse_tcp(s, rest);
        }
        if let Some(rest) = s.strip_prefix("listen:") {
            return match rest.parse::<Address>() {
                Ok(Address::Listen(_)) => Err(bad(s, "listen: once is enough")),
                Ok(inner) => Ok(Address::Listen(Box::new(inner))),
                Err(Error::Address { reason, .. }) => Err(bad(s, reason)),
                Err(e) => Err(e),
            };
        }
        if s.contains('/') || !s.contains(':') {
            return Ok(Address::Unix(PathBuf::from(s)));
        }
        parse_tcp(s, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(p: &str) -> Option<Address> {
        Some(Address::Unix(PathBuf::from(p)))
    }
    fn tcp(h: &str, port: u16) -> Option<Address> {
        Some(Address::Tcp {
            host: h.into(),
            port,
        })
    }

    #[test]
    fn table() {
        let cases: &[(&str, Option<Address>)] = &[
            ("/run/vm1.qmp", unix("/run/vm1.qmp")),
            ("./qmp.sock", unix("./qmp.sock")),
            ("qmp.sock", unix("qmp.sock")),
            ("unix:/run/vm1.qmp", unix("/run/vm1.qmp")),
            ("unix:odd:name", unix("odd:name")),
            ("unix:@vm1", Some(Address::Abstract("vm1".into()))),
            ("unix:@a:b/c", Some(Address::Abstract("a:b/c".into()))),
            ("@vm1", unix("@vm1")),
            ("./@a:b", unix("./@a:b")),
            ("unix:@", None),
            (
                "listen:/tmp/q.sock",
                Some(Address::Listen(Box::new(Address::Unix(
                    "/tmp/q.sock".into(),
                )))),
            ),
            (
                "listen:localhost:4444",
                Some(Address::Listen(Box::new(Address::Tcp {
                    host: "localhost".into(),
                    port: 4444,
                }))),
            ),
            (
                "listen:unix:@n",
                Some(Address::Listen(Box::new(Address::Abstract("n".into())))),
            ),
            ("listen:", None),
            ("listen:listen:x", None),
            ("listen:localhost:0", None),
            ("./a:b", unix("./a:b")),
            ("/tmp/x:4444", unix("/tmp/x:4444")),
            ("dir/ü.sock", unix("dir/ü.sock")),
            ("localhost:4444", tcp("localhost", 4444)),
            ("127.0.0.1:1", tcp("127.0.0.1", 1)),
            ("tcp:localhost:65535", tcp("localhost", 65535)),
            ("[::1]:4444", tcp("::1", 4444)),
            ("tcp:[::1]:4444", tcp("::1", 4444)),
            ("", None),
            ("unix:", None),
            ("tcp:", None),
            ("tcp:localhost", None),
            ("localhost:", None),
            ("localhost:0", None),
            ("localhost:65536", None),
            ("localhost:http", None),
            ("localhost:-1", None),
            (":4444", None),
            ("::1:4444", None),
            ("[::1]", None),
            ("[::1:4444", None),
            ("[]:4444", None),
            ("a:b", None),
            ("[[p2]:4", None),
            ("[p2]:4", None),
            ("h]:4", None),
        ];
        for (input, want) in cases {
            let got = input.parse::<Address>();
            match want {
                Some(w) => assert_eq!(got.as_ref().ok(), Some(w), "{input:?}: {got:?}"),
                None => {
                    let err = got.expect_err(input).to_string();
                    assert!(err.starts_with("bad address"), "{input:?}: {err}");
                    assert!(err.contains("accepted forms"), "{input:?}: {err}");
                }
            }
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "/run/x.qmp",
            "localhost:4444",
            "[::1]:4444",
            "unix:odd:name",
            "tcp:tcp:4",
            "unix:tcp:x",
            "unix:@vm1",
            "@vm1",
            "./@a:b",
            "listen:/tmp/q.sock",
            "listen:localhost:4444",
            "listen:unix:odd:name",
            "listen:unix:@n",
            "unix:listen:x",
        ] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
            assert_eq!(a.to_string().parse::<Address>().unwrap(), a);
        }
    }
}
