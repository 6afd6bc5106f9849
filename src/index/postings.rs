//! [`PostingMap`]: a concurrent multimap from 64-bit bucket keys to 32-bit slots.

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use rayon::slice::ParallelSliceMut;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

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
///
/// What a restore brings back is built in one go ([`PostingMap::freeze`]) into a sorted
/// frozen run: 8 bytes an entry instead of about 15 in the hash tables, and a sort
/// instead of millions of scattered inserts. Its slots are older than everything appended
/// after, so a bucket reads as its frozen slots, then the appended ones.
#[derive(Default)]
pub struct PostingMap {
    frozen: OnceLock<Frozen>,
    single: DashMap<u32, u32, Build>,
    multi: DashMap<u32, Vec<u32>, Build>,
}

/// Entries built in one go: words `bucket << 32 | slot`, sorted, so that a bucket's slots
/// are adjacent and in slot order (the order a restore created them: oldest first), with a
/// directory on the top bits of the bucket. Read-only but for removals, which overwrite
/// the slot with [`GONE`] and keep the word in place (and the order).
struct Frozen {
    /// Its capacity past its length was never written: not resident.
    words: Vec<AtomicU64>,
    /// `dir[p]..dir[p + 1]` are the words whose bucket has `p` in its top bits.
    dir: Box<[usize]>,
    shift: u32,
}

/// The directory entry of a word: its top `64 - shift` bits.
fn prefix(word: u64, shift: u32) -> u64 {
    word.checked_shr(shift).unwrap_or(0)
}

/// The slot of a removed frozen entry (the slab never gives out `u32::MAX`).
const GONE: u32 = u32::MAX;

impl Frozen {
    fn new(mut words: Vec<u64>) -> Frozen {
        words.par_sort_unstable();
        // About eight to sixteen words per directory entry: half a byte of directory per
        // entry, and a lookup that searches one or two cache lines.
        let bits = (usize::BITS - words.len().leading_zeros())
            .saturating_sub(4)
            .min(28);
        let shift = 64 - bits;
        let mut dir = Vec::with_capacity((1 << bits) + 1);
        let mut i = 0;
        for p in 0..=(1u64 << bits) {
            while i < words.len() && prefix(words[i], shift) < p {
                i += 1;
            }
            dir.push(i);
        }
        Frozen {
            // In place (same layout): no second copy of the largest table.
            words: words.into_iter().map(AtomicU64::new).collect(),
            dir: dir.into(),
            shift,
        }
    }

    /// The words of bucket `b`, removed ones included.
    fn run(&self, b: u32) -> &[AtomicU64] {
        let key = |w: &AtomicU64| (w.load(Ordering::Relaxed) >> 32) as u32;
        let p = prefix((b as u64) << 32, self.shift) as usize;
        let words = &self.words[self.dir[p]..self.dir[p + 1]];
        let lo = words.partition_point(|w| key(w) < b);
        let len = words[lo..].partition_point(|w| key(w) == b);
        &words[lo..lo + len]
    }

    /// The live slots of bucket `b`, oldest first.
    fn slots(&self, b: u32) -> Vec<u32> {
        self.run(b)
            .iter()
            .map(|w| w.load(Ordering::Relaxed) as u32)
            .filter(|&s| s != GONE)
            .collect()
    }

    fn remove(&self, b: u32, slot: u32) -> bool {
        let word = (b as u64) << 32 | slot as u64;
        self.run(b).iter().any(|w| {
            w.compare_exchange(
                word,
                word | GONE as u64,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
        })
    }

    fn memory_bytes(&self) -> usize {
        self.words.len() * 8 + self.dir.len() * std::mem::size_of::<usize>()
    }
}

fn bucket(key: BandKey) -> u32 {
    (key >> 32) as u32
}

/// The part of `key` that names its bucket in a [`PostingMap`] (its upper half): keys
/// equal here share a bucket. Tables beside a map that must read as the same buckets
/// (a chunk's earlier units, a distributed band join) key on this.
pub fn bucket_key(key: BandKey) -> BandKey {
    (bucket(key) as BandKey) << 32
}

impl PostingMap {
    /// Takes a whole table at once: `words` are [`PostingMap::word`]s of slots in the
    /// order they were created, all older than anything appended later (a restore,
    /// before the map serves). Into an empty map they become its frozen run; otherwise
    /// they are inserted one by one.
    pub fn freeze(&self, words: Vec<u64>) {
        let mut words = Some(words);
        if self.single.is_empty() {
            self.frozen
                .get_or_init(|| Frozen::new(words.take().unwrap_or_default()));
        }
        for w in words.into_iter().flatten() {
            self.insert(w & !0xffff_ffff, w as u32);
        }
    }

    /// The entry `slot` under `key`, as [`PostingMap::freeze`] takes it.
    pub fn word(key: BandKey, slot: u32) -> u64 {
        (bucket(key) as u64) << 32 | slot as u64
    }

    /// The frozen slots of bucket `b`, oldest first (none before a freeze).
    fn frozen_slots(&self, b: u32) -> Vec<u32> {
        self.frozen.get().map_or_else(Vec::new, |f| f.slots(b))
    }

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
        let older = self.frozen_slots(b);
        match self.single.entry(b) {
            Entry::Vacant(v) => {
                v.insert(slot);
                read_policy(&older, None, &[], 0, policy, &mut f);
                older.len()
            }
            Entry::Occupied(first) => {
                let mut rest = self.multi.entry(b).or_default();
                let len = older.len() + 1 + rest.len();
                read_policy(&older, Some(*first.get()), &rest, 0, policy, &mut f);
                rest.push(slot);
                len
            }
        }
    }

    /// Removes one occurrence of `slot` under `key`; returns whether it was there.
    pub fn remove(&self, key: BandKey, slot: u32) -> bool {
        let b = bucket(key);
        if self.frozen.get().is_some_and(|f| f.remove(b, slot)) {
            return true;
        }
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
        self.frozen_slots(b).len()
            + self.single.contains_key(&b) as usize
            + self.multi.get(&b).map_or(0, |v| v.len())
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
        let older = self.frozen_slots(b);
        let Some(first) = self.single.get(&b).map(|v| *v) else {
            read_policy(&older, None, &[], extra, policy, &mut f);
            return older.len();
        };
        match self.multi.get(&b) {
            Some(rest) => {
                read_policy(&older, Some(first), &rest, extra, policy, &mut f);
                older.len() + 1 + rest.len()
            }
            None => {
                read_policy(&older, Some(first), &[], extra, policy, &mut f);
                older.len() + 1
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
        single + multi + self.frozen.get().map_or(0, Frozen::memory_bytes)
    }
}

/// Calls `f` with what `policy` reads of a bucket (`older`, then `first`, then `rest`,
/// oldest first) that has `extra` more ids elsewhere, read after these.
fn read_policy(
    older: &[u32],
    first: Option<u32>,
    rest: &[u32],
    extra: usize,
    policy: ReadPolicy,
    f: &mut impl FnMut(u32),
) {
    let (first, rest) = match (older, first) {
        ([], _) => (first, rest),
        ([oldest, more @ ..], None) if rest.is_empty() => (Some(*oldest), more),
        _ => {
            // A bucket with frozen and appended slots: read it as one list.
            let all: Vec<u32> = older
                .iter()
                .copied()
                .chain(first)
                .chain(rest.iter().copied())
                .collect();
            return read_policy(&[], Some(all[0]), &all[1..], extra, policy, f);
        }
    };
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

    #[test]
    fn a_frozen_run_reads_before_what_is_appended_after() {
        let m = PostingMap::default();
        let policy = ReadPolicy {
            max_bucket: 32,
            sample: 4,
        };
        // Buckets 7 and 8 frozen, with slots out of order and other buckets around them.
        let mut entries: Vec<(BandKey, u32)> = (0..50).map(|s| (KEY, s)).collect();
        entries.extend((100..110).map(|s| ((s as u64) << 32, s)));
        entries.push((8 << 32, 60));
        entries.reverse();
        m.freeze(
            entries
                .into_iter()
                .map(|(k, s)| PostingMap::word(k, s))
                .collect(),
        );
        let mut got = vec![];
        assert_eq!(m.read(KEY, policy, |id| got.push(id)), 50);
        assert_eq!(got, [0, 49, 48, 47]);
        assert_eq!(m.len_of(8 << 32), 1);
        assert_eq!(m.len_of(9 << 32), 0);
        // Appends come after the frozen slots, and see them.
        let mut before = vec![];
        assert_eq!(m.append_read(KEY, 70, policy, |id| before.push(id)), 50);
        assert_eq!(before, [0, 49, 48, 47]);
        m.insert(KEY, 71);
        got.clear();
        assert_eq!(m.read(KEY, policy, |id| got.push(id)), 52);
        assert_eq!(got, [0, 71, 70, 49]);
        // Removal works on both parts and keeps the order.
        assert!(m.remove(KEY, 0) && m.remove(KEY, 71) && !m.remove(KEY, 0));
        got.clear();
        assert_eq!(m.read(KEY, policy, |id| got.push(id)), 50);
        assert_eq!(got, [1, 70, 49, 48]);
        assert!(m.remove(8 << 32, 60));
        assert_eq!(m.len_of(8 << 32), 0);
        let mut none = vec![];
        m.read(8 << 32, policy, |id| none.push(id));
        assert!(none.is_empty());
        // A second freeze does not replace the first: its entries are appended.
        m.freeze(vec![PostingMap::word(8 << 32, 80)]);
        assert_eq!(m.len_of(8 << 32), 1);
        assert_eq!(m.len_of(KEY), 50);
        assert!(m.memory_bytes() >= 61 * 8);
    }

    #[test]
    fn freezing_nothing_and_tiny_tables_work() {
        let m = PostingMap::default();
        m.freeze(vec![]);
        assert_eq!(m.len_of(KEY), 0);
        m.insert(KEY, 1);
        assert_eq!(m.len_of(KEY), 1);
        for n in [1usize, 2, 17, 1000] {
            let m = PostingMap::default();
            m.freeze(
                (0..n as u32)
                    .map(|s| PostingMap::word((s as u64 * 0x9E37_79B9) << 16, s))
                    .collect(),
            );
            for s in 0..n as u32 {
                assert_eq!(m.len_of((s as u64 * 0x9E37_79B9) << 16), 1, "{n} {s}");
            }
        }
    }
}
