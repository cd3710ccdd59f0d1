#!/usr/bin/env python3
"""Reads an echoflow checkpoint with nothing but the Python standard library (no torch, no safetensors).

Written from the safetensors specification (https://github.com/huggingface/safetensors, "Format") and
echoflow's checksum rule, independently of echoflow's TypeScript reader, so that tests can check the files
against the specification. A checkpoint is a safetensors file:

  8 bytes   N, the header length, unsigned 64-bit little-endian
  N bytes   a UTF-8 JSON object: tensor name -> {"dtype", "shape", "data_offsets": [begin, end]}, and
            "__metadata__" -> {string: string}; it may be padded with trailing spaces
  the rest  the byte buffer; each tensor's little-endian values at [begin, end); every byte belongs to
            exactly one tensor

echoflow's metadata holds "checksum": "crc32:" + 8 hex digits, the zlib CRC-32 of the whole file with those
8 digits counted as ASCII "0". Usage:

  python3 read_checkpoint.py CHECKPOINT           prints {"metadata", "tensors": {name: {dtype, shape,
                                                  values}}} as one JSON line
  import read_checkpoint; read_checkpoint.read(path) -> (metadata, {name: (dtype, shape, values)})

Any breach of the format raises FormatError, naming the rule (exit code 1 from the command line).
"""
import json, struct, sys, zlib

# dtype -> struct format character and size (the specification's dtypes that have one).
DTYPES = {"F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "I64": ("q", 8), "I32": ("i", 4),
          "I16": ("h", 2), "I8": ("b", 1), "U64": ("Q", 8), "U32": ("I", 4), "U16": ("H", 2),
          "U8": ("B", 1), "BOOL": ("?", 1)}
CHECKSUM_KEY = b'"checksum":"crc32:'


class FormatError(Exception):
    pass


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise FormatError("the header repeats a key")
    return dict(pairs)


def read(path, verify_checksum=True):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise FormatError(f"{len(raw)} bytes: no header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > 100_000_000 or 8 + n > len(raw):
        raise FormatError(f"header length {n} does not fit the file's {len(raw)} bytes")
    header_bytes = raw[8:8 + n]
    header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=_no_duplicates)
    if not isinstance(header, dict):
        raise FormatError("the header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise FormatError("__metadata__ is not a map of strings to strings")
    buffer = raw[8 + n:]
    spans = []
    for name, e in header.items():
        if e["dtype"] not in DTYPES:
            raise FormatError(f"tensor {name}: unknown dtype {e['dtype']}")
        begin, end = e["data_offsets"]
        count = 1
        for d in e["shape"]:
            count *= d
        if end - begin != count * DTYPES[e["dtype"]][1]:
            raise FormatError(f"tensor {name}: {end - begin} bytes for shape {e['shape']}")
        spans.append((begin, end, name))
    at = 0
    for begin, end, name in sorted(spans):
        if begin != at:
            raise FormatError(f"tensor {name} starts at {begin}, the previous one ends at {at}")
        at = end
    if at != len(buffer):
        raise FormatError(f"the tensors cover {at} bytes of a {len(buffer)}-byte buffer")
    if verify_checksum:
        i = header_bytes.find(CHECKSUM_KEY)
        if i < 0:
            raise FormatError("no echoflow checksum in the header")
        digits = 8 + i + len(CHECKSUM_KEY)
        zeroed = raw[:digits] + b"0" * 8 + raw[digits + 8:]
        if int(raw[digits:digits + 8], 16) != zlib.crc32(zeroed):
            raise FormatError("checksum mismatch")
    tensors = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        char, size = DTYPES[e["dtype"]]
        values = struct.unpack(f"<{(end - begin) // size}{char}", buffer[begin:end])
        tensors[name] = (e["dtype"], list(e["shape"]), list(values))
    return metadata, tensors


def main():
    try:
        metadata, tensors = read(sys.argv[1])
    except (FormatError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"read_checkpoint.py: {sys.argv[1]}: {e}")
    out = {"metadata": metadata,
           "tensors": {k: {"dtype": d, "shape": s, "values": v} for k, (d, s, v) in tensors.items()}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
