"""Check that the installed llama.cpp build runs on this CPU; rebuild it portable if not.

pip compiles llama-cpp-python for the CPU it builds on (-march=native) and caches the
wheel. Some of those native builds crash on decode (a build with Intel AMX kernels
died on the first token on a cloud Xeon), and a cached wheel may come from another
CPU. So `make setup` decodes a few tokens with the default model in a child process;
if the child dies, llama-cpp-python is rebuilt once without native flags (AVX2, still
fast) and checked again. A GPU build (HEARTH_GPU=1) is left alone.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
PORTABLE = "-DGGML_NATIVE=OFF"
PROBE = """
import sys
from llama_cpp import Llama
llm = Llama(sys.argv[1], n_ctx=256, verbose=False)
out = llm.create_completion("The capital of France is", max_tokens=4, temperature=0)
print(repr(out["choices"][0]["text"]))
"""


def runs(model: Path) -> bool:
    child = subprocess.run([sys.executable, "-c", PROBE, str(model)], capture_output=True,
                           text=True, timeout=300)
    if child.returncode != 0:
        print(f"llama.cpp failed on this CPU (exit {child.returncode}): "  # noqa: T201
              f"{child.stderr.strip()[-300:]}", flush=True)
    return child.returncode == 0


def rebuild() -> None:
    version = importlib.metadata.version("llama-cpp-python")
    print(f"rebuilding llama-cpp-python {version} with {PORTABLE} "  # noqa: T201
          "(several minutes)", flush=True)
    env = {**os.environ, "CMAKE_ARGS": f"{os.environ.get('CMAKE_ARGS', '')} {PORTABLE}".strip()}
    subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
                    "--force-reinstall", "--no-cache-dir", "--no-deps",
                    f"llama-cpp-python=={version}"], env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args()
    if os.environ.get("HEARTH_GPU") == "1" or not args.model.is_file():
        return 0  # a GPU build is checked by `make gpu`; no model yet, nothing to probe
    if runs(args.model):
        return 0
    rebuild()
    if runs(args.model):
        print("llama.cpp runs with the portable build", flush=True)  # noqa: T201
        return 0
    print("llama.cpp still fails on this CPU; see the error above", file=sys.stderr)  # noqa: T201
    return 1


if __name__ == "__main__":
    sys.exit(main())
