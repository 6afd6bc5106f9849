//! Engine settings and per-query options, and their validation.

use crate::analysis::IndexShape;
use crate::error::{Error, Result};
use crate::index::ReadPolicy;
use crate::lsh::LshParams;
use crate::text::Fold;
use crate::verify::Thresholds;

/// The default of [`Settings::boilerplate`]: above the 4 documents the most reprinted
/// article of the synthetic newsletter reaches and well below the 50 its masthead does
/// (every value from 5 to 29, the largest allowed, reports no boilerplate as recycling
/// there and finds every reprint; `tests/editorial.rs`), and MOSS's default for `-m`.
pub const DEFAULT_BOILERPLATE: usize = 10;

/// Engine settings. Those that shape signatures and the index (`num_perm`, `shingle`,
/// `seed`, `min_length`, `fold`, the LSH ones: the [`IndexShape`]) are fixed for the life of an
/// index; the thresholds are defaults that each query may override.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// MinHash permutations.
    pub num_perm: usize,
    /// Shingle size in words (a Chinese character counts 2/3 of a word).
    pub shingle: usize,
    /// Jaccard at or above which a pair is `near`.
    pub threshold: f64,
    /// Containment (either way) at or above which a pair is `partial`.
    pub containment: f64,
    /// Paragraphs shorter than this many words (Chinese: 1.5 characters a word) are too
    /// short to judge: reported as such, never matched, not indexed.
    pub min_length: f64,
    /// Similarity the LSH bands are tuned for (candidates below it are rarely found).
    pub lsh_threshold: f64,
    /// Upper bound on bands (each band costs one bucket entry per paragraph).
    pub max_bands: usize,
    /// Weight of false negatives in the bands × rows optimization (false positives get
    /// `1 - fn_weight`).
    pub fn_weight: f64,
    /// Largest bucket a query reads whole; a bigger one gives its first id and its most
    /// recent ones, `max_bucket / 8` in all (see [`ReadPolicy`]).
    pub max_bucket: usize,
    /// Most matches reported per paragraph.
    pub max_matches: usize,
    /// Seed of the shingle hash and the MinHash permutations.
    pub seed: u64,
    /// Whether candidates in the grey zone are aligned to find heavily edited copies
    /// (`edited` matches; see [`crate::edit`]), by default.
    pub edited: bool,
    /// How Han characters are read: with [`Fold::Simplified`], Traditional characters
    /// hash as their Simplified forms, so a zh-Hant reprint matches its zh-Hans original
    /// (offsets stay on the characters as written). Shapes the index. Off by default:
    /// folding changes the tokens of every Traditional character, so an index built
    /// without it would have to be rebuilt, and text with no Traditional characters
    /// gains nothing.
    pub fold: Fold,
    /// Distinct documents (the reported one included) in which a paragraph must recur,
    /// exact or near, to be boilerplate (MOSS's `-m`); 0: never. Judged from the index
    /// at query time, so it shapes nothing stored.
    pub boilerplate: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            num_perm: 128,
            shingle: 2,
            threshold: 0.2,
            containment: 0.6,
            min_length: 6.0,
            lsh_threshold: 0.2,
            max_bands: 32,
            fn_weight: 0.95,
            max_bucket: 64,
            max_matches: 10,
            seed: 0x6e65_6172_6475_7030,
            edited: true,
            fold: Fold::None,
            boilerplate: DEFAULT_BOILERPLATE,
        }
    }
}

impl Settings {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        let unit = |name: &'static str, v: f64| {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("{v} is not in (0, 1]")))
            }
        };
        unit("threshold", self.threshold)?;
        unit("containment", self.containment)?;
        unit("lsh_threshold", self.lsh_threshold)?;
        if !(self.fn_weight > 0.0 && self.fn_weight < 1.0) {
            return Err(Error::invalid(
                "fn_weight",
                format!("{} is not in (0, 1)", self.fn_weight),
            ));
        }
        if !(1..=1024).contains(&self.num_perm) {
            return Err(Error::invalid(
                "num_perm",
                format!("{} is not in 1..=1024", self.num_perm),
            ));
        }
        if !(1..=16).contains(&self.shingle) {
            return Err(Error::invalid(
                "shingle",
                format!("{} is not in 1..=16", self.shingle),
            ));
        }
        if !(self.min_length >= 0.0 && self.min_length <= 10_000.0) {
            return Err(Error::invalid(
                "min_length",
                format!("{} is not in 0..=10000", self.min_length),
            ));
        }
        if self.max_bands == 0 || self.max_bucket == 0 || self.max_matches == 0 {
            return Err(Error::invalid(
                "max_bands/max_bucket/max_matches",
                "must be at least 1",
            ));
        }
        // A query reads this many copies of an exact paragraph: K above it could not be
        // reached by exact copies.
        let copies = self.query_options().exact_policy().max_bucket;
        if self.boilerplate == 1 || self.boilerplate > copies + 1 {
            return Err(Error::invalid(
                "boilerplate",
                format!(
                    "{} is not 0 (off) or in 2..={} (a query reads at most {copies} copies of a paragraph)",
                    self.boilerplate,
                    copies + 1,
                ),
            ));
        }
        self.query_options().validate()
    }

    /// The bands × rows these settings give. A search over every shape (about half a
    /// millisecond): hot paths read the analyzer's [`IndexShape`] instead.
    pub fn lsh_params(&self) -> LshParams {
        LshParams::optimal(
            self.lsh_threshold,
            self.num_perm,
            self.max_bands,
            1.0 - self.fn_weight,
            self.fn_weight,
        )
    }

    /// The settings that shape the index.
    pub fn shape(&self) -> IndexShape {
        IndexShape {
            num_perm: self.num_perm,
            shingle: self.shingle,
            seed: self.seed,
            min_length: self.min_length,
            lsh: self.lsh_params(),
            fold: self.fold,
        }
    }

    /// How LSH buckets are read.
    pub fn read_policy(&self) -> ReadPolicy {
        ReadPolicy {
            max_bucket: self.max_bucket,
            sample: (self.max_bucket / 8).max(1),
        }
    }

    /// The per-query options these settings give by default.
    pub fn query_options(&self) -> QueryOptions {
        QueryOptions {
            threshold: self.threshold,
            containment: self.containment,
            max_matches: self.max_matches,
            spans: true,
            edited: self.edited,
        }
    }

    /// Shared shingles a `near` or `partial` match needs (the long-reuse `partial` rule
    /// needs 8 times as many; see [`crate::verify`]): as many as a paragraph of the
    /// minimum length has, so a pair is never judged on less than a whole short
    /// paragraph's worth of text (two shared bigrams of six-word sentences mean nothing),
    /// and at least 3.
    pub fn min_shared(&self) -> usize {
        (self.min_length.round() as usize + 1)
            .saturating_sub(self.shingle)
            .max(3)
    }

    /// The decision thresholds of a query with options `opts`.
    pub fn thresholds(&self, opts: &QueryOptions) -> Thresholds {
        Thresholds {
            jaccard: opts.threshold,
            containment: opts.containment,
            min_shared: self.min_shared(),
        }
    }
}

/// Options of one query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryOptions {
    /// Jaccard for `near`.
    pub threshold: f64,
    /// Containment for `partial`.
    pub containment: f64,
    /// Most matches per paragraph.
    pub max_matches: usize,
    /// Whether to compute shared spans.
    pub spans: bool,
    /// Whether to align grey-zone candidates to find heavily edited copies.
    pub edited: bool,
}

impl QueryOptions {
    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("threshold", self.threshold),
            ("containment", self.containment),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(Error::invalid(name, format!("{v} is not in (0, 1]")));
            }
        }
        if self.max_matches == 0 || self.max_matches > 1000 {
            return Err(Error::invalid(
                "max_matches",
                format!("{} is not in 1..=1000", self.max_matches),
            ));
        }
        Ok(())
    }

    /// Most ids read from an exact-copy bucket: identical paragraphs are interchangeable,
    /// so a few more than can be reported is enough, however common the paragraph is.
    pub fn exact_policy(&self) -> ReadPolicy {
        let n = 2 * self.max_matches + 8;
        ReadPolicy {
            max_bucket: n,
            sample: n,
        }
    }
}
