//! qom-fuse's kernel side: the fuser glue over [`crate::qomfs`], the mount,
//! signals and the end of the daemon.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, INodeNo, InitFlags,
    KernelConfig, LockOwner, MountOption, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, ReplyXattr, Request, SessionACL, TimeOrNow,
    WriteFlags,
};

use super::{ConnectOpts, Failure, RunResult, Status, report};
use crate::qomfs::{Attr, Conn, EntryKind, Lost, QomFs, Settings};

/// Kernel threads answering requests: concurrent readers' requests then
/// reach the shared connection together and are pipelined.
const THREADS: usize = 4;

/// What the mount needs besides the connection.
#[derive(Debug, Clone)]
pub struct MountOpts {
    /// Where to mount.
    pub mountpoint: PathBuf,
    /// The object at the mount's root.
    pub root: String,
    /// Listing and size cache TTL.
    pub ttl: Duration,
    /// Refuse writes (EROFS), every file 0444.
    pub read_only: bool,
    /// Let other users in (`-o allow_other`).
    pub allow_other: bool,
}

struct Glue {
    fs: QomFs,
    uid: u32,
    gid: u32,
    since: SystemTime,
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

impl Glue {
    fn attr(&self, a: &Attr) -> FileAttr {
        let (kind, nlink) = match a.kind {
            EntryKind::Dir => (FileType::Directory, 2),
            EntryKind::Link => (FileType::Symlink, 1),
            EntryKind::File => (FileType::RegularFile, 1),
        };
        FileAttr {
            ino: INodeNo(a.ino),
            size: a.size,
            blocks: a.size.div_ceil(512),
            atime: self.since,
            mtime: self.since,
            ctime: self.since,
            crtime: self.since,
            kind,
            perm: a.mode,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    fn ttl(&self) -> Duration {
        self.fs.settings().ttl
    }
}

fn file_type(k: EntryKind) -> FileType {
    match k {
        EntryKind::Dir => FileType::Directory,
        EntryKind::Link => FileType::Symlink,
        EntryKind::File => FileType::RegularFile,
    }
}

fn xattr_reply(reply: ReplyXattr, size: u32, data: Result<Vec<u8>, i32>) {
    match data {
        Err(e) => reply.error(errno(e)),
        Ok(d) if size == 0 => reply.size(d.len() as u32),
        Ok(d) if d.len() > size as usize => reply.error(Errno::ERANGE),
        Ok(d) => reply.data(&d),
    }
}

impl Filesystem for Glue {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // O_TRUNC comes with the open: a write-only open then needs no read.
        let _ = config.add_capabilities(InitFlags::FUSE_ATOMIC_O_TRUNC);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let Some(name) = name.to_str() else {
            return reply.error(Errno::ENOENT);
        };
        match self.fs.lookup(parent.0, name) {
            Ok(a) => reply.entry(&self.ttl(), &self.attr(&a), fuser::Generation(0)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.fs.getattr(ino.0) {
            Ok(a) => reply.attr(&self.ttl(), &self.attr(&a)),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        if let Some(size) = size
            && let Err(e) = self.fs.truncate(ino.0, fh.map(|f| f.0), size)
        {
            return reply.error(errno(e));
        }
        match self.fs.getattr(ino.0) {
            Ok(mut a) => {
                if size.is_some() {
                    a.size = 0;
                }
                reply.attr(&Duration::ZERO, &self.attr(&a));
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.fs.readlink(ino.0) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mode = flags.0 & libc::O_ACCMODE;
        let read = mode != libc::O_WRONLY;
        let write = mode != libc::O_RDONLY;
        let truncate = flags.0 & libc::O_TRUNC != 0;
        match self.fs.open(ino.0, read, write, truncate) {
            Ok(o) => {
                // Through the page cache when the size the kernel holds is
                // the value's: the read that finds the end then needs no
                // request. Otherwise direct I/O: reads go to the value
                // read at open, whatever size the kernel cached from an
                // earlier stat. No FOPEN_KEEP_CACHE: the kernel drops the
                // cached pages at each open, so they are this open's value.
                let mut flags = if o.page_cache {
                    FopenFlags::empty()
                } else {
                    FopenFlags::FOPEN_DIRECT_IO
                };
                // A read-only close sets nothing: no FLUSH. A write's must
                // come, for the property is set there and its errno is
                // close(2)'s.
                if !write {
                    flags |= FopenFlags::FOPEN_NOFLUSH;
                }
                reply.opened(FileHandle(o.fh), flags)
            }
            Err(e) => reply.error(errno(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.fs.read(fh.0, offset, size) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.fs.write(fh.0, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        match self.fs.flush(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        match self.fs.release(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.fs.readdir(ino.0, offset == 0) {
            Ok(e) => e,
            Err(e) => return reply.error(errno(e)),
        };
        let dots = [
            (ino.0, EntryKind::Dir, ".".to_string()),
            (ino.0, EntryKind::Dir, "..".to_string()),
        ];
        let all = dots.into_iter().chain(entries);
        for (i, (ino, kind, name)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), i as u64 + 1, file_type(kind), &name) {
                break;
            }
        }
        reply.ok();
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        let value = match name.to_str() {
            Some(n) => self.fs.getxattr(ino.0, n),
            None => Err(libc::ENODATA),
        };
        xattr_reply(reply, size, value);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        xattr_reply(reply, size, self.fs.listxattr(ino.0));
    }
}

/// Why the daemon ends.
enum End {
    Signal,
    Lost(Lost),
}

/// Checks the mount point: it must be an existing directory that nothing
/// is mounted on yet.
fn check_mountpoint(mnt: &Path) -> Result<(), Failure> {
    let bad = |why: &str| Failure::Usage(format!("mount point {}: {why}", mnt.display()));
    let meta = std::fs::metadata(mnt).map_err(|e| {
        bad(&match e.kind() {
            std::io::ErrorKind::NotFound => "no such directory (create it first)".into(),
            _ => e.to_string(),
        })
    })?;
    if !meta.is_dir() {
        return Err(bad("not a directory"));
    }
    let parent = std::fs::metadata(mnt.join("..")).map_err(|e| bad(&e.to_string()))?;
    if parent.dev() != meta.dev() || parent.ino() == meta.ino() {
        return Err(bad(
            "busy: something is mounted there already (umount it, or choose another directory)",
        ));
    }
    Ok(())
}

/// Mounts, serves until unmounted, signalled or disconnected, unmounts.
///
/// # Errors
/// Usage failures for a bad mount point or a mount that fails; the
/// connection's.
pub fn serve(tool: &'static str, conn: &ConnectOpts, opts: &MountOpts) -> RunResult {
    conn.address()?;
    check_mountpoint(&opts.mountpoint)?;
    // oob: QEMU then reads the next request of a batch while it runs the
    // current one, as for qom-tree (without it, QEMU's CPU time for a
    // `grep -r` of the whole tree was an eighth above qom-tree's).
    let client = conn.connect(true, false)?;
    let address = client.address().to_string();
    let (tx, rx) = mpsc::channel::<End>();
    let lost_tx = tx.clone();
    let shared = Conn::start(client, move |l| {
        let _ = lost_tx.send(End::Lost(l));
    })
    .map_err(Failure::Output)?;
    let settings = Settings {
        root: opts.root.clone(),
        ttl: opts.ttl,
        read_only: opts.read_only,
    };
    let fs = QomFs::new(
        shared,
        settings,
        Box::new(move |msg: &str| report(tool, msg)),
    );
    match fs.warm() {
        Ok(()) => {}
        Err(libc::ENOENT) => {
            return Err(Failure::Usage(format!(
                "--root {}: no such object (qom-list shows the paths)",
                opts.root
            )));
        }
        Err(e) => {
            return Err(Failure::Qmp(crate::Error::Closed {
                waiting_for: format!(
                    "the listing of {}: {}",
                    opts.root,
                    std::io::Error::from_raw_os_error(e)
                ),
                partial: 0,
            }));
        }
    }
    // SAFETY: geteuid/getegid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let glue = Glue {
        fs,
        uid,
        gid,
        since: SystemTime::now(),
    };
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName(format!("qom:{address}")),
        MountOption::Subtype("qom".into()),
        MountOption::DefaultPermissions,
        MountOption::NoDev,
        MountOption::NoSuid,
        MountOption::NoExec,
    ];
    if opts.read_only {
        config.mount_options.push(MountOption::RO);
    }
    if opts.allow_other {
        config.acl = SessionACL::All;
    }
    config.n_threads = Some(THREADS);
    let session = fuser::Session::new(glue, &opts.mountpoint, &config)
        .map_err(|e| Failure::Usage(format!("mounting on {}: {e}", opts.mountpoint.display())))?;
    let session = session.spawn().map_err(Failure::Output)?;
    let mut signals =
        signal_hook::iterator::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
            .map_err(Failure::Output)?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = tx.send(End::Signal);
        }
    });
    report(
        tool,
        &format!(
            "{address} mounted on {} (umount it, or Ctrl-C, to end)",
            opts.mountpoint.display()
        ),
    );
    let end = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(end) => break Some(end),
            Err(mpsc::RecvTimeoutError::Timeout) if session.guard.is_finished() => break None,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break Some(End::Signal),
        }
    };
    match end {
        // Unmounted from outside: the session ended by itself.
        None => match session.join() {
            Ok(()) => Ok(Status::Ok),
            Err(e) => Err(Failure::Usage(format!(
                "serving {}: {e}",
                opts.mountpoint.display()
            ))),
        },
        Some(End::Signal) => {
            unmount(&opts.mountpoint);
            Ok(Status::Ok)
        }
        Some(End::Lost(l)) => {
            // The kernel threads are answering the requests that failed
            // (ENOTCONN, ETIMEDOUT): let them, or an exit aborts those
            // requests (ECONNABORTED) instead.
            std::thread::sleep(Duration::from_millis(200));
            unmount(&opts.mountpoint);
            report(
                tool,
                &format!("{}; unmounted {}", l.message(), opts.mountpoint.display()),
            );
            Ok(match l {
                Lost::Timeout(_) => Status::Timeout,
                Lost::Closed(_) => Status::Connection,
            })
        }
    }
}

/// Unmounts, lazily when the mount is busy (a shell's working directory
/// inside it): the daemon must end either way. As root by umount2(2),
/// otherwise through fusermount3 (or fusermount).
fn unmount(mnt: &Path) {
    let Ok(path) = CString::new(mnt.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: a valid NUL-terminated path; umount2 reads it only.
    let done = unsafe {
        libc::umount2(path.as_ptr(), 0) == 0 || libc::umount2(path.as_ptr(), libc::MNT_DETACH) == 0
    };
    if done {
        return;
    }
    for helper in ["fusermount3", "fusermount"] {
        let ok = std::process::Command::new(helper)
            .args([OsStr::new("-u"), OsStr::new("-z"), mnt.as_os_str()])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
    }
}
