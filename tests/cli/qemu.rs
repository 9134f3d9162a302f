//! Real QEMU servers, started by the tests in temporary directories and
//! stopped by pid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The qemu-storage-daemon the tests run: `QMP_TEST_QSD` (a path, or a
/// name looked up on PATH), by default `qemu-storage-daemon` on PATH.
pub fn qsd_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    from_env(&BIN, "QMP_TEST_QSD", "qemu-storage-daemon")
}

/// The qemu-system-x86_64 the tests run: `QMP_TEST_QEMU_SYSTEM`, by default
/// `qemu-system-x86_64` on PATH. `.ci/install-qemu-7.2` makes a wrapper for
/// QEMU 7.2 (unpacked, with its `-L` data directories) to point it at.
pub fn system_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    from_env(&BIN, "QMP_TEST_QEMU_SYSTEM", "qemu-system-x86_64")
}

fn from_env(cell: &'static OnceLock<String>, var: &str, default: &str) -> &'static str {
    cell.get_or_init(|| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    })
}

/// Whether `bin` (a path, or a name on PATH) is there. When it is not, the
/// test is skipped with a message, unless QMP_REQUIRE_QEMU=1 (CI), where
/// that is a failure.
pub fn available(bin: &str) -> bool {
    let found = if bin.contains('/') {
        Path::new(bin).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
    };
    if !found {
        if std::env::var("QMP_REQUIRE_QEMU").is_ok_and(|v| v == "1") {
            panic!(
                "{bin} is not installed and QMP_REQUIRE_QEMU=1 requires it (run .ci/install-qemu, \
                 or check QMP_TEST_QSD and QMP_TEST_QEMU_SYSTEM)"
            );
        }
        eprintln!("SKIPPED: {bin} is not installed; set QMP_REQUIRE_QEMU=1 to make this a failure");
    }
    found
}

/// The version of the QEMU behind `sock` (query-version), for the tests
/// whose expectations differ between versions: `(major, minor)`.
pub fn version(sock: &Path) -> (u64, u64) {
    let addr = qmp::Address::Unix(sock.to_path_buf());
    let mut c = qmp::Client::connect(&addr, &qmp::Options::default()).unwrap();
    let v = c.execute("query-version", None).unwrap();
    let q = &v["qemu"];
    (q["major"].as_u64().unwrap(), q["minor"].as_u64().unwrap())
}

pub struct Qemu {
    child: Child,
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
}

impl Qemu {
    /// qemu-storage-daemon with a monitor on DIR/qmp.sock; `None` if absent.
    pub fn qsd(extra: &[&str]) -> Option<Qemu> {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let chardev = format!("socket,id=m,path={},server=on,wait=off", sock.display());
        let mut args = vec!["--chardev", &chardev, "--monitor", "chardev=m"];
        args.extend_from_slice(extra);
        Qemu::start(qsd_bin(), &args, dir, sock)
    }

    /// qemu-system-x86_64 -M none (or `machine`) with a QMP socket.
    pub fn system(extra: &[&str]) -> Option<Qemu> {
        Qemu::system_in(|_| extra.iter().map(|a| a.to_string()).collect())
    }

    /// qemu-system-x86_64 like [`Qemu::system`], whose extra arguments
    /// `extra` makes from the temporary directory before QEMU starts (to put
    /// more monitor sockets there); `None` if QEMU is absent.
    pub fn system_in(extra: impl FnOnce(&Path) -> Vec<String>) -> Option<Qemu> {
        if !available(system_bin()) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let qmp = format!("unix:{},server=on,wait=off", sock.display());
        let extra = extra(dir.path());
        let mut args = vec!["-nodefaults", "-display", "none", "-qmp", &qmp];
        if !extra.iter().any(|a| a == "-M") {
            args.extend_from_slice(&["-M", "none"]);
        }
        args.extend(extra.iter().map(String::as_str));
        Qemu::start(system_bin(), &args, dir, sock)
    }

    /// A paused q35 machine with a few devices: a realistic QOM tree.
    pub fn q35() -> Option<Qemu> {
        Qemu::q35_in(|_| Vec::new())
    }

    /// [`Qemu::q35`] with more arguments, made from the temporary directory.
    pub fn q35_in(extra: impl FnOnce(&Path) -> Vec<String>) -> Option<Qemu> {
        Qemu::system_in(|dir| {
            let mut args: Vec<String> = [
                "-M",
                "q35",
                "-S",
                "-accel",
                "tcg",
                "-object",
                "iothread,id=io0",
                "-blockdev",
                "null-co,node-name=null0",
                "-device",
                "pcie-root-port,id=rp0,chassis=1",
                "-device",
                "virtio-blk-pci,id=vblk0,drive=null0,bus=rp0,serial=SN0,iothread=io0",
                "-netdev",
                "hubport,id=hp0,hubid=0",
                "-device",
                "virtio-net-pci,id=vnet0,netdev=hp0,mac=52:54:00:12:34:56",
                "-device",
                "qemu-xhci,id=usb0",
                "-device",
                "usb-tablet,id=tab0,bus=usb0.0",
            ]
            .iter()
            .map(|a| a.to_string())
            .collect();
            args.extend(extra(dir));
            args
        })
    }

    /// Spawns `bin` and waits until its monitor greets a client.
    pub fn start(bin: &str, args: &[&str], dir: tempfile::TempDir, sock: PathBuf) -> Option<Qemu> {
        if !available(bin) {
            return None;
        }
        let q = Qemu::spawn(bin, args, dir, sock);
        q.ready_with(&qmp::handshake::Qmp::default());
        Some(q)
    }

    /// Spawns `bin`, its output to DIR/log.
    fn spawn(bin: &str, args: &[&str], dir: tempfile::TempDir, sock: PathBuf) -> Qemu {
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        Qemu { child, dir, sock }
    }

    /// Waits until the server opens a session with `handshake` (connects
    /// with the library, then hangs up).
    fn ready_with(&self, handshake: &impl qmp::handshake::Handshake) {
        let options = qmp::Options {
            wait: true,
            timeout: Duration::from_secs(30),
            ..Default::default()
        };
        let addr = qmp::Address::Unix(self.sock.clone());
        if let Err(e) = qmp::Client::connect_with(&addr, &options, handshake) {
            let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
            panic!(
                "QEMU did not come up on {}: {e}\nlog:\n{log}",
                self.sock.display()
            );
        }
    }

    /// The server's pid (to stop it with SIGSTOP: a wedged QEMU).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn sock(&self) -> &Path {
        &self.sock
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Qemu {
    /// qemu-storage-daemon like [`Qemu::qsd`], whose extra arguments `extra`
    /// makes from the daemon's temporary directory before it starts (to put
    /// images or more monitor sockets there); `None` if QEMU is absent.
    pub fn qsd_in(extra: impl FnOnce(&Path) -> Vec<String>) -> Option<Qemu> {
        if !available(qsd_bin()) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let chardev = format!("socket,id=m,path={},server=on,wait=off", sock.display());
        let extra = extra(dir.path());
        let mut args = vec!["--chardev", &chardev, "--monitor", "chardev=m"];
        args.extend(extra.iter().map(String::as_str));
        Qemu::start(qsd_bin(), &args, dir, sock)
    }
}

/// Two raw images of `size` bytes in `dir`: `src.img`, all non-zero (a
/// sparse image is never read by a job), and `dst.img`, empty; their paths.
pub fn images(dir: &Path, size: usize) -> (PathBuf, PathBuf) {
    let src = dir.join("src.img");
    let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8 + 1).collect();
    std::fs::write(&src, data).unwrap();
    let dst = dir.join("dst.img");
    std::fs::File::create(&dst)
        .unwrap()
        .set_len(size as u64)
        .unwrap();
    (src, dst)
}

pub const QGA: &str = "qemu-ga";

impl Qemu {
    /// A guest agent (qemu-ga) run on the host, listening on DIR/qga.sock
    /// with its state in DIR/state, once it answers the sync; `None` if
    /// absent. It runs commands as the test's user: tests give it harmless
    /// programs only, and never the commands that act on the machine
    /// (shutdown, suspend, fsfreeze, set-time).
    pub fn qga() -> Option<Qemu> {
        if !available(QGA) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qga.sock");
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let (s, t) = (sock.display().to_string(), state.display().to_string());
        let args = ["-m", "unix-listen", "-p", &s, "-t", &t];
        let q = Qemu::spawn(QGA, &args, dir, sock.clone());
        q.ready_with(&qmp::handshake::Agent);
        Some(q)
    }
}
