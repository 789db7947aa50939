"""Dynamic int8 with one activation scale per batch row, so that a row's result never depends on its batch.

onnxruntime's `quantize_dynamic` quantises each weight MatMul's input with DynamicQuantizeLinear: one scale and zero
point for the whole tensor, batch included. A clip decoded beside others then gets a coarser scale than alone
whenever a neighbour's activations range wider, and a doubtful token can come out differently: the same answer heard
live (decoded beside other candidates) and in a replay (alone) gave different words. This rewrite gives every batch
row (a clip, or one beam hypothesis of it) a scale and zero point of its own, computed exactly as DynamicQuantizeLinear
computes them, over that row alone. The integer products are exact and every other operation is per row, so a row's
logits are the same whatever else is in the batch.

    x ─ DynamicQuantizeLinear ─ x_q, s, z ─ MatMulInteger(x_q, W, z, w_z) ─ Cast ─ Mul(s · w_s)
becomes
    x ─ per-row min/max ─ s [B,1,1], z [B,1,1] ─ x_q = sat(round(x / s) + z)
      ─ MatMulInteger(x_q, W, 0, w_z) − z · Σₖ(W − w_z) ─ Cast ─ Mul(s · w_s)

The zero point's term moves out of MatMulInteger (whose zero point is one number for a 3-D input) into an int32
correction from the weights' column sums, so the arithmetic stays exact.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QUANTISER = "DynamicQuantizeLinear"


def quantize_rows_apart(model: onnx.ModelProto) -> int:
    """Rewrite every DynamicQuantizeLinear feeding MatMulInteger nodes in `model` (in place); returns how many."""
    graph = model.graph
    initializers = {initializer.name: initializer for initializer in graph.initializer}
    inferred = onnx.shape_inference.infer_shapes(model).graph
    ranks = {value.name: len(value.type.tensor_type.shape.dim) for value in (*inferred.input, *inferred.value_info)}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    quantisers = [node for node in graph.node if node.op_type == QUANTISER]
    # Each MatMulInteger fed by a rewritten quantiser -> the zero point (int32, [B,1,1]) to correct it with.
    corrected: dict[int, str] = {}
    for number, node in enumerate(quantisers):
        quantised, _, zero_point = node.output
        users = consumers.get(quantised, [])
        if not users or any(user.op_type != "MatMulInteger" or user.input[2] != zero_point for user in users):
            raise ValueError(f"{node.name or quantised}: feeds {[u.op_type for u in users]}, expected MatMulInteger with its zero point")
        for user in users:
            corrected[id(user)] = f"rows_apart/{number}/zero_point"
    constants = [
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "rows_apart/zero"),
        numpy_helper.from_array(np.array(255.0, dtype=np.float32), "rows_apart/qmax"),
        numpy_helper.from_array(np.array(np.finfo(np.float32).tiny, dtype=np.float32), "rows_apart/tiny"),
    ]
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.op_type == QUANTISER:
            number = quantisers.index(node)
            if not ranks.get(node.input[0]):
                raise ValueError(f"{node.input[0]!r}: its rank is unknown, so its rows cannot be told apart")
            nodes.extend(_row_quantiser(node, f"rows_apart/{number}", ranks[node.input[0]]))
        elif id(node) in corrected:
            product = node.output[0]
            weights = numpy_helper.to_array(initializers[node.input[1]]).astype(np.int64)
            weight_zero = numpy_helper.to_array(initializers[node.input[3]]).astype(np.int64) if len(node.input) > 3 else 0
            column_sums = numpy_helper.from_array((weights - weight_zero).sum(axis=0).astype(np.int32), f"{product}/column_sums")
            constants.append(column_sums)
            node.input[2] = ""  # no zero point for the input here: its term is taken off below, per row
            node.output[0] = f"{product}/uncorrected"
            nodes.append(node)
            nodes.append(helper.make_node("Mul", [corrected[id(node)], column_sums.name], [f"{product}/correction"]))
            nodes.append(helper.make_node("Sub", [f"{product}/uncorrected", f"{product}/correction"], [product]))
        else:
            nodes.append(node)
    graph.ClearField("node")
    graph.node.extend(nodes)
    graph.initializer.extend(constants)
    return len(quantisers)


def _row_quantiser(node: onnx.NodeProto, prefix: str, rank: int) -> list[onnx.NodeProto]:
    """DynamicQuantizeLinear's arithmetic over each batch row: scale (max(x, 0) - min(x, 0)) / 255, zero point
    round(-min / scale) (within 0-255 by construction), x_q = clip(round(x / scale) + zero point, 0, 255); scale and
    zero point [B,1,...,1]. Its quantised output and scale keep their names; the zero point becomes int32
    `prefix/zero_point`. Few operations: these run at every decoder step, 37 times."""
    (source,) = node.input
    quantised, scale, _ = node.output

    def name(part: str) -> str:
        return f"{prefix}/{part}"

    axes = list(range(1, rank))
    return [
        helper.make_node("ReduceMin", [source], [name("min_raw")], axes=axes, keepdims=1),
        helper.make_node("ReduceMax", [source], [name("max_raw")], axes=axes, keepdims=1),
        helper.make_node("Min", [name("min_raw"), "rows_apart/zero"], [name("min")]),
        helper.make_node("Max", [name("max_raw"), "rows_apart/zero"], [name("max")]),
        helper.make_node("Sub", [name("max"), name("min")], [name("range")]),
        helper.make_node("Max", [name("range"), "rows_apart/tiny"], [name("range_safe")]),  # an all-zero row: any scale
        helper.make_node("Div", [name("range_safe"), "rows_apart/qmax"], [scale]),
        helper.make_node("Div", [name("min"), scale], [name("min_steps")]),
        helper.make_node("Neg", [name("min_steps")], [name("zero_steps")]),
        helper.make_node("Round", [name("zero_steps")], [name("zero_float")]),
        helper.make_node("Cast", [name("zero_float")], [name("zero_point")], to=TensorProto.INT32),
        helper.make_node("Div", [source, scale], [name("steps")]),
        helper.make_node("Round", [name("steps")], [name("rounded")]),
        helper.make_node("Add", [name("rounded"), name("zero_float")], [name("shifted")]),
        helper.make_node("Clip", [name("shifted"), "rows_apart/zero", "rows_apart/qmax"], [name("clipped")]),
        helper.make_node("Cast", [name("clipped")], [quantised], to=TensorProto.UINT8),
    ]
