"""MT-RNN reference model (Park, Kang, Kim, Chun, ECCV 2020: "Multi-Temporal
Recurrent Neural Networks for Progressive Non-Uniform Single Image Deblurring
with Incremental Temporal Training").

Written from the layer table in design.md. Module names reproduce the authors'
`mtrnn.py` so that `state_dict()` keys and shapes are theirs: a checkpoint
trained with the authors' code loads here, and ours loads there.

Conventions (the authors'): pixel values 0..255; the DIV2K mean is subtracted
from both image inputs and added back to the output (the `sub_mean` and
`add_mean` 1x1 convolutions, kept in the state_dict as the authors have them);
LeakyReLU slope 0.1; every convolution has a bias and padding (k-1)/2.
H and W must be multiples of 4 (`pad_to_multiple` handles other sizes).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K, times 255 below
SLOPE = 0.1


def conv(cin, cout, k=3, stride=1, act=True):
    """Conv2d (+ LeakyReLU). Wrapped in Sequential so the key is `name.0.weight`."""
    layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2, bias=True)]
    if act:
        layers.append(nn.LeakyReLU(SLOPE, inplace=True))
    return nn.Sequential(*layers)


def upconv(cin, cout):
    """ConvTranspose2d k4 s2 p1 + LeakyReLU; weight stored [cin, cout, 4, 4]."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=True),
                         nn.LeakyReLU(SLOPE, inplace=True))


class ResBlock(nn.Module):
    """x + conv3x3(LReLU(conv3x3(x))): keys `stem.0.*` and `stem.2.*`."""

    def __init__(self, ch):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1, bias=True),
            nn.LeakyReLU(SLOPE, inplace=True),
            nn.Conv2d(ch, ch, 3, padding=1, bias=True),
        )

    def forward(self, x):
        return self.stem(x) + x


class MeanShift(nn.Conv2d):
    """Fixed 1x1 conv adding sign * 255 * mean; not trained (authors' design)."""

    def __init__(self, sign):
        super().__init__(3, 3, kernel_size=1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * 255.0 * torch.tensor(RGB_MEAN)
        for p in self.parameters():
            p.requires_grad = False


class MTRNN(nn.Module):
    def __init__(self):
        super().__init__()
        c1, c2, c3 = 32, 64, 128
        self.sub_mean = MeanShift(-1)
        # level 1 (H x W)
        self.conv1_1 = conv(6, c1, act=False)
        self.conv1_2, self.conv1_3, self.conv1_4 = ResBlock(c1), ResBlock(c1), ResBlock(c1)
        # level 2 (H/2)
        self.conv2_1 = conv(c1, c2, stride=2)
        self.conv2_c = conv(2 * c2, c2, k=1, act=False)
        self.conv2_2, self.conv2_3, self.conv2_4 = ResBlock(c2), ResBlock(c2), ResBlock(c2)
        # level 3 (H/4)
        self.conv3_1 = conv(c2, c3, stride=2)
        self.conv3_c = conv(2 * c3, c3, k=1, act=False)
        self.conv3_2, self.conv3_3, self.conv3_4 = ResBlock(c3), ResBlock(c3), ResBlock(c3)
        self.conv4_1, self.conv4_2, self.conv4_3 = ResBlock(c3), ResBlock(c3), ResBlock(c3)
        # decoder level 2
        self.conv5_1 = upconv(c3, c2)
        self.conv5_c = conv(2 * c2, c2, k=1, act=False)
        self.conv5_2, self.conv5_3, self.conv5_4 = ResBlock(c2), ResBlock(c2), ResBlock(c2)
        # decoder level 1
        self.conv6_1 = upconv(c2, c1)
        self.conv6_c = conv(2 * c1, c1, k=1, act=False)
        self.conv6_2, self.conv6_3, self.conv6_4 = ResBlock(c1), ResBlock(c1), ResBlock(c1)
        self.img_prd = conv(c1, 3, act=False)
        self.add_mean = MeanShift(+1)

    def forward(self, x_in, x_d, f1=None, f2=None):
        """One recurrent iteration. Returns (x_d_out, F1_out, F2_out).

        x_in: the blurred input, x_d: the previous estimate (x_in on the first
        pass), f1/f2: the previous decoder features (None on the first pass,
        where the authors concatenate each level's features with themselves).
        """
        x_in = self.sub_mean(x_in)
        x_d = self.sub_mean(x_d)
        l1 = self.conv1_1(torch.cat([x_in, x_d], 1))
        l1 = self.conv1_4(self.conv1_3(self.conv1_2(l1)))

        l2 = self.conv2_1(l1)
        l2 = self.conv2_c(torch.cat([l2, l2 if f1 is None else f1], 1))
        l2 = self.conv2_4(self.conv2_3(self.conv2_2(l2)))

        l3 = self.conv3_1(l2)
        l3 = self.conv3_c(torch.cat([l3, l3 if f2 is None else f2], 1))
        l3 = self.conv3_4(self.conv3_3(self.conv3_2(l3)))
        f2_out = self.conv4_3(self.conv4_2(self.conv4_1(l3)))

        d2 = self.conv5_c(torch.cat([self.conv5_1(f2_out), l2], 1))
        f1_out = self.conv5_4(self.conv5_3(self.conv5_2(d2)))

        d1 = self.conv6_c(torch.cat([self.conv6_1(f1_out), l1], 1))
        d1 = self.conv6_4(self.conv6_3(self.conv6_2(d1)))
        out = self.img_prd(d1) + x_in
        return self.add_mean(out), f1_out, f2_out

    def run(self, x, iterations=6, keep_all=False):
        """The recurrence: iteration 1 gets (x, x, -, -), iteration i gets
        (x, out_{i-1}, F1_{i-1}, F2_{i-1}). Returns the last output, or all."""
        x_d, f1, f2 = x, None, None
        outs = []
        for _ in range(iterations):
            x_d, f1, f2 = self(x, x_d, f1, f2)
            outs.append(x_d)
        return outs if keep_all else x_d


def pad_to_multiple(x, m=4):
    """Reflect-pad the bottom/right edges to a multiple of m; returns (x, h, w)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    return x, h, w


def flops_per_pixel():
    """Multiply-adds x 2 per input pixel for one iteration (conv weights only)."""
    m = MTRNN()
    total = 0.0
    for name, mod in m.named_modules():
        if name in ("sub_mean", "add_mean"):
            continue
        if isinstance(mod, nn.Conv2d):
            scale = {1: 1, 2: 1 / 4, 3: 1 / 16}
            # level of the output map
            lvl = 1
            if name.startswith(("conv2", "conv5_c", "conv5_2", "conv5_3", "conv5_4")):
                lvl = 2
            if name.startswith(("conv3", "conv4")):
                lvl = 3
            total += 2 * mod.weight.numel() * scale[lvl]
        elif isinstance(mod, nn.ConvTranspose2d):
            # output at the finer level: each output pixel gets cin*cout*k*k/4 MACs
            lvl = 2 if name.startswith("conv5") else 1
            total += 2 * mod.weight.numel() / 4 * {1: 1, 2: 1 / 4}[lvl]
    return total


if __name__ == "__main__":
    m = MTRNN()
    n = sum(p.numel() for p in m.parameters() if p.requires_grad)
    print(f"trainable parameters: {n}; FLOP/pixel/iteration: {flops_per_pixel():.0f}")
