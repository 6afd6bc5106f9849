//! [`LocalTable`]: the band keys of the units of one document (engine) or one chunk
//! (batch), so each unit is compared with the earlier ones as with the index.

use rayon::prelude::*;

use super::BandKey;

/// Sorted (key, unit) pairs, with a directory on the keys' top bits so that a lookup
/// reads one or two cache lines instead of binary-searching a table of megabytes.
#[derive(Debug, Default)]
pub struct LocalTable {
    /// `(key, unit)` sorted.
    pairs: Vec<(BandKey, u32)>,
    /// `dir[b]`: first pair whose key's top bits are at least `b`.
    dir: Vec<u32>,
    shift: u32,
}

impl LocalTable {
    /// The table of `(key, unit)` pairs, in any order.
    pub fn new(mut pairs: Vec<(BandKey, u32)>) -> LocalTable {
        if pairs.len() > 4096 {
            pairs.par_sort_unstable();
        } else {
            pairs.sort_unstable();
        }
        let bits = (usize::BITS - pairs.len().leading_zeros()).clamp(1, 24);
        let shift = 64 - bits;
        let mut dir = Vec::with_capacity((1 << bits) + 1);
        let mut pos = 0;
        for b in 0..1u64 << bits {
            while pos < pairs.len() && (pairs[pos].0 >> shift) < b {
                pos += 1;
            }
            dir.push(pos as u32);
        }
        dir.push(pairs.len() as u32);
        LocalTable { pairs, dir, shift }
    }

    /// The units under `key` numbered below `unit`, oldest first.
    pub fn earlier(&self, key: BandKey, unit: u32) -> impl DoubleEndedIterator<Item = u32> + '_ {
        let run: &[(BandKey, u32)] = if self.pairs.is_empty() {
            &[]
        } else {
            let b = (key >> self.shift) as usize;
            &self.pairs[self.dir[b] as usize..self.dir[b + 1] as usize]
        };
        let lo = run.partition_point(|p| p.0 < key);
        let hi = run.partition_point(|p| *p < (key, unit));
        run[lo..hi].iter().map(|p| p.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_units_under_a_key() {
        let t = LocalTable::new(vec![(5, 3), (5, 0), (9, 1), (5, 2), (u64::MAX, 4)]);
        assert_eq!(t.earlier(5, 3).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(t.earlier(5, 0).count(), 0);
        assert_eq!(t.earlier(9, 9).collect::<Vec<_>>(), [1]);
        assert_eq!(t.earlier(u64::MAX, 5).collect::<Vec<_>>(), [4]);
        assert_eq!(t.earlier(7, 9).count(), 0);
        assert_eq!(LocalTable::default().earlier(5, 9).count(), 0);
    }
}
