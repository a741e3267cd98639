"""Builds the MiniLM ONNX graph straight from the wheel's safetensors, without torch.

The graph uses ONNX Runtime's fused CPU operators (Attention or MultiHeadAttention,
SkipLayerNormalization, BiasGelu) and ends in mean pooling plus L2 normalisation, so a
session returns sentence embeddings directly.

The int8 graph quantises activations per token, not per tensor as ONNX Runtime's dynamic
quantisation does: a per-tensor scale spans the whole padded batch, so a text's vector
moved with its batch-mates. With per-token scales every matrix product works row by row,
attention masks padding out exactly and pooling adds tokens in order, so a text embeds to
the same bits alone or in any batch, in either precision.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_MS = "com.microsoft"
# uint8 codes around a fixed zero point: the CPU integer kernels take only a scalar zero
# point, and symmetric int8 activations (no zero point) run on a path several times slower.
_ZERO_POINT = 128
_LEVELS = 127
# SmoothQuant's migration strength: 0.5 splits each outlier channel's range evenly between
# activations and weights.
_SMOOTHING_ALPHA = 0.5
# GELU (x·Φ(x)) never falls below -0.16997 (at x ≈ -0.75); a little margin below that.
_GELU_MIN = -0.17


def product_inputs(layers: int) -> list[str]:
    """The tensors the int8 graph quantises: each layer's input (to Q, K and V), attention
    context, attention output after its norm (to the FFN) and the FFN's activation."""
    names = []
    for i in range(layers):
        names += ["h0" if i == 0 else f"l{i - 1}_h2", f"l{i}_ctx", f"l{i}_h1", f"l{i}_act"]
    return names


def build_onnx(
    source_dir: Path,
    out_path: Path,
    *,
    int8: bool = False,
    activation_ranges: Mapping[str, npt.NDArray[np.float32]] | None = None,
    expose: Sequence[str] = (),
) -> None:
    """Write an ONNX model equivalent to sentence-transformers' MiniLM pipeline, in fp32 or
    with int8 matrix products (per-channel weights, per-token activations).

    `activation_ranges` (int8 only): each product input's largest |x| per channel, measured
    on calibration text (`calibrate`); those channels are smoothed before quantisation.
    `expose` adds named intermediate tensors to the outputs (for calibration)."""
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
        initializers.append(numpy_helper.from_array(np.require(array, requirements="C"), name))
        return name

    def w(key: str) -> npt.NDArray[np.float32]:
        return weights[key].astype(np.float32)

    def node(op: str, inputs: list[str], outputs: list[str], **kwargs: Any) -> None:
        domain = kwargs.pop("domain", "")
        nodes.append(
            helper.make_node(op, inputs, outputs, name=outputs[0], domain=domain, **kwargs)
        )

    quantised: dict[str, tuple[str, str]] = {}

    def quantise_rows(source: str, width: int) -> tuple[str, str]:
        """uint8 codes of `source` and one scale per token row, from the row's max |x|
        (as max(max x, -min x): two reads, where Abs would also write a copy)."""
        node("ReduceMax", [source, "last_axis"], [f"{source}_max"], keepdims=1)
        node("ReduceMin", [source, "last_axis"], [f"{source}_min"], keepdims=1)
        node("Neg", [f"{source}_min"], [f"{source}_neg_min"])
        node("Max", [f"{source}_max", f"{source}_neg_min", "q_floor"], [f"{source}_absmax"])
        node("Mul", [f"{source}_absmax", "q_step"], [f"{source}_scale"])
        return quantise_by_row_scales(source, width, _ZERO_POINT)

    def quantise_by_row_scales(source: str, width: int, zero_point: int) -> tuple[str, str]:
        """uint8 codes of `source` under its `{source}_scale` (one per row) around
        `zero_point`."""
        node("Shape", [f"{source}_scale"], [f"{source}_rows"])
        node(
            "ConstantOfShape",
            [f"{source}_rows"],
            [f"{source}_zero_point"],
            value=numpy_helper.from_array(np.array([zero_point], dtype=np.uint8)),
        )
        # One block per row: opset 21's blocked quantisation, which ONNX Runtime runs in
        # parallel (its per-axis path quantises row after row on one thread).
        node(
            "QuantizeLinear",
            [source, f"{source}_scale", f"{source}_zero_point"],
            [f"{source}_codes"],
            axis=-1,
            block_size=width,
        )
        return f"{source}_codes", f"{source}_scale"

    def quantise_rows_nonnegative(source: str, width: int) -> tuple[str, str]:
        """uint8 codes 0-255 of a `source` that is never negative, one scale per row from
        its max: twice the codes that a range symmetric around zero would leave it."""
        node("ReduceMax", [source, "last_axis"], [f"{source}_max"], keepdims=1)
        node("Max", [f"{source}_max", "q_floor"], [f"{source}_top"])
        node("Mul", [f"{source}_top", "q_step_unsigned"], [f"{source}_scale"])
        return quantise_by_row_scales(source, width, 0)

    smoothing: dict[str, npt.NDArray[np.float32]] = {}

    def smooth(source: str, consumers: Sequence[npt.NDArray[np.float32]]) -> None:
        """SmoothQuant: a few channels of an input run far larger than the rest, so one
        scale per token leaves the others few codes. Dividing channel j by s_j and
        multiplying row j of every consumer's weights by s_j leaves the product unchanged
        and moves part of that range into the weights, which are quantised per column."""
        if not int8 or activation_ranges is None or source not in activation_ranges:
            return
        weight_range = np.max([np.abs(c).max(axis=1) for c in consumers], axis=0)
        act_range = np.maximum(activation_ranges[source].astype(np.float64), 1e-5)
        scale = act_range**_SMOOTHING_ALPHA / np.maximum(weight_range, 1e-5) ** (
            1 - _SMOOTHING_ALPHA
        )
        smoothing[source] = np.clip(scale, 1e-2, 1e2).astype(np.float32)

    # What a shifted input adds to a product's output, for its consumer to take off its bias.
    bias_offsets: dict[str, npt.NDArray[np.float32]] = {}

    def linear(
        source: str,
        name: str,
        weight: npt.NDArray[np.float32],
        out: str,
        *,
        lower_bound: float | None = None,
    ) -> None:
        """`source @ weight`. MatMulIntegerToFloat applies the weights' per-channel scales
        in its kernel, then broadcasts the row scales over its output; biases are left to
        the fused consumers, since the kernel would add them before the row scales.

        A `source` known never to fall below `lower_bound` (GELU's output) is shifted to
        start at zero and quantised over 0-255; the shift's product with the weights is
        recorded in `bias_offsets[out]`."""
        if not int8:
            node("MatMul", [source, const(name, weight)], [out])
            return
        inverse = (1.0 / smoothing[source]).astype(np.float32) if source in smoothing else None
        if source not in quantised:
            quantised_input = source
            if inverse is not None:
                quantised_input = f"{source}_smoothed"
                node("Mul", [source, const(f"{source}_inv_smooth", inverse)], [quantised_input])
            if lower_bound is None:
                quantised[source] = quantise_rows(quantised_input, weight.shape[0])
            else:
                shift = np.full(weight.shape[0], -lower_bound, dtype=np.float32)
                if inverse is not None:
                    shift *= inverse
                node("Add", [quantised_input, const(f"{source}_shift", shift)], [f"{source}_up"])
                quantised[source] = quantise_rows_nonnegative(f"{source}_up", weight.shape[0])
        if source in smoothing:
            weight = weight * smoothing[source][:, None]
        codes, scales = quantised[source]
        weight_scale = np.maximum(np.abs(weight).max(axis=0), 1e-12) / _LEVELS
        weight_codes = np.clip(np.rint(weight / weight_scale), -_LEVELS, _LEVELS)
        if lower_bound is not None:
            # The kernel multiplies by the quantised weights: offset by exactly those.
            applied = weight_codes * weight_scale
            shift = np.full(weight.shape[0], -lower_bound, dtype=np.float64)
            if inverse is not None:
                shift *= inverse
            bias_offsets[out] = (shift @ applied).astype(np.float32)
        node(
            "MatMulIntegerToFloat",
            [
                codes,
                const(name, weight_codes.astype(np.int8)),
                scales,
                const(f"{name}_scale", weight_scale.astype(np.float32)),
                "q_zero_point" if lower_bound is None else "q_zero_point_unsigned",
            ],
            [out],
            domain=_MS,
        )

    if int8:
        const("q_zero_point", np.array(_ZERO_POINT, dtype=np.uint8))
        const("q_floor", np.array(1e-12, dtype=np.float32))
        const("q_step", np.array(1 / _LEVELS, dtype=np.float32))
        const("q_zero_point_unsigned", np.array(0, dtype=np.uint8))
        const("q_step_unsigned", np.array(1 / 255, dtype=np.float32))
        const("last_axis", np.array([-1], dtype=np.int64))

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
        parts = ("query", "key", "value")
        qkv_b = np.concatenate([w(p + f"attention.self.{n}.bias") for n in parts])
        const(f"l{i}_qkv_b", qkv_b)
        if int8:
            # The fused Attention projects in fp32 (or, as QAttention, with one scale per
            # tensor); separate per-token products feed MultiHeadAttention instead.
            smooth(current, [w(p + f"attention.self.{n}.weight").T for n in parts])
            for n in parts:
                linear(current, f"l{i}_{n}_w", w(p + f"attention.self.{n}.weight").T, f"l{i}_{n}")
            node(
                "MultiHeadAttention",
                [*(f"l{i}_{n}" for n in parts), f"l{i}_qkv_b", "mask_i32"],
                [f"l{i}_ctx"],
                domain=_MS,
                num_heads=heads,
            )
        else:
            qkv_w = np.concatenate([w(p + f"attention.self.{n}.weight").T for n in parts], axis=1)
            node(
                "Attention",
                [current, const(f"l{i}_qkv_w", qkv_w), f"l{i}_qkv_b", "mask_i32"],
                [f"l{i}_ctx"],
                domain=_MS,
                num_heads=heads,
            )
        smooth(f"l{i}_ctx", [w(p + "attention.output.dense.weight").T])
        linear(f"l{i}_ctx", f"l{i}_ao_w", w(p + "attention.output.dense.weight").T, f"l{i}_ao")
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
        smooth(f"l{i}_h1", [w(p + "intermediate.dense.weight").T])
        linear(f"l{i}_h1", f"l{i}_in_w", w(p + "intermediate.dense.weight").T, f"l{i}_in")
        const(f"l{i}_in_b", w(p + "intermediate.dense.bias"))
        node("BiasGelu", [f"l{i}_in", f"l{i}_in_b"], [f"l{i}_act"], domain=_MS)
        smooth(f"l{i}_act", [w(p + "output.dense.weight").T])
        linear(
            f"l{i}_act",
            f"l{i}_out_w",
            w(p + "output.dense.weight").T,
            f"l{i}_out",
            lower_bound=_GELU_MIN,
        )
        out_bias = w(p + "output.dense.bias")
        const(f"l{i}_out_b", out_bias - bias_offsets.get(f"l{i}_out", np.zeros_like(out_bias)))
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
    # The sum is a running sum read at the last position: it adds tokens strictly in order,
    # so padding appends exact zeros, where ReduceSum's (or a MatMul's) vectorised sums
    # regroup the terms by the padded length and move the last bits.
    node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT)
    node("Unsqueeze", ["mask_f", "minus1"], ["mask_f3"])
    const("minus1", np.array([-1], dtype=np.int64))
    node("Mul", [current, "mask_f3"], ["masked"])
    node("CumSum", ["masked", const("seq_axis", np.array(1, dtype=np.int64))], ["running"])
    node("Gather", ["running", const("last", np.array(-1, dtype=np.int64))], ["summed"], axis=1)
    node("ReduceSum", ["mask_f", "axis1"], ["counts"], keepdims=1)
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
        [
            helper.make_tensor_value_info(
                "sentence_embedding", TensorProto.FLOAT, ["batch", hidden]
            ),
            *(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in expose),
        ],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid(_MS, 1)],
        producer_name="deskpilot",
    )
    model.ir_version = 10
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))


def measure_activation_ranges(
    source_dir: Path, scratch: Path, texts: Sequence[str], *, max_tokens: int = 256
) -> dict[str, npt.NDArray[np.float32]]:
    """Each int8 product input's largest |x| per channel over `texts`, from the fp32 graph
    (each text alone, so padding never counts)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    layers = int(json.loads((source_dir / "config.json").read_text())["num_hidden_layers"])
    names = product_inputs(layers)
    graph_path = scratch / "calibration.fp32.onnx"
    build_onnx(source_dir, graph_path, expose=names)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(graph_path), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(source_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_tokens)
    ranges: dict[str, npt.NDArray[np.float32]] = {}
    for encoding in tokenizer.encode_batch(list(texts)):
        ids = np.array([encoding.ids], dtype=np.int64)
        outputs = session.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        for name, value in zip(names, outputs, strict=True):
            peak = np.abs(value).reshape(-1, value.shape[-1]).max(axis=0)
            ranges[name] = np.maximum(ranges[name], peak) if name in ranges else peak
    return ranges
