//! Values for sizes and link targets: cached for the TTL, and read ahead
//! of a reader going through a directory.
//!
//! A reader going through a directory in listing order (`ls -l`, `find
//! -size`, `grep -r`) asks for the values one after the other, up to the
//! next child object, which a walker enters before it comes back to the
//! rest. So the stat of a value that is not cached sends its read alone and
//! waits for that reply only, and sends behind it, in the same pipelined
//! stream, the reads of the values that follow it (up to the next child
//! object, at most [`WINDOW`]); each stat after that takes its value from
//! the cache, or waits for it to arrive, and keeps [`WINDOW`] values ahead
//! of it read or on their way. QEMU then works on the next values while the
//! reader and the kernel work on this one, and the open that follows a stat
//! (it takes a value read within [`FRESH`]) finds its value just read.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::conn::Lost;
use super::{EntryKind, FRESH, Node, QomFs, State, WINDOW, content, get_request, lock};
use crate::lookup::is_not_found;

/// A reader that went into a child object, from the end of the values
/// before it, this long ago is walking the tree: the values at the start of
/// the next children it comes to are read ahead too.
pub const WALK: Duration = Duration::from_secs(1);

/// The reads of one batch: inode, kind, property name.
type Reads = Vec<(u64, EntryKind, String)>;

impl QomFs {
    /// A value for sizes and targets: cached within the TTL (or on its way),
    /// else read now, the values after it read ahead.
    pub(super) fn cached_value(&self, ino: u64, node: &Node) -> Result<Arc<Vec<u8>>, i32> {
        if self.settings.ttl.is_zero() {
            // Nothing would stay cached for the neighbours: this one alone.
            let reply = self.lost(self.conn.one(get_request(&node.path, &node.name)))?;
            return Ok(Arc::new(match reply.into_result() {
                Ok(v) => content(node.kind, &v),
                Err(e) if is_not_found(&e) => return Err(libc::ENOENT),
                Err(_) => Vec::new(),
            }));
        }
        if let Some(v) = self.arrived_value(ino, |at| self.fresh(at)) {
            self.read_ahead(ino, node);
            return Ok(v);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let me = vec![(ino, node.kind, node.name.clone())];
        lock(&self.state).inflight.insert(ino);
        self.send_reads(&node.path, me, Some(tx))?;
        self.read_ahead(ino, node);
        rx.recv().map_err(|_| libc::ENOTCONN)??;
        Ok(self
            .arrived_value(ino, |_| true)
            // Unreadable (its getter failed): an empty file.
            .unwrap_or_default())
    }

    /// The value of `ino` if cached and `good` for its time, after waiting
    /// for it while it is on its way.
    pub(super) fn arrived_value(
        &self,
        ino: u64,
        good: impl Fn(Instant) -> bool,
    ) -> Option<Arc<Vec<u8>>> {
        let mut st = lock(&self.state);
        loop {
            if let Some((at, v)) = st.values.get(&ino)
                && good(*at)
            {
                return Some(v.clone());
            }
            if !st.inflight.contains(&ino) {
                return None;
            }
            // The reads' replies always come (or the connection's loss).
            st = self.arrived.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A value an open may take: read within [`FRESH`] (and the TTL), or
    /// on its way.
    pub(super) fn value_for_open(&self, ino: u64) -> Option<Arc<Vec<u8>>> {
        let recent = self.settings.ttl.min(FRESH);
        self.arrived_value(ino, |at| at.elapsed() < recent)
    }

    /// Keeps the values after `ino` in its directory (up to the next child
    /// object, at most [`WINDOW`]) cached or on their way: when fewer than
    /// half of them are, sends the reads of the others. When the child
    /// object that ends them is near and the reader is a walker (it went
    /// into such a child before, within [`WALK`]), the values at the start
    /// of that child too. Best effort: a listing that fails now fails the
    /// stat that needs it.
    fn read_ahead(&self, ino: u64, node: &Node) {
        let Ok(props) = self.listing(node.parent) else {
            return;
        };
        let mut batches: Vec<(String, Reads)> = Vec::new();
        {
            let mut st = lock(&self.state);
            let Some(at) = props.iter().position(|(i, _)| *i == ino) else {
                return;
            };
            let now = Instant::now();
            if st
                .descents
                .remove(&node.parent)
                .is_some_and(|t| now.duration_since(t) < WALK)
            {
                st.walking = Some(now + WALK);
            }
            let (ahead, child) = segment(&st, &props, at + 1);
            let run = ahead.iter().take_while(|i| self.covered(&st, **i)).count();
            if run < ahead.len() && run < WINDOW / 2 {
                batches.push((node.path.clone(), self.claim(&mut st, &ahead)));
            }
            if let Some(child) = child {
                st.descents.insert(child, now);
                let first = st
                    .lists
                    .get(&child)
                    .filter(|l| self.fresh(l.at) && st.walking.is_some_and(|w| now < w))
                    .map(|l| l.props.clone());
                if let Some(first) = first {
                    let (first, _) = segment(&st, &first, 0);
                    let reads = self.claim(&mut st, &first);
                    let path = st.nodes[(child - 1) as usize].path.clone();
                    batches.push((path, reads));
                }
            }
        }
        for (path, reads) in batches.into_iter().filter(|(_, r)| !r.is_empty()) {
            // A connection lost fails the stats that wait for these.
            let _ = self.send_reads(&path, reads, None);
        }
    }

    /// Whether the value of `ino` is cached or on its way.
    fn covered(&self, st: &State, ino: u64) -> bool {
        st.inflight.contains(&ino) || st.values.get(&ino).is_some_and(|(t, _)| self.fresh(*t))
    }

    /// The reads of those of `inos` not covered, marked in flight.
    fn claim(&self, st: &mut State, inos: &[u64]) -> Reads {
        let reads: Reads = inos
            .iter()
            .filter(|i| !self.covered(st, **i))
            .map(|&i| {
                let n = &st.nodes[(i - 1) as usize];
                (i, n.kind, n.name.clone())
            })
            .collect();
        st.inflight.extend(reads.iter().map(|(i, _, _)| *i));
        reads
    }

    /// Sends the reads of the values `reads` of the object at `path`, which
    /// the caller marked in flight; as they arrive the worker stores them
    /// (an error reply as an empty value), clears their mark, wakes those
    /// waiting, and tells `then`.
    fn send_reads(
        &self,
        path: &str,
        reads: Reads,
        then: Option<mpsc::SyncSender<Result<(), i32>>>,
    ) -> Result<(), i32> {
        let requests = reads.iter().map(|(_, _, n)| get_request(path, n)).collect();
        let inos: Vec<u64> = reads.iter().map(|(i, _, _)| *i).collect();
        let done = stored(self.state.clone(), self.arrived.clone(), reads, then);
        self.conn.send(requests, done).map_err(|l| {
            // Never sent: nothing else will clear the marks.
            let mut st = lock(&self.state);
            for i in &inos {
                st.inflight.remove(i);
            }
            drop(st);
            self.arrived.notify_all();
            l.errno()
        })
    }
}

/// What stores the replies of `reads` (see [`QomFs::send_reads`]).
fn stored(
    state: Arc<Mutex<State>>,
    arrived: Arc<Condvar>,
    reads: Reads,
    then: Option<mpsc::SyncSender<Result<(), i32>>>,
) -> super::conn::Done {
    Box::new(move |replies: Result<Vec<crate::message::Reply>, Lost>| {
        let now = Instant::now();
        let mut st = lock(&state);
        let result = match replies {
            Ok(replies) => {
                for ((ino, kind, _), reply) in reads.iter().zip(replies) {
                    let v = match reply.into_result() {
                        Ok(v) => content(*kind, &v),
                        Err(_) => Vec::new(),
                    };
                    st.values.insert(*ino, (now, Arc::new(v)));
                }
                Ok(())
            }
            Err(l) => Err(l.errno()),
        };
        for (ino, _, _) in &reads {
            st.inflight.remove(ino);
        }
        drop(st);
        arrived.notify_all();
        if let Some(t) = then {
            let _ = t.send(result);
        }
    })
}

/// The values of the listing `props` from index `from` up to the next child
/// object, at most [`WINDOW`]; and that child, when it ends them.
fn segment(st: &State, props: &[(u64, super::Prop)], from: usize) -> (Vec<u64>, Option<u64>) {
    let kind = |i: u64| st.nodes[(i - 1) as usize].kind;
    let rest = props.get(from..).unwrap_or_default();
    let values: Vec<u64> = rest
        .iter()
        .map(|(i, _)| *i)
        .take_while(|i| kind(*i) != EntryKind::Dir)
        .take(WINDOW)
        .collect();
    let child = rest
        .get(values.len())
        .map(|(i, _)| *i)
        .filter(|i| values.len() < WINDOW && kind(*i) == EntryKind::Dir);
    (values, child)
}
