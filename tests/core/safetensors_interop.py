"""safetensors interop for anvil's tests, with only the standard library (json + struct).

  write PATH  writes a file the way huggingface/safetensors' `prepare` does (tensors sorted by
              dtype descending then name, compact JSON with __metadata__ first, padded with spaces
              to a multiple of 8), from the fixed tensors in TENSORS below.
  read PATH   checks a file's layout against the spec and prints its tensors as JSON:
              {"metadata": {...}, "tensors": {name: {"dtype", "shape", "values"}}}.
Mirrored in safetensors_interop_test.cpp; the two must agree on TENSORS.
"""
import json
import struct
import sys

# Order of huggingface/safetensors' `Dtype` enum (increasing alignment) for the dtypes anvil loads.
DTYPE_RANK = {"I8": 0, "F16": 1, "BF16": 2, "I32": 3, "F32": 4, "I64": 5}
FORMAT = {"F32": ("<f", 4), "F16": ("<e", 2), "I8": ("<b", 1), "I32": ("<i", 4), "I64": ("<q", 8)}

TENSORS = {
    "embed.weight": ("F32", [4, 3], [i * 0.25 - 1.0 for i in range(12)]),
    "norm.weight": ("BF16", [3], [1.0, 0.5, -2.0]),
    "h.0.attn": ("F16", [2, 2], [1.5, -0.25, 1024.0, 0.0009765625]),
    "ids": ("I64", [3], [1, -2, 2**40]),
    "counts": ("I32", [2], [7, -7]),
    "q": ("I8", [4], [-128, 0, 1, 127]),
    "scalar": ("F32", [], [3.5]),
    "empty": ("F32", [0, 2], []),
}
METADATA = {"format": "pt", "z": "last"}


def encode(dtype, values):
    if dtype == "BF16":  # exact for these values: the upper half of the f32 pattern
        return b"".join(struct.pack("<f", v)[2:] for v in values)
    fmt, _ = FORMAT[dtype]
    return b"".join(struct.pack(fmt, v) for v in values)


def decode(dtype, raw):
    if dtype == "BF16":
        return [struct.unpack("<f", b"\0\0" + raw[i:i + 2])[0] for i in range(0, len(raw), 2)]
    fmt, size = FORMAT[dtype]
    return [struct.unpack(fmt, raw[i:i + size])[0] for i in range(0, len(raw), size)]


def write(path):
    items = sorted(TENSORS.items(), key=lambda kv: (-DTYPE_RANK[kv[1][0]], kv[0]))
    header, blobs, offset = {}, [], 0
    if METADATA:
        header["__metadata__"] = dict(sorted(METADATA.items()))
    for name, (dtype, shape, values) in items:
        blob = encode(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0, f"data buffer starts at {8 + n}, not 8-aligned"
    text = data[8:8 + n].decode("utf-8")
    body = text.rstrip(" ")
    assert len(text) - len(body) < 8, "more than 7 padding spaces"
    header = json.loads(body)
    assert json.dumps(header, separators=(",", ":"), ensure_ascii=False) == body, "header JSON is not compact"
    buffer = data[8 + n:]
    metadata = header.pop("__metadata__", {})
    assert list(header) == sorted(header, key=lambda k: header[k]["data_offsets"]), "tensors not in offset order"
    assert list(header) == sorted(header, key=lambda k: (-DTYPE_RANK[header[k]["dtype"]], k)), "not dtype/name order"
    out, cursor = {}, 0
    for name, info in header.items():
        begin, end = info["data_offsets"]
        assert begin == cursor, f"{name}: begins at {begin}, expected {cursor}"
        numel = 1
        for d in info["shape"]:
            numel *= d
        size = 2 if info["dtype"] == "BF16" else FORMAT[info["dtype"]][1]
        assert end - begin == numel * size, f"{name}: {end - begin} bytes for {numel} x {size}"
        assert begin % size == 0, f"{name}: offset {begin} not aligned to {size}"
        out[name] = {"dtype": info["dtype"], "shape": info["shape"], "values": decode(info["dtype"], buffer[begin:end])}
        cursor = end
    assert cursor == len(buffer), f"tensors cover {cursor} bytes, buffer has {len(buffer)}"
    print(json.dumps({"metadata": metadata, "tensors": out}))


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
