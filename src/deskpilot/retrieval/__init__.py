"""Retrieval: org-scoped hybrid (BM25F + dense) search over indexed chunks, with scores in
[0, 1] calibrated so that one answer/hand-off threshold fits every org.

In memory only: the knowledge service rebuilds an org's index from stored chunks and
vectors, then keeps it current with `add_page` / `remove_page`.
"""

from deskpilot.retrieval._analysis import ENGLISH_STOP_WORDS, Analyzer
from deskpilot.retrieval._index import KnowledgeIndex, OrgIndex, OrgKey, Scoring, SearchHit
from deskpilot.retrieval._lexical import LexicalIndex
from deskpilot.retrieval._retriever import Retriever

__all__ = [
    "ENGLISH_STOP_WORDS",
    "Analyzer",
    "KnowledgeIndex",
    "LexicalIndex",
    "OrgIndex",
    "OrgKey",
    "Retriever",
    "Scoring",
    "SearchHit",
]
