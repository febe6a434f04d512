#!/usr/bin/env python3
"""Generate tests/golden/quant_dequant.json: reference dequantization of
block formats hrt reads from GGUF files but did not define itself.

The reference is the `gguf` Python package (gguf-py, maintained in the
llama.cpp repository), whose gguf.quants.dequantize() is a NumPy
implementation independent of hrt's C code. For each type the script makes
a few blocks of random bytes (seeded), with their fp16 scales set to sane
values (random bytes could make NaN or huge scales), and records the raw
bytes (hex) and the floats gguf-py decodes them to.

    pip install gguf numpy
    python3 tests/golden/make_quant_golden.py
"""
import importlib.metadata
import json
import os

import numpy as np
import gguf
from gguf.constants import GGMLQuantizationType as T

HERE = os.path.dirname(os.path.abspath(__file__))

# type, bytes per block, weights per block, byte offsets of fp16 scales
TYPES = [
    ("Q5_0", T.Q5_0, 22, 32, [0]),
    ("Q4_K", T.Q4_K, 144, 256, [0, 2]),
    ("Q6_K", T.Q6_K, 210, 256, [208]),
    ("Q8_0", T.Q8_0, 34, 32, [0]),
    ("Q4_0", T.Q4_0, 18, 32, [0]),
    ("Q4_1", T.Q4_1, 20, 32, [0, 2]),
]
N_BLOCKS = {32: 8, 256: 2}


def main() -> None:
    rng = np.random.default_rng(20261122)
    out = {"generator": "tests/golden/make_quant_golden.py (gguf-py " + importlib.metadata.version("gguf") + ")",
           "types": []}
    for name, qt, bb, nw, scale_offsets in TYPES:
        nb = N_BLOCKS[nw]
        raw = rng.integers(0, 256, size=(nb, bb), dtype=np.uint8)
        for b in range(nb):
            for k, off in enumerate(scale_offsets):
                mag = rng.uniform(0.005, 0.05) * (1 if k == 0 else 2)
                raw[b, off:off + 2] = np.frombuffer(np.float16(mag).tobytes(), dtype=np.uint8)
        vals = gguf.quants.dequantize(raw.reshape(-1), qt).astype(np.float32).reshape(-1)
        assert vals.size == nb * nw
        out["types"].append({
            "type": name,
            "n": int(vals.size),
            "hex": raw.tobytes().hex(),
            "values": [float(f"{v:.9g}") for v in vals],
        })
    with open(os.path.join(HERE, "quant_dequant.json"), "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
