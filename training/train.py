"""Incremental temporal training of MT-RNN (Park et al., ECCV 2020, sec. 3.2).

One training *sequence*: pick a start level s from {13, 11, 9, 7}; iteration i
maps the previous estimate to TL max(s - 2i, 1); after reaching TL 1, 1-3 more
iterations against TL 1; at most 7 iterations. Weights are shared; every
iteration is its own optimiser step and the recurrent inputs (estimate, F1, F2)
are detached. L1 loss, Adam (0.9, 0.999, 1e-8).

Departures from the paper, for a CPU budget (see training/README.md):
* identity start: the last conv of every ResBlock and img_prd start at zero,
  so the untrained net returns its input and each block passes through
  (training-notes.md: the default init diverged);
* linear warm-up, an absolute gradient-norm cap, the recurrent estimate
  clamped to 0..255, non-finite steps skipped, automatic roll-back to the
  last good checkpoint with the learning rate halved;
* smaller crops (default 128) than the paper's 256; the learning rate halves
  every --halve-every steps (the paper: every 46k);
* a warm-start curriculum: early on, some sequences train every iteration
  straight to TL 1 (a stronger signal than a two-level step; training-notes.md
  found the incremental loss barely below doing nothing); their share falls
  linearly to zero by --direct-until steps, after which it is the paper's recipe.

Resumable: `--resume` continues from RUN_DIR/last.pt (model, Adam, step, RNG,
wall time). The log (one line per --log-every steps and one per validation)
goes to a TSV in the repo so that every run is on record.
"""
from __future__ import annotations

import argparse
import copy
import collections
import shutil
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import data  # noqa: E402
from export import load_weights  # noqa: E402
from mtrnn_model import MTRNN  # noqa: E402

STARTS = (13, 11, 9, 7)


def identity_init(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".stem.2." in name or name.startswith("img_prd"):
                p.zero_()


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default=os.path.expanduser("/work/runs/mtrnn"))
    ap.add_argument("--log", default=os.path.join(os.path.dirname(__file__), "logs", "run.tsv"))
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init-from", help="start from these weights (.pt checkpoint or .safetensors) instead of the identity")
    ap.add_argument("--hours", type=float, default=1.0, help="wall-clock budget of this invocation")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--amp", default="none", choices=["none", "bf16"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--photo-frac", type=float, default=0.5, help="share of each batch from still photos")
    ap.add_argument("--photo-max-speed", type=float, default=3.0,
                    help="fastest synthetic camera motion, px per frame (TL 13 spans 12 frames); "
                         "the cross-scene pairs move up to about 6 (training/logs/blur-extent.json)")
    ap.add_argument("--photo-smooth", type=int, default=0,
                    help="render synthetic blur as a smooth streak (sub-frames at most ~1 px apart) "
                         "instead of 13 sub-frames")
    ap.add_argument("--photo-log-speed", type=int, default=0,
                    help="draw the synthetic speed log-uniformly in [0.2, max] instead of uniformly, so that "
                         "a large --photo-max-speed does not crowd out short blur")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--halve-every", type=int, default=20000)
    ap.add_argument("--clip", type=float, default=2.0, help="absolute gradient-norm cap")
    ap.add_argument("--spike", type=float, default=20.0,
                    help="skip a step whose gradient norm exceeds this multiple of the recent median")
    ap.add_argument("--max-iters", type=int, default=7)
    ap.add_argument("--train-iters", type=int, default=0,
                    help="train only this many randomly chosen iterations of each sequence; the ones before "
                         "the last trained one run forward only (0: every iteration, the paper)")
    ap.add_argument("--pool", type=int, default=0,
                    help="keep this many sequences in flight and advance one of them, drawn at random, by one "
                         "trained iteration per step: every forward pass is trained and every ladder serves all "
                         "its iterations (0: one sequence at a time, see --train-iters)")
    ap.add_argument("--direct-start", type=float, default=0.5,
                    help="probability, at step 0, that a sequence trains every iteration straight to TL 1")
    ap.add_argument("--direct-until", type=int, default=6000,
                    help="step at which that probability has fallen linearly to 0 (pure incremental training)")
    ap.add_argument("--ckpt-minutes", type=float, default=5)
    ap.add_argument("--val-minutes", type=float, default=20)
    ap.add_argument("--val-crop", type=int, default=160)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ema", type=float, default=0.999,
                    help="decay of the exponential moving average of the weights that is validated and shipped (0: off)")
    ap.add_argument("--val-cross", type=int, default=1,
                    help="also validate on crops of the cross-scene pairs (the real blur of an unseen scene)")
    ap.add_argument("--pick", type=int, default=2,
                    help="draw this many candidate crops per sample and keep the most blurred (|TL13 - TL1|)")
    return ap.parse_args(argv)


class Trainer:
    def __init__(self, a):
        self.a = a
        torch.set_num_threads(a.threads)
        self.dev = torch.device(a.device)
        os.makedirs(a.run_dir, exist_ok=True)
        os.makedirs(os.path.dirname(a.log), exist_ok=True)
        self.model = MTRNN().to(self.dev).to(memory_format=torch.channels_last)
        identity_init(self.model)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        # The averaged weights: with small CPU batches each Adam step jitters every
        # weight by about lr, which costs more than the step gains; the average
        # keeps the drift and drops the jitter. It is what is validated and shipped.
        self.ema = copy.deepcopy(self.model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.ema_n = 0
        self.opt = torch.optim.Adam(self.params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
        self.step = 0
        self.wall = 0.0          # training seconds over all invocations
        self.lr_scale = 1.0      # halved on every roll-back
        self.best = -1e9         # best validation score so far (see `score`)
        self.rng = np.random.default_rng(a.seed)
        self.stats = []                       # records since the last log line
        self.recent = collections.deque(maxlen=30)   # records for the divergence guard
        self.gnorms = collections.deque(maxlen=200)  # accepted gradient norms, for spike detection
        if a.resume and os.path.exists(self.ckpt_path("last")):
            self.load(self.ckpt_path("last"))
        elif a.init_from:
            sd = load_weights(a.init_from)  # e.g. the shipped Models/mtrnn.safetensors
            self.model.load_state_dict(sd)
            self.ema.load_state_dict(sd)
        t0 = time.time()
        # on a GPU the frames live there and the ladders are made there too
        self.gopro = data.GoProFrames(split="train", device=self.dev)
        self.photos = data.Photos(split="train", device=self.dev)
        self.val = data.fixed_val_batches(a.val_crop, data.GoProFrames(split="val"), data.Photos(split="val"))
        # real blur of a scene never trained on: what users see (two 256 crops a pair)
        self.cross = data.cross_scene_crops(256) if a.val_cross else None
        print(f"data: {len(self.gopro.centres)} GoPro centres, {len(self.photos.images)} photos, "
              f"loaded in {time.time() - t0:.0f} s; step {self.step}", flush=True)

    def ckpt_path(self, name):
        return os.path.join(self.a.run_dir, f"{name}.pt")

    def save(self, name, ship_raw=False):
        """`ship_raw`: store the raw weights as the `ema` entry too, which is what
        export.load_weights reads: for a `best` whose raw weights validated better."""
        ema = self.model.state_dict() if ship_raw else self.ema.state_dict()
        state = {"model": self.model.state_dict(), "ema": ema, "ema_n": self.ema_n, "shipped_raw": ship_raw,
                 "opt": self.opt.state_dict(), "step": self.step,
                 "wall": self.wall, "lr_scale": self.lr_scale, "best": self.best, "rng": self.rng.bit_generator.state,
                 "torch_rng": torch.get_rng_state(), "args": vars(self.a)}
        tmp = self.ckpt_path(name) + ".tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.ckpt_path(name))

    def load(self, path):
        s = torch.load(path, map_location=self.dev, weights_only=False)
        self.model.load_state_dict(s["model"])
        # checkpoints from before the average existed start it at the raw weights
        self.ema.load_state_dict(s.get("ema", s["model"]))
        self.ema_n = s.get("ema_n", 0)
        self.opt.load_state_dict(s["opt"])
        self.step, self.wall, self.lr_scale = s["step"], s["wall"], s.get("lr_scale", 1.0)
        self.best = s.get("best", -1e9)
        self.rng.bit_generator.state = s["rng"]
        torch.set_rng_state(s["torch_rng"])

    def lr(self):
        warm = min(1.0, (self.step + 1) / max(1, self.a.warmup))
        return self.a.lr * warm * self.lr_scale * 0.5 ** (self.step // self.a.halve_every)

    def batch(self):
        n_photo = int(round(self.a.batch * self.a.photo_frac))
        lads = []
        for i in range(self.a.batch):
            lin = self.rng.random() < 0.5
            src = self.photos if i < n_photo else self.gopro
            # Flat or static crops carry no deblurring signal; of `pick`
            # candidates keep the one whose TL13 differs most from its TL1.
            kw = dict(max_speed=self.a.photo_max_speed, smooth=bool(self.a.photo_smooth),
                      log_speed=bool(self.a.photo_log_speed)) if src is self.photos else {}
            cands = [src.random_ladder(self.rng, self.a.crop, lin, **kw) for _ in range(max(1, self.a.pick))]
            lad = max(cands, key=lambda c: float((c[13] - c[1]).abs().mean()))
            lads.append(data.augment(lad, self.rng))
        return {n: t.to(self.dev).contiguous(memory_format=torch.channels_last) for n, t in data.stack(lads).items()}

    def autocast(self):
        if self.a.amp == "bf16":
            return torch.autocast(self.dev.type, dtype=torch.bfloat16)
        return torch.autocast(self.dev.type, enabled=False)

    def draw_sequence(self):
        """Start TL, iteration count, direct or incremental targets, and the ladder of a new sequence."""
        s = STARTS[self.rng.integers(len(STARTS))]
        extra = int(self.rng.integers(1, 4))
        iters = min(self.a.max_iters, (s - 1) // 2 + extra)
        p_direct = self.a.direct_start * max(0.0, 1 - self.step / max(1, self.a.direct_until))
        direct = self.rng.random() < p_direct
        return s, iters, direct, self.batch()

    def pooled(self):
        """One step of --pool: advance a random sequence of the pool by one
        trained iteration. The paper trains every iteration of a sequence in
        turn; here the pool interleaves P sequences so that consecutive steps
        see different crops (README item 8's concern), and no forward pass is
        spent only to reach a deep iteration (with --train-iters 1 that was
        about 2.5 forward passes a step). The recurrent inputs were made by
        weights at most a few steps older, as the paper's are one step older."""
        pool = self.__dict__.setdefault("pool", [])
        while len(pool) < self.a.pool:
            s, iters, direct, lad = self.draw_sequence()
            pool.append({"s": s, "iters": iters, "direct": direct, "lad": lad, "i": 0,
                         "x_d": lad[s], "f1": None, "f2": None})
        k = int(self.rng.integers(len(pool)))
        q = pool[k]
        s, i, lad = q["s"], q["i"] + 1, q["lad"]
        recs = []
        with torch.enable_grad(), self.autocast():
            out, f1n, f2n = self.model(lad[s], q["x_d"], q["f1"], q["f2"])
        out = out.float()
        ok = self.train_step(out, q["x_d"], lad[1] if q["direct"] else lad[max(s - 2 * i, 1)], s, i, recs)
        q.update(i=i, x_d=out.detach().clamp(0, 255), f1=f1n.detach().float(), f2=f2n.detach().float())
        if i >= q["iters"] or not ok:
            pool.pop(k)
        return recs

    def sequence(self):
        """One incremental sequence; returns per-step records."""
        s, iters, direct, lad = self.draw_sequence()
        x = lad[s]
        x_d, f1, f2 = x, None, None
        recs = []
        # The recurrent inputs are detached, so the gradient of iteration i does
        # not depend on whether iterations 1..i-1 were trained: training a random
        # subset keeps each iteration's gradient and spends the saved backward
        # passes on fresh crops (see README, item 8).
        trained = set(range(1, iters + 1))
        if 0 < self.a.train_iters < iters:
            trained = {int(i) + 1 for i in self.rng.choice(iters, size=self.a.train_iters, replace=False)}
        for i in range(1, max(trained) + 1):
            train = i in trained
            with torch.set_grad_enabled(train), self.autocast():
                out, f1n, f2n = self.model(x, x_d, f1, f2)
            out = out.float()
            if train:
                ok = self.train_step(out, x_d, lad[1] if direct else lad[max(s - 2 * i, 1)], s, i, recs)
                if not ok:
                    break
            x_d = out.detach().clamp(0, 255)
            f1, f2 = f1n.detach().float(), f2n.detach().float()
        return recs

    def train_step(self, out, x_d, tgt, s, i, recs):
        """One optimiser step on iteration i's output; appends its record, False if skipped."""
        for g in self.opt.param_groups:
            g["lr"] = self.lr()
        loss = F.l1_loss(out, tgt)
        base = F.l1_loss(x_d, tgt).item()       # the do-nothing loss for this step
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(self.params, self.a.clip).item()
        ok = math.isfinite(loss.item()) and math.isfinite(gn)
        # a gradient far above its recent median comes from a step that is
        # about to throw the net off; skip it rather than let Adam take it
        if ok and len(self.gnorms) >= 50 and gn > self.a.spike * float(np.median(self.gnorms)):
            ok = False
        if ok:
            self.gnorms.append(gn)
            self.opt.step()
            self.update_ema()
        self.step += 1
        recs.append((loss.item(), base, gn, ok, s, i))
        return ok

    @torch.no_grad()
    def update_ema(self):
        if self.a.ema <= 0:
            self.ema.load_state_dict(self.model.state_dict())
            return
        self.ema_n += 1
        d = min(self.a.ema, (1 + self.ema_n) / (10 + self.ema_n))  # short memory at first
        for pe, pm in zip(self.ema.parameters(), self.model.parameters()):
            if pm.requires_grad:
                pe.lerp_(pm, 1 - d)

    @torch.no_grad()
    def validate(self, levels=(7, 13), max_iter=8, model=None):
        model = self.ema if model is None else model
        was_training = model.training
        model.eval()
        def row(x, tgt):
            """Mean PSNR of the blurred input and after each iteration."""
            x, tgt = x.to(self.dev).contiguous(memory_format=torch.channels_last), tgt.to(self.dev)
            r = [data.psnr(x, tgt).mean().item()]
            x_d, f1, f2 = x, None, None
            for _ in range(max_iter):
                with self.autocast():
                    x_d, f1, f2 = model(x, x_d, f1, f2)
                x_d, f1, f2 = x_d.float(), f1.float(), f2.float()
                r.append(data.psnr(x_d, tgt).mean().item())
            return r

        res = {f"{name}_TL{s}": row(lad[s], lad[1]) for name, lad in self.val.items() for s in levels}
        if self.cross is not None:
            res["cross_scene"] = row(*self.cross)
        model.train(was_training)
        return res

    @staticmethod
    def score(v):
        """Mean PSNR gain after 6 iterations over every validation set and start
        TL, or None when iterating further collapses anywhere (PSNR after 8
        iterations more than 0.5 dB below the blurred input, or 6 below 5):
        a model that drifts when iterated must never be shipped."""
        if any(r[8] < r[0] - 0.5 or r[6] < r[5] - 0.05 for r in v.values()):
            return None
        return float(np.mean([r[6] - r[0] for r in v.values()]))

    def validated(self, v):
        """Log a validation of the averaged weights (and, for comparison, of the
        raw ones); keep `good` (healthy) and `best` (best stable score)."""
        raw = self.validate(model=self.model)
        self.log(f"val_raw\t{self.step}\t{self.wall:.0f}\t{self.lr():.2e}\t{json.dumps(raw)}")
        print("val raw", json.dumps({k: [round(x, 2) for x in r] for k, r in raw.items()}), flush=True)
        self.log(f"val\t{self.step}\t{self.wall:.0f}\t{self.lr():.2e}\t{json.dumps(v)}")
        print("val", json.dumps({k: [round(x, 2) for x in r] for k, r in v.items()}), flush=True)
        if all(math.isfinite(x) for r in v.values() for x in r):
            self.save("good")
        # the average lags the raw weights while they improve fast, and leads
        # them while they jitter: keep whichever validates better as `best`
        cands = [(self.score(v), False), (self.score(raw), True)]
        cands = [c for c in cands if c[0] is not None]
        if cands:
            sc, use_raw = max(cands)
            if sc > self.best:
                self.best = sc
                self.save("best", ship_raw=use_raw)
                print(f"best so far: +{sc:.3f} dB at 6 iterations (step {self.step}, "
                      f"{'raw' if use_raw else 'averaged'} weights)", flush=True)

    def healthy(self, factor):
        """Recent training loss no worse than `factor` x the do-nothing loss (+0.5)."""
        rs = [r for r in self.recent if r[3]]
        return bool(rs) and np.mean([r[0] for r in rs]) <= factor * np.mean([r[1] for r in rs]) + 0.5

    def log(self, line):
        new = not os.path.exists(self.a.log)
        with open(self.a.log, "a") as f:
            if new:
                f.write("kind\tstep\twall_s\tlr\tvalues\n")
            f.write(line + "\n")

    def run(self):
        a = self.a
        stop = {"flag": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
        signal.signal(signal.SIGINT, lambda *_: stop.update(flag=True))
        t_start = time.time()
        wall0 = self.wall
        last_ckpt = last_val = time.time()
        if self.step == 0:
            self.validated(self.validate())
        bad_run = 0
        while not stop["flag"] and time.time() - t_start < a.hours * 3600:
            recs = self.pooled() if a.pool > 0 else self.sequence()
            self.wall = wall0 + time.time() - t_start
            for r in recs:
                self.stats.append(r)
                self.recent.append(r)
                bad_run = 0 if r[3] else bad_run + 1
            if recs and not recs[-1][3]:
                print(f"step {self.step}: non-finite or spiking gradient (|g| {recs[-1][2]:.3g}), step skipped", flush=True)
            # divergence guard: many skipped steps in a row, or the loss well
            # above what returning the input unchanged would score
            if bad_run >= 8 or (len(self.recent) == self.recent.maxlen and not self.healthy(2.0)):
                lr_before = self.lr_scale
                self.load(self.ckpt_path("good"))
                self.__dict__.pop("pool", None)
                self.lr_scale = lr_before * 0.5
                self.stats.clear()
                self.recent.clear()
                self.gnorms.clear()
                bad_run = 0
                self.log(f"rollback\t{self.step}\t{self.wall:.0f}\t{self.lr():.2e}\t{{}}")
                print(f"rolled back to step {self.step}, lr scale {self.lr_scale}", flush=True)
                continue
            if len(self.stats) >= a.log_every:
                st = np.array([r[:3] for r in self.stats])
                self.log(f"train\t{self.step}\t{self.wall:.0f}\t{self.lr():.2e}\t"
                         + json.dumps({"l1": round(st[:, 0].mean(), 4), "l1_identity": round(st[:, 1].mean(), 4),
                                       "grad_norm": round(st[:, 2].mean(), 3),
                                       "clipped": int((st[:, 2] > a.clip).sum()), "n": len(st)}))
                print(f"step {self.step} wall {self.wall / 60:.1f} min  l1 {st[:, 0].mean():.3f} "
                      f"(identity {st[:, 1].mean():.3f})  |g| {st[:, 2].mean():.2f}  lr {self.lr():.1e}", flush=True)
                self.stats.clear()
            if time.time() - last_ckpt > a.ckpt_minutes * 60:
                self.save("last")
                if len(self.recent) == self.recent.maxlen and self.healthy(1.2):
                    shutil.copyfile(self.ckpt_path("last"), self.ckpt_path("good"))
                last_ckpt = time.time()
            if time.time() - last_val > a.val_minutes * 60:
                self.validated(self.validate())
                last_val = time.time()
        self.save("last")
        print(f"stopped at step {self.step}, {self.wall / 3600:.2f} h of training in all", flush=True)


if __name__ == "__main__":
    Trainer(parse()).run()
