"""neardup: find recycled text — paragraphs that repeat, lightly edited, earlier text.

- ``Engine``: an in-memory index; ``submit``/``check`` report, paragraph by paragraph,
  which earlier paragraphs a text repeats (kind, exact scores, code-point spans).
- ``dedup``: the batch deduplication of ``neardup dedup`` over dicts, a pandas DataFrame
  or a pyarrow Table.
- ``analyze``: band keys, content hashes and shingle sets as Arrow or numpy columns.
- ``MinHash`` and ``MinHashLSH``: a datasketch-compatible subset (switch by changing the
  import; hash values differ from datasketch's, their meaning does not).

Everything runs in the Rust crate ``neardup``; this package converts values and releases
the GIL while the crate works.
"""

from ._neardup import (
    AlreadyExistsError,
    Engine,
    MinHash,
    dedup_defaults,
    engine_defaults,
    minhash_implementation,
)
from ._analyze import analyze
from ._dedup import BadRecord, DedupResult, DedupSummary, dedup
from ._lsh import MinHashLSH, MinHashLSHDeletionSession, MinHashLSHInsertionSession
from ._report import (
    Document,
    EngineSettings,
    Match,
    Paragraph,
    ParagraphReport,
    Report,
    SourceParagraph,
    Span,
    Stats,
    Submitted,
    Summary,
)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError",
    "BadRecord",
    "DedupResult",
    "DedupSummary",
    "Document",
    "Engine",
    "EngineSettings",
    "Match",
    "MinHash",
    "MinHashLSH",
    "MinHashLSHDeletionSession",
    "MinHashLSHInsertionSession",
    "Paragraph",
    "ParagraphReport",
    "Report",
    "SourceParagraph",
    "Span",
    "Stats",
    "Submitted",
    "Summary",
    "analyze",
    "dedup",
    "dedup_defaults",
    "engine_defaults",
    "minhash_implementation",
]
