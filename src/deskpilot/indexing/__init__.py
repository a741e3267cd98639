"""Indexing: pages into heading-aware chunks, chunks into vectors.

No database here: callers persist chunks (ids, hashes, text, vectors) and hand them to
`deskpilot.retrieval`.
"""

from deskpilot.indexing._chunking import (
    Chunk,
    Chunker,
    TokenCounter,
    approximate_token_count,
    code_share,
    context_prefix,
    page_quality,
    prose_score,
)
from deskpilot.indexing._embedders import (
    Embedder,
    HashingEmbedder,
    OnnxEmbedder,
    OpenAIEmbedder,
    Vectors,
    normalize_rows,
)
from deskpilot.indexing._model_files import (
    MINILM_MODEL_ID,
    ModelFiles,
    ModelUnavailable,
    prepare_minilm,
    wheel_model_dir,
)

__all__ = [
    "MINILM_MODEL_ID",
    "Chunk",
    "Chunker",
    "Embedder",
    "HashingEmbedder",
    "ModelFiles",
    "ModelUnavailable",
    "OnnxEmbedder",
    "OpenAIEmbedder",
    "TokenCounter",
    "Vectors",
    "approximate_token_count",
    "code_share",
    "context_prefix",
    "normalize_rows",
    "page_quality",
    "prepare_minilm",
    "prose_score",
    "wheel_model_dir",
]
