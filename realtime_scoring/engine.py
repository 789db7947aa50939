"""onnxruntime sessions: execution provider choice (CUDA first, else CPU) and thread settings."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import onnxruntime as ort
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class EngineConfig:
    """How models run. `device` is "auto" (CUDA when onnxruntime-gpu sees a GPU), "cuda" or "cpu"."""

    device: str = "auto"
    intra_op_threads: int = 0  # 0: one per available core, capped at 4
    cuda_device_id: int = 0


def available_providers() -> list[str]:
    return list(ort.get_available_providers())


def _preload_cuda_libraries() -> None:
    # onnxruntime-gpu wheels can load CUDA/cuDNN from the nvidia-* pip packages; harmless elsewhere.
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception as exc:  # noqa: BLE001 - a missing CUDA install just means CPU
            logger.debug("onnxruntime.preload_dlls failed: %s", exc)


def limit_blas_threads() -> None:
    """Give numpy's BLAS one thread, for the whole process.

    OpenBLAS starts a thread per core and its idle threads spin; next to the recogniser's, the decoders' and the
    small models' own threads they took CPU from them for matrices too small to share (the log-mel filterbank).
    Measured on 2 cores at 8 live interviews: server CPU 161 -> 152 % (two load runs each; lag within noise).
    """
    threadpool_limits(limits=1, user_api="blas")


def choose_providers(config: EngineConfig) -> list[str | tuple[str, dict[str, object]]]:
    available = available_providers()
    if config.device in ("auto", "cuda") and CUDA in available:
        return [(CUDA, {"device_id": config.cuda_device_id}), CPU]
    if config.device == "cuda":
        raise RuntimeError(f"device 'cuda' was asked for but onnxruntime offers only {available}")
    return [CPU]


def create_session(path: Path, config: EngineConfig = EngineConfig(), *, custom_ops_library: str | None = None) -> ort.InferenceSession:
    """One session per model per process: callers share it across all interviews.

    `custom_ops_library` is the path of a shared library of custom operators (such as
    onnxruntime-extensions' tokenisers) that the graph needs, registered before loading.
    """
    if config.device != "cpu":
        _preload_cuda_libraries()
    options = ort.SessionOptions()
    if custom_ops_library is not None:
        options.register_custom_ops_library(custom_ops_library)
    threads = config.intra_op_threads or min(4, len(os.sched_getaffinity(0)))
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), sess_options=options, providers=choose_providers(config))
    logger.info("loaded %s on %s (%d threads)", path.name, session.get_providers()[0], threads)
    return session
