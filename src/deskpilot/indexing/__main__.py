"""`python -m deskpilot.indexing prepare-model [CACHE_DIR] [--precision int8|fp32]`: build the
local MiniLM ONNX files ahead of first use (install time), from the installed wheel."""

from __future__ import annotations

import argparse
from pathlib import Path

from deskpilot.indexing._model_files import prepare_minilm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deskpilot.indexing")
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare-model", help="build the ONNX model into CACHE_DIR")
    prepare.add_argument("cache_dir", nargs="?", type=Path, default=Path("data/models"))
    prepare.add_argument("--precision", choices=["int8", "fp32"], default="int8")
    args = parser.parse_args(argv)
    files = prepare_minilm(args.cache_dir, precision=args.precision)
    print(files.onnx_path)


if __name__ == "__main__":
    main()
