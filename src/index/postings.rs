//! [`PostingMap`]: a concurrent multimap from 64-bit bucket keys to 32-bit slots.

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::hash::{BuildHasherDefault, Hasher};

use super::{BandKey, ReadPolicy};

/// Hasher for keys that are already hashes: one multiply spreads them over 64 bits.
#[derive(Default, Clone, Copy)]
pub struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64 ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Build = BuildHasherDefault<PrehashedKey>;

/// A concurrent multimap from bucket keys to slots (the owner's dense paragraph numbers).
///
/// Memory is what bounds an in-memory index (one entry per band per paragraph), so a
/// bucket is stored under the upper 32 bits of its 64-bit key: an entry is 8 bytes, and a
/// key with one slot (the common case) lives in `single`; further slots go to `multi`,
/// oldest first. Two keys sharing their upper half share a bucket, which only adds
/// candidates that verification (and first the sketch) rejects: with `n` entries in the
/// map a lookup meets a foreign key with probability about `n / 2³²` (0.5 % at a million
/// paragraphs of 20 bands). A remote index keeps whole keys.
#[derive(Default)]
pub struct PostingMap {
    single: DashMap<u32, u32, Build>,
    multi: DashMap<u32, Vec<u32>, Build>,
}

fn bucket(key: BandKey) -> u32 {
    (key >> 32) as u32
}

impl PostingMap {
    /// Adds `slot` under `key`.
    pub fn insert(&self, key: BandKey, slot: u32) {
        self.append_read(
            key,
            slot,
            ReadPolicy {
                max_bucket: 0,
                sample: 0,
            },
            |_| {},
        );
    }

    /// Adds `slot` under `key` and, in the same atomic step, calls `f` with the slots
    /// that were there before, as [`PostingMap::read`] would. Of two concurrent appends
    /// to one key, the second sees the first. Returns the number of slots before.
    pub fn append_read(
        &self,
        key: BandKey,
        slot: u32,
        policy: ReadPolicy,
        mut f: impl FnMut(u32),
    ) -> usize {
        let b = bucket(key);
        // Every writer of a key takes its `single` entry first, then `multi`: one lock
        // order, and the entry lock makes the read and the append one step.
        match self.single.entry(b) {
            Entry::Vacant(v) => {
                v.insert(slot);
                0
            }
            Entry::Occupied(first) => {
                let mut rest = self.multi.entry(b).or_default();
                let len = 1 + rest.len();
                read_policy(Some(*first.get()), &rest, 0, policy, &mut f);
                rest.push(slot);
                len
            }
        }
    }

    /// Removes one occurrence of `slot` under `key`; returns whether it was there.
    pub fn remove(&self, key: BandKey, slot: u32) -> bool {
        let b = bucket(key);
        if let Entry::Occupied(mut first) = self.single.entry(b) {
            if *first.get() == slot {
                // The oldest remaining slot takes the first place, so "first" stays the
                // oldest for the read policy.
                match self.multi.entry(b) {
                    Entry::Occupied(mut rest) => {
                        first.insert(rest.get_mut().remove(0));
                        if rest.get().is_empty() {
                            rest.remove();
                        }
                    }
                    Entry::Vacant(_) => {
                        first.remove();
                    }
                }
                return true;
            }
            if let Some(mut ids) = self.multi.get_mut(&b)
                && let Some(pos) = ids.iter().position(|&v| v == slot)
            {
                // Keep the order: the read policy relies on the oldest coming first.
                ids.remove(pos);
                let emptied = ids.is_empty();
                drop(ids);
                if emptied {
                    self.multi.remove_if(&b, |_, ids| ids.is_empty());
                }
                return true;
            }
        }
        false
    }

    /// Number of slots under `key`.
    pub fn len_of(&self, key: BandKey) -> usize {
        let b = bucket(key);
        self.single.contains_key(&b) as usize + self.multi.get(&b).map_or(0, |v| v.len())
    }

    /// Calls `f` with the slots under `key` that `policy` reads (see [`ReadPolicy`]):
    /// all of them in a small bucket, else the first inserted and the most recent.
    /// Returns the number of slots under `key`.
    pub fn read(&self, key: BandKey, policy: ReadPolicy, f: impl FnMut(u32)) -> usize {
        self.read_at_most(key, policy, 0, f)
    }

    /// [`PostingMap::read`] for a bucket that has `extra` more ids elsewhere (the earlier
    /// units of a document or chunk, read after these): the policy applies to the whole.
    pub fn read_at_most(
        &self,
        key: BandKey,
        policy: ReadPolicy,
        extra: usize,
        mut f: impl FnMut(u32),
    ) -> usize {
        let b = bucket(key);
        let Some(first) = self.single.get(&b).map(|v| *v) else {
            return 0;
        };
        match self.multi.get(&b) {
            Some(rest) => {
                let len = 1 + rest.len();
                read_policy(Some(first), &rest, extra, policy, &mut f);
                len
            }
            None => {
                read_policy(Some(first), &[], extra, policy, &mut f);
                1
            }
        }
    }

    /// Heap bytes held by the tables (capacity, not just length), for `stats`.
    pub fn memory_bytes(&self) -> usize {
        let single_entry = std::mem::size_of::<(u32, u32)>() + 1;
        let multi_entry = std::mem::size_of::<(u32, Vec<u32>)>() + 1;
        let single: usize = self
            .single
            .shards()
            .iter()
            .map(|s| s.read().capacity() * single_entry)
            .sum();
        let multi: usize = self
            .multi
            .shards()
            .iter()
            .map(|s| s.read().capacity() * multi_entry)
            .sum::<usize>()
            + self
                .multi
                .iter()
                .map(|ids| ids.capacity() * 4)
                .sum::<usize>();
        single + multi
    }
}

/// Calls `f` with what `policy` reads of a bucket (`first`, then `rest` oldest first)
/// that has `extra` more ids elsewhere, read after these.
fn read_policy(
    first: Option<u32>,
    rest: &[u32],
    extra: usize,
    policy: ReadPolicy,
    f: &mut impl FnMut(u32),
) {
    let len = first.is_some() as usize + rest.len();
    let sel = policy.select(len, extra);
    if let Some(s) = first.filter(|_| sel.global_first) {
        f(s);
    }
    let take = sel.global_recent.min(rest.len());
    rest[rest.len() - take..].iter().rev().for_each(|&id| f(id));
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: BandKey = 7 << 32;

    #[test]
    fn insert_read_remove() {
        let m = PostingMap::default();
        let all = ReadPolicy {
            max_bucket: 10,
            sample: 1,
        };
        for slot in 1..=3 {
            m.insert(KEY, slot);
        }
        m.insert(8 << 32, 4);
        let mut got = vec![];
        assert_eq!(m.read(KEY, all, |id| got.push(id)), 3);
        got.sort();
        assert_eq!(got, [1, 2, 3]);
        assert!(m.remove(KEY, 1) && m.remove(KEY, 3) && !m.remove(KEY, 3));
        assert_eq!(m.len_of(KEY), 1);
        assert!(m.remove(KEY, 2));
        assert_eq!(m.len_of(KEY), 0);
        assert!(m.memory_bytes() > 0);
    }

    #[test]
    fn large_buckets_give_the_first_and_the_most_recent() {
        let m = PostingMap::default();
        for slot in 0..100 {
            m.insert(KEY, slot);
        }
        let policy = ReadPolicy {
            max_bucket: 32,
            sample: 4,
        };
        let mut got = vec![];
        assert_eq!(m.read(KEY, policy, |id| got.push(id)), 100);
        assert_eq!(got, [0, 99, 98, 97]);
        // With two more ids elsewhere, the budget is shared: the first, then one here.
        got.clear();
        m.read_at_most(KEY, policy, 2, |id| got.push(id));
        assert_eq!(got, [0, 99]);
        // Removing keeps the order of the rest.
        assert!(m.remove(KEY, 98));
        got.clear();
        m.read(KEY, policy, |id| got.push(id));
        assert_eq!(got, [0, 99, 97, 96]);
    }
}
