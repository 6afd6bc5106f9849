//! Traditional → Simplified folding of Han characters, one character at a time.
//!
//! A zh-Hant reprint of a zh-Hans article differs in most of its characters (發/发,
//! 黃/黄, 這/这…). Folding maps every Han character to its Simplified form *before it is
//! hashed*, so both texts give the same tokens, while token offsets still point at the
//! characters the caller sent: a character is replaced by one character, never by a
//! phrase, so nothing shifts.
//!
//! The table is OpenCC's (via `ferrous-opencc`, Apache-2.0): `TSCharacters` (OpenCC's
//! standard Traditional), with the Taiwan and Hong Kong variant tables in front of it
//! (裡 → 裏 → 里, 綫 → 線 → 线). Phrase tables are left out on purpose: they are what makes
//! a converter pick 乾隆 over 干隆, and folding does not need to pick. The same function is
//! applied to both texts, so a character with two Simplified readings (乾 → 干 or 乾)
//! folds to one of them on both sides and still matches. The table is built once, on first
//! use (about 70 000 characters converted in one call), and is a flat array afterwards: a
//! lookup is one bounds check and one load.
//!
//! The table's digest ([`table_digest`]) belongs in an index's settings fingerprint: a
//! new OpenCC release that changes a mapping changes the tokens of folded text.

use std::sync::LazyLock;

use ferrous_opencc::OpenCC;
use ferrous_opencc::config::BuiltinConfig;

/// First and last code points of the dense table: CJK Extension A through the CJK
/// Unified Ideographs block (every character OpenCC maps lies in these, the supplementary
/// planes, or the compatibility ideographs, which NFKC has already folded).
const DENSE: (u32, u32) = (0x3400, 0x9FFF);
/// Supplementary-plane ideographs (Extensions B–F) that OpenCC maps, sorted by key.
const SUPPLEMENTARY: (u32, u32) = (0x20000, 0x2FA1F);

struct Table {
    /// `dense[c - DENSE.0]` is the folded form of `c`.
    dense: Box<[char]>,
    /// (from, to) for supplementary characters whose form changes, sorted.
    sparse: Box<[(char, char)]>,
}

static TABLE: LazyLock<Table> = LazyLock::new(build);

/// The Simplified form of a Han character, or the character itself when it has none
/// (Simplified characters, characters common to both, anything that is not Han).
#[inline]
pub fn to_simplified(c: char) -> char {
    let u = c as u32;
    if u < DENSE.0 {
        return c;
    }
    let table = &*TABLE;
    if u <= DENSE.1 {
        return table.dense[(u - DENSE.0) as usize];
    }
    if u < SUPPLEMENTARY.0 {
        return c;
    }
    match table.sparse.binary_search_by_key(&c, |&(from, _)| from) {
        Ok(i) => table.sparse[i].1,
        Err(_) => c,
    }
}

/// A digest of the whole table: equal for equal tables.
pub fn table_digest() -> u64 {
    let table = &*TABLE;
    let mut bytes = Vec::with_capacity(4 * (table.dense.len() + 2 * table.sparse.len()));
    for &c in table.dense.iter() {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
    }
    for &(a, b) in table.sparse.iter() {
        bytes.extend_from_slice(&(a as u32).to_le_bytes());
        bytes.extend_from_slice(&(b as u32).to_le_bytes());
    }
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

/// Folds every character of `text` (for tests and tools; tokenizers fold per token).
pub fn fold_str(text: &str) -> String {
    text.chars().map(to_simplified).collect()
}

fn build() -> Table {
    let candidates: Vec<char> = (DENSE.0..=DENSE.1)
        .chain(SUPPLEMENTARY.0..=SUPPLEMENTARY.1)
        .filter_map(char::from_u32)
        .collect();
    let mut folded: Vec<char> = candidates.clone();
    // Regional variants first (they map to OpenCC's standard Traditional), then
    // Traditional to Simplified. The embedded configurations always load; if one ever
    // failed, folding would only be weaker, never wrong.
    for config in [BuiltinConfig::Tw2s, BuiltinConfig::Hk2s, BuiltinConfig::T2s] {
        let Ok(converter) = OpenCC::from_config(config) else {
            continue;
        };
        // One character per line: no phrase can match across a line break, so each
        // line converts as the single character it holds.
        let input: String = folded.iter().flat_map(|&c| [c, '\n']).collect();
        let output = converter.convert(&input);
        for (slot, line) in folded.iter_mut().zip(output.split('\n')) {
            let mut chars = line.chars();
            // A mapping to anything but exactly one character would shift offsets: keep
            // the character as it is.
            if let (Some(c), None) = (chars.next(), chars.next()) {
                *slot = c;
            }
        }
    }
    let mut dense = vec!['\0'; (DENSE.1 - DENSE.0 + 1) as usize];
    let mut sparse = Vec::new();
    for (&from, &to) in candidates.iter().zip(&folded) {
        let u = from as u32;
        if u <= DENSE.1 {
            dense[(u - DENSE.0) as usize] = to;
        } else if from != to {
            sparse.push((from, to));
        }
    }
    // Fold to a fixed point, so that folding twice changes nothing (a variant table
    // could map to a character that itself folds further).
    let lookup = |c: char, dense: &[char], sparse: &[(char, char)]| -> char {
        let u = c as u32;
        if (DENSE.0..=DENSE.1).contains(&u) {
            dense[(u - DENSE.0) as usize]
        } else {
            sparse
                .binary_search_by_key(&c, |&(f, _)| f)
                .map_or(c, |i| sparse[i].1)
        }
    };
    for _ in 0..4 {
        let mut changed = false;
        for i in 0..dense.len() {
            let next = lookup(dense[i], &dense, &sparse);
            if next != dense[i] {
                dense[i] = next;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    Table {
        dense: dense.into_boxed_slice(),
        sparse: sparse.into_boxed_slice(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traditional_characters_fold_to_simplified() {
        assert_eq!(fold_str("黃河發源於青海"), "黄河发源于青海");
        assert_eq!(fold_str("這裡的裏面"), "这里的里面");
        assert_eq!(fold_str("頭髮和發展"), "头发和发展");
        // Simplified text, Latin and punctuation are left alone.
        assert_eq!(fold_str("黄河 is 中国的。"), "黄河 is 中国的。");
    }

    #[test]
    fn folding_is_idempotent_and_one_to_one_in_length() {
        for u in DENSE.0..=DENSE.1 {
            let c = char::from_u32(u).unwrap();
            let f = to_simplified(c);
            assert_eq!(to_simplified(f), f, "{c} → {f}");
        }
        assert!(TABLE.sparse.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn the_table_is_pinned() {
        // A change here means an OpenCC update changed a mapping: indexes built with
        // folding on must be re-indexed (the digest is part of their fingerprint).
        let changed = TABLE
            .dense
            .iter()
            .enumerate()
            .filter(|&(i, &c)| c as u32 != DENSE.0 + i as u32)
            .count();
        assert_eq!(changed, 3764);
        assert_eq!(
            table_digest(),
            0x88a1_5eb3_c1d6_72b3,
            "{:#x}",
            table_digest()
        );
    }
}
