//! The outputs of a run: `--matches` (one JSON object per unit with matches, written
//! chunk by chunk), `--kept` (the records that are not duplicates, byte for byte, chunk by
//! chunk) and `--clusters` (one JSON object per cluster, when the run ends). Each is
//! assembled in one buffer and written a chunk at a time.

use std::io::Write;

use crate::verify;

use super::input::{Body, Chunk, Line};
use super::record::Ids;
use super::run::Found;
use super::{BatchError, Outputs, Unit};

/// How the outputs name a unit: its record's id and, for paragraph units, its paragraph.
pub(super) struct Names<'a> {
    pub(super) ids: &'a Ids,
    /// Per unit: its record.
    pub(super) owner: &'a [u32],
    /// Per unit: its paragraph in its record.
    pub(super) paragraph: &'a [u32],
}

/// The outputs of a run and the buffer they are written from.
pub(super) struct Writer<'o> {
    outputs: Outputs<'o>,
    unit: Unit,
    /// The id and text field names, for kept records given in memory.
    fields: (String, String),
    max_matches: usize,
    buf: Vec<u8>,
}

/// Writes `buf` to `out` (if any) and empties it.
fn write_out(
    out: &mut Option<&mut (dyn Write + Send)>,
    buf: &mut Vec<u8>,
    what: &'static str,
) -> Result<(), BatchError> {
    if let Some(out) = out.as_mut() {
        out.write_all(buf)
            .map_err(|error| BatchError::Write { what, error })?;
    }
    buf.clear();
    Ok(())
}

impl<'o> Writer<'o> {
    /// Writers for `outputs`, naming units as `unit` says, at most `max_matches` matches
    /// per unit.
    pub(super) fn new(
        outputs: Outputs<'o>,
        unit: Unit,
        max_matches: usize,
        fields: (String, String),
    ) -> Writer<'o> {
        Writer {
            outputs,
            unit,
            fields,
            max_matches,
            buf: Vec::new(),
        }
    }

    /// Whether matches are written.
    pub(super) fn wants_matches(&self) -> bool {
        self.outputs.matches.is_some()
    }

    /// Writes `{"id": ID` (and `"paragraph": i` for paragraph units), leaving the object
    /// open.
    fn write_ref(&mut self, names: &Names<'_>, uid: u32) {
        let record = names.owner[uid as usize];
        self.buf.extend_from_slice(b"{\"id\":");
        self.buf.extend_from_slice(names.ids.get(record));
        if self.unit == Unit::Paragraph {
            let _ = write!(self.buf, ",\"paragraph\":{}", names.paragraph[uid as usize]);
        }
    }

    /// Adds the matches of unit `uid` (best first) to the chunk's matches.
    pub(super) fn matches(&mut self, names: &Names<'_>, uid: u32, matches: &[Found]) {
        self.write_ref(names, uid);
        self.buf.extend_from_slice(b",\"matches\":[");
        for (n, m) in matches.iter().take(self.max_matches).enumerate() {
            if n > 0 {
                self.buf.push(b',');
            }
            self.write_ref(names, m.uid);
            let _ = write!(self.buf, ",\"kind\":\"{}\"", m.kind.as_str());
            let aligned = m
                .aligned
                .iter()
                .flat_map(|&(q, s)| [("aligned_coverage", q), ("aligned_coverage_source", s)]);
            for (name, x) in [
                ("jaccard", m.scores.jaccard),
                ("containment", m.scores.containment),
                ("containment_source", m.scores.containment_source),
            ]
            .into_iter()
            .chain(aligned)
            {
                let _ = write!(self.buf, ",\"{name}\":");
                // Writing to a vector cannot fail; floats keep their decimal point.
                let _ = serde_json::to_writer(&mut self.buf, &verify::round_score(x));
            }
            self.buf.push(b'}');
        }
        self.buf.extend_from_slice(b"]}\n");
    }

    /// Writes the chunk's matches.
    pub(super) fn end_matches(&mut self) -> Result<(), BatchError> {
        write_out(&mut self.outputs.matches, &mut self.buf, "matches")
    }

    /// Writes the chunk's kept records (`keep` says which; the chunk's first record is
    /// record `first` of the run). `names` are the inputs'.
    pub(super) fn kept(
        &mut self,
        chunk: &Chunk,
        keep: &[bool],
        first: u64,
        names: &[String],
    ) -> Result<(), BatchError> {
        if let Some(numbers) = self.outputs.kept_records.as_mut() {
            numbers.extend((first..).zip(keep).filter(|(_, k)| **k).map(|(n, _)| n));
        }
        let wrong = |line: &Line, reason: &str| BatchError::BadInput {
            path: names[line.source as usize].clone(),
            reason: reason.into(),
        };
        match &chunk.body {
            Body::Parquet(batches) => {
                if let Some(line) = chunk.lines.first()
                    && self.outputs.kept.is_some()
                {
                    return Err(wrong(
                        line,
                        "Parquet rows can be kept only as Parquet (name the kept file .parquet)",
                    ));
                }
                if let Some(out) = self.outputs.kept_parquet.as_mut() {
                    for (b, batch) in batches.iter().enumerate() {
                        let mask = chunk
                            .lines
                            .iter()
                            .zip(keep)
                            .filter(|(line, _)| line.start == b)
                            .map(|(_, &k)| k)
                            .collect();
                        out.write(batch, mask)?;
                    }
                }
                Ok(())
            }
            body => {
                if let Some(line) = chunk.lines.first()
                    && self.outputs.kept_parquet.is_some()
                {
                    return Err(wrong(
                        line,
                        "only Parquet rows can be kept as Parquet, and this is not a Parquet file",
                    ));
                }
                if self.outputs.kept.is_none() {
                    return Ok(());
                }
                for (line, _) in chunk.lines.iter().zip(keep).filter(|(_, k)| **k) {
                    match body {
                        Body::Json(data) => self.buf.extend_from_slice(&data[line.start..line.end]),
                        Body::Records(records) => {
                            let r = &records[line.start];
                            let mut object = serde_json::Map::new();
                            if let Some(id) = &r.id {
                                object.insert(self.fields.0.clone(), id.clone());
                            }
                            if let Ok(text) = &r.text {
                                object.insert(self.fields.1.clone(), text.as_str().into());
                            }
                            // Writing to a vector cannot fail.
                            let _ = serde_json::to_writer(&mut self.buf, &object);
                        }
                        Body::Parquet(_) => unreachable!("Parquet bodies are matched above"),
                    }
                    self.buf.push(b'\n');
                }
                write_out(&mut self.outputs.kept, &mut self.buf, "kept")
            }
        }
    }

    /// A cluster member: the record id, or `{"id", "paragraph"}` for paragraph units.
    fn write_member(&mut self, names: &Names<'_>, uid: u32) {
        if self.unit == Unit::Paragraph {
            self.write_ref(names, uid);
            self.buf.push(b'}');
        } else {
            self.buf
                .extend_from_slice(names.ids.get(names.owner[uid as usize]));
        }
    }

    /// Writes the clusters: `root[x]` is the first unit of unit `x`'s cluster, `size[r]`
    /// the size of the cluster whose first unit is `r`. Clusters come in the order of
    /// their first units, members in input order.
    pub(super) fn clusters(
        &mut self,
        names: &Names<'_>,
        root: &[u32],
        size: &[u32],
    ) -> Result<(), BatchError> {
        if self.outputs.clusters.is_none() {
            return Ok(());
        }
        let mut members: Vec<(u32, u32)> = (0..root.len() as u32)
            .filter_map(|x| {
                let r = root[x as usize];
                (size[r as usize] > 1).then_some((r, x))
            })
            .collect();
        members.sort_unstable();
        self.buf.clear();
        for group in members.chunk_by(|a, b| a.0 == b.0) {
            self.buf.extend_from_slice(b"{\"representative\":");
            self.write_member(names, group[0].0);
            let _ = write!(self.buf, ",\"size\":{},\"members\":[", group.len());
            for (k, &(_, x)) in group.iter().enumerate() {
                if k > 0 {
                    self.buf.push(b',');
                }
                self.write_member(names, x);
            }
            self.buf.extend_from_slice(b"]}\n");
            if self.buf.len() > 1 << 20 {
                write_out(&mut self.outputs.clusters, &mut self.buf, "clusters")?;
            }
        }
        write_out(&mut self.outputs.clusters, &mut self.buf, "clusters")
    }

    /// Flushes every output.
    pub(super) fn finish(&mut self) -> Result<(), BatchError> {
        for (out, what) in [
            (self.outputs.matches.as_mut(), "matches"),
            (self.outputs.kept.as_mut(), "kept"),
            (self.outputs.clusters.as_mut(), "clusters"),
        ] {
            if let Some(out) = out {
                out.flush()
                    .map_err(|error| BatchError::Write { what, error })?;
            }
        }
        Ok(())
    }
}
