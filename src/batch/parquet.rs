//! Parquet in and out: reading the id and text columns of Parquet inputs, writing the kept
//! rows with their schema, and writing `--matches` and `--clusters` as flat Parquet tables.
//!
//! An input is Parquet when it starts with the `PAR1` magic, whatever its name. The text
//! column must hold strings (`Utf8`, `LargeUtf8` or `Utf8View`); a null text makes a bad
//! record, as a JSON `null` does. The id column, optional, holds integers or strings; a
//! null or absent id names the row by its 1-based number in its file, as a line number
//! names a JSON record. Malformed files are errors, never panics: the reader's own checks
//! are trusted first, and a panic inside it is caught and reported as a bad input.
//!
//! Matches and clusters are written by converting the JSON Lines that the run writes
//! (the one format of the outputs), one row per match or per cluster member; ids become
//! strings (a string id as itself, any other id as its JSON text).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow_array::builder::{Float64Builder, StringBuilder, UInt32Builder, UInt64Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::BatchError;
use super::input::Cutter;
use super::record::Fields;

/// Whether an open file is Parquet (its first bytes are `PAR1`); the file is rewound.
pub(super) fn sniff(mut file: File) -> io::Result<(File, bool)> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match file.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    Ok((file, got == 4 && &head == b"PAR1"))
}

/// A stream (standard input) that starts as Parquet does is copied to an unnamed
/// temporary file, since Parquet is read from its end; any other stream comes back
/// unconsumed, as `Err`.
pub(super) fn spool(
    mut stream: Box<dyn Read + Send>,
) -> io::Result<Result<File, Box<dyn Read + Send>>> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match stream.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let whole = io::Cursor::new(head[..got].to_vec()).chain(stream);
    if &head[..got] != b"PAR1" {
        return Ok(Err(Box::new(whole)));
    }
    let mut file = tempfile::tempfile()?;
    io::copy(&mut { whole }, &mut file)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(Ok(file))
}

/// Runs `f`, turning a panic inside the Parquet reader into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("the Parquet reader failed on this file".to_string()))
}

/// A batch of Parquet rows: all the columns (for the kept rows), and which are the text
/// and the id.
pub(crate) struct TextBatch {
    batch: RecordBatch,
    text: ArrayRef,
    id: Option<ArrayRef>,
    text_name: Arc<str>,
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn string_at(a: &dyn Array, row: usize) -> &str {
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(row),
        DataType::LargeUtf8 => a.as_string::<i64>().value(row),
        _ => a.as_string_view().value(row),
    }
}

fn integer_at(a: &dyn Array, row: usize) -> String {
    match a.data_type() {
        DataType::Int8 => a.as_primitive::<Int8Type>().value(row).to_string(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(row).to_string(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(row).to_string(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(row).to_string(),
        _ => a.as_primitive::<UInt64Type>().value(row).to_string(),
    }
}

impl TextBatch {
    /// Rows in the batch.
    pub(super) fn rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Bytes of text in the batch.
    pub(super) fn text_bytes(&self) -> usize {
        self.text.get_buffer_memory_size()
    }

    /// Row `row`'s id (as JSON text, when present) and text.
    pub(super) fn record(&self, row: usize) -> Result<(Option<String>, &str), String> {
        if self.text.is_null(row) {
            return Err(format!("field {:?} is null, not a string", self.text_name));
        }
        let id = self.id.as_deref().filter(|a| a.is_valid(row)).map(|a| {
            if is_string(a.data_type()) {
                serde_json::Value::from(string_at(a, row)).to_string()
            } else {
                integer_at(a, row)
            }
        });
        Ok((id, string_at(&self.text, row)))
    }
}

/// Reads a Parquet input into `cutter`'s chunks; `Ok(false)` when the run stopped
/// listening.
pub(super) fn read(
    file: File,
    name: &str,
    source: u32,
    fields: Fields<'_>,
    cutter: &mut Cutter,
    batch_rows: usize,
) -> Result<bool, BatchError> {
    let bad = |reason: String| BatchError::BadInput {
        path: name.to_string(),
        reason,
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let (reader, text_at, id_at, text_name) = guarded(|| {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| format!("not a readable Parquet file: {e}"))?;
        let schema = builder.schema().clone();
        let column = |field: &str| schema.fields().iter().position(|f| f.name() == field);
        let names = || {
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text_at = column(fields.text)
            .ok_or_else(|| format!("no column {:?} (the columns: {})", fields.text, names()))?;
        let t = schema.field(text_at).data_type();
        if !is_string(t) {
            return Err(format!("column {:?} is {t}, not a string", fields.text));
        }
        let id_at = column(fields.id);
        if let Some(i) = id_at {
            let t = schema.field(i).data_type();
            if !is_string(t) && !t.is_integer() {
                return Err(format!(
                    "column {:?} is {t}, not an integer or a string",
                    fields.id
                ));
            }
        }
        let reader = builder
            .with_batch_size(batch_rows.clamp(1, 8192))
            .build()
            .map_err(|e| format!("not a readable Parquet file: {e}"))?;
        Ok((reader, text_at, id_at, Arc::<str>::from(fields.text)))
    })
    .map_err(bad)?;
    let mut reader = reader;
    let (mut first, mut counted) = (0u64, 0u64);
    loop {
        let next = guarded(|| match reader.next() {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(b)),
            Some(Err(e)) => Err(format!("cannot read a row group: {e}")),
        })
        .map_err(bad)?;
        let Some(batch) = next else {
            break;
        };
        let rows = batch.num_rows() as u64;
        let text = TextBatch {
            text: batch.column(text_at).clone(),
            id: id_at.map(|i| batch.column(i).clone()),
            text_name: text_name.clone(),
            batch,
        };
        // Progress in stored bytes, as for the other inputs: about the text read so far,
        // never past the file's size.
        let share = (text.text_bytes() as u64).min(size - counted);
        counted += share;
        cutter.counter.fetch_add(share, Ordering::Relaxed);
        if !cutter.parquet(text, source, first) {
            return Ok(false);
        }
        first += rows;
    }
    cutter.counter.fetch_add(size - counted, Ordering::Relaxed);
    Ok(true)
}

/// `--kept` as Parquet: the kept rows of Parquet inputs, with their schema (every input
/// must have the same one).
pub struct KeptParquet {
    out: Option<Box<dyn Write + Send>>,
    writer: Option<(ArrowWriter<Box<dyn Write + Send>>, SchemaRef)>,
}

impl KeptParquet {
    /// Writes to `out` (buffered by the caller).
    pub fn new(out: Box<dyn Write + Send>) -> KeptParquet {
        KeptParquet {
            out: Some(out),
            writer: None,
        }
    }

    /// Writes the rows of `batch` that `keep` marks.
    pub(super) fn write(&mut self, batch: &TextBatch, keep: Vec<bool>) -> Result<(), BatchError> {
        let kept =
            arrow_select::filter::filter_record_batch(&batch.batch, &BooleanArray::from(keep))
                .map_err(write_error)?;
        if self.writer.is_none() {
            let out = self.out.take().ok_or_else(|| write_error("closed"))?;
            let writer = ArrowWriter::try_new(out, kept.schema(), None).map_err(write_error)?;
            self.writer = Some((writer, kept.schema()));
        }
        let (writer, schema) = self.writer.as_mut().ok_or_else(|| write_error("closed"))?;
        if *schema != kept.schema() {
            return Err(BatchError::BadInput {
                path: "--kept".into(),
                reason: "the Parquet inputs have different schemas; their kept rows cannot go \
                         into one file"
                    .into(),
            });
        }
        writer.write(&kept).map_err(write_error)
    }

    /// Writes the file's footer (an empty file when no Parquet row was read).
    pub fn close(mut self) -> Result<(), BatchError> {
        match self.writer.take() {
            Some((w, _)) => w.close().map(|_| ()).map_err(write_error),
            None => {
                let out = self.out.take().ok_or_else(|| write_error("closed"))?;
                let empty = Arc::new(Schema::empty());
                ArrowWriter::try_new(out, empty, None)
                    .and_then(|w| w.close())
                    .map(|_| ())
                    .map_err(write_error)
            }
        }
    }
}

fn write_error(e: impl std::fmt::Display) -> BatchError {
    BatchError::Write {
        what: "kept",
        error: io::Error::other(e.to_string()),
    }
}

/// Which JSON Lines output a [`ParquetLines`] converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `--matches`: one row per match (`id`, `paragraph`, `rank`, `match_id`,
    /// `match_paragraph`, `kind`, `jaccard`, `containment`, `containment_source`).
    Matches,
    /// `--clusters`: one row per member (`cluster`, `size`, `representative_id`,
    /// `representative_paragraph`, `id`, `paragraph`).
    Clusters,
}

/// A unit as the JSON outputs name it: an id, or `{"id", "paragraph"}`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum UnitRef {
    Paragraph {
        id: serde_json::Value,
        paragraph: u32,
    },
    Record(serde_json::Value),
}

#[derive(serde::Deserialize)]
struct MatchLine {
    id: serde_json::Value,
    paragraph: Option<u32>,
    matches: Vec<MatchItem>,
}

#[derive(serde::Deserialize)]
struct MatchItem {
    id: serde_json::Value,
    paragraph: Option<u32>,
    kind: String,
    jaccard: f64,
    containment: f64,
    containment_source: f64,
}

#[derive(serde::Deserialize)]
struct ClusterLine {
    representative: UnitRef,
    size: u64,
    members: Vec<UnitRef>,
}

fn id_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl UnitRef {
    fn parts(&self) -> (String, Option<u32>) {
        match self {
            UnitRef::Paragraph { id, paragraph } => (id_text(id), Some(*paragraph)),
            UnitRef::Record(id) => (id_text(id), None),
        }
    }
}

/// Column builders of one table (one per writer, so the variants' sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum Builders {
    Matches {
        id: StringBuilder,
        paragraph: UInt32Builder,
        rank: UInt32Builder,
        match_id: StringBuilder,
        match_paragraph: UInt32Builder,
        kind: StringBuilder,
        scores: [Float64Builder; 3],
    },
    Clusters {
        cluster: UInt64Builder,
        size: UInt64Builder,
        representative_id: StringBuilder,
        representative_paragraph: UInt32Builder,
        id: StringBuilder,
        paragraph: UInt32Builder,
    },
}

/// A writer that takes the run's JSON Lines for `--matches` or `--clusters` and writes
/// them as a Parquet table; [`ParquetLines::close`] writes the footer.
pub struct ParquetLines {
    schema: SchemaRef,
    builders: Builders,
    rows: usize,
    clusters: u64,
    pending: Vec<u8>,
    writer: ArrowWriter<Box<dyn Write + Send>>,
}

fn schema(table: Table) -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    let u32n = |n: &str| Field::new(n, DataType::UInt32, true);
    let f = |n: &str| Field::new(n, DataType::Float64, false);
    let fields = match table {
        Table::Matches => vec![
            s("id"),
            u32n("paragraph"),
            Field::new("rank", DataType::UInt32, false),
            s("match_id"),
            u32n("match_paragraph"),
            s("kind"),
            f("jaccard"),
            f("containment"),
            f("containment_source"),
        ],
        Table::Clusters => vec![
            Field::new("cluster", DataType::UInt64, false),
            Field::new("size", DataType::UInt64, false),
            s("representative_id"),
            u32n("representative_paragraph"),
            s("id"),
            u32n("paragraph"),
        ],
    };
    Arc::new(Schema::new(fields))
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl ParquetLines {
    /// Converts the lines of `table` into Parquet written to `out`.
    pub fn new(table: Table, out: Box<dyn Write + Send>) -> io::Result<ParquetLines> {
        let schema = schema(table);
        let builders = match table {
            Table::Matches => Builders::Matches {
                id: StringBuilder::new(),
                paragraph: UInt32Builder::new(),
                rank: UInt32Builder::new(),
                match_id: StringBuilder::new(),
                match_paragraph: UInt32Builder::new(),
                kind: StringBuilder::new(),
                scores: std::array::from_fn(|_| Float64Builder::new()),
            },
            Table::Clusters => Builders::Clusters {
                cluster: UInt64Builder::new(),
                size: UInt64Builder::new(),
                representative_id: StringBuilder::new(),
                representative_paragraph: UInt32Builder::new(),
                id: StringBuilder::new(),
                paragraph: UInt32Builder::new(),
            },
        };
        Ok(ParquetLines {
            writer: ArrowWriter::try_new(out, schema.clone(), None).map_err(invalid)?,
            schema,
            builders,
            rows: 0,
            clusters: 0,
            pending: Vec::new(),
        })
    }

    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        match &mut self.builders {
            Builders::Matches {
                id,
                paragraph,
                rank,
                match_id,
                match_paragraph,
                kind,
                scores,
            } => {
                let m: MatchLine = serde_json::from_slice(line).map_err(invalid)?;
                let this = id_text(&m.id);
                for (r, item) in m.matches.iter().enumerate() {
                    id.append_value(&this);
                    paragraph.append_option(m.paragraph);
                    rank.append_value(r as u32);
                    match_id.append_value(id_text(&item.id));
                    match_paragraph.append_option(item.paragraph);
                    kind.append_value(&item.kind);
                    for (b, x) in scores.iter_mut().zip([
                        item.jaccard,
                        item.containment,
                        item.containment_source,
                    ]) {
                        b.append_value(x);
                    }
                    self.rows += 1;
                }
            }
            Builders::Clusters {
                cluster,
                size,
                representative_id,
                representative_paragraph,
                id,
                paragraph,
            } => {
                let c: ClusterLine = serde_json::from_slice(line).map_err(invalid)?;
                let (rid, rpar) = c.representative.parts();
                for member in &c.members {
                    let (mid, mpar) = member.parts();
                    cluster.append_value(self.clusters);
                    size.append_value(c.size);
                    representative_id.append_value(&rid);
                    representative_paragraph.append_option(rpar);
                    id.append_value(mid);
                    paragraph.append_option(mpar);
                    self.rows += 1;
                }
                self.clusters += 1;
            }
        }
        Ok(())
    }

    /// Writes the rows gathered so far as one batch.
    fn write_rows(&mut self) -> io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = match &mut self.builders {
            Builders::Matches {
                id,
                paragraph,
                rank,
                match_id,
                match_paragraph,
                kind,
                scores,
            } => {
                let mut c: Vec<ArrayRef> = vec![
                    Arc::new(id.finish()),
                    Arc::new(paragraph.finish()),
                    Arc::new(rank.finish()),
                    Arc::new(match_id.finish()),
                    Arc::new(match_paragraph.finish()),
                    Arc::new(kind.finish()),
                ];
                c.extend(scores.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
                c
            }
            Builders::Clusters {
                cluster,
                size,
                representative_id,
                representative_paragraph,
                id,
                paragraph,
            } => vec![
                Arc::new(cluster.finish()),
                Arc::new(size.finish()),
                Arc::new(representative_id.finish()),
                Arc::new(representative_paragraph.finish()),
                Arc::new(id.finish()),
                Arc::new(paragraph.finish()),
            ],
        };
        self.rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(invalid)?;
        self.writer.write(&batch).map_err(invalid)
    }

    /// Writes what is left and the footer.
    pub fn close(mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            return Err(invalid("the last line is incomplete"));
        }
        self.write_rows()?;
        self.writer.close().map(|_| ()).map_err(invalid)
    }
}

impl Write for ParquetLines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let pending = std::mem::take(&mut self.pending);
        let mut start = 0;
        while let Some(len) = pending[start..].iter().position(|&b| b == b'\n') {
            self.line(&pending[start..start + len])?;
            start += len + 1;
        }
        self.pending = pending[start..].to_vec();
        if self.rows >= 1 << 16 {
            self.write_rows()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_rows()
    }
}
