"""Real-time scoring: ONNX models, the inference engine and the pipeline that turns media into events."""
