"""Production inference: streaming prediction, ONNX export and the HTTP service."""
