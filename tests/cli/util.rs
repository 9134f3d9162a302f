//! Running the binaries: a command builder whose failures show everything.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A binary of this package, to be run with arguments.
pub struct Cmd {
    cmd: Command,
    stdin: Vec<u8>,
    shown: String,
}

/// The result of a run.
pub struct Out {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    shown: String,
}

pub fn bin(name: &str) -> &'static str {
    match name {
        "qmp-exec" => env!("CARGO_BIN_EXE_qmp-exec"),
        "qom-get" => env!("CARGO_BIN_EXE_qom-get"),
        "qom-set" => env!("CARGO_BIN_EXE_qom-set"),
        "qom-list" => env!("CARGO_BIN_EXE_qom-list"),
        "qom-tree" => env!("CARGO_BIN_EXE_qom-tree"),
        "qmp-events" => env!("CARGO_BIN_EXE_qmp-events"),
        "qmp-shell" => env!("CARGO_BIN_EXE_qmp-shell"),
        "qga-exec" => env!("CARGO_BIN_EXE_qga-exec"),
        "qga-run" => env!("CARGO_BIN_EXE_qga-run"),
        "qom-fuse" => env!("CARGO_BIN_EXE_qom-fuse"),
        _ => panic!("unknown binary {name}"),
    }
}

/// `qmp-exec` with `-s SOCK` and the given arguments.
pub fn exec(sock: &Path, args: &[&str]) -> Cmd {
    tool("qmp-exec", sock, args)
}

/// The binary `name` with `-s SOCK` and the given arguments.
pub fn tool(name: &str, sock: &Path, args: &[&str]) -> Cmd {
    let mut c = Cmd::new(name);
    c.arg("-s").arg(sock.to_str().unwrap()).args(args);
    c
}

impl Cmd {
    pub fn new(name: &str) -> Cmd {
        let mut cmd = Command::new(bin(name));
        cmd.env_remove("QMP_SOCKET")
            .env_remove("QGA_SOCKET")
            .env_remove("QMP_TRACE");
        Cmd {
            cmd,
            stdin: Vec::new(),
            shown: name.to_string(),
        }
    }

    /// `bash -c SCRIPT` (bash: its messages name the errno).
    pub fn shell(script: &str) -> Cmd {
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(script);
        Cmd {
            cmd,
            stdin: Vec::new(),
            shown: format!("bash -c {script:?}"),
        }
    }

    pub fn arg(&mut self, a: &str) -> &mut Cmd {
        self.shown.push(' ');
        self.shown.push_str(&format!("{a:?}"));
        self.cmd.arg(a);
        self
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Cmd {
        for a in args {
            self.arg(a);
        }
        self
    }

    pub fn env(&mut self, k: &str, v: &str) -> &mut Cmd {
        self.shown.insert_str(0, &format!("{k}={v:?} "));
        self.cmd.env(k, v);
        self
    }

    pub fn stdin(&mut self, data: impl Into<Vec<u8>>) -> &mut Cmd {
        self.stdin = data.into();
        self
    }

    /// Starts the command without waiting.
    pub fn spawn(&mut self) -> Running {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = self.cmd.spawn().expect("spawn binary");
        let mut stdin = child.stdin.take().unwrap();
        let data = std::mem::take(&mut self.stdin);
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        // Read both pipes while the child runs, or it blocks on a full pipe.
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                buf
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        Running {
            child,
            start,
            writer,
            stdout,
            stderr,
            shown: self.shown.clone(),
        }
    }

    /// Runs the command to completion (killed after 60 s).
    pub fn run(&mut self) -> Out {
        self.spawn().wait()
    }

    /// Runs and asserts the exit status.
    pub fn status(&mut self, want: i32) -> Out {
        let out = self.run();
        out.assert_status(want);
        out
    }

    /// Runs and asserts success.
    pub fn ok(&mut self) -> Out {
        self.status(0)
    }
}

pub struct Running {
    child: std::process::Child,
    start: Instant,
    writer: std::thread::JoinHandle<()>,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
    shown: String,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait(self) -> Out {
        self.wait_status().1
    }

    /// Waits, sampling the child's peak resident memory (VmHWM) every
    /// millisecond; returns the output and the largest peak seen, in KiB.
    pub fn wait_peak(self) -> (Out, u64) {
        // /proc/PID opened now, while the child cannot have been reaped,
        // stays that process's directory: once it is reaped, reads through
        // it fail rather than reach a new process given the same pid (a
        // QEMU another test starts; that once read as 180 MB here).
        let proc_dir = std::fs::File::open(format!("/proc/{}", self.pid())).ok();
        let sampler_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = sampler_done.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            let Some(proc_dir) = proc_dir else {
                return peak;
            };
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let Some(text) = read_at(&proc_dir, c"status") else {
                    break;
                };
                let hwm = text.lines().find_map(|l| l.strip_prefix("VmHWM:"));
                if let Some(kb) =
                    hwm.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                {
                    peak = peak.max(kb);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            peak
        });
        let out = self.wait();
        sampler_done.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, sampler.join().unwrap())
    }

    /// Waits (killing the child after 60 s); the raw status and the output.
    pub fn wait_status(mut self) -> (std::process::ExitStatus, Out) {
        let status = wait_or_kill(&mut self.child, self.start);
        let elapsed = self.start.elapsed();
        let _ = self.writer.join();
        let out = Out {
            status: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&self.stdout.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr.join().unwrap()).into_owned(),
            elapsed,
            shown: self.shown,
        };
        (status, out)
    }
}

impl Out {
    pub fn show(&self) -> String {
        format!(
            "\ncommand: {}\nstatus:  {}\nelapsed: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.shown, self.status, self.elapsed, self.stdout, self.stderr
        )
    }

    pub fn assert_status(&self, want: i32) -> &Out {
        assert_eq!(self.status, want, "unexpected exit status{}", self.show());
        assert!(!self.stderr.contains("panicked"), "panic{}", self.show());
        self
    }

    /// Asserts stderr is exactly one line, equal to `want`.
    pub fn assert_err(&self, want: &str) -> &Out {
        assert_eq!(
            self.stderr.trim_end_matches('\n'),
            want,
            "stderr{}",
            self.show()
        );
        self
    }

    /// Asserts stderr is one line starting with `prefix` and containing `part`.
    pub fn assert_err_has(&self, prefix: &str, part: &str) -> &Out {
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "one stderr line{}",
            self.show()
        );
        assert!(
            self.stderr.starts_with(prefix),
            "stderr prefix {prefix:?}{}",
            self.show()
        );
        assert!(
            self.stderr.contains(part),
            "stderr should contain {part:?}{}",
            self.show()
        );
        self
    }

    pub fn assert_stdout(&self, want: &str) -> &Out {
        assert_eq!(self.stdout, want, "stdout{}", self.show());
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}{}", self.show()))
    }
}

/// Waits for `child`, killing it if it runs past 60 s from `start`.
pub fn wait_or_kill(child: &mut std::process::Child, start: Instant) -> std::process::ExitStatus {
    let deadline = start + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait().unwrap()
}

/// Runs `command` on a pseudo-terminal (util-linux `script`), so the tool's
/// stdout and stderr are a terminal; returns what the terminal received.
pub fn on_terminal(command: &str) -> Option<String> {
    let out = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The text of `name` in the directory `dir` (openat), if it can be read.
fn read_at(dir: &std::fs::File, name: &std::ffi::CStr) -> Option<String> {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: a valid directory descriptor and a NUL-terminated name; the
    // descriptor returned is owned by the File made from it.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(text)
}
