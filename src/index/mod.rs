//! The candidate index: what every path (the engine, the batch, a remote index) shares to
//! turn an analyzed paragraph into the earlier paragraphs worth verifying.
//!
//! - [`PostingMap`]: band key → paragraph slots, in a concurrent map lean for one slot per
//!   key; the exact-copy map is one more posting map, keyed by content hash
//!   ([`exact_key`]).
//! - [`ReadPolicy`]: the one rule for reading a bucket, however big it is.
//! - [`LocalTable`]: the earlier units of the same document (engine) or chunk (batch),
//!   read with the same policy as the index.
//! - [`Sketch`]: a few dozen bytes per paragraph that reject most candidates before
//!   their shingle sets are touched.
//! - [`Slab`]: records under dense slots, the ids the posting maps hold.
//! - [`rank`]: the one order of matches.
//! - [`Index`]: where a catalog, records and buckets live (the trait the engine runs
//!   over), and [`MemoryIndex`], the embedded one.
//!
//! Nothing here knows documents, names, stores or transports; owners keep their own
//! records (a removable map in the engine, an append-only arena in the batch).

mod backend;
mod local;
mod memory;
mod postings;
mod sketch;
mod slab;

pub use backend::{
    Bucket, Created, DocId, DocState, Document, Head, IN_PROGRESS, Index, Lookup, Map, ParagraphId,
    RESTORED, Read,
};
pub use local::LocalTable;
pub use memory::{Bulk, MemoryIndex, MemoryStats};
pub use postings::{PostingMap, bucket_key};
pub use sketch::{SKETCH_LEN, Sketch};
pub use slab::Slab;

use std::cmp::Ordering;

use crate::verify::{MatchKind, Scores};

/// A 64-bit bucket key: a band's hash, or a content hash in the exact-copy map.
pub type BandKey = u64;

/// The key of a paragraph's content hash in the exact-copy map: the hash itself (the
/// exact-copy map is a map of its own, so it never meets band keys).
pub fn exact_key(content_hash: u64) -> BandKey {
    content_hash
}

/// How many ids of a bucket a query reads: all of them up to `max_bucket`; past that,
/// `sample` of them: the first (usually the original of what follows) and the most recent.
/// A bucket that large holds a signature value shared by very many paragraphs (a common
/// word pair); reading it whole made `check` 50 times slower at 300k English paragraphs,
/// and its most recent ids still find a paragraph repeated over and over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPolicy {
    /// Largest bucket read whole.
    pub max_bucket: usize,
    /// Ids read from a larger one (0: none, the bucket is skipped).
    pub sample: usize,
}

impl ReadPolicy {
    /// Ids read from a bucket of `len` ids.
    pub fn limit(&self, len: usize) -> usize {
        if len <= self.max_bucket {
            len
        } else {
            self.sample
        }
    }

    /// Which ids to read from a bucket split in two: `global` ids in the index, then
    /// `local` ones (the earlier units of this document or chunk, all newer). The policy
    /// applies to the bucket as a whole: the first id of all, then the most recent.
    pub fn select(&self, global: usize, local: usize) -> Selection {
        let total = global + local;
        if total <= self.max_bucket {
            return Selection {
                global_first: global > 0,
                global_recent: global.saturating_sub(1),
                local_first: local > 0,
                local_recent: local.saturating_sub(1),
            };
        }
        let mut budget = self.limit(total);
        if budget == 0 {
            return Selection {
                global_first: false,
                global_recent: 0,
                local_first: false,
                local_recent: 0,
            };
        }
        let global_first = global > 0;
        let local_first = !global_first && local > 0;
        budget -= 1;
        let local_recent = budget.min(local - local_first as usize);
        budget -= local_recent;
        let global_recent = budget.min(global.saturating_sub(1));
        Selection {
            global_first,
            global_recent,
            local_first,
            local_recent,
        }
    }
}

/// What [`ReadPolicy::select`] reads of each part of a bucket (both oldest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// The oldest global id.
    pub global_first: bool,
    /// This many of the newest global ids (never the oldest).
    pub global_recent: usize,
    /// The oldest local id.
    pub local_first: bool,
    /// This many of the newest local ids (never the oldest if it is read as first).
    pub local_recent: usize,
}

impl Selection {
    /// The selected ids of a part of a bucket (`first`, whether its oldest is selected;
    /// `recent`, how many of its newest), newest first after the oldest.
    pub fn pick<T: Copy>(first: bool, recent: usize, ids: &[T]) -> impl Iterator<Item = T> + '_ {
        let head = ids.first().filter(|_| first).copied();
        let tail = &ids[first as usize..];
        head.into_iter()
            .chain(tail.iter().rev().take(recent).copied())
    }
}

/// The one order of a paragraph's matches: exact, then near, then partial; higher Jaccard
/// first, then higher containment (either way), then the earlier source (`order`, which
/// callers give as document then paragraph, or unit number).
pub fn rank<K: Ord>(a: (MatchKind, &Scores, K), b: (MatchKind, &Scores, K)) -> Ordering {
    let best = |s: &Scores| s.containment.max(s.containment_source);
    a.0.cmp(&b.0)
        .then(b.1.jaccard.total_cmp(&a.1.jaccard))
        .then(best(b.1).total_cmp(&best(a.1)))
        .then(a.2.cmp(&b.2))
}
