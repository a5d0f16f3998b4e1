"""Hearth: a self-hosted AI companion server."""

import os

# onnxruntime (the embedder, faster-whisper, piper) phones home unless told not to
# before its first import; nothing may leave the box.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
# numpy's OpenBLAS starts a thread per core and spins them for ~0.1 s after each call
# (faster-whisper's features are one), beside the engines' own threads: on two cores,
# speech-to-text ran ~1.3x slower with it, and a prompt evaluated right after Whisper
# ~1.4x slower. Read when numpy loads, so set before anything imports it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
