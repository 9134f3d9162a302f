//! qom-fuse: the QOM tree as a filesystem.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use qmp::cli::fuse::{MountOpts, serve};
use qmp::cli::{ConnectOpts, RunResult, UsageError};

const EXAMPLES: &str = "\
Examples:
  qom-fuse -s /run/vm1.qmp /mnt/vm1 &                 (mount; the daemon stays in front)
  ls /mnt/vm1/machine/peripheral                      (objects are directories)
  cat /mnt/vm1/machine/type                           (properties are files)
  grep -r . /mnt/vm1/objects/io0                      (every value of an object)
  find /mnt/vm1/machine -name 'vblk*'                 (objects by name)
  echo 1000 > /mnt/vm1/objects/io0/poll-max-ns        (set a property)
  getfattr -d /mnt/vm1/objects/io0/poll-max-ns        (its QOM type and description)
  umount /mnt/vm1                                     (end it; so do Ctrl-C and SIGTERM)";

/// Mount QEMU's QOM tree as a filesystem, readable and writable.
///
/// Objects are directories, child<...> properties are those directories,
/// link<...> properties are symbolic links to the target's directory
/// (relative; an empty link dangles), every other property is a file
/// holding its value as qom-get prints it, with a newline. Writing a file
/// sets the property, converted by its type as qom-set does, when a write
/// ends in a newline or at close; an error shows as an errno (EINVAL for a
/// bad value, EACCES for a read-only property, ENOENT for a vanished one)
/// and QEMU's message on qom-fuse's stderr. Extended attributes
/// user.qom.type and user.qom.description tell a property's QOM type and
/// description. qom-fuse runs in the foreground until the mount is
/// unmounted or it gets SIGINT, SIGTERM or SIGHUP (it unmounts and exits 0);
/// if QEMU goes away it unmounts and exits 3.
#[derive(Debug, Parser)]
#[command(name = "qom-fuse", version, after_help = EXAMPLES)]
struct Args {
    #[command(flatten)]
    conn: ConnectOpts,
    /// The directory to mount on (existing, nothing mounted there)
    #[arg(value_name = "MOUNTPOINT")]
    mountpoint: PathBuf,
    /// Refuse every write (EROFS); every file 0444
    #[arg(long)]
    read_only: bool,
    /// Mount options: allow_other (let other users in; needs user_allow_other in /etc/fuse.conf unless root), ro
    #[arg(short = 'o', value_name = "OPTION[,OPTION...]", value_delimiter = ',')]
    options: Vec<String>,
    /// Seconds that directory listings, and the values behind sizes and link targets, stay cached (0: none); an open reads its value afresh unless it was read within 0.1 s
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = parse_ttl)]
    cache_ttl: Duration,
    /// The object at the mount's root
    #[arg(long, value_name = "PATH", default_value = "/")]
    root: String,
}

/// A TTL: seconds, 0 (no caching) or more.
fn parse_ttl(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 => Duration::try_from_secs_f64(v).map_err(|e| e.to_string()),
        _ => Err(format!(
            "'{s}' is not a number of seconds (e.g. 1, 0.5, or 0 for no caching)"
        )),
    }
}

fn run(args: Args) -> RunResult {
    let mut opts = MountOpts {
        mountpoint: args.mountpoint,
        root: args.root,
        ttl: args.cache_ttl,
        read_only: args.read_only,
        allow_other: false,
    };
    for o in &args.options {
        match o.as_str() {
            "allow_other" => opts.allow_other = true,
            "ro" => opts.read_only = true,
            "rw" | "" => {}
            other => {
                return Err(UsageError(format!(
                    "-o {other}: unknown mount option (qom-fuse takes allow_other, ro, rw)"
                ))
                .into());
            }
        }
    }
    if !opts.root.starts_with('/') {
        return Err(UsageError(format!(
            "--root {}: an absolute QOM path is needed, e.g. /machine",
            opts.root
        ))
        .into());
    }
    serve("qom-fuse", &args.conn, &opts)
}

fn main() -> std::process::ExitCode {
    qmp::cli::main("qom-fuse", run)
}
