"""Serving code: importable without torch or Kedro (NumPy, Pillow, ONNX Runtime, pandas)."""
