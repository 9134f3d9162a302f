//! qom-fuse: real mounts on q35 and qemu-storage-daemon, in temporary
//! directories, unmounted by the test whatever happens (the guard's Drop).
//!
//! Each server has a second monitor for qom-get, qom-list and qom-set
//! beside the mount's connection (QEMU serves one client per monitor).

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::qemu::Qemu;
use crate::util::{Cmd, bin, tool};

/// Wide: two copies of the suite at once on two cores.
const DEADLINE: Duration = Duration::from_secs(60);

/// Whether FUSE can be used here; skipped with a message when not, a
/// failure under QMP_REQUIRE_QEMU=1.
fn fuse_available() -> bool {
    if Path::new("/dev/fuse").exists() {
        return true;
    }
    if std::env::var("QMP_REQUIRE_QEMU").is_ok_and(|v| v == "1") {
        panic!("/dev/fuse is missing and QMP_REQUIRE_QEMU=1 requires the qom-fuse tests");
    }
    eprintln!("SKIPPED: /dev/fuse is missing; set QMP_REQUIRE_QEMU=1 to make this a failure");
    false
}

fn second_monitor(dir: &Path) -> Vec<String> {
    vec![
        "-qmp".into(),
        format!(
            "unix:{},server=on,wait=off",
            dir.join("qmp2.sock").display()
        ),
    ]
}

fn q35() -> Option<Qemu> {
    if !fuse_available() {
        return None;
    }
    Qemu::q35_in(second_monitor)
}

fn qsd() -> Option<Qemu> {
    if !fuse_available() {
        return None;
    }
    Qemu::qsd_in(|dir| {
        let chardev = format!(
            "socket,id=m2,path={},server=on,wait=off",
            dir.join("qmp2.sock").display()
        );
        [
            "--chardev",
            &chardev,
            "--monitor",
            "chardev=m2",
            "--object",
            "iothread,id=io0",
            "--blockdev",
            "null-co,node-name=null0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    })
}

/// The second monitor's socket.
fn other(q: &Qemu) -> PathBuf {
    q.path("qmp2.sock")
}

fn is_mounted(mnt: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = mnt.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == want))
}

/// A running qom-fuse on a temporary directory; Drop unmounts it (lazily)
/// and stops the daemon by its pid.
struct Mount {
    child: Option<Child>,
    mnt: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Mount {
    fn new(sock: &Path, args: &[&str]) -> Mount {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let log = dir.path().join("stderr");
        let child = Command::new(bin("qom-fuse"))
            .arg("-s")
            .arg(sock)
            .args(args)
            .arg(&mnt)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut m = Mount {
            child: Some(child),
            mnt,
            log,
            _dir: dir,
        };
        let start = Instant::now();
        while !m.stderr().contains(" mounted on ") {
            if let Some(status) = m.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("qom-fuse exited {status} before mounting: {}", m.stderr());
            }
            assert!(start.elapsed() < DEADLINE, "no mount: {}", m.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(is_mounted(&m.mnt), "said mounted, is not: {}", m.stderr());
        m
    }

    fn at(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel.trim_start_matches('/'))
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Waits for the daemon to end by itself.
    fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return s;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "qom-fuse did not end: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if is_mounted(&self.mnt) {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What qom-list says of `path` on the second monitor, as the file names
/// the mount should show: `name/` objects, `@name/` links, bare values.
fn qom_list(sock: &Path, path: &str) -> Vec<String> {
    let out = tool("qom-list", sock, &[path]).ok().stdout;
    let mut v: Vec<String> = out.lines().map(String::from).collect();
    v.sort();
    v
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                format!("{name}/")
            } else if ft.is_symlink() {
                format!("@{name}/")
            } else {
                assert!(ft.is_file() && !ft.is_fifo(), "{name}");
                name
            }
        })
        .collect();
    v.sort();
    v
}

/// Listings against qom-list, and every file's content (and size) against
/// qom-get, for the objects at `paths`.
fn check_tree(q: &Qemu, m: &Mount, paths: &[&str]) {
    let sock = other(q);
    let mut files = 0;
    for path in paths {
        let want = qom_list(&sock, path);
        assert_eq!(listing(&m.at(path)), want, "ls {path} vs qom-list");
        for entry in want.iter().filter(|e| !e.ends_with('/')) {
            let prop = format!("{path}.{entry}");
            let got = std::fs::read(m.at(path).join(entry));
            let get = tool("qom-get", &sock, &[&prop]).run();
            match (get.status, got) {
                (0, Ok(bytes)) => {
                    assert_eq!(String::from_utf8(bytes).unwrap(), get.stdout, "cat {prop}");
                    let size = std::fs::metadata(m.at(path).join(entry)).unwrap().len();
                    assert_eq!(size as usize, get.stdout.len(), "size of {prop}");
                    files += 1;
                }
                // QEMU cannot read it: neither can the mount.
                (1, Err(e)) => assert_eq!(e.raw_os_error(), Some(libc::EIO), "{prop}"),
                (s, got) => panic!("{prop}: qom-get status {s}, the mount: {got:?}"),
            }
        }
    }
    assert!(files > 5, "only {files} files compared");
}

#[test]
fn fuse_q35_listings_values_links() {
    let Some(q) = q35() else { return };
    let m = Mount::new(q.sock(), &[]);
    check_tree(
        &q,
        &m,
        &[
            "/",
            "/machine",
            "/machine/peripheral",
            "/machine/peripheral/vblk0",
            "/machine/peripheral/vblk0/virtio-backend",
            "/machine/peripheral/vnet0/virtio-backend",
            "/objects/io0",
        ],
    );
    // A link: relative, and it leads where qom-get says.
    let link = m.at("/machine/peripheral/vblk0/virtio-backend/iothread");
    let target = std::fs::read_link(&link).unwrap();
    assert_eq!(target, Path::new("../../../../objects/io0"));
    assert_eq!(
        std::fs::canonicalize(&link).unwrap(),
        std::fs::canonicalize(m.at("/objects/io0")).unwrap()
    );
    let want = tool("qom-get", &other(&q), &["vblk0/virtio-backend.iothread"])
        .ok()
        .stdout;
    assert_eq!(want, "/objects/io0\n");
    // Owner: the user who mounted; modes.
    let meta = std::fs::metadata(m.at("/machine/type")).unwrap();
    // SAFETY: geteuid cannot fail.
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), unsafe {
        libc::geteuid()
    });
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    // The type as an extended attribute.
    let ty = xattr(&m.at("/objects/io0/poll-max-ns"), "user.qom.type");
    assert_eq!(ty.as_deref(), Some("int"));
    // getxattr follows a link to its target (the kernel keeps user.*
    // attributes off symlinks themselves).
    let ty = xattr(&link, "user.qom.type");
    assert_eq!(ty.as_deref(), Some("child<iothread>"));
    let ty = xattr(&m.at("/machine/peripheral/vblk0"), "user.qom.type");
    assert_eq!(ty.as_deref(), Some("child<virtio-blk-pci>"));
}

/// An extended attribute by getxattr(2) (following links), `None` if absent.
fn xattr(path: &Path, name: &str) -> Option<String> {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and a buffer of the length given.
    let len = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return None;
    }
    buf.truncate(len as usize);
    Some(String::from_utf8(buf).unwrap())
}

fn qom_get(q: &Qemu, prop: &str) -> String {
    tool("qom-get", &other(q), &[prop]).ok().stdout
}

fn write_err(path: &Path, text: &str) -> Option<i32> {
    std::fs::write(path, text)
        .err()
        .map(|e| e.raw_os_error().unwrap())
}

#[test]
fn fuse_q35_writes_and_refusals() {
    let Some(q) = q35() else { return };
    let m = Mount::new(q.sock(), &["--cache-ttl", "0"]);
    // An int, a bool, a string, read back with qom-get.
    for (rel, text, prop, want) in [
        (
            "/objects/io0/poll-max-ns",
            "4096\n",
            "/objects/io0.poll-max-ns",
            "4096\n",
        ),
        (
            "/objects/io0/poll-grow",
            "0x10",
            "/objects/io0.poll-grow",
            "16\n",
        ),
        ("/machine/graphics", "off\n", "/machine.graphics", "False\n"),
        (
            "/machine/append",
            "console=ttyS0\n",
            "/machine.append",
            "console=ttyS0\n",
        ),
    ] {
        assert_eq!(write_err(&m.at(rel), text), None, "{rel}");
        assert_eq!(qom_get(&q, prop), want, "{prop}");
        assert_eq!(std::fs::read_to_string(m.at(rel)).unwrap(), want, "{rel}");
    }
    // The shell's > (open, truncate, write, close) with echo.
    let sh = |cmd: &str| Cmd::shell(cmd).run();
    let io = m.at("/objects/io0");
    sh(&format!("echo 1000 > {}/poll-max-ns", io.display())).assert_status(0);
    assert_eq!(qom_get(&q, "/objects/io0.poll-max-ns"), "1000\n");
    // A value that does not convert: EINVAL, nothing set, the reason on
    // the daemon's stderr.
    let out = sh(&format!("echo fast > {}/poll-max-ns", io.display()));
    assert_ne!(out.status, 0);
    assert!(out.stderr.contains("Invalid argument"), "{}", out.show());
    assert_eq!(qom_get(&q, "/objects/io0.poll-max-ns"), "1000\n");
    assert!(
        m.stderr()
            .contains("/objects/io0.poll-max-ns: 'fast' is not a valid int"),
        "{}",
        m.stderr()
    );
    assert_eq!(
        write_err(&io.join("poll-max-ns"), "-1x\n"),
        Some(libc::EINVAL)
    );
    // A read-only property: EACCES, QEMU's message, then 0444.
    let out = sh(&format!("echo x > {}", m.at("/machine/type").display()));
    assert!(out.stderr.contains("Permission denied"), "{}", out.show());
    assert!(m.stderr().contains("/machine.type: "), "{}", m.stderr());
    let mode = std::fs::metadata(m.at("/machine/type"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o444);
    assert_eq!(write_err(&m.at("/machine/type"), "y\n"), Some(libc::EACCES));
    // A refused value for a QAPI enum comes from QEMU: EINVAL.
    assert_eq!(
        write_err(&m.at("/machine/acpi"), "sometimes\n"),
        Some(libc::EINVAL)
    );
    assert_eq!(qom_get(&q, "/machine.acpi"), "auto\n");
    // Truncating alone sets nothing.
    sh(&format!(": > {}/poll-max-ns", io.display())).assert_status(0);
    assert_eq!(qom_get(&q, "/objects/io0.poll-max-ns"), "1000\n");
    // A vanished object: ENOENT.
    tool(
        "qmp-exec",
        &other(&q),
        &["object-add", "qom-type=iothread", "id=io9"],
    )
    .ok();
    let f = m.at("/objects/io9/poll-max-ns");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "32768\n");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&f)
        .unwrap();
    tool("qmp-exec", &other(&q), &["object-del", "id=io9"]).ok();
    let err = std::io::Write::write_all(&mut &file, b"5\n").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    assert!(!f.exists());
}

#[test]
fn fuse_read_only_mount() {
    let Some(q) = qsd() else { return };
    let m = Mount::new(q.sock(), &["--read-only"]);
    check_tree(&q, &m, &["/objects", "/objects/io0"]);
    let f = m.at("/objects/io0/poll-max-ns");
    let mode = std::fs::metadata(&f).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o444);
    assert_eq!(write_err(&f, "1\n"), Some(libc::EROFS));
    assert_eq!(qom_get(&q, "/objects/io0.poll-max-ns"), "32768\n");
}

/// A value whose length changed between the stat and the open (set on the
/// other monitor) still reads whole: the kernel holds the old size, so the
/// open reads with direct I/O instead of the page cache.
#[test]
fn fuse_value_changed_between_stat_and_open_reads_whole() {
    let Some(q) = qsd() else { return };
    let m = Mount::new(q.sock(), &[]);
    let f = m.at("/objects/io0/poll-max-ns");
    let set = |v: &str| tool("qom-set", &other(&q), &["/objects/io0.poll-max-ns", v]).ok();
    let cat = || Cmd::shell(&format!("cat {}", f.display())).ok().stdout;
    for value in ["1234567890", "5", "77"] {
        let before = std::fs::metadata(&f).unwrap().len();
        set(value);
        // Past the 0.1 s in which an open takes the value the stat read.
        std::thread::sleep(Duration::from_millis(200));
        let want = format!("{value}\n");
        assert_ne!(before, want.len() as u64, "{value}: the length must change");
        assert_eq!(cat(), want, "after a stat that said {before} bytes");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), want);
    }
    // The length the stat said (once the kernel's attributes of a second
    // expired): the page cache, with the new value.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(std::fs::metadata(&f).unwrap().len(), 3);
    set("88");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(cat(), "88\n");
}

#[test]
fn fuse_qsd_write_and_sigterm_unmounts() {
    let Some(q) = qsd() else { return };
    let mut m = Mount::new(q.sock(), &[]);
    assert_eq!(write_err(&m.at("/objects/io0/poll-max-ns"), "77\n"), None);
    assert_eq!(qom_get(&q, "/objects/io0.poll-max-ns"), "77\n");
    // SAFETY: a signal to our own child, by its pid.
    assert_eq!(unsafe { libc::kill(m.pid(), libc::SIGTERM) }, 0);
    let status = m.wait();
    assert_eq!(status.code(), Some(0), "{}", m.stderr());
    assert!(!is_mounted(&m.mnt));
}

#[test]
fn fuse_qemu_killed_unmounts_and_exits_3() {
    let Some(q) = q35() else { return };
    let mut m = Mount::new(q.sock(), &[]);
    assert!(m.at("/machine/peripheral/vblk0").is_dir());
    drop(q);
    let status = m.wait();
    assert_eq!(status.code(), Some(3), "{}", m.stderr());
    let last = m.stderr().lines().last().unwrap_or_default().to_string();
    assert!(
        last.starts_with("qom-fuse: ") && last.contains("unmounted"),
        "{last}"
    );
    assert!(!is_mounted(&m.mnt));
}

#[test]
fn fuse_bad_mount_points() {
    let Some(q) = qsd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let sock = other(&q);
    for (mnt, want) in [(&missing, "no such directory"), (&file, "not a directory")] {
        let out = tool("qom-fuse", &sock, &[mnt.to_str().unwrap()]).status(2);
        out.assert_err(&format!(
            "qom-fuse: mount point {}: {want}{}",
            mnt.display(),
            if want == "no such directory" {
                " (create it first)"
            } else {
                ""
            }
        ));
    }
    // Busy: something is mounted there already.
    let m = Mount::new(q.sock(), &[]);
    let out = tool("qom-fuse", &sock, &[m.mnt.to_str().unwrap()]).status(2);
    assert!(
        out.stderr
            .starts_with(&format!("qom-fuse: mount point {}: busy", m.mnt.display())),
        "{}",
        out.show()
    );
    assert!(is_mounted(&m.mnt));
}

#[test]
fn fuse_wedged_qemu_times_out_and_unmounts() {
    let Some(q) = qsd() else { return };
    let mut m = Mount::new(q.sock(), &["--timeout", "2", "--cache-ttl", "0"]);
    assert!(m.at("/objects/io0").is_dir());
    // SAFETY: signals to our own child, by its pid.
    assert_eq!(unsafe { libc::kill(q.pid(), libc::SIGSTOP) }, 0);
    let err = std::fs::read_to_string(m.at("/objects/io0/poll-max-ns")).unwrap_err();
    assert_eq!(unsafe { libc::kill(q.pid(), libc::SIGCONT) }, 0);
    assert_eq!(err.raw_os_error(), Some(libc::ETIMEDOUT), "{err}");
    let status = m.wait();
    assert_eq!(status.code(), Some(4), "{}", m.stderr());
    assert!(!is_mounted(&m.mnt));
}
