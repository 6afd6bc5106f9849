//! [`Slab`]: a concurrent table of records addressed by dense 32-bit slots.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, RwLock};

const SHARDS: usize = 64;

/// Records under dense slots, in sharded vectors: a lookup is one read lock and an index,
/// with no hashing and no per-entry table overhead. Freed slots are reused.
pub struct Slab<T> {
    shards: Box<[RwLock<Vec<Option<T>>>]>,
    free: Mutex<Vec<u32>>,
    next: AtomicU32,
    len: AtomicU32,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab {
            shards: (0..SHARDS).map(|_| RwLock::new(Vec::new())).collect(),
            free: Mutex::new(Vec::new()),
            next: AtomicU32::new(0),
            len: AtomicU32::new(0),
        }
    }
}

fn place(slot: u32) -> (usize, usize) {
    (slot as usize % SHARDS, slot as usize / SHARDS)
}

impl<T> Slab<T> {
    /// Stores `value` under a free slot and returns the slot, or `None` when all 2³² - 1
    /// slots are taken.
    pub fn insert(&self, value: T) -> Option<u32> {
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let slot = match reused {
            Some(s) => s,
            None => {
                let s = self.next.fetch_add(1, Ordering::Relaxed);
                if s == u32::MAX {
                    self.next.store(u32::MAX, Ordering::Relaxed);
                    return None;
                }
                s
            }
        };
        let (shard, pos) = place(slot);
        let mut v = self.shards[shard]
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if v.len() <= pos {
            if v.capacity() <= pos {
                // Grow by a quarter at a time: a table of millions wastes little.
                let extra = (pos + 1 - v.len()).max(v.capacity() / 4).max(64);
                v.reserve_exact(extra);
            }
            v.resize_with(pos + 1, || None);
        }
        v[pos] = Some(value);
        self.len.fetch_add(1, Ordering::Relaxed);
        Some(slot)
    }

    /// Calls `f` with the record under `slot`, if there is one.
    pub fn with<R>(&self, slot: u32, f: impl FnOnce(&T) -> R) -> Option<R> {
        let (shard, pos) = place(slot);
        let v = self.shards[shard].read().unwrap_or_else(|e| e.into_inner());
        v.get(pos)?.as_ref().map(f)
    }

    /// Takes the record out of `slot`. The slot is not reused until [`Slab::release`].
    pub fn take(&self, slot: u32) -> Option<T> {
        let (shard, pos) = place(slot);
        let mut v = self.shards[shard]
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let taken = v.get_mut(pos)?.take();
        if taken.is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        taken
    }

    /// Makes a slot emptied by [`Slab::take`] available again (once nothing refers to it).
    pub fn release(&self, slot: u32) {
        self.free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(slot);
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed) as usize
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the slot vectors (capacity), not of what records point to.
    pub fn memory_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).capacity())
            .sum::<usize>()
            * std::mem::size_of::<Option<T>>()
    }

    /// Calls `f` with every record (for statistics; holds one shard at a time).
    pub fn for_each(&self, mut f: impl FnMut(&T)) {
        for shard in self.shards.iter() {
            let v = shard.read().unwrap_or_else(|e| e.into_inner());
            v.iter().flatten().for_each(&mut f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_read_take_and_reuse() {
        let s: Slab<String> = Slab::default();
        let a = s.insert("a".into()).unwrap();
        let b = s.insert("b".into()).unwrap();
        assert_ne!(a, b);
        assert_eq!(s.with(b, |v| v.clone()).as_deref(), Some("b"));
        assert_eq!(s.take(a).as_deref(), Some("a"));
        assert_eq!(s.with(a, |v| v.len()), None);
        assert_eq!(s.len(), 1);
        // Not reused before it is released.
        let c = s.insert("c".into()).unwrap();
        assert_ne!(c, a);
        s.release(a);
        assert_eq!(s.insert("d".into()), Some(a));
        assert_eq!(s.with(1000, |v| v.len()), None);
        let mut all = vec![];
        s.for_each(|v| all.push(v.clone()));
        all.sort();
        assert_eq!(all, ["b", "c", "d"]);
    }
}
