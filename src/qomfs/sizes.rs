//! The file sizes the kernel holds, and whether an open may read through
//! the kernel's page cache.
//!
//! Read through the page cache, a file ends at the size the kernel holds:
//! a read of a file with a valid size never asks past it, and a read past
//! it asks for the attributes again only once they expired (their TTL is
//! the mount's). So the cache is used for an open only when its value, read
//! at open, has the size of every size told for that file within the TTL:
//! otherwise (the property changed length since the stat just before) the
//! open reads with direct I/O, where every read comes to us and the size
//! does not matter. A shorter value is safe either way (a short read
//! shrinks the kernel's size), a longer one would be cut.
//!
//! While a page-cached open lasts, the file's size is that of its value
//! (what the kernel reads it from), so that attributes asked again during a
//! slow read agree with it; and only one page-cached open of a file lasts
//! at a time, since the kernel shares the cached pages between the opens of
//! a file (another open reads with direct I/O, from its own value).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The last size told for a file, and since when it is the only size the
/// kernel may hold as valid.
#[derive(Debug, Clone, Copy)]
struct Told {
    size: u64,
    /// When a different size was told last (the change to `size`).
    changed: Option<Instant>,
}

/// The sizes told, and the page-cached opens.
#[derive(Debug, Default)]
pub(super) struct Sizes {
    told: HashMap<u64, Told>,
    /// Page-cached opens: the file's inode, the handle and its value's size.
    paged: HashMap<u64, (u64, u64)>,
}

impl Sizes {
    /// The size to tell for `ino` when a page-cached open of it lasts.
    pub(super) fn paged(&self, ino: u64) -> Option<u64> {
        self.paged.get(&ino).map(|&(_, len)| len)
    }

    /// Notes that the kernel was told `size` for file `ino`.
    pub(super) fn told(&mut self, ino: u64, size: u64) {
        let t = self.told.entry(ino).or_insert(Told {
            size,
            changed: None,
        });
        if t.size != size {
            *t = Told {
                size,
                changed: Some(Instant::now()),
            };
        }
    }

    /// Whether open `fh` of file `ino`, whose value is `len` bytes, may read
    /// through the page cache (attributes live `ttl` in the kernel); when it
    /// may, it is noted as the file's page-cached open.
    pub(super) fn page(&mut self, ino: u64, fh: u64, len: u64, ttl: Duration) -> bool {
        if self.paged.contains_key(&ino) {
            return false;
        }
        let settled = self
            .told
            .get(&ino)
            .is_some_and(|t| t.size == len && t.changed.is_none_or(|at| at.elapsed() >= ttl));
        if settled {
            self.paged.insert(ino, (fh, len));
        }
        settled
    }

    /// Open `fh` of `ino` ended.
    pub(super) fn closed(&mut self, ino: u64, fh: u64) {
        if self.paged.get(&ino).is_some_and(|&(h, _)| h == fh) {
            self.paged.remove(&ino);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(3600);

    #[test]
    fn an_open_is_page_cached_only_at_the_size_told() {
        let mut s = Sizes::default();
        // Never told: the kernel's size is unknown.
        assert!(!s.page(5, 1, 10, TTL));
        s.told(5, 10);
        s.told(5, 10);
        // Longer or shorter than told: direct I/O.
        assert!(!s.page(5, 1, 12, TTL));
        assert!(!s.page(5, 1, 8, TTL));
        assert!(s.page(5, 1, 10, TTL));
        assert_eq!(s.paged(5), Some(10));
        // One page-cached open of a file at a time.
        assert!(!s.page(5, 2, 10, TTL));
        // Another handle's end changes nothing, its own does.
        s.closed(5, 2);
        assert_eq!(s.paged(5), Some(10));
        s.closed(5, 1);
        assert_eq!(s.paged(5), None);
        assert!(s.page(5, 3, 10, TTL));
        s.closed(5, 3);
        // Told another size: until the old one has expired in the kernel,
        // it may still hold either.
        s.told(5, 12);
        assert!(!s.page(5, 4, 12, TTL));
        assert!(!s.page(5, 4, 10, TTL));
        assert!(s.page(5, 4, 12, Duration::ZERO));
        // Other files are apart.
        assert!(!s.page(6, 5, 12, TTL));
        assert_eq!(s.paged(6), None);
    }
}
