"""Exporters per format and model family (TF-IDF and embedding graphs, the metadata every export
carries); serving/onnx_export.py and serving/hf_export.py are the entry points."""
