//! Text alignment: reused passages between two documents, wherever their paragraphs
//! begin and end (the text-alignment task of PAN, Potthast et al. 2010–2014).
//!
//! Paragraph matching stops at paragraph boundaries; plagiarism does not. Given a
//! suspicious and a source document, [`align`] returns pairs of character ranges
//! (code points, PAN's unit) that hold the same text, copied, reordered or paraphrased.
//! It works in three steps, after Sanchez-Perez, Sidorov & Gelbukh (PAN 2014):
//!
//! 1. **Seeds**: pairs of sentences that share enough, by any of four measures. Three are
//!    shingles over the crate's tokens ([`crate::text::tokenize`], so Chinese works as
//!    English does): runs of tokens (copied text), *sorted windows* of content tokens
//!    (the same words in another order), and *stopword n-grams* (the function words of a
//!    sentence in order, which survive when its content words are replaced; Stamatatos
//!    2011). A pair is a seed when such shingles cover a share of the sentence or a run
//!    of tokens. The fourth is order-free: tf-idf cosine and Dice of the sentences'
//!    content terms (words; character pairs for Chinese), for paraphrase.
//!    Each sentence keeps only the seeds near its best one.
//! 2. **Extension**: seeds are clustered into passages where they lie close together on
//!    both sides (a gap of a few sentences), and a cluster is kept when the two
//!    fragments it spans are similar as wholes; one that is not is split again with a
//!    smaller gap.
//! 3. **Filtering**: edges are trimmed to the first and last shingle-covered token when
//!    the edge sentence is copied (so a copy that starts mid-sentence is reported from
//!    where it starts), short passages are dropped, and overlapping ones on the
//!    suspicious side keep the longer.
//!
//! The function-word list is a [`Vocabulary`], built from a collection (the most
//! frequent tokens): in a service it would come from the index's document frequencies.
//! At scale, candidate source documents come from the paragraph index: the paragraphs
//! of the suspicious document that have `near` or `partial` matches, or share LSH
//! buckets, name the few source documents worth aligning; [`align`] runs on those pairs
//! only.

use std::hash::{BuildHasherDefault, Hasher};

/// Maps of this module: their keys are token hashes and small indexes, which need no
/// DoS-resistant hashing (std's SipHash was 12 % of the server's CPU time under a
/// passage-mode Submit load).
type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Mix>>;
type HashSet<K> = std::collections::HashSet<K, BuildHasherDefault<Mix>>;

/// A multiply-rotate hasher (FxHash's step) for integer keys.
#[derive(Default, Clone, Copy)]
struct Mix(u64);

impl Mix {
    fn add(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517C_C1B7_2722_0A95);
    }
}

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

use crate::text::normalize::{Fold, Token, WORD_WEIGHT, tokenize_with};
use xxhash_rust::xxh3::xxh3_64;

/// Parameters of [`align`]. The defaults are Sanchez-Perez et al.'s (PAN 2014), except
/// `max_gap` (6, not 4) and the seed thresholds (0.3, not 0.33), tuned on the public
/// half of the Indonesian PAN-format corpus (BENCHMARKS.md).
#[derive(Debug, Clone, PartialEq)]
pub struct AlignOptions {
    /// Shingle size, in tokens (words; a Chinese character counts as a token).
    pub shingle: usize,
    /// Content tokens in a sorted window.
    pub window: usize,
    /// Function words in a stopword n-gram.
    pub stopword_ngram: usize,
    /// Share of a sentence's tokens that shingles must cover for a seed.
    pub min_cover: f64,
    /// Covered tokens that make a seed whatever the share.
    pub min_cover_tokens: usize,
    /// Cosine of two sentences' content terms for a seed.
    pub min_cosine: f64,
    /// Dice coefficient of the same terms, also needed.
    pub min_dice: f64,
    /// A seed is kept when its score is at least this share of the best score of both
    /// its sentences.
    pub keep: f64,
    /// Largest gap between two seeds of a passage, in sentences, at first.
    pub max_gap: usize,
    /// Cosine the two fragments of a passage need as wholes.
    pub min_passage_cosine: f64,
    /// Shortest passage reported, in characters, on each side.
    pub min_chars: usize,
}

impl Default for AlignOptions {
    fn default() -> AlignOptions {
        AlignOptions {
            shingle: 3,
            window: 4,
            stopword_ngram: 6,
            min_cover: 0.3,
            min_cover_tokens: 8,
            min_cosine: 0.3,
            min_dice: 0.3,
            keep: 0.6,
            max_gap: 6,
            min_passage_cosine: 0.34,
            min_chars: 150,
        }
    }
}

/// Function words: tokens too common to carry content, by token hash, and how texts are
/// tokenized to compare with them (Han folding: the same for the vocabulary and every
/// text aligned with it).
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    stop: HashSet<u64>,
    fold: Fold,
}

impl Vocabulary {
    /// The `n` tokens found in the most documents of `documents`.
    pub fn from_documents<'a>(documents: impl IntoIterator<Item = &'a str>, n: usize) -> Self {
        Vocabulary::from_documents_with(documents, n, Fold::None)
    }

    /// [`Vocabulary::from_documents`], texts read with `fold`.
    pub fn from_documents_with<'a>(
        documents: impl IntoIterator<Item = &'a str>,
        n: usize,
        fold: Fold,
    ) -> Self {
        let mut df: HashMap<u64, u32> = HashMap::default();
        for d in documents {
            let distinct: HashSet<u64> = tokenize_with(d, fold).iter().map(|t| t.hash).collect();
            for h in distinct {
                *df.entry(h).or_insert(0) += 1;
            }
        }
        let mut ranked: Vec<(u64, u32)> = df.into_iter().collect();
        ranked.sort_unstable_by_key(|&(h, c)| (std::cmp::Reverse(c), h));
        Vocabulary {
            stop: ranked.into_iter().take(n).map(|(h, _)| h).collect(),
            fold,
        }
    }

    /// The `n` tokens that occur most often in `documents` (read with `fold`): for a
    /// handful of documents, such as one text and the few sources a service aligns it
    /// with, where nearly every shared token has the same document frequency and
    /// [`Vocabulary::from_documents`] could not tell function words apart.
    pub fn from_occurrences<'a>(
        documents: impl IntoIterator<Item = &'a str>,
        n: usize,
        fold: Fold,
    ) -> Self {
        let tokens: Vec<Vec<Token>> = documents
            .into_iter()
            .map(|d| tokenize_with(d, fold))
            .collect();
        Vocabulary::from_token_occurrences(tokens.iter().map(Vec::as_slice), n, fold)
    }

    /// [`Vocabulary::from_occurrences`] of texts already tokenized with `fold`, so that a
    /// caller that aligns them too tokenizes each text once.
    pub fn from_token_occurrences<'a>(
        documents: impl IntoIterator<Item = &'a [Token]>,
        n: usize,
        fold: Fold,
    ) -> Self {
        let mut count: HashMap<u64, u32> = HashMap::default();
        for d in documents {
            for t in d {
                *count.entry(t.hash).or_insert(0) += 1;
            }
        }
        let mut ranked: Vec<(u64, u32)> = count.into_iter().collect();
        ranked.sort_unstable_by_key(|&(h, c)| (std::cmp::Reverse(c), h));
        Vocabulary {
            stop: ranked.into_iter().take(n).map(|(h, _)| h).collect(),
            fold,
        }
    }

    /// How texts are tokenized to be aligned with this vocabulary.
    pub fn fold(&self) -> Fold {
        self.fold
    }

    /// True for a function word.
    pub fn is_stop(&self, token: &Token) -> bool {
        self.stop.contains(&token.hash)
    }
}

/// A reused passage: code-point ranges in the suspicious and the source document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alignment {
    /// First code point in the suspicious document.
    pub start: usize,
    /// One past the last, in the suspicious document.
    pub end: usize,
    /// First code point in the source document.
    pub source_start: usize,
    /// One past the last, in the source document.
    pub source_end: usize,
}

/// One side of a pair: its characters, tokens and sentences.
struct Side {
    chars: Vec<char>,
    tokens: Vec<Token>,
    /// Token index ranges, in order.
    sentences: Vec<(usize, usize)>,
    /// Sentence of each token.
    sentence_of: Vec<usize>,
    /// Content terms of each sentence (token-run hashes; see `terms`).
    terms: Vec<HashMap<u64, f64>>,
    /// Its shingles.
    shingles: Shingles,
}

/// The shingles of one side, in one flat buffer: shingle `k` has key `keys[k]` and
/// covers the tokens `ids[bounds[k]..bounds[k + 1]]`.
struct Shingles {
    keys: Vec<u64>,
    bounds: Vec<u32>,
    ids: Vec<u32>,
    /// (key, shingle) sorted: the shingles of each key in their order.
    by_key: Vec<(u64, u32)>,
}

impl Shingles {
    fn ids(&self, k: usize) -> &[u32] {
        &self.ids[self.bounds[k] as usize..self.bounds[k + 1] as usize]
    }

    /// The shingles with key `key`, in order.
    fn with_key(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let from = self.by_key.partition_point(|&(k, _)| k < key);
        self.by_key[from..]
            .iter()
            .take_while(move |&&(k, _)| k == key)
            .map(|&(_, i)| i as usize)
    }
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…')
}

impl Side {
    fn new(text: &str, tokens: Vec<Token>, vocab: &Vocabulary, o: &AlignOptions) -> Side {
        let chars: Vec<char> = text.chars().collect();
        let mut sentences = Vec::new();
        let mut first = 0;
        for k in 1..=tokens.len() {
            let boundary = k == tokens.len() || {
                let gap = &chars[tokens[k - 1].end as usize..tokens[k].start as usize];
                let ends = gap.iter().enumerate().any(|(i, &c)| {
                    is_terminator(c)
                        && (!c.is_ascii()
                            || gap
                                .get(i + 1)
                                .is_none_or(|n| n.is_whitespace() || !n.is_alphanumeric()))
                });
                let blank = gap.iter().filter(|&&c| c == '\n').count() >= 2;
                ends || blank
            };
            if boundary {
                sentences.push((first, k));
                first = k;
            }
        }
        let mut sentence_of = vec![0; tokens.len()];
        for (s, &(a, b)) in sentences.iter().enumerate() {
            sentence_of[a..b].fill(s);
        }
        let terms = sentences
            .iter()
            .map(|&(a, b)| {
                let mut bag: HashMap<u64, f64> = HashMap::default();
                for t in terms(&tokens[a..b], vocab) {
                    *bag.entry(t).or_insert(0.0) += 1.0;
                }
                bag
            })
            .collect();
        let shingles = shingles(&tokens, vocab, o);
        Side {
            chars,
            tokens,
            sentences,
            sentence_of,
            terms,
            shingles,
        }
    }

    fn span(&self, first_token: usize, last_token: usize) -> (usize, usize) {
        let (mut s, mut e) = (
            self.tokens[first_token].start as usize,
            self.tokens[last_token].end as usize,
        );
        // Punctuation touching the passage belongs to it (a closing period or quote).
        let attached = |c: char| !c.is_whitespace() && !c.is_alphanumeric();
        while s > 0 && attached(self.chars[s - 1]) {
            s -= 1;
        }
        while e < self.chars.len() && attached(self.chars[e]) {
            e += 1;
        }
        (s, e)
    }
}

/// Content terms of a sentence: each content word, and each pair of adjacent
/// characters of scripts written without spaces (single characters say too little).
fn terms(tokens: &[Token], vocab: &Vocabulary) -> Vec<u64> {
    let mut out = Vec::with_capacity(tokens.len());
    for (k, t) in tokens.iter().enumerate() {
        if vocab.is_stop(t) {
            continue;
        }
        if t.weight == WORD_WEIGHT {
            out.push(t.hash);
        } else if let Some(n) = tokens.get(k + 1).filter(|n| n.weight != WORD_WEIGHT) {
            out.push(t.hash.rotate_left(21) ^ n.hash);
        }
    }
    out
}

/// The shingles of a side's `tokens`: runs of tokens, sorted windows of content tokens,
/// stopword n-grams, each keyed by the xxh3 of its tag and token hashes.
fn shingles(tokens: &[Token], vocab: &Vocabulary, o: &AlignOptions) -> Shingles {
    let mut out = Shingles {
        keys: Vec::with_capacity(3 * tokens.len()),
        bounds: Vec::with_capacity(3 * tokens.len() + 1),
        ids: Vec::with_capacity(3 * o.shingle.max(o.window) * tokens.len()),
        by_key: Vec::new(),
    };
    out.bounds.push(0);
    let mut bytes: Vec<u8> = Vec::with_capacity(8 * (1 + o.window.max(o.stopword_ngram)));
    let mut key = |tag: u64, hs: &mut dyn Iterator<Item = u64>| {
        bytes.clear();
        bytes.extend_from_slice(&tag.to_le_bytes());
        for h in hs {
            bytes.extend_from_slice(&h.to_le_bytes());
        }
        xxh3_64(&bytes)
    };
    let push = |out: &mut Shingles, key: u64, ids: &mut dyn Iterator<Item = usize>| {
        out.keys.push(key);
        out.ids.extend(ids.map(|i| i as u32));
        out.bounds.push(out.ids.len() as u32);
    };
    let n = o.shingle.max(1);
    if tokens.len() >= n {
        for i in 0..=tokens.len() - n {
            let k = key(1, &mut tokens[i..i + n].iter().map(|t| t.hash));
            push(&mut out, k, &mut (i..i + n));
        }
    }
    let (content, stop): (Vec<usize>, Vec<usize>) =
        (0..tokens.len()).partition(|&i| !vocab.is_stop(&tokens[i]));
    let mut sorted: Vec<u64> = Vec::with_capacity(o.window.max(1));
    for ids in content.windows(o.window.max(1)) {
        // Only words that are near one another in the text.
        if ids[ids.len() - 1] - ids[0] > 2 * o.window {
            continue;
        }
        sorted.clear();
        sorted.extend(ids.iter().map(|&i| tokens[i].hash));
        sorted.sort_unstable();
        let k = key(2, &mut sorted.iter().copied());
        push(&mut out, k, &mut ids.iter().copied());
    }
    for ids in stop.windows(o.stopword_ngram.max(1)) {
        if ids[ids.len() - 1] - ids[0] > 3 * o.stopword_ngram {
            continue;
        }
        let k = key(3, &mut ids.iter().map(|&i| tokens[i].hash));
        push(&mut out, k, &mut (ids[0]..=ids[ids.len() - 1]));
    }
    out.by_key = out
        .keys
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i as u32))
        .collect();
    out.by_key.sort_unstable();
    out
}

fn cosine(a: &HashMap<u64, f64>, b: &HashMap<u64, f64>) -> f64 {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let dot: f64 = small
        .iter()
        .filter_map(|(k, v)| large.get(k).map(|w| v * w))
        .sum();
    let norm = |m: &HashMap<u64, f64>| m.values().map(|v| v * v).sum::<f64>().sqrt();
    let d = norm(a) * norm(b);
    if d == 0.0 { 0.0 } else { dot / d }
}

/// A text made ready for [`align_prepared`]: its tokens, sentences, content terms and
/// shingles, computed once however many texts it is aligned with.
pub struct Prepared {
    side: Side,
    /// The shingle sizes it was made with.
    sizes: (usize, usize, usize),
}

impl Prepared {
    /// `text` read as `vocab` says, for alignments with `options`.
    pub fn new(text: &str, vocab: &Vocabulary, options: &AlignOptions) -> Prepared {
        Prepared::from_tokens(text, tokenize_with(text, vocab.fold), vocab, options)
    }

    /// [`Prepared::new`] with `text`'s tokens already read (`tokenize_with(text,
    /// vocab.fold())`).
    pub fn from_tokens(
        text: &str,
        tokens: Vec<Token>,
        vocab: &Vocabulary,
        options: &AlignOptions,
    ) -> Prepared {
        Prepared {
            side: Side::new(text, tokens, vocab, options),
            sizes: sizes(options),
        }
    }
}

fn sizes(o: &AlignOptions) -> (usize, usize, usize) {
    (o.shingle, o.window, o.stopword_ngram)
}

/// The reused passages between `suspicious` and `source`, in order of the suspicious
/// side, none overlapping there.
pub fn align(
    suspicious: &str,
    source: &str,
    vocab: &Vocabulary,
    options: &AlignOptions,
) -> Vec<Alignment> {
    align_prepared(
        &Prepared::new(suspicious, vocab, options),
        &Prepared::new(source, vocab, options),
        options,
    )
}

/// [`align`] of two prepared texts (prepared with the same vocabulary and `options`).
pub fn align_prepared(
    suspicious: &Prepared,
    source: &Prepared,
    options: &AlignOptions,
) -> Vec<Alignment> {
    assert!(
        suspicious.sizes == sizes(options) && source.sizes == sizes(options),
        "texts prepared with other shingle sizes"
    );
    let (a, b) = (&suspicious.side, &source.side);
    if a.sentences.is_empty() || b.sentences.is_empty() {
        return Vec::new();
    }
    let mut covered_a = vec![false; a.tokens.len()];
    let mut covered_b = vec![false; b.tokens.len()];
    // (suspicious sentence, source sentence, suspicious token) for each token that a
    // shingle shared by the two sentences covers; sorted and deduplicated, the tokens
    // each sentence pair covers.
    let mut cover: Vec<(u32, u32, u32)> = Vec::new();
    for k in 0..a.shingles.keys.len() {
        let mut places = b.shingles.with_key(a.shingles.keys[k]).take(16).peekable();
        if places.peek().is_none() {
            continue;
        }
        let ids = a.shingles.ids(k);
        for &i in ids {
            covered_a[i as usize] = true;
        }
        let sa = a.sentence_of[ids[0] as usize] as u32;
        for place in places {
            let place = b.shingles.ids(place);
            for &j in place {
                covered_b[j as usize] = true;
            }
            let sb = b.sentence_of[place[0] as usize] as u32;
            cover.extend(ids.iter().map(|&i| (sa, sb, i)));
        }
    }
    cover.sort_unstable();
    cover.dedup();
    // tf-idf over the sentences of both documents.
    let mut df: HashMap<u64, f64> = HashMap::default();
    for bag in a.terms.iter().chain(&b.terms) {
        for k in bag.keys() {
            *df.entry(*k).or_insert(0.0) += 1.0;
        }
    }
    let n = (a.sentences.len() + b.sentences.len()) as f64;
    let weigh = |bag: &HashMap<u64, f64>| -> HashMap<u64, f64> {
        bag.iter()
            .map(|(k, tf)| (*k, tf * (n / df[k]).ln()))
            .collect()
    };
    let va: Vec<HashMap<u64, f64>> = a.terms.iter().map(weigh).collect();
    let vb: Vec<HashMap<u64, f64>> = b.terms.iter().map(weigh).collect();
    let mut postings: HashMap<u64, Vec<usize>> = HashMap::default();
    for (j, v) in vb.iter().enumerate() {
        for k in v.keys() {
            postings.entry(*k).or_default().push(j);
        }
    }
    let mut score: HashMap<(usize, usize), f64> = HashMap::default();
    for (i, v) in va.iter().enumerate() {
        let mut candidates: Vec<usize> = v
            .keys()
            .filter_map(|k| postings.get(k))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for j in candidates {
            let shared = v.keys().filter(|k| vb[j].contains_key(k)).count();
            let dice = 2.0 * shared as f64 / (v.len() + vb[j].len()) as f64;
            let cos = cosine(v, &vb[j]);
            if cos >= options.min_cosine && dice >= options.min_dice {
                score.insert((i, j), cos);
            }
        }
    }
    for pair in cover.chunk_by(|x, y| (x.0, x.1) == (y.0, y.1)) {
        let (i, j) = (pair[0].0 as usize, pair[0].1 as usize);
        let (s, e) = a.sentences[i];
        let share = pair.len() as f64 / (e - s) as f64;
        if share >= options.min_cover || pair.len() >= options.min_cover_tokens {
            let s = score.entry((i, j)).or_insert(0.0);
            *s = s.max(share.max(options.min_cover));
        }
    }
    let mut best_a = vec![0.0f64; a.sentences.len()];
    let mut best_b = vec![0.0f64; b.sentences.len()];
    for (&(i, j), &s) in &score {
        best_a[i] = best_a[i].max(s);
        best_b[j] = best_b[j].max(s);
    }
    let mut seeds: Vec<(usize, usize)> = score
        .iter()
        .filter(|&(&(i, j), &s)| s >= options.keep * best_a[i] && s >= options.keep * best_b[j])
        .map(|(&p, _)| p)
        .collect();
    seeds.sort_unstable();

    let mut clusters = Vec::new();
    extend(&seeds, options.max_gap, &va, &vb, options, &mut clusters);

    let mut found: Vec<Alignment> = Vec::new();
    for c in clusters {
        let (i0, i1) = bounds(c.iter().map(|s| s.0));
        let (j0, j1) = bounds(c.iter().map(|s| s.1));
        let (start, end) = edges(a, &covered_a, i0, i1);
        let (source_start, source_end) = edges(b, &covered_b, j0, j1);
        if end - start >= options.min_chars && source_end - source_start >= options.min_chars {
            found.push(Alignment {
                start,
                end,
                source_start,
                source_end,
            });
        }
    }
    found.sort_by_key(|f| (std::cmp::Reverse(f.end - f.start), f.start));
    let mut kept: Vec<Alignment> = Vec::new();
    for f in found {
        if kept.iter().all(|k| f.end <= k.start || f.start >= k.end) {
            kept.push(f);
        }
    }
    kept.sort_by_key(|k| k.start);
    kept
}

fn bounds(values: impl Iterator<Item = usize>) -> (usize, usize) {
    values.fold((usize::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// Character range of sentences `first..=last`, trimmed at each end to the shingles it
/// shares when that end's sentence shares any.
fn edges(side: &Side, covered: &[bool], first: usize, last: usize) -> (usize, usize) {
    let (s0, e0) = side.sentences[first];
    let (s1, e1) = side.sentences[last];
    let lo = (s0..e0).find(|&k| covered[k]).unwrap_or(s0);
    let hi = (s1..e1).rev().find(|&k| covered[k]).unwrap_or(e1 - 1);
    side.span(lo, hi.max(lo))
}

/// Groups `seeds` (sorted) by gaps of at most `gap` sentences on the suspicious side,
/// then on the source side; keeps a group whose fragments are similar as wholes and
/// splits one that is not with a smaller gap.
fn extend(
    seeds: &[(usize, usize)],
    gap: usize,
    va: &[HashMap<u64, f64>],
    vb: &[HashMap<u64, f64>],
    options: &AlignOptions,
    out: &mut Vec<Vec<(usize, usize)>>,
) {
    for by_a in groups(seeds, gap, |s| s.0) {
        for group in groups(&by_a, gap, |s| s.1) {
            let fragment = |v: &[HashMap<u64, f64>], range: (usize, usize)| {
                let mut sum: HashMap<u64, f64> = HashMap::default();
                for bag in &v[range.0..=range.1] {
                    for (k, w) in bag {
                        *sum.entry(*k).or_insert(0.0) += w;
                    }
                }
                sum
            };
            let fa = fragment(va, bounds(group.iter().map(|s| s.0)));
            let fb = fragment(vb, bounds(group.iter().map(|s| s.1)));
            if cosine(&fa, &fb) >= options.min_passage_cosine {
                out.push(group);
            } else if gap > 1 {
                let mut sorted = group;
                sorted.sort_unstable();
                extend(&sorted, gap - 1, va, vb, options, out);
            }
        }
    }
}

/// Splits `seeds` where consecutive values of `key` (in `key` order) differ by more
/// than `gap`.
fn groups(
    seeds: &[(usize, usize)],
    gap: usize,
    key: impl Fn(&(usize, usize)) -> usize,
) -> Vec<Vec<(usize, usize)>> {
    let mut sorted = seeds.to_vec();
    sorted.sort_by_key(|s| (key(s), *s));
    let mut out: Vec<Vec<(usize, usize)>> = Vec::new();
    for s in sorted {
        match out.last_mut() {
            Some(g) if key(&s) - key(g.last().expect("groups are never empty")) <= gap => g.push(s),
            _ => out.push(vec![s]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE_EN: &str = "The committee met in the old town hall on a cold morning in March. \
        Its members had travelled from every district of the province to hear the report.\n\n\
        The engineers explained that the bridge over the river had been closed since the floods. \
        Repairs would take at least two years and cost more than the whole annual budget.\n\n\
        After a long debate the members agreed to ask the national government for help. \
        A letter was drafted that afternoon and signed by every member present.";

    fn vocab() -> Vocabulary {
        Vocabulary::from_documents(
            [
                "the a of and to in was that had by for it on at",
                "the of and to a in is",
            ],
            12,
        )
    }

    fn covers(found: &[Alignment], text: &str, needle: &str) -> bool {
        let at = text[..text.find(needle).unwrap()].chars().count();
        let end = at + needle.chars().count();
        found.iter().any(|f| f.start <= at + 2 && f.end + 2 >= end)
    }

    #[test]
    fn a_copy_across_paragraph_boundaries_is_found_with_its_ranges() {
        // The copied passage starts in the middle of one paragraph and ends in the
        // middle of another, in both documents.
        let copied = "Its members had travelled from every district of the province to hear the report.\n\n\
            The engineers explained that the bridge over the river had been closed since the floods. \
            Repairs would take at least two years and cost more than the whole annual budget.";
        let suspicious = format!(
            "A different story begins here, about a school and its garden. {copied}\n\nNothing else \
             in this text is taken from anywhere: it talks about apples, pears and plums."
        );
        let found = align(&suspicious, SOURCE_EN, &vocab(), &AlignOptions::default());
        assert_eq!(found.len(), 1, "{found:?}");
        let f = found[0];
        let slice = |t: &str, a: usize, b: usize| t.chars().skip(a).take(b - a).collect::<String>();
        assert_eq!(slice(&suspicious, f.start, f.end), copied);
        assert_eq!(slice(SOURCE_EN, f.source_start, f.source_end), copied);
    }

    #[test]
    fn shuffled_sentences_are_one_passage() {
        let suspicious = "Repairs would take at least two years and cost more than the whole annual budget. \
            The committee met in the old town hall on a cold morning in March. \
            The engineers explained that the bridge over the river had been closed since the floods. \
            Its members had travelled from every district of the province to hear the report.";
        let found = align(suspicious, SOURCE_EN, &vocab(), &AlignOptions::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(covers(&found, suspicious, suspicious));
    }

    #[test]
    fn unrelated_texts_align_nothing() {
        let other = "Apples and pears grow well in the northern valleys, where the summers are short. \
            Farmers pick them in September and sell them in the markets of the coast. \
            The best fruit is kept in cool cellars until the winter festivals begin.";
        assert!(align(other, SOURCE_EN, &vocab(), &AlignOptions::default()).is_empty());
    }

    #[test]
    fn chinese_reuse_with_edits_across_paragraphs_is_found() {
        let source = "黄河是中华民族的母亲河，孕育了灿烂的中华文明。保护黄河是事关中华民族伟大复兴的千秋大计。\n\n\
            近年来，沿黄各省区认真践行绿水青山就是金山银山理念，严格落实黄河保护法，积极推进流域一体化司法保护。\
            各地法院签署了环境资源审判框架协议，召开了首次司法协作联席会议。\n\n\
            今后还将进一步改善资源共享、协作审判、联席会议等工作机制，共同为黄河生态保护贡献力量。";
        // Reused from the middle of the first paragraph into the second, reordered, with
        // a few characters changed.
        let suspicious = "本文讨论城市交通的拥堵问题以及可能的对策。\n\n\
            沿黄各省区认真践行绿水青山就是金山银山的理念，严格落实黄河保护法，积极推进全流域一体化司法保护。\
            保护黄河是事关中华民族伟大复兴的千秋大计。各地法院签署了环境资源审判框架协议，召开首次司法协作联席会议。\n\n\
            最后，交通问题需要多方面共同努力才能解决。";
        let vocab = Vocabulary::from_documents([source, suspicious, "的了是在和"], 5);
        let options = AlignOptions {
            min_chars: 40,
            ..AlignOptions::default()
        };
        let found = align(suspicious, source, &vocab, &options);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(covers(&found, suspicious, "沿黄各省区认真践行"));
        assert!(covers(&found, suspicious, "召开首次司法协作联席会议"));
        let f = found[0];
        let src_at = |needle: &str| source[..source.find(needle).unwrap()].chars().count();
        assert!(f.source_start <= src_at("保护黄河是事关") && f.source_end >= src_at("召开了首次"));
    }
}
