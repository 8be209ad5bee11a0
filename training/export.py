"""Convert an MT-RNN checkpoint to the safetensors file mtrnn-watch loads.

Accepts the authors' `model_best.pt` (a bare state_dict), a state_dict wrapped
in {"state_dict": ...}, or our training checkpoints (their averaged weights,
"ema", else "model"), with or without a DataParallel `module.` prefix. Strict: any missing, unexpected or
mis-shaped tensor is named and the conversion refused.

    python3 training/export.py CHECKPOINT.pt OUT.safetensors [--note TEXT]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from mtrnn_model import MTRNN
import st_io


class CheckpointError(Exception):
    pass


def extract_state_dict(obj):
    # our training checkpoints: the averaged weights are the ones validated and shipped
    if isinstance(obj, dict) and "ema" in obj and isinstance(obj["ema"], dict):
        obj = obj["ema"]
    elif isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"not a state_dict: found {type(obj).__name__}")
    return {k[7:] if k.startswith("module.") else k: v for k, v in obj.items()}


def load_weights(path):
    """The state_dict of a .safetensors file or of any checkpoint export accepts:
    the one reading of weight files shared by export, evaluate and train."""
    if path.endswith(".safetensors"):
        t, _ = st_io.load(path)
        return {k: torch.from_numpy(v) for k, v in t.items()}
    return extract_state_dict(torch.load(path, map_location="cpu", weights_only=False))


def validate(sd):
    """Compare keys and shapes with the reference; raise naming every problem."""
    ref = MTRNN().state_dict()
    missing = [k for k in ref if k not in sd]
    extra = [k for k in sd if k not in ref]
    shapes = [f"{k}: {tuple(sd[k].shape)} (expected {tuple(ref[k].shape)})"
              for k in ref if k in sd and tuple(sd[k].shape) != tuple(ref[k].shape)]
    problems = []
    if missing:
        problems.append("missing tensors: " + ", ".join(missing))
    if extra:
        problems.append("unexpected tensors: " + ", ".join(extra))
    if shapes:
        problems.append("wrong shapes: " + "; ".join(shapes))
    bad = [k for k in ref if k in sd and not torch.isfinite(sd[k].float()).all()]
    if bad:
        problems.append("non-finite values in: " + ", ".join(bad))
    if problems:
        raise CheckpointError("\n".join(problems))


def export(sd, out_path, metadata=None):
    validate(sd)
    tensors = {k: v.detach().to(torch.float32).cpu().numpy() for k, v in sd.items()}
    meta = {"format": "pt", "model": "MT-RNN (Park et al., ECCV 2020)"}
    meta.update(metadata or {})
    st_io.save(out_path, tensors, meta)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("output")
    ap.add_argument("--note", default="", help="free text stored in the file's metadata")
    a = ap.parse_args(argv)
    try:
        obj = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
        sd = extract_state_dict(obj)
        meta = {"note": a.note} if a.note else {}
        if isinstance(obj, dict) and "step" in obj:
            meta["training_steps"] = str(obj["step"])
        export(sd, a.output, meta)
    except (CheckpointError, OSError, RuntimeError) as e:
        print(f"export: {a.checkpoint}: {e}", file=sys.stderr)
        return 1
    print(f"wrote {a.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
