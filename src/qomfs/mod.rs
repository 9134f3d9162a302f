//! The QOM tree as a filesystem, without the filesystem: what `qom-fuse`
//! answers the kernel, testable without a mount.
//!
//! - Objects are directories; `child<T>` properties are those directories.
//! - `link<T>` properties are symbolic links to the target's directory,
//!   relative (as QEMU's qom-fuse makes them: `../..` up to the root, then
//!   the target's path). An empty link is a dangling symlink to
//!   [`EMPTY_LINK`], a name no QOM name maps to.
//! - Every other property is a regular file holding the value as `qom-get`
//!   prints it ([`crate::pyfmt::qom_get_text`], newline-terminated).
//! - Names a file name cannot hold are escaped reversibly ([`names`]).
//!
//! Listings (`qom-list`, or `qom-list-get` on QEMU >= 10.1) and the values
//! behind file sizes and link targets are cached for a TTL, the values read
//! ahead of a reader going through a directory (up to [`WINDOW`]); opening
//! a file reads its value afresh. Writing sets the property when a write ends in
//! a newline, or else when the file is closed, converted by the property's
//! type as `qom-set` does ([`crate::qom::typed_value`]).
//!
//! Every operation returns an errno on failure ([`errno_of_get`],
//! [`errno_of_set`], [`conn::Lost::errno`]).

pub mod conn;
mod files;
pub mod names;
mod sizes;
mod values;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::QmpError;
use crate::lookup::is_not_found;
use crate::message::{Reply, Request};
use crate::qom::{Kind, PropPath, child_path, list_request};

pub use conn::{Conn, Lost};
pub use files::{Handle, Opened};

/// Where an empty link points: `%` followed by no escape is no file name
/// [`names::encode`] gives, so the symlink dangles.
pub const EMPTY_LINK: &str = "%empty";

/// A value read this recently (for the stat the kernel makes just before
/// an open, or ahead of it) is what an open reads: `grep -r` then reads
/// each value once. Never longer than the TTL.
pub const FRESH: Duration = Duration::from_millis(100);

/// How many values ahead of a reader going through a directory are kept
/// read or on their way (at most up to the next child object).
pub const WINDOW: usize = 64;

/// The root directory's inode number.
pub const ROOT: u64 = 1;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// An object.
    Dir,
    /// A link property.
    Link,
    /// A value property.
    File,
}

/// An entry's attributes, as `stat` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    /// The inode number.
    pub ino: u64,
    /// What it is.
    pub kind: EntryKind,
    /// The size: the value's text, the link's target; 0 for a directory.
    pub size: u64,
    /// The permission bits.
    pub mode: u16,
}

/// How a mount behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The object at the mount's root (`/` for the whole tree).
    pub root: String,
    /// How long listings and values for sizes stay cached.
    pub ttl: Duration,
    /// Refuse every write (EROFS), every file 0444.
    pub read_only: bool,
}

#[derive(Debug, Clone)]
struct Node {
    parent: u64,
    /// The QOM name (for the root: its path).
    name: String,
    kind: EntryKind,
    /// The QOM type (`child<T>`, `link<T>`, `uint32`).
    ty: String,
    /// For a directory, the object's path; for a property, its object's.
    path: String,
}

/// One object listed: its properties, and their values when the listing
/// brought them (`qom-list-get`), or the errno.
type Listed = Result<(Vec<Prop>, Vec<Option<Value>>), i32>;

#[derive(Debug, Clone)]
struct Prop {
    name: String,
    ty: String,
}

struct Listing {
    at: Instant,
    props: Arc<Vec<(u64, Prop)>>,
}

#[derive(Default)]
struct State {
    nodes: Vec<Node>,
    by_name: HashMap<(u64, String), u64>,
    lists: HashMap<u64, Listing>,
    /// Rendered values (files) or targets (links), with when they came.
    values: HashMap<u64, (Instant, Arc<Vec<u8>>)>,
    /// Properties QEMU refused to set as not writable.
    read_only: HashSet<u64>,
    /// Property descriptions by QOM type name (qom-list-properties).
    descriptions: HashMap<String, Arc<HashMap<String, String>>>,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    /// The sizes the kernel was told, and the page-cached opens.
    sizes: sizes::Sizes,
    /// Values being read (their reads sent, the replies not in).
    inflight: HashSet<u64>,
    /// Child objects a reader came near the end of the values before, and
    /// when ([`values::WALK`]).
    descents: HashMap<u64, Instant>,
    /// Until when the reader is taken for a walker.
    walking: Option<Instant>,
}

/// The filesystem: the tree's cache over a shared connection.
pub struct QomFs {
    conn: Conn,
    settings: Settings,
    /// Shared with the connection's worker, which stores values read
    /// ahead as they arrive, and says so on `arrived`.
    state: Arc<Mutex<State>>,
    arrived: Arc<Condvar>,
    /// Whether `qom-list-get` may work (cleared on CommandNotFound).
    list_get: std::sync::atomic::AtomicBool,
    report: Box<dyn Fn(&str) + Send + Sync>,
}

/// The errno for an error reply to `qom-get` or `qom-list`.
pub fn errno_of_get(e: &QmpError) -> i32 {
    if is_not_found(e) {
        libc::ENOENT
    } else {
        libc::EIO
    }
}

/// Whether an error reply to `qom-set` says the property cannot be set at
/// all (QEMU 9.1 and later: "Property 'T.P' is not writable"; earlier:
/// "Insufficient permission to perform this operation").
pub fn is_not_writable(e: &QmpError) -> bool {
    e.desc.ends_with("' is not writable") || e.desc.starts_with("Insufficient permission")
}

/// The errno for an error reply to `qom-set`: ENOENT for a vanished object
/// or property, EACCES for one that cannot be set, EPERM for a device
/// property that can be set only before the device is realized, EINVAL
/// (a value QEMU refused) otherwise.
pub fn errno_of_set(e: &QmpError) -> i32 {
    if is_not_found(e) {
        libc::ENOENT
    } else if is_not_writable(e) {
        libc::EACCES
    } else if e.desc.contains("after it was realized") {
        libc::EPERM
    } else {
        libc::EINVAL
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the caches inconsistent
    // in a way that matters: they are caches.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn get_request(path: &str, name: &str) -> Request {
    PropPath::new(path, name).get_request()
}

fn is_command_not_found(r: &Reply) -> bool {
    r.message()
        .get("error")
        .and_then(|e| e.get("class"))
        .is_some_and(|c| c == "CommandNotFound")
}

/// A property's value as a file holds it (files) or its target (links).
fn content(kind: EntryKind, value: &Value) -> Vec<u8> {
    match (kind, value) {
        (EntryKind::Link, Value::String(s)) => s.clone().into_bytes(),
        _ => crate::pyfmt::qom_get_text(value).into_bytes(),
    }
}

impl QomFs {
    /// A filesystem over `conn`; `report` receives QEMU's messages for
    /// failed writes (the daemon prints them on stderr).
    pub fn new(conn: Conn, settings: Settings, report: Box<dyn Fn(&str) + Send + Sync>) -> Self {
        let root = Node {
            parent: ROOT,
            name: settings.root.clone(),
            kind: EntryKind::Dir,
            ty: "child<container>".into(),
            path: settings.root.clone(),
        };
        let state = State {
            nodes: vec![root],
            next_fh: 1,
            ..State::default()
        };
        QomFs {
            conn,
            settings,
            state: Arc::new(Mutex::new(state)),
            arrived: Arc::new(Condvar::new()),
            list_get: std::sync::atomic::AtomicBool::new(true),
            report,
        }
    }

    fn node(&self, ino: u64) -> Result<Node, i32> {
        let st = lock(&self.state);
        usize::try_from(ino.wrapping_sub(1))
            .ok()
            .and_then(|i| st.nodes.get(i))
            .cloned()
            .ok_or(libc::ENOENT)
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.settings.ttl
    }

    /// The entries of directory `dir`, from the cache or listed now.
    fn listing(&self, dir: u64) -> Result<Arc<Vec<(u64, Prop)>>, i32> {
        {
            let st = lock(&self.state);
            if let Some(l) = st.lists.get(&dir).filter(|l| self.fresh(l.at)) {
                return Ok(l.props.clone());
            }
        }
        let node = self.node(dir)?;
        if node.kind != EntryKind::Dir {
            return Err(libc::ENOTDIR);
        }
        let mut lists = self.list(&[node.path.as_str()])?;
        let (props, values) = lists.pop().ok_or(libc::EIO)??;
        Ok(self.store_listing(dir, &node.path, props, values))
    }

    /// Lists, in one pipelined batch, the child objects of `dir` whose
    /// listings are not cached: `find` and `ls -R` go on to read them.
    fn prefetch_children(&self, dir: u64, props: &[(u64, Prop)]) -> Result<(), i32> {
        let wanted: Vec<(u64, String)> = {
            let st = lock(&self.state);
            props
                .iter()
                .map(|(i, _)| (*i, &st.nodes[(*i - 1) as usize]))
                .filter(|(i, n)| {
                    n.kind == EntryKind::Dir
                        && n.parent == dir
                        && !st.lists.get(i).is_some_and(|l| self.fresh(l.at))
                })
                .map(|(i, n)| (i, n.path.clone()))
                .collect()
        };
        if wanted.is_empty() {
            return Ok(());
        }
        let paths: Vec<&str> = wanted.iter().map(|(_, p)| p.as_str()).collect();
        for ((ino, path), listed) in wanted.iter().zip(self.list(&paths)?) {
            if let Ok((props, values)) = listed {
                self.store_listing(*ino, path, props, values);
            }
        }
        Ok(())
    }

    /// Caches the listing of directory `dir` (the object at `path`) and the
    /// values that came with it; its entries.
    fn store_listing(
        &self,
        dir: u64,
        path: &str,
        props: Vec<Prop>,
        values: Vec<Option<Value>>,
    ) -> Arc<Vec<(u64, Prop)>> {
        let now = Instant::now();
        let mut st = lock(&self.state);
        let mut entries = Vec::with_capacity(props.len());
        for (i, p) in props.into_iter().enumerate() {
            let kind = match Kind::of(&p.ty) {
                Kind::Child => EntryKind::Dir,
                Kind::Link => EntryKind::Link,
                _ => EntryKind::File,
            };
            let obj = match kind {
                EntryKind::Dir => child_path(path, &p.name),
                _ => path.to_string(),
            };
            let ino = intern(&mut st, dir, &p, kind, obj);
            if let Some(v) = values.get(i).and_then(Option::as_ref) {
                st.values.insert(ino, (now, Arc::new(content(kind, v))));
            }
            entries.push((ino, p));
        }
        let props = Arc::new(entries);
        st.lists.insert(
            dir,
            Listing {
                at: now,
                props: props.clone(),
            },
        );
        props
    }

    /// Lists the objects at `paths`, pipelined: for each, its properties
    /// and, with `qom-list-get` (one command for all), their values.
    fn list(&self, paths: &[&str]) -> Result<Vec<Listed>, i32> {
        use std::sync::atomic::Ordering::Relaxed;
        let parse = |props: &[Value]| -> Vec<Prop> {
            props
                .iter()
                .map(|p| Prop {
                    name: p["name"].as_str().unwrap_or_default().to_string(),
                    ty: p["type"].as_str().unwrap_or_default().to_string(),
                })
                .collect()
        };
        if self.list_get.load(Relaxed) {
            let mut args = serde_json::Map::new();
            let list = paths.iter().map(|p| Value::from(*p)).collect();
            args.insert("paths".into(), Value::Array(list));
            let reply = self.lost(self.conn.one(Request::new("qom-list-get", Some(args))))?;
            if is_command_not_found(&reply) {
                self.list_get.store(false, Relaxed);
            } else if paths.len() > 1 && reply.is_error() {
                // One object vanished spoils the batch: ask one by one.
                return paths
                    .iter()
                    .map(|p| self.list(&[p]).map(|mut l| l.remove(0)))
                    .collect();
            } else {
                let v = reply.into_result().map_err(|e| errno_of_get(&e))?;
                let objects = v.as_array().cloned().unwrap_or_default();
                if objects.len() != paths.len() {
                    return Err(libc::EIO);
                }
                return Ok(objects
                    .iter()
                    .map(|o| {
                        let props = o["properties"].as_array().cloned().unwrap_or_default();
                        let values = props.iter().map(|p| p.get("value").cloned()).collect();
                        Ok((parse(&props), values))
                    })
                    .collect());
            }
        }
        let requests = paths.iter().map(|p| list_request(p)).collect();
        let replies = self.lost(self.conn.run(requests))?;
        Ok(replies
            .into_iter()
            .map(|r| match r.into_result() {
                Ok(Value::Array(props)) => Ok((parse(&props), Vec::new())),
                Ok(_) => Err(libc::EIO),
                Err(e) => Err(errno_of_get(&e)),
            })
            .collect())
    }

    fn lost<T>(&self, r: Result<T, Lost>) -> Result<T, i32> {
        r.map_err(|l| l.errno())
    }

    /// The entries of directory `ino`: inode, kind and file name. `first`
    /// (the first read of an open directory) also lists the child objects
    /// not cached, in one pipelined batch.
    ///
    /// # Errors
    /// ENOENT when the object is gone, ENOTDIR, or the connection's errno.
    pub fn readdir(&self, ino: u64, first: bool) -> Result<Vec<(u64, EntryKind, String)>, i32> {
        let props = self.listing(ino)?;
        if first {
            self.prefetch_children(ino, &props)?;
        }
        let st = lock(&self.state);
        Ok(props
            .iter()
            .map(|(i, p)| (*i, st.nodes[(*i - 1) as usize].kind, names::encode(&p.name)))
            .collect())
    }

    /// The entry `file` in directory `parent`.
    ///
    /// # Errors
    /// ENOENT when there is none, or as [`QomFs::getattr`].
    pub fn lookup(&self, parent: u64, file: &str) -> Result<Attr, i32> {
        let name = names::decode(file).ok_or(libc::ENOENT)?;
        let props = self.listing(parent)?;
        let ino = props
            .iter()
            .find(|(_, p)| p.name == name)
            .map(|(i, _)| *i)
            .ok_or(libc::ENOENT)?;
        self.getattr(ino)
    }

    /// The attributes of `ino`. The size of a file or link needs its value:
    /// when it is not cached, every value of its directory is read in one
    /// pipelined batch (what `ls -l`, `find -size` and `grep -r` go on to
    /// need). While an open of the file reads through the page cache
    /// ([`Opened::page_cache`]), the size is that of its value. The caller
    /// tells the kernel the size returned (it is noted as told).
    ///
    /// # Errors
    /// ENOENT when the entry is gone, or the connection's errno.
    pub fn getattr(&self, ino: u64) -> Result<Attr, i32> {
        let node = self.node(ino)?;
        let mode = |rw: u16| {
            if self.settings.read_only {
                rw & 0o555
            } else {
                rw
            }
        };
        let size = match node.kind {
            EntryKind::Dir => {
                return Ok(Attr {
                    ino,
                    kind: node.kind,
                    size: 0,
                    mode: mode(0o755),
                });
            }
            EntryKind::Link => self.link_target(ino)?.len() as u64,
            EntryKind::File => {
                let paged = lock(&self.state).sizes.paged(ino);
                match paged {
                    Some(len) => len,
                    None => self.cached_value(ino, &node)?.len() as u64,
                }
            }
        };
        let mut st = lock(&self.state);
        if node.kind == EntryKind::File {
            st.sizes.told(ino, size);
        }
        let writable = node.kind == EntryKind::File && !st.read_only.contains(&ino);
        drop(st);
        Ok(Attr {
            ino,
            kind: node.kind,
            size,
            mode: match node.kind {
                EntryKind::Link => 0o777,
                _ if writable => mode(0o644),
                _ => 0o444,
            },
        })
    }

    /// A link's target as `readlink` gives it: relative to the link's
    /// directory.
    ///
    /// # Errors
    /// EINVAL when `ino` is no link, ENOENT when it is gone, or the
    /// connection's errno.
    pub fn readlink(&self, ino: u64) -> Result<Vec<u8>, i32> {
        let node = self.node(ino)?;
        if node.kind != EntryKind::Link {
            return Err(libc::EINVAL);
        }
        let target = self.cached_value(ino, &node)?;
        Ok(relative_target(
            &self.settings.root,
            &node.path,
            &String::from_utf8_lossy(&target),
        ))
    }

    fn link_target(&self, ino: u64) -> Result<Vec<u8>, i32> {
        self.readlink(ino)
    }

    /// Extended attribute names of `ino`, NUL-terminated, as `listxattr`
    /// gives them.
    pub fn listxattr(&self, ino: u64) -> Result<Vec<u8>, i32> {
        self.node(ino)?;
        let mut out = b"user.qom.type\0".to_vec();
        if self.description(ino)?.is_some() {
            out.extend_from_slice(b"user.qom.description\0");
        }
        Ok(out)
    }

    /// The extended attribute `name` of `ino`: `user.qom.type` (the QOM
    /// type, `child<T>` for an object) or `user.qom.description`.
    ///
    /// # Errors
    /// ENODATA for any other name or a property without a description.
    pub fn getxattr(&self, ino: u64, name: &str) -> Result<Vec<u8>, i32> {
        let node = self.node(ino)?;
        match name {
            "user.qom.type" => Ok(node.ty.into_bytes()),
            "user.qom.description" => self
                .description(ino)?
                .map(String::into_bytes)
                .ok_or(libc::ENODATA),
            _ => Err(libc::ENODATA),
        }
    }

    /// The description QEMU gives of a property (`qom-list-properties` of
    /// its object's type, asked once per type).
    fn description(&self, ino: u64) -> Result<Option<String>, i32> {
        let node = self.node(ino)?;
        if ino == ROOT {
            return Ok(None);
        }
        let owner = self.node(node.parent)?;
        let Some(ty) = self.object_type(node.parent, &owner)? else {
            return Ok(None);
        };
        if let Some(d) = lock(&self.state).descriptions.get(&ty) {
            return Ok(d.get(&node.name).cloned());
        }
        let mut args = serde_json::Map::new();
        args.insert("typename".into(), Value::from(ty.as_str()));
        let reply = self.lost(
            self.conn
                .one(Request::new("qom-list-properties", Some(args))),
        )?;
        let mut map = HashMap::new();
        if let Ok(Value::Array(props)) = reply.into_result() {
            for p in props {
                if let (Some(n), Some(d)) = (p["name"].as_str(), p["description"].as_str()) {
                    map.insert(n.to_string(), d.to_string());
                }
            }
        }
        let found = map.get(&node.name).cloned();
        lock(&self.state).descriptions.insert(ty, Arc::new(map));
        Ok(found)
    }

    /// The QOM type name of an object: from `child<T>`, else its `type`.
    fn object_type(&self, ino: u64, obj: &Node) -> Result<Option<String>, i32> {
        if let Some(t) = obj
            .ty
            .strip_prefix("child<")
            .and_then(|t| t.strip_suffix('>'))
            && ino != ROOT
        {
            return Ok(Some(t.to_string()));
        }
        let reply = self.lost(self.conn.one(get_request(&obj.path, "type")))?;
        Ok(reply
            .into_result()
            .ok()
            .and_then(|v| v.as_str().map(String::from)))
    }

    /// Lists the root and its child objects (two round trips), so that the
    /// first path looked up after the mount finds them cached.
    ///
    /// # Errors
    /// As [`QomFs::readdir`]: the root object missing (ENOENT) or the
    /// connection's errno.
    pub fn warm(&self) -> Result<(), i32> {
        self.readdir(ROOT, true).map(|_| ())
    }

    /// The settings of this mount.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

/// `target` (an absolute QOM path) relative to the directory of object
/// `from`, both under the mount's `root`; [`EMPTY_LINK`] for an empty
/// target or one outside the root.
fn relative_target(root: &str, from: &str, target: &str) -> Vec<u8> {
    let root = root.trim_end_matches('/');
    let inside = |r: &&str| r.is_empty() || r.starts_with('/');
    let Some(rest) = target.strip_prefix(root).filter(inside) else {
        return EMPTY_LINK.as_bytes().to_vec();
    };
    if target.is_empty() {
        return EMPTY_LINK.as_bytes().to_vec();
    };
    let depth = from
        .strip_prefix(root)
        .unwrap_or(from)
        .split('/')
        .filter(|c| !c.is_empty())
        .count();
    let mut out = vec![".."; depth].join("/");
    for component in rest.split('/').filter(|c| !c.is_empty()) {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(&names::encode(component));
    }
    if out.is_empty() {
        out.push('.');
    }
    out.into_bytes()
}

fn intern(st: &mut State, dir: u64, p: &Prop, kind: EntryKind, path: String) -> u64 {
    let key = (dir, p.name.clone());
    if let Some(&ino) = st.by_name.get(&key) {
        let n = &mut st.nodes[(ino - 1) as usize];
        if n.kind == kind {
            n.ty.clone_from(&p.ty);
            return ino;
        }
    }
    st.nodes.push(Node {
        parent: dir,
        name: p.name.clone(),
        kind,
        ty: p.ty.clone(),
        path,
    });
    let ino = st.nodes.len() as u64;
    st.by_name.insert(key, ino);
    ino
}

#[cfg(test)]
mod tests;
