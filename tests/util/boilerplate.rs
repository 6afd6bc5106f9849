//! A synthetic corpus for boilerplate detection: 50 issues of a newsletter, each with a
//! masthead (the issue number and date change, so copies are near, not exact) and a
//! copyright line (exact), between articles of their own; some articles are real
//! reprints, printed again in two to four later issues.

/// One document of the corpus and what is in it.
pub struct Issue {
    /// Document name (`issue-NN`).
    pub name: String,
    /// Text: masthead, articles, copyright, separated by blank lines.
    pub text: String,
    /// Paragraph indexes of the masthead and the copyright line.
    pub boilerplate: Vec<usize>,
    /// (paragraph index, name of the issue it first appeared in) for reprinted articles.
    pub reprints: Vec<(usize, String)>,
}

/// Deterministic pseudo-random numbers (no dependency, same corpus everywhere).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const WORDS: &[&str] = &[
    "river", "council", "harvest", "bridge", "school", "market", "winter", "station", "budget",
    "festival", "library", "factory", "harbour", "orchard", "railway", "museum", "village",
    "meeting", "report", "garden", "forest", "election", "hospital", "tower", "storm", "teacher",
    "farmer", "engineer", "mayor", "doctor", "road", "valley", "plan", "repairs", "visitors",
    "prices", "rain", "summer", "north", "south", "new", "old", "closed", "opened", "agreed",
    "rejected", "built", "moved", "raised", "cut",
];

/// A paragraph of `n` sentences of random words (distinct paragraphs share only the
/// vocabulary, as articles on different topics do).
fn article(rng: &mut Lcg, n: usize) -> String {
    (0..n)
        .map(|_| {
            let len = 10 + rng.next(8) as usize;
            let mut s: Vec<&str> = (0..len)
                .map(|_| WORDS[rng.next(WORDS.len() as u64) as usize])
                .collect();
            s[0] = "The";
            format!("{}.", s.join(" "))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The 50 issues, in publication order.
pub fn corpus() -> Vec<Issue> {
    let mut rng = Lcg(2024);
    let mut printed: Vec<(String, String)> = Vec::new(); // (article, first issue)
    let mut issues = Vec::new();
    for n in 1..=50 {
        let name = format!("issue-{n:02}");
        let mut paragraphs = vec![format!(
            "The Riverside Gazette, issue {n}, {} {}, 2024. Editor: M. Lindqvist. \
             Published weekly by the Riverside Press.",
            ["March", "April", "May", "June"][n % 4],
            1 + n % 28
        )];
        let mut reprints = Vec::new();
        for _ in 0..3 + rng.next(3) {
            // One article in five is a reprint of an earlier one that has been printed
            // fewer than four times.
            let reprint = (!printed.is_empty() && rng.next(5) == 0)
                .then(|| rng.next(printed.len() as u64) as usize)
                .filter(|&k| printed.iter().filter(|p| p.0 == printed[k].0).count() < 4);
            match reprint {
                Some(k) => {
                    reprints.push((paragraphs.len(), printed[k].1.clone()));
                    let text = printed[k].0.clone();
                    printed.push((text.clone(), printed[k].1.clone()));
                    paragraphs.push(text);
                }
                None => {
                    let sentences = 3 + rng.next(3) as usize;
                    let text = article(&mut rng, sentences);
                    printed.push((text.clone(), name.clone()));
                    paragraphs.push(text);
                }
            }
        }
        paragraphs.push(
            "Copyright 2024 Riverside Press. All rights reserved. No part of this \
             newsletter may be reproduced without written permission."
                .to_string(),
        );
        let last = paragraphs.len() - 1;
        issues.push(Issue {
            name,
            text: paragraphs.join("\n\n"),
            boilerplate: vec![0, last],
            reprints,
        });
    }
    issues
}
