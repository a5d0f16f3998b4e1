"""Hearth: a self-hosted AI companion server."""

import os

# onnxruntime (the embedder, faster-whisper, piper) phones home unless told not to
# before its first import; nothing may leave the box.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
