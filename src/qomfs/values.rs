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
use std::time::Instant;

use super::conn::Lost;
use super::{EntryKind, FRESH, Node, QomFs, State, WINDOW, content, get_request, lock};
use crate::lookup::is_not_found;

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
    /// half of them are, sends the reads of the others. Best effort: a
    /// listing that fails now fails the stat that needs it.
    fn read_ahead(&self, ino: u64, node: &Node) {
        let Ok(props) = self.listing(node.parent) else {
            return;
        };
        let wanted: Reads = {
            let mut st = lock(&self.state);
            let Some(at) = props.iter().position(|(i, _)| *i == ino) else {
                return;
            };
            let covered = |st: &State, i: u64| {
                st.inflight.contains(&i) || st.values.get(&i).is_some_and(|(t, _)| self.fresh(*t))
            };
            let ahead: Vec<_> = props[at + 1..]
                .iter()
                .map(|(i, p)| (*i, st.nodes[(*i - 1) as usize].kind, p))
                .take_while(|(_, k, _)| *k != EntryKind::Dir)
                .take(WINDOW)
                .collect();
            let run = ahead
                .iter()
                .take_while(|(i, _, _)| covered(&st, *i))
                .count();
            if run == ahead.len() || run >= WINDOW / 2 {
                return;
            }
            let wanted: Reads = ahead
                .into_iter()
                .filter(|(i, _, _)| !covered(&st, *i))
                .map(|(i, k, p)| (i, k, p.name.clone()))
                .collect();
            st.inflight.extend(wanted.iter().map(|(i, _, _)| *i));
            wanted
        };
        // A connection lost fails the stats that wait for these.
        let _ = self.send_reads(&node.path, wanted, None);
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
