//! `qmp-shell --wrap -- QEMU-COMMAND...` (QEMU's qmp-shell-wrap): the shell
//! listens on a socket of its own, starts QEMU with its QMP monitor
//! connecting there, and stops QEMU (by pid) when the shell ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::address::Address;
use crate::cli::Failure;
use crate::client::{Client, Options};
use crate::error::{Error, Phase};
use crate::handshake::Qmp;
use crate::transport::Listener;

/// QEMU started by the shell, and the directory of the socket.
pub struct Wrapped {
    child: Child,
    dir: PathBuf,
}

/// Makes a private directory, listens on `DIR/qmp.sock`, starts `qemu`
/// with `-qmp unix:DIR/qmp.sock` added (QEMU connects: no `server=on`),
/// and opens the session once QEMU has connected, within the timeout.
///
/// # Errors
/// A usage failure when QEMU cannot be started or exits before it
/// connects; the listen and handshake errors.
pub fn start(qemu: &[String], options: &Options) -> Result<(Wrapped, Client), Failure> {
    let dir = std::env::temp_dir().join(format!("qmp-shell-{}", std::process::id()));
    let io = |what: &str, source| Failure::Input {
        what: format!("{what} '{}'", dir.display()),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .create(&dir)
        .map_err(|e| io("creating", e))?;
    let sock = dir.join("qmp.sock");
    let listener =
        Listener::bind(&Address::Unix(sock.clone())).map_err(|e| io("listening in", e))?;
    let (program, rest) = qemu
        .split_first()
        .ok_or_else(|| Failure::Usage("--wrap needs a QEMU command after --".into()))?;
    let child = Command::new(program)
        .args(rest)
        .arg("-qmp")
        .arg(format!("unix:{}", sock.display()))
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| Failure::Usage(format!("--wrap: cannot start '{program}': {e}")))?;
    let mut wrapped = Wrapped { child, dir };
    let deadline = Instant::now().checked_add(options.timeout);
    let address = format!("listen:{}", sock.display());
    let conn = loop {
        // Short accepts, to notice a QEMU that exits before connecting.
        let step = Instant::now() + Duration::from_millis(100);
        let until = deadline.map_or(step, |d| d.min(step));
        match listener.accept(until) {
            Ok(conn) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(source) => {
                wrapped.stop();
                return Err(Error::Connect { address, source }.into());
            }
        }
        if let Ok(Some(status)) = wrapped.child.try_wait() {
            wrapped.stop();
            return Err(Failure::Usage(format!(
                "--wrap: '{program}' exited ({status}) before connecting to the shell"
            )));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            wrapped.stop();
            return Err(Error::Timeout {
                address,
                phase: Phase::Listen,
                after: options.timeout,
            }
            .into());
        }
    };
    drop(listener);
    match Client::open_with(conn, &address, options, &Qmp { oob: options.oob }) {
        Ok(client) => Ok((wrapped, client)),
        Err(e) => {
            wrapped.stop();
            Err(e.into())
        }
    }
}

impl Wrapped {
    /// Stops QEMU: SIGTERM, then SIGKILL after 10 s; removes the directory.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait()
            && let Ok(pid) = i32::try_from(self.child.id())
        {
            // Our own child, not reaped yet (try_wait said so): the pid
            // cannot have been reused.
            let _ = crate::fdpass::signal(pid, libc::SIGTERM);
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
