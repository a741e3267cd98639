"""Indexing fixtures: the real MiniLM model, built once per test session from the installed
wheel into the session's temporary folder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from deskpilot.indexing import ModelFiles, OnnxEmbedder, prepare_minilm


@pytest.fixture(scope="session")
def minilm_files(tmp_path_factory: pytest.TempPathFactory) -> ModelFiles:
    return prepare_minilm(tmp_path_factory.getbasetemp() / "minilm")


@pytest.fixture(scope="session")
async def embedder(minilm_files: ModelFiles) -> AsyncIterator[OnnxEmbedder]:
    model = OnnxEmbedder(minilm_files, batch_size=8)
    yield model
    await model.aclose()
