//! Open files: a value read at open, a value written and set.

use std::sync::Arc;

use serde_json::Value;

use super::{EntryKind, QomFs, errno_of_get, errno_of_set, is_not_writable, lock};
use crate::qom::{PropPath, typed_with};

/// An open file.
#[derive(Debug)]
pub struct Handle {
    ino: u64,
    /// The value as read at open (empty when opened to write only).
    content: Arc<Vec<u8>>,
    /// What was written, when anything was.
    written: Option<Vec<u8>>,
    /// Whether `written` holds data a write brought that is not set yet
    /// (a truncation alone sets nothing: the shell's `>` opens, truncates,
    /// and closes a duplicate descriptor before the command writes).
    dirty: bool,
}

/// An open file, as the kernel is to use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// The handle's number.
    pub fh: u64,
    /// Whether the kernel may read it through its page cache: the open is
    /// read-only and its value has the size the kernel holds (otherwise,
    /// direct I/O: the reads come here whatever size the kernel holds).
    pub page_cache: bool,
}

impl QomFs {
    /// Opens file `ino`: reads the value when `read` (afresh, unless it was
    /// read less than [`super::FRESH`] and the TTL ago, or is on its way:
    /// then that read's); when `write`,
    /// checks the property can be set (EROFS on a read-only mount, EACCES
    /// for a property QEMU refused to set before). `truncate`: the file
    /// starts empty (`O_TRUNC`).
    ///
    /// # Errors
    /// EISDIR, ENOENT for a vanished property, EROFS, EACCES, or the
    /// connection's errno.
    pub fn open(&self, ino: u64, read: bool, write: bool, truncate: bool) -> Result<Opened, i32> {
        let node = self.node(ino)?;
        match node.kind {
            EntryKind::Dir => return Err(libc::EISDIR),
            EntryKind::Link => return Err(libc::ELOOP),
            EntryKind::File => {}
        }
        if write && self.settings.read_only {
            return Err(libc::EROFS);
        }
        if write && lock(&self.state).read_only.contains(&ino) {
            return Err(libc::EACCES);
        }
        let recent = if read { self.value_for_open(ino) } else { None };
        let content = if let Some(v) = recent {
            v
        } else if read || (write && !truncate) {
            let reply = self.lost(
                self.conn
                    .one(PropPath::new(&node.path, &node.name).get_request()),
            )?;
            match reply.into_result() {
                Ok(v) => Arc::new(crate::pyfmt::qom_get_text(&v).into_bytes()),
                Err(e) => return Err(errno_of_get(&e)),
            }
        } else {
            Arc::default()
        };
        let mut st = lock(&self.state);
        if read {
            st.values
                .insert(ino, (std::time::Instant::now(), content.clone()));
        }
        let fh = st.next_fh;
        st.next_fh += 1;
        let len = content.len() as u64;
        let page_cache = read && !write && st.sizes.page(ino, fh, len, self.settings.ttl);
        st.handles.insert(
            fh,
            Handle {
                ino,
                content,
                written: truncate.then(Vec::new),
                dirty: false,
            },
        );
        Ok(Opened { fh, page_cache })
    }

    /// Up to `size` bytes at `offset` of the value read at open.
    ///
    /// # Errors
    /// EBADF for an unknown handle.
    pub fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, i32> {
        let st = lock(&self.state);
        let h = st.handles.get(&fh).ok_or(libc::EBADF)?;
        let data: &[u8] = match &h.written {
            Some(w) => w,
            None => &h.content,
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(size as usize).min(data.len());
        Ok(data[start..end].to_vec())
    }

    /// Writes `data` at `offset`; when the text then ends in a newline it is
    /// a complete value, and the property is set at once (so that the
    /// shell's `echo` sees the error).
    ///
    /// # Errors
    /// EBADF, or as [`QomFs::flush`] when the value is set.
    pub fn write(&self, fh: u64, offset: u64, data: &[u8]) -> Result<u32, i32> {
        let complete = {
            let mut st = lock(&self.state);
            let h = st.handles.get_mut(&fh).ok_or(libc::EBADF)?;
            let buf = h.written.get_or_insert_with(|| h.content.to_vec());
            let at = usize::try_from(offset).map_err(|_| libc::EFBIG)?;
            if at > 1 << 20 || data.len() > 1 << 20 {
                return Err(libc::EFBIG);
            }
            if buf.len() < at + data.len() {
                buf.resize(at + data.len(), 0);
            }
            buf[at..at + data.len()].copy_from_slice(data);
            h.dirty = true;
            buf.ends_with(b"\n")
        };
        if complete {
            self.commit(fh)?;
        }
        Ok(data.len() as u32)
    }

    /// Sets the file's size (`truncate`, or `O_TRUNC` without an open
    /// flag): only to empty it for a write that follows; nothing is set.
    ///
    /// # Errors
    /// EROFS on a read-only mount, EACCES for a property QEMU refused to set,
    /// EINVAL for a size other than 0.
    pub fn truncate(&self, ino: u64, fh: Option<u64>, size: u64) -> Result<(), i32> {
        if self.settings.read_only {
            return Err(libc::EROFS);
        }
        let node = self.node(ino)?;
        if node.kind != EntryKind::File {
            return Err(libc::EISDIR);
        }
        let mut st = lock(&self.state);
        if st.read_only.contains(&ino) {
            return Err(libc::EACCES);
        }
        if size != 0 {
            return Err(libc::EINVAL);
        }
        if let Some(h) = fh.and_then(|fh| st.handles.get_mut(&fh)) {
            h.written = Some(Vec::new());
            h.dirty = false;
        }
        Ok(())
    }

    /// The file is being closed (`close(2)` of one descriptor): sets what
    /// was written, if it was not set already.
    ///
    /// # Errors
    /// EINVAL for text that does not convert to the property's type (the
    /// reason goes to the report hook, nothing is set) or a value QEMU
    /// refused; EACCES or EPERM for a property that cannot be set (now);
    /// ENOENT for a vanished one; the connection's errno.
    pub fn flush(&self, fh: u64) -> Result<(), i32> {
        self.commit(fh)
    }

    /// The handle is gone: forgets it (a value written but not yet set is
    /// set first, for a release without flush).
    pub fn release(&self, fh: u64) -> Result<(), i32> {
        let done = self.commit(fh);
        let mut st = lock(&self.state);
        if let Some(h) = st.handles.remove(&fh) {
            st.sizes.closed(h.ino, fh);
        }
        done
    }

    fn commit(&self, fh: u64) -> Result<(), i32> {
        let (ino, text) = {
            let mut st = lock(&self.state);
            let Some(h) = st.handles.get_mut(&fh) else {
                return Ok(());
            };
            match &h.written {
                Some(w) if h.dirty => {
                    h.dirty = false;
                    (h.ino, w.clone())
                }
                _ => return Ok(()),
            }
        };
        let node = self.node(ino)?;
        let prop = PropPath::new(&node.path, &node.name);
        let value = self.convert(&prop, &node.ty, &text)?;
        let reply = self.lost(self.conn.one(prop.set_request(value)))?;
        match reply.into_result() {
            Ok(_) => {
                // The size changed: the next stat reads the value again.
                lock(&self.state).values.remove(&ino);
                Ok(())
            }
            Err(e) => {
                (self.report)(&format!("{prop}: {}", e.desc));
                if is_not_writable(&e) {
                    lock(&self.state).read_only.insert(ino);
                }
                Err(errno_of_set(&e))
            }
        }
    }

    /// The value to set for the text written: one trailing newline (what
    /// `echo` adds) is dropped, then it is converted as `qom-set` does.
    fn convert(&self, prop: &PropPath, ty: &str, text: &[u8]) -> Result<Value, i32> {
        let fail = |why: &str| {
            (self.report)(&format!("{prop}: {why}; nothing was set"));
            libc::EINVAL
        };
        let text = std::str::from_utf8(text).map_err(|_| fail("the value is not UTF-8"))?;
        let text = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(text);
        typed_with(text, ty, "(as qom-set converts VALUE)").map_err(|why| fail(&why))
    }
}
