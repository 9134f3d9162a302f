//! How bytes get to QEMU: connecting to its socket (Unix of any length,
//! abstract, or TCP), with a deadline, optionally retrying while the server
//! is not there yet (`--wait`); or listening (`listen:ADDR`) until QEMU
//! connects to us.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::address::Address;
use crate::error::{Error, Phase, Result};
use crate::wire::{Stream, is_timeout, remaining};

/// An open connection to a monitor.
#[derive(Debug)]
pub enum Connection {
    /// A Unix domain socket (the only kind that can pass file descriptors).
    Unix(UnixStream),
    /// A TCP connection (with `TCP_NODELAY`: QMP is request/reply).
    Tcp(TcpStream),
}

impl Read for Connection {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Connection::Unix(s) => s.read(buf),
            Connection::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Connection::Unix(s) => s.write(buf),
            Connection::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for Connection {
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Connection::Unix(s) => s.set_read_timeout(t),
            Connection::Tcp(s) => s.set_read_timeout(t),
        }
    }
    fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Connection::Unix(s) => s.set_write_timeout(t),
            Connection::Tcp(s) => s.set_write_timeout(t),
        }
    }
    fn unix_fd(&self) -> Option<std::os::fd::RawFd> {
        match self {
            Connection::Unix(s) => Some(s.as_raw_fd()),
            Connection::Tcp(_) => None,
        }
    }
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(match self {
            Connection::Unix(s) => s.as_raw_fd(),
            Connection::Tcp(s) => s.as_raw_fd(),
        })
    }
}

fn abstract_addr(name: &str) -> io::Result<SockAddr> {
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(name.as_bytes());
    SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))
}

fn open_once(address: &Address, left: Duration) -> io::Result<Connection> {
    match address {
        Address::Unix(path) => unix_connect(path),
        Address::Listen(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a listen: address is not connected to",
        )),
        Address::Abstract(name) => {
            connect_unix_addr(&abstract_addr(name)?, Path::new("")).map_err(|e| {
                if e.kind() == io::ErrorKind::ConnectionRefused {
                    io::Error::new(e.kind(), "nothing listens on this abstract socket")
                } else {
                    e
                }
            })
        }
        Address::Tcp { host, port } => {
            let mut last = io::Error::new(io::ErrorKind::NotFound, "host name resolved to nothing");
            for addr in (host.as_str(), *port).to_socket_addrs()? {
                let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
                match sock.connect_timeout(&addr.into(), left) {
                    Ok(()) => {
                        sock.set_tcp_nodelay(true)?;
                        return Ok(Connection::Tcp(sock.into()));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
    }
}

/// The most a `sun_path` holds, without its terminating NUL.
const SUN_PATH_MAX: usize = 107;

/// Connects to the Unix socket at `path`, of any length: one longer than a
/// socket address holds is reached as `/proc/self/fd/N/NAME`, N an open
/// descriptor of its directory (this process's own, so nothing shared is
/// touched; QEMU listens on such paths through a relative one).
fn unix_connect(path: &Path) -> io::Result<Connection> {
    let (addr, _dir) = unix_addr(path)?;
    connect_unix_addr(&addr, path)
}

/// The socket address for `path`, and the open directory it goes through
/// when `path` is too long (keep it open while the address is used).
fn unix_addr(path: &Path) -> io::Result<(SockAddr, Option<std::fs::File>)> {
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return Ok((SockAddr::unix(path)?, None));
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(too_long(path));
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let dir = std::fs::File::open(dir)?;
    let via = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    if via.as_os_str().len() > SUN_PATH_MAX {
        return Err(too_long(path));
    }
    Ok((SockAddr::unix(&via)?, Some(dir)))
}

/// A bound socket waiting for QEMU to connect (`listen:ADDR`): bound first,
/// so that QEMU can be started pointing at it (`qmp-shell --wrap`), then
/// [`Listener::accept`]ed. The socket file it created is removed when it is
/// dropped.
#[derive(Debug)]
pub struct Listener {
    sock: Socket,
    tcp: bool,
    bound: Option<PathBuf>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(path) = &self.bound {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Listener {
    /// Binds `inner` (a Unix path, an abstract name, or HOST:PORT) and
    /// listens. A socket file left by an earlier run is replaced (as QEMU
    /// does for server=on); one something listens on, or another kind of
    /// file, is not.
    ///
    /// # Errors
    /// The operating system's, or `AddrInUse` when something listens there.
    pub fn bind(inner: &Address) -> io::Result<Listener> {
        let (sock, bound, tcp) = match inner {
            Address::Unix(path) => {
                if std::fs::symlink_metadata(path).is_ok() {
                    match unix_connect(path) {
                        Ok(_) => {
                            return Err(io::Error::new(
                                io::ErrorKind::AddrInUse,
                                "something already listens there",
                            ));
                        }
                        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                            std::fs::remove_file(path)?;
                        }
                        Err(e) => return Err(e),
                    }
                }
                let (addr, _dir) = unix_addr(path)?;
                let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
                sock.bind(&addr)?;
                (sock, Some(path.clone()), false)
            }
            Address::Abstract(name) => {
                let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
                sock.bind(&abstract_addr(name)?)?;
                (sock, None, false)
            }
            Address::Tcp { host, port } => {
                let addr = (host.as_str(), *port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, "host name resolved to nothing")
                    })?;
                let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
                sock.set_reuse_address(true)?;
                sock.bind(&addr.into())?;
                (sock, None, true)
            }
            Address::Listen(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "listen: once is enough",
                ));
            }
        };
        let listener = Listener { sock, tcp, bound };
        listener.sock.listen(1)?;
        Ok(listener)
    }

    /// Waits until `deadline` for one connection and takes it.
    ///
    /// # Errors
    /// `TimedOut` when the deadline passes, else the operating system's.
    pub fn accept(&self, deadline: Instant) -> io::Result<Connection> {
        loop {
            let left = remaining(deadline).ok_or(io::ErrorKind::TimedOut)?;
            // accept(2) honours SO_RCVTIMEO on Linux.
            self.sock.set_read_timeout(Some(left))?;
            match self.sock.accept() {
                Ok((conn, _)) if self.tcp => {
                    conn.set_tcp_nodelay(true)?;
                    return Ok(Connection::Tcp(conn.into()));
                }
                Ok((conn, _)) => return Ok(Connection::Unix(conn.into())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(io::ErrorKind::TimedOut.into()),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Binds `inner`, waits until `deadline` for one connection, and takes it;
/// the socket file is removed again (QEMU has connected, or never will).
fn listen(inner: &Address, deadline: Instant) -> io::Result<Connection> {
    Listener::bind(inner)?.accept(deadline)
}

fn too_long(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "a socket file name of {} bytes cannot be reached: a Unix socket address holds \
             at most {SUN_PATH_MAX} bytes, a path longer than that is reached through its \
             directory, but then the name itself must be shorter (rename the socket, or link \
             it from a shorter path)",
            path.file_name().map_or(0, |n| n.len())
        ),
    )
}

/// A non-blocking connect to `addr` (`path`: what it stands for, to say
/// why a connection was refused).
fn connect_unix_addr(addr: &SockAddr, path: &Path) -> io::Result<Connection> {
    // A Unix stream connect never blocks on Linux: it succeeds, or fails at
    // once, with EAGAIN when the listen queue is full (QEMU listens with a
    // backlog of 1 and serves one client at a time).
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    match sock.connect(addr) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && !path.as_os_str().is_empty() => {
            return Err(refused(path, e));
        }
        r => r?,
    }
    sock.set_nonblocking(false)?;
    Ok(Connection::Unix(sock.into()))
}

/// Says why a Unix connect was refused: the path is not a socket (refused at
/// once, whatever `--wait` says: it never will be one), or it is a socket
/// nobody listens on (left behind by a QEMU that exited, or QEMU starting).
fn refused(path: &Path, e: io::Error) -> io::Error {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return e;
    };
    let kind = meta.file_type();
    if kind.is_socket() {
        return io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "nothing listens on this socket (left behind by a QEMU that exited?)",
        );
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "not a socket file"
    };
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a socket: it is {what} (give the path of QEMU's -qmp socket)"),
    )
}

/// Errors that mean "not there yet" while QEMU starts: no socket file, or
/// nobody listening yet.
fn not_there_yet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

/// How long to sleep between two connection attempts.
const RETRY: Duration = Duration::from_millis(10);

/// Connects to `address` before `deadline`. With `wait`, keeps retrying while
/// the server is not there yet. A monitor whose connection queue is full
/// (another client holds it, and QEMU's backlog of 1 is taken) is retried
/// until the deadline in any case, as a connection queued behind another
/// client waits for its greeting: both are [`Error::Busy`] in the end.
///
/// # Errors
/// [`Error::Connect`] with the OS reason, [`Error::Busy`], or
/// [`Error::Timeout`].
pub(crate) fn open(
    address: &Address,
    deadline: Instant,
    wait: bool,
    timeout: Duration,
) -> Result<Connection> {
    let timed_out = |phase| Error::Timeout {
        address: address.to_string(),
        phase,
        after: timeout,
    };
    if let Address::Listen(inner) = address {
        return listen(inner, deadline).map_err(|source| match source.kind() {
            io::ErrorKind::TimedOut => timed_out(Phase::Listen),
            _ => Error::Connect {
                address: address.to_string(),
                source,
            },
        });
    }
    loop {
        let left = remaining(deadline).ok_or_else(|| timed_out(Phase::Connect))?;
        let last = match open_once(address, left) {
            Ok(c) => return Ok(c),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(timed_out(Phase::Connect));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => e,
            Err(e) if wait && not_there_yet(&e) => e,
            Err(source) => {
                return Err(Error::Connect {
                    address: address.to_string(),
                    source,
                });
            }
        };
        // Sleep, but not past the deadline: a wait ends when its time is
        // up, not a retry early.
        if let Some(left) = remaining(deadline) {
            std::thread::sleep(left.min(RETRY));
        }
        if remaining(deadline).is_none() {
            return Err(if last.kind() == io::ErrorKind::WouldBlock {
                Error::Busy {
                    address: address.to_string(),
                    after: timeout,
                }
            } else {
                timed_out(Phase::Wait(last.to_string()))
            });
        }
    }
}
