"""Doctest collection: the ONNX module needs the ``onnx`` extra."""

import importlib.util

# sklearn_adamlr/onnx.py imports skl2onnx at the top: without it, its
# doctests are not collected (tests/test_export.py skips the same way)
collect_ignore = [] if importlib.util.find_spec("skl2onnx") else ["onnx.py"]
