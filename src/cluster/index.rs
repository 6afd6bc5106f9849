//! [`RedisIndex`]: the [`Index`] of one namespace, kept in a Redis Cluster, so that any
//! number of stateless `neardup serve` replicas share it.
//!
//! Layout (`N` is the namespace's number in decimal, `D` a document id in hex; `{..}` is
//! the hash tag that picks the slot):
//! - buckets: fields of compact hashes `nd:{N:b:PPP}` (bands) and `nd:{N:e:PPP}` (exact
//!   copies), `PPP` the top 12 bits of the bucket, the field its 4 bytes (the embedded
//!   index's bucket, [`bucket_of`]), the value the paragraph ids, 8 bytes each, oldest
//!   first. A bucket of more than [`SPILL`] ids moves to its own string key in the same
//!   slot, `nd:{N:b:PPP}:BUCKET`, so hash values stay small enough for Redis' listpack
//!   encoding (about 23 bytes per entry instead of 91 for a key per entry). Keys are never
//!   tagged by band: every band's buckets spread over every node.
//! - a document: `nd:{N:d:D}:m` (catalog entry and stamps, a hash), `:h` (96-byte heads
//!   of its paragraph records, [`HEAD_LEN`]), `:s` (their shingle sets, u32 each), `:t`
//!   (its zstd text); one tag, so creating or deleting a document is one atomic step.
//! - `nd:N:n:NAME` → `D` (claimed with `SET NX`), `nd:N:clock` (the submission clock),
//!   `nd:N:pending` (documents still appending, by lease deadline), `nd:N:stats` (counts).
//!
//! Paragraph ids pack the document and the record's position (`D << 20 | k`), so a head is
//! found without another lookup. Every read-and-append, read and removal of a bucket is
//! one Lua script on its one key (atomic per bucket, the [`Index`] contract), with the
//! bucket read policy applied on the server; the scripts of one step are issued
//! concurrently. Heads (sketch, set length, place) come before sets, and a set is fetched
//! only for a candidate its sketch does not reject.
//!
//! A submission that dies between its `create` and its `finish` leaves a pending
//! document. By name it is refused as UNAVAILABLE (retry) while in progress, never
//! reported as stored; once its lease has passed it is no source of any report, and it is
//! removed ([`RedisIndex::reap`], also on the next lookup of its name).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::future::try_join_all;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, Script, Value};

use crate::analysis::{Analyzer, ParagraphRecord};
use crate::error::{Error, Result};
use crate::index::{
    BandKey, Bucket, Created, DocId, DocState, Document, Head, IN_PROGRESS, Index, Lookup, Map,
    ParagraphId, RESTORED, Read, ReadPolicy, SKETCH_LEN, Sketch, exact_key,
};
use crate::text::Split;

/// Bits of a paragraph id that give the record's position in its document.
const PARAGRAPH_BITS: u32 = 20;
/// Bytes of one head in a document's `:h` string.
pub const HEAD_LEN: usize = 32 + SKETCH_LEN;
/// Ids a bucket holds in its hash field before it moves to its own key (8 bytes each:
/// 56 bytes stay under Redis' default `hash-max-listpack-value` of 64).
pub const SPILL: usize = 7;
/// Document ids a replica takes from the cluster at a time.
const ID_BLOCK: u64 = 256;

/// The bucket of a key, as the embedded posting maps have it (their top 32 bits).
pub fn bucket_of(key: BandKey) -> u32 {
    (key >> 32) as u32
}

/// A Redis error as the engine sees it: the index is unavailable, retry; or, when the
/// cluster is at its `maxmemory` (Redis' OOM error), it is full, and a retry must wait
/// until room is made.
pub(crate) fn unavailable(e: redis::RedisError) -> Error {
    if e.code() == Some("OOM") {
        return Error::TooLarge(format!(
            "the Redis Cluster is full (at its maxmemory): {e}; delete documents or give \
             the cluster more memory"
        ));
    }
    Error::Unavailable(format!("Redis Cluster: {e}"))
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Shared by the scripts below: the bucket in `KEYS[1]` field `ARGV[1]` (or, spilled, in
/// `KEYS[2]`), and `ReadPolicy::select` for a bucket with `loc` more ids elsewhere.
const COMMON: &str = r#"
local h, sk, f = KEYS[1], KEYS[2], ARGV[1]
local maxb, sample = tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HGET', h, f)
local spilled = (v == 'S')
if not v then v = '' end
local function len()
  if spilled then return redis.call('STRLEN', sk) / 8 end
  return #v / 8
end
local function sel(n, loc)
  if n + loc <= maxb then
    if n > 0 then return true, n - 1 end
    return false, 0
  end
  local budget = sample
  if budget == 0 then return false, 0 end
  local gf = n > 0
  local lr = loc
  if (not gf) and loc > 0 then lr = lr - 1 end
  budget = budget - 1
  if lr > budget then lr = budget end
  budget = budget - lr
  local gr = n - 1
  if gr < 0 then gr = 0 end
  if gr > budget then gr = budget end
  return gf, gr
end
local function pick(n, gf, gr)
  local r = ''
  if spilled then
    if gf then r = redis.call('GETRANGE', sk, 0, 7) end
    if gr > 0 then r = r .. redis.call('GETRANGE', sk, (n - gr) * 8, n * 8 - 1) end
  else
    if gf then r = string.sub(v, 1, 8) end
    if gr > 0 then r = r .. string.sub(v, (n - gr) * 8 + 1, n * 8) end
  end
  return r
end
"#;

/// Appends `ARGV[6..]` in order; with `ARGV[4] == '1'`, returns per id what the policy
/// read of the bucket just before it. `ARGV[5]`: the spill threshold in bytes.
const APPEND_READ: &str = r#"
local want, spill = ARGV[4] == '1', tonumber(ARGV[5])
local out = {}
for i = 6, #ARGV do
  local n = len()
  if want then out[#out + 1] = pick(n, sel(n, 0)) end
  if spilled then
    redis.call('APPEND', sk, ARGV[i])
  else
    v = v .. ARGV[i]
    if #v > spill then
      redis.call('SET', sk, v)
      redis.call('HSET', h, f, 'S')
      spilled = true
    end
  end
end
if not spilled then redis.call('HSET', h, f, v) end
if want then return out end
return 0
"#;

/// `{len, ids read}` of the bucket, with `ARGV[4]` more ids held by the caller.
const READ: &str = r#"
local n = len()
if n == 0 then return {0, ''} end
return {n, pick(n, sel(n, tonumber(ARGV[4])))}
"#;

/// Removes one occurrence of each of `ARGV[4..]` (keeping the order).
const REMOVE: &str = r#"
if v == '' then return 0 end
if spilled then v = redis.call('GET', sk) or '' end
for i = 4, #ARGV do
  for p = 1, #v, 8 do
    if string.sub(v, p, p + 7) == ARGV[i] then
      v = string.sub(v, 1, p - 1) .. string.sub(v, p + 8)
      break
    end
  end
end
if #v == 0 then
  redis.call('HDEL', h, f)
  if spilled then redis.call('DEL', sk) end
elseif spilled then redis.call('SET', sk, v)
else redis.call('HSET', h, f, v) end
return 1
"#;

/// Creates a document's keys at once: `KEYS` m, h, s, t; `ARGV` heads, sets, text (empty:
/// none), then the catalog's field/value pairs.
const CREATE: &str = r#"
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3]) end
local fv = {}
for i = 4, #ARGV do fv[#fv + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fv))
return 1
"#;

/// Stamps a document finished, if it is still there (a reaped one is not recreated).
const FINISH: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'fi', ARGV[1])
return 1
"#;

/// The heads `ARGV` (positions) of `KEYS[1]`; with `KEYS[2]`, their sets instead.
const HEADS: &str = r#"
local out = {}
for i = 1, #ARGV do
  local k = tonumber(ARGV[i])
  if KEYS[2] then
    local hd = redis.call('GETRANGE', KEYS[1], k * 96 + 16, k * 96 + 23)
    if #hd < 8 then out[i] = false else
      local off, n = struct.unpack('<I4I4', hd)
      if n == 0 then out[i] = '' else
        out[i] = redis.call('GETRANGE', KEYS[2], off * 4, (off + n) * 4 - 1)
      end
    end
  else
    out[i] = redis.call('GETRANGE', KEYS[1], k * 96, k * 96 + 95)
  end
end
return out
"#;

/// Deletes a document's keys; returns whether its catalog entry was there.
const DELETE: &str = r#"
local e = redis.call('EXISTS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return e
"#;

/// Deletes `KEYS[1]` if it holds `ARGV[1]` (a name still pointing at its document).
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// The Lua scripts, loaded once per process.
struct Scripts {
    append_read: Script,
    read: Script,
    remove: Script,
    create: Script,
    finish: Script,
    heads: Script,
    delete: Script,
    release: Script,
}

impl Scripts {
    fn new() -> Scripts {
        let bucket = |body: &str| Script::new(&format!("{COMMON}{body}"));
        Scripts {
            append_read: bucket(APPEND_READ),
            read: bucket(READ),
            remove: bucket(REMOVE),
            create: Script::new(CREATE),
            finish: Script::new(FINISH),
            heads: Script::new(HEADS),
            delete: Script::new(DELETE),
            release: Script::new(RELEASE),
        }
    }
}

/// Document ids taken from the cluster and not yet used (shared by a replica's indexes).
#[derive(Debug, Default)]
pub struct IdBlock(Mutex<(u64, u64)>);

/// What every namespace's index of one replica shares.
pub struct Shared {
    conn: ClusterConnection,
    scripts: Scripts,
    ids: IdBlock,
    analyzer: Analyzer,
    lease_ms: u64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("lease_ms", &self.lease_ms)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// What the indexes over `conn` share: `analyzer` gives the band keys of stored sets
    /// (for reaping), `lease_ms` is how long a pending submission may take.
    pub fn new(conn: ClusterConnection, analyzer: Analyzer, lease_ms: u64) -> Shared {
        Shared {
            conn,
            scripts: Scripts::new(),
            ids: IdBlock::default(),
            analyzer,
            lease_ms,
        }
    }

    /// A connection to the cluster (cheap: connections are multiplexed).
    pub fn conn(&self) -> ClusterConnection {
        self.conn.clone()
    }

    async fn next_id(&self) -> Result<DocId> {
        {
            let mut block = self.ids.0.lock().unwrap_or_else(|e| e.into_inner());
            if block.0 < block.1 {
                block.0 += 1;
                return Ok(block.0 - 1);
            }
        }
        let end: u64 = self
            .conn()
            .incr("nd:ids", ID_BLOCK)
            .await
            .map_err(unavailable)?;
        if end >> (64 - PARAGRAPH_BITS) != 0 {
            return Err(Error::TooLarge(
                "the cluster has used every document id".into(),
            ));
        }
        let mut block = self.ids.0.lock().unwrap_or_else(|e| e.into_inner());
        *block = (end - ID_BLOCK + 1, end);
        Ok(end - ID_BLOCK)
    }
}

tokio::task_local! {
    /// The text of the submission being created in this task, stored with its records.
    static TEXT: Arc<str>;
}

/// Runs `f` (a submission or restore) with `text` as the text [`Index::create`] stores
/// with the document's records, in the same atomic step.
pub async fn with_text<F: Future>(text: Arc<str>, f: F) -> F::Output {
    TEXT.scope(text, f).await
}

/// Entries grouped by bucket (map and bucket), each with its position in the call.
type Groups<T> = Vec<((Map, u32), Vec<(usize, T)>)>;

/// The index of one namespace in the cluster; see the module docs.
#[derive(Debug, Clone)]
pub struct RedisIndex {
    shared: Arc<Shared>,
    ns: u64,
}

/// A document's keys.
struct DocKeys {
    meta: String,
    heads: String,
    sets: String,
    text: String,
}

fn pid(doc: DocId, k: usize) -> ParagraphId {
    (doc << PARAGRAPH_BITS) | k as u64
}

fn split_pid(id: ParagraphId) -> (DocId, u64) {
    (id >> PARAGRAPH_BITS, id & ((1 << PARAGRAPH_BITS) - 1))
}

fn split_code(split: Split) -> u8 {
    match split {
        Split::Auto => 0,
        Split::BlankLines => 1,
        Split::Lines => 2,
        Split::None => 3,
    }
}

fn split_of(code: u64) -> Split {
    match code {
        1 => Split::BlankLines,
        2 => Split::Lines,
        3 => Split::None,
        _ => Split::Auto,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}

/// A decoded head (with where its set is in the document's `:s`).
struct RawHead {
    index: u32,
    start: u32,
    end: u32,
    line: u32,
    set_off: u32,
    set_len: u32,
    content_hash: u64,
    sketch: Sketch,
}

fn encode_head(r: &ParagraphRecord, set_off: u32, out: &mut Vec<u8>) {
    for v in [r.index, r.start, r.end, r.line, set_off, r.set.len() as u32] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&r.content_hash.to_le_bytes());
    out.extend_from_slice(&r.sketch.0);
}

fn decode_head(b: &[u8]) -> Option<RawHead> {
    if b.len() != HEAD_LEN {
        return None;
    }
    let mut sketch = [0u8; SKETCH_LEN];
    sketch.copy_from_slice(&b[32..]);
    Some(RawHead {
        index: u32_at(b, 0),
        start: u32_at(b, 4),
        end: u32_at(b, 8),
        line: u32_at(b, 12),
        set_off: u32_at(b, 16),
        set_len: u32_at(b, 20),
        content_hash: u64::from_le_bytes(b[24..32].try_into().unwrap_or_default()),
        sketch: Sketch(sketch),
    })
}

fn decode_set(b: &[u8]) -> Arc<[u32]> {
    b.chunks_exact(4).map(|c| u32_at(c, 0)).collect()
}

fn decode_ids(b: &[u8]) -> Vec<ParagraphId> {
    b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// A stored catalog entry, as its `:m` hash holds it.
struct Meta {
    document: Document,
    state: DocState,
    created_ms: u64,
}

impl RedisIndex {
    /// The index of namespace number `ns`.
    pub fn new(shared: Arc<Shared>, ns: u64) -> RedisIndex {
        RedisIndex { shared, ns }
    }

    /// The namespace's number.
    pub fn namespace(&self) -> u64 {
        self.ns
    }

    fn conn(&self) -> ClusterConnection {
        self.shared.conn()
    }

    /// Takes `doc` off the pending list (its submission finished, failed or was reaped).
    async fn unpend(&self, doc: DocId) -> Result<()> {
        self.conn()
            .zrem(self.key("pending"), doc)
            .await
            .map_err(unavailable)
    }

    /// Deletes a document's catalog entry, heads, sets and text in one script: 1 when
    /// they existed.
    async fn drop_records(&self, keys: &DocKeys) -> Result<i64> {
        self.shared
            .scripts
            .delete
            .key(&keys.meta)
            .key(&keys.heads)
            .key(&keys.sets)
            .key(&keys.text)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)
    }

    fn doc_keys(&self, doc: DocId) -> DocKeys {
        let base = format!("nd:{{{}:d:{doc:x}}}", self.ns);
        DocKeys {
            meta: format!("{base}:m"),
            heads: format!("{base}:h"),
            sets: format!("{base}:s"),
            text: format!("{base}:t"),
        }
    }

    fn name_key(&self, name: &str) -> Vec<u8> {
        let mut k = format!("nd:{}:n:", self.ns).into_bytes();
        k.extend_from_slice(name.as_bytes());
        k
    }

    fn key(&self, what: &str) -> String {
        format!("nd:{}:{what}", self.ns)
    }

    /// The hash and spill keys and the field of a bucket.
    fn bucket_keys(&self, map: Map, b: u32) -> (String, String, [u8; 4]) {
        let m = match map {
            Map::Exact => 'e',
            Map::Bands => 'b',
        };
        let hash = format!("nd:{{{}:{m}:{:03x}}}", self.ns, b >> 20);
        let spill = format!("{hash}:{b:08x}");
        (hash, spill, b.to_be_bytes())
    }

    /// Entries grouped by bucket, first appearance first, each group in call order.
    fn groups<T: Copy>(entries: impl Iterator<Item = (Bucket, T)>) -> Groups<T> {
        let mut at: std::collections::HashMap<(Map, u32), usize> = Default::default();
        let mut groups: Groups<T> = Vec::new();
        for (i, (b, t)) in entries.enumerate() {
            let k = (b.map, bucket_of(b.key));
            let g = *at.entry(k).or_insert_with(|| {
                groups.push((k, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push((i, t));
        }
        groups
    }

    async fn append_groups(
        &self,
        entries: Vec<(Bucket, (ParagraphId, ReadPolicy))>,
        want: bool,
    ) -> Result<Vec<Vec<ParagraphId>>> {
        let n = entries.len();
        let groups = Self::groups(entries.into_iter());
        let calls = groups.iter().map(|((map, b), items)| {
            let (hash, spill, field) = self.bucket_keys(*map, *b);
            let policy = items[0].1.1;
            let mut inv = self.shared.scripts.append_read.key(hash);
            inv.key(spill)
                .arg(&field[..])
                .arg(policy.max_bucket)
                .arg(policy.sample)
                .arg(if want { "1" } else { "0" })
                .arg(SPILL * 8);
            for (_, (id, _)) in items {
                inv.arg(&id.to_le_bytes()[..]);
            }
            let mut conn = self.conn();
            async move {
                let v: Value = inv.invoke_async(&mut conn).await.map_err(unavailable)?;
                Ok::<_, Error>(v)
            }
        });
        let replies = try_join_all(calls).await?;
        let mut out = vec![Vec::new(); n];
        if want {
            for ((_, items), reply) in groups.iter().zip(replies) {
                let Value::Array(values) = reply else {
                    return Err(Error::Unavailable(
                        "unexpected reply to a bucket append".into(),
                    ));
                };
                for ((i, _), v) in items.iter().zip(values) {
                    out[*i] = bytes(&v).map(decode_ids).unwrap_or_default();
                }
            }
        }
        Ok(out)
    }

    async fn meta(&self, doc: DocId) -> Result<Option<Meta>> {
        let keys = self.doc_keys(doc);
        let fields: BTreeMap<String, Vec<u8>> =
            self.conn().hgetall(&keys.meta).await.map_err(unavailable)?;
        if fields.is_empty() {
            return Ok(None);
        }
        let text = |k: &str| {
            fields
                .get(k)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let num = |k: &str| text(k).parse::<u64>().unwrap_or(0);
        let name: Arc<str> = text("name").into();
        let metadata =
            serde_json::from_slice(fields.get("md").map_or(&b"{}"[..], |v| v)).map_err(|e| {
                Error::Unavailable(format!("a catalog entry in the cluster is corrupt: {e}"))
            })?;
        Ok(Some(Meta {
            document: Document {
                id: doc,
                name: name.clone(),
                metadata,
                stored_at_ms: num("at"),
                text_hash: num("th"),
                split: split_of(num("sp")),
                paragraphs: num("np") as usize,
            },
            state: DocState {
                name,
                started: num("st"),
                finished: num("fi"),
            },
            created_ms: num("t0"),
        }))
    }

    fn expired(&self, meta: &Meta) -> bool {
        meta.state.finished == IN_PROGRESS
            && meta.created_ms.saturating_add(self.shared.lease_ms) < now_ms()
    }

    /// Removes a pending document whose lease has passed (a submission that died); returns
    /// whether it did.
    pub async fn reap(&self, doc: DocId) -> Result<bool> {
        self.reap_if(doc, |meta| self.expired(meta)).await
    }

    /// Takes back the pending document under `name` with this text hash (a submission of
    /// this replica that failed half-way), without waiting for its lease. Should it be
    /// another replica's submission still in flight, that one fails to finish and is
    /// retried: taking back early is always safe.
    pub async fn abandon(&self, name: &str, text_hash: u64) -> Result<bool> {
        let Some(doc) = self.id_of(name).await? else {
            return Ok(false);
        };
        self.reap_if(doc, |meta| {
            meta.state.finished == IN_PROGRESS && meta.document.text_hash == text_hash
        })
        .await
    }

    async fn reap_if(&self, doc: DocId, due: impl Fn(&Meta) -> bool) -> Result<bool> {
        let Some(meta) = self.meta(doc).await? else {
            self.unpend(doc).await?;
            return Ok(false);
        };
        if !due(&meta) {
            return Ok(false);
        }
        let buckets: Vec<(ParagraphId, Vec<Bucket>)> = self
            .records(doc)
            .await?
            .into_iter()
            .map(|(id, r)| {
                let keys = std::iter::once(Bucket {
                    map: Map::Exact,
                    key: exact_key(r.content_hash),
                })
                .chain(
                    self.shared
                        .analyzer
                        .band_keys_of(&r.set)
                        .into_iter()
                        .map(|key| Bucket {
                            map: Map::Bands,
                            key,
                        }),
                )
                .collect();
                (id, keys)
            })
            .collect();
        tracing::warn!(namespace = self.ns, document_id = %meta.document.name, "reaping a submission that did not finish within its lease");
        self.delete(&meta.document, &buckets).await?;
        Ok(true)
    }

    /// Reaps every pending document of this namespace whose lease has passed; returns how
    /// many.
    pub async fn reap_expired(&self) -> Result<usize> {
        let due: Vec<u64> = self
            .conn()
            .zrangebyscore(self.key("pending"), 0, now_ms())
            .await
            .map_err(unavailable)?;
        let mut reaped = 0;
        for doc in due {
            reaped += self.reap(doc).await? as usize;
        }
        Ok(reaped)
    }

    /// Documents and indexed paragraphs of this namespace.
    pub async fn counts(&self) -> Result<(usize, usize)> {
        let (d, p): (Option<i64>, Option<i64>) = redis::cmd("HMGET")
            .arg(self.key("stats"))
            .arg("d")
            .arg("p")
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok((
            d.unwrap_or(0).max(0) as usize,
            p.unwrap_or(0).max(0) as usize,
        ))
    }

    /// The stored text of a document.
    pub async fn text(&self, doc: DocId) -> Result<Option<String>> {
        let z: Option<Vec<u8>> = self
            .conn()
            .get(self.doc_keys(doc).text)
            .await
            .map_err(unavailable)?;
        z.map(|z| {
            zstd::stream::decode_all(&z[..])
                .ok()
                .and_then(|t| String::from_utf8(t).ok())
                .ok_or_else(|| Error::Unavailable("a stored text in the cluster is corrupt".into()))
        })
        .transpose()
    }

    /// The id stored under `name`, if any.
    async fn id_of(&self, name: &str) -> Result<Option<DocId>> {
        self.conn()
            .get(self.name_key(name))
            .await
            .map_err(unavailable)
    }

    async fn clock(&self) -> Result<u64> {
        let v: u64 = self
            .conn()
            .incr(self.key("clock"), 1)
            .await
            .map_err(unavailable)?;
        Ok(v + RESTORED)
    }
}

// The trait's signatures, Send bound included, are kept as the trait states them.
#[allow(clippy::manual_async_fn)]
impl Index for RedisIndex {
    fn document(&self, name: &str) -> impl Future<Output = Result<Option<Document>>> + Send {
        async move {
            let Some(doc) = self.id_of(name).await? else {
                return Ok(None);
            };
            let Some(meta) = self.meta(doc).await? else {
                // A name left behind by a removal cut short.
                let _: i64 = self
                    .shared
                    .scripts
                    .release
                    .key(self.name_key(name))
                    .arg(doc)
                    .invoke_async(&mut self.conn())
                    .await
                    .map_err(unavailable)?;
                return Ok(None);
            };
            if meta.state.finished == IN_PROGRESS {
                if self.expired(&meta) && self.reap(doc).await? {
                    return Ok(None);
                }
                return Err(Error::Unavailable(format!(
                    "document {name:?} is being submitted by another call; retry shortly"
                )));
            }
            Ok(Some(meta.document))
        }
    }

    fn create(
        &self,
        document: Document,
        records: &[ParagraphRecord],
        restored: bool,
    ) -> impl Future<Output = Result<Created>> + Send {
        async move {
            if records.len() >= 1 << PARAGRAPH_BITS {
                return Err(Error::TooLarge(format!(
                    "{} paragraphs, more than a document in the cluster can hold ({})",
                    records.len(),
                    (1 << PARAGRAPH_BITS) - 1
                )));
            }
            let text = TEXT.try_with(|t| t.clone()).ok();
            let id = self.shared.next_id().await?;
            let keys = self.doc_keys(id);
            let created_ms = now_ms();
            let (started, finished) = if restored {
                (RESTORED, RESTORED)
            } else {
                let pending = self.conn();
                let (started, ()) = tokio::try_join!(self.clock(), async move {
                    let mut pending = pending;
                    pending
                        .zadd::<_, _, _, ()>(
                            self.key("pending"),
                            id,
                            created_ms + self.shared.lease_ms,
                        )
                        .await
                        .map_err(unavailable)
                })?;
                (started, IN_PROGRESS)
            };
            let mut heads = Vec::with_capacity(records.len() * HEAD_LEN);
            let mut sets = Vec::new();
            let mut off = 0u32;
            for r in records {
                encode_head(r, off, &mut heads);
                off += r.set.len() as u32;
                for s in &r.set {
                    sets.extend_from_slice(&s.to_le_bytes());
                }
            }
            let text = match text {
                Some(t) => zstd::bulk::compress(t.as_bytes(), 3)
                    .map_err(|e| Error::Unavailable(format!("cannot compress a text: {e}")))?,
                None => Vec::new(),
            };
            let metadata = serde_json::to_string(&document.metadata).unwrap_or_default();
            let mut inv = self.shared.scripts.create.key(&keys.meta);
            inv.key(&keys.heads)
                .key(&keys.sets)
                .key(&keys.text)
                .arg(heads)
                .arg(sets)
                .arg(text)
                .arg("name")
                .arg(&*document.name)
                .arg("md")
                .arg(metadata)
                .arg("at")
                .arg(document.stored_at_ms)
                .arg("th")
                .arg(document.text_hash)
                .arg("sp")
                .arg(split_code(document.split))
                .arg("np")
                .arg(document.paragraphs)
                .arg("nr")
                .arg(records.len())
                .arg("st")
                .arg(started)
                .arg("fi")
                .arg(finished)
                .arg("t0")
                .arg(created_ms);
            let _: i64 = inv
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
            let claimed: bool = redis::cmd("SET")
                .arg(self.name_key(&document.name))
                .arg(id)
                .arg("NX")
                .query_async::<Option<String>>(&mut self.conn())
                .await
                .map_err(unavailable)?
                .is_some();
            if !claimed {
                self.drop_records(&keys).await?;
                self.unpend(id).await?;
                return Err(Error::AlreadyExists(document.name.to_string()));
            }
            let counted: redis::RedisResult<()> = redis::pipe()
                .hincr(self.key("stats"), "d", 1)
                .hincr(self.key("stats"), "p", records.len())
                .query_async(&mut self.conn())
                .await;
            counted.map_err(unavailable)?;
            Ok(Created {
                id,
                paragraphs: (0..records.len()).map(|k| pid(id, k)).collect(),
                started,
            })
        }
    }

    fn append_read(
        &self,
        entries: &[(Bucket, ParagraphId, ReadPolicy)],
    ) -> impl Future<Output = Result<Vec<Vec<ParagraphId>>>> + Send {
        let entries: Vec<_> = entries.iter().map(|&(b, id, p)| (b, (id, p))).collect();
        self.append_groups(entries, true)
    }

    fn append(&self, entries: &[(Bucket, ParagraphId)]) -> impl Future<Output = Result<()>> + Send {
        let none = ReadPolicy {
            max_bucket: 0,
            sample: 0,
        };
        let entries: Vec<_> = entries.iter().map(|&(b, id)| (b, (id, none))).collect();
        async move {
            self.append_groups(entries, false).await?;
            Ok(())
        }
    }

    fn finish(&self, doc: DocId) -> impl Future<Output = Result<()>> + Send {
        async move {
            let stamp = self.clock().await?;
            let done: i64 = self
                .shared
                .scripts
                .finish
                .key(self.doc_keys(doc).meta)
                .arg(stamp)
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
            if done == 0 {
                return Err(Error::Unavailable(
                    "the submission took longer than its lease and was reaped; retry".into(),
                ));
            }
            self.unpend(doc).await?;
            Ok(())
        }
    }

    fn read(&self, lookups: &[Lookup]) -> impl Future<Output = Result<Vec<Read>>> + Send {
        let calls: Vec<_> = lookups
            .iter()
            .map(|l| {
                let (hash, spill, field) = self.bucket_keys(l.bucket.map, bucket_of(l.bucket.key));
                let mut inv = self.shared.scripts.read.key(hash);
                inv.key(spill)
                    .arg(&field[..])
                    .arg(l.policy.max_bucket)
                    .arg(l.policy.sample)
                    .arg(l.local);
                let mut conn = self.conn();
                async move {
                    let (len, ids): (usize, Vec<u8>) =
                        inv.invoke_async(&mut conn).await.map_err(unavailable)?;
                    Ok::<_, Error>(Read {
                        len,
                        ids: decode_ids(&ids),
                    })
                }
            })
            .collect();
        try_join_all(calls)
    }

    fn heads(&self, ids: &[ParagraphId]) -> impl Future<Output = Result<Vec<Option<Head>>>> + Send {
        async move {
            let got = self.per_document(ids, false).await?;
            let mut out = Vec::with_capacity(ids.len());
            for (&id, raw) in ids.iter().zip(got) {
                let head = raw.as_deref().and_then(decode_head).map(|h| Head {
                    doc: split_pid(id).0,
                    index: h.index,
                    start: h.start,
                    end: h.end,
                    line: h.line,
                    content_hash: h.content_hash,
                    sketch: h.sketch,
                    set_len: h.set_len,
                    set: None,
                });
                out.push(head);
            }
            Ok(out)
        }
    }

    fn sets(
        &self,
        ids: &[ParagraphId],
    ) -> impl Future<Output = Result<Vec<Option<Arc<[u32]>>>>> + Send {
        async move {
            let got = self.per_document(ids, true).await?;
            Ok(got.into_iter().map(|s| s.map(|b| decode_set(&b))).collect())
        }
    }

    fn documents(
        &self,
        ids: &[DocId],
    ) -> impl Future<Output = Result<Vec<Option<DocState>>>> + Send {
        async move {
            let metas = try_join_all(ids.iter().map(|&d| self.meta(d))).await?;
            Ok(metas
                .into_iter()
                .map(|m| m.filter(|m| !self.expired(m)).map(|m| m.state))
                .collect())
        }
    }

    fn records(
        &self,
        doc: DocId,
    ) -> impl Future<Output = Result<Vec<(ParagraphId, ParagraphRecord)>>> + Send {
        async move {
            let keys = self.doc_keys(doc);
            let (heads, sets): (Vec<u8>, Vec<u8>) = redis::cmd("MGET")
                .arg(&keys.heads)
                .arg(&keys.sets)
                .query_async::<(Option<Vec<u8>>, Option<Vec<u8>>)>(&mut self.conn())
                .await
                .map(|(h, s)| (h.unwrap_or_default(), s.unwrap_or_default()))
                .map_err(unavailable)?;
            let mut out = Vec::with_capacity(heads.len() / HEAD_LEN);
            for (k, b) in heads.chunks_exact(HEAD_LEN).enumerate() {
                let Some(h) = decode_head(b) else { continue };
                let (from, to) = (h.set_off as usize * 4, (h.set_off + h.set_len) as usize * 4);
                let set = sets
                    .get(from..to)
                    .map(decode_set)
                    .unwrap_or_else(|| Arc::from([]));
                out.push((
                    pid(doc, k),
                    ParagraphRecord {
                        index: h.index,
                        start: h.start,
                        end: h.end,
                        line: h.line,
                        content_hash: h.content_hash,
                        set: set.to_vec(),
                        band_keys: Vec::new(),
                        sketch: h.sketch,
                    },
                ));
            }
            Ok(out)
        }
    }

    fn delete(
        &self,
        document: &Document,
        buckets: &[(ParagraphId, Vec<Bucket>)],
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            let keys = self.doc_keys(document.id);
            let _: i64 = self
                .shared
                .scripts
                .release
                .key(self.name_key(&document.name))
                .arg(document.id)
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
            let existed = self.drop_records(&keys).await?;
            self.unpend(document.id).await?;
            if existed == 1 {
                let counted: redis::RedisResult<()> = redis::pipe()
                    .hincr(self.key("stats"), "d", -1)
                    .hincr(self.key("stats"), "p", -(buckets.len() as i64))
                    .query_async(&mut self.conn())
                    .await;
                counted.map_err(unavailable)?;
            }
            // The records are gone: a query that still finds an id in a bucket drops it.
            let entries = buckets
                .iter()
                .flat_map(|(id, bs)| bs.iter().map(move |&b| (b, *id)));
            let groups = Self::groups(entries);
            try_join_all(groups.iter().map(|((map, b), items)| {
                let (hash, spill, field) = self.bucket_keys(*map, *b);
                let mut inv = self.shared.scripts.remove.key(hash);
                inv.key(spill).arg(&field[..]).arg(0).arg(0);
                for (_, id) in items {
                    inv.arg(&id.to_le_bytes()[..]);
                }
                let mut conn = self.conn();
                async move {
                    let _: i64 = inv.invoke_async(&mut conn).await.map_err(unavailable)?;
                    Ok::<_, Error>(())
                }
            }))
            .await?;
            Ok(())
        }
    }
}

impl RedisIndex {
    /// Heads (or, with `sets`, shingle sets) of paragraph records, one script per
    /// document, issued concurrently.
    async fn per_document(&self, ids: &[ParagraphId], sets: bool) -> Result<Vec<Option<Vec<u8>>>> {
        let mut by_doc: BTreeMap<DocId, Vec<(usize, u64)>> = BTreeMap::new();
        for (i, &id) in ids.iter().enumerate() {
            let (doc, k) = split_pid(id);
            by_doc.entry(doc).or_default().push((i, k));
        }
        let calls = by_doc.iter().map(|(&doc, items)| {
            let keys = self.doc_keys(doc);
            let mut inv = self.shared.scripts.heads.key(keys.heads);
            if sets {
                inv.key(keys.sets);
            }
            for (_, k) in items {
                inv.arg(*k);
            }
            let mut conn = self.conn();
            async move {
                let v: Vec<Option<Vec<u8>>> =
                    inv.invoke_async(&mut conn).await.map_err(unavailable)?;
                Ok::<_, Error>(v)
            }
        });
        let replies = try_join_all(calls).await?;
        let mut out = vec![None; ids.len()];
        for ((_, items), reply) in by_doc.iter().zip(replies) {
            for ((i, _), v) in items.iter().zip(reply) {
                out[*i] = v.filter(|b| sets || !b.is_empty());
            }
        }
        Ok(out)
    }
}
