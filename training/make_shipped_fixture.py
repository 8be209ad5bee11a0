"""Fixture tying the shipped weights to the PyTorch reference (run after every
export of Models/mtrnn.safetensors; the Swift test refuses a stale fixture).

    python3 training/make_shipped_fixture.py [Models/mtrnn.safetensors] [Tests/MTRNNTests/Fixtures/shipped.safetensors]

Stores a 96x128 crop of a GoPro validation frame blurred to TL 9 (linear
light), the float64 reference output after iterations 1 and 6 on the shipped
weights, and the SHA-256 of the weights file in the metadata.
"""
from __future__ import annotations

import hashlib
import sys

import torch

import data
import st_io
from export import load_weights
from mtrnn_model import MTRNN


def main(weights="Models/mtrnn.safetensors", out="Tests/MTRNNTests/Fixtures/shipped.safetensors"):
    m = MTRNN()
    m.load_state_dict(load_weights(weights))
    m = m.double().eval()
    g = data.GoProFrames(split="val")
    x = g.ladder(g.centres[10], 300, 600, 128, linear=True)[9][:, :96, :].unsqueeze(0).double()
    tensors = {"input": x.float().numpy()}
    with torch.no_grad():
        outs = m.run(x, 6, keep_all=True)
    tensors["out1"] = outs[0].float().numpy()
    tensors["out6"] = outs[5].float().numpy()
    sha = hashlib.sha256(open(weights, "rb").read()).hexdigest()
    st_io.save(out, tensors, {"weights_sha256": sha, "weights": weights})
    d = (outs[5] - x).abs().mean().item()
    print(f"wrote {out} (weights sha256 {sha[:12]}..., mean |out6 - input| {d:.3f})")


if __name__ == "__main__":
    main(*sys.argv[1:])
