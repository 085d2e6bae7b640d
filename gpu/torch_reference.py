#!/usr/bin/env python3
"""PyTorch reference timing of one Deep Image Prior iteration, the baseline for dip-bench.

--net skip (the default): DIP's skip architecture as in the original code (models/skip.py) with
the settings of the denoising example: input 32 channels, 5 scales of 128 channels down and up, 4 skip
channels, 3x3 convolutions (stride 2 going down), 1x1 convolutions on the skips and after each
up block, reflection padding, BatchNorm, LeakyReLU(0.2), bilinear upsampling, sigmoid output.
One iteration: zero_grad, forward on the fixed noise input U(0, 0.1), MSE to a fixed target,
backward, Adam(lr=0.01) step.

--net vit: the naive ViT generator of nn/vit.h ("vit"), as dip-bench --net vit builds it: the noise
cut into non-overlapping p x p patches, Linear(32*p*p, D), learned positions N(0, 0.02), `depth`
pre-norm blocks (LN -> fused qkv Linear(D, 3D) -> softmax(q k^T / sqrt(d)) v per head -> Linear(D, D),
residual; LN -> Linear(D, R*D) -> GELU (exact erf) -> Linear(R*D, D), residual), final LN ->
Linear(D, 3*p*p) -> unpatchify -> sigmoid; Adam(lr=1e-3). --patch/--width/--depth/--heads/--mlp-ratio
as dip-bench's (defaults 8, 256, 6, 8, 4). The parameter count printed must equal dip-bench's.

--net vit-na: the multi-scale generator with 7x7 neighbourhood attention of nn/vit.h ("vit-na") with its
defaults, 731,155 parameters as dip-bench's; PyTorch has no neighbourhood-attention op, so the windows
are gathered with index tensors (exact, the plain way without NATTEN); Adam(lr=3e-3).

On CUDA, --precision tf32 (the default) allows TF32 for convolutions and matmuls (PyTorch's default for
cuDNN convolutions); --precision fp32 turns it off for both.

Timed twice per size: eager, and the whole iteration captured once as a CUDA graph and replayed
(Adam with capturable=True). Each mode: warm-up, then the median of --iters iterations timed with
CUDA events. One JSON line per (size, mode) on stdout:
  {"impl": "pytorch", "net": "skip", "mode": "eager", "size": 512, "median_ms": ..., "min_ms": ...,
   "peak_mib": ..., "params": ...}
peak_mib is torch.cuda.max_memory_allocated (reserved_mib: max_memory_reserved, what dip-bench's
caching allocator reports as its peak) on CUDA, the process's peak resident set on the CPU.

  python3 gpu/torch_reference.py --sizes 256 512 [--iters 20] [--warmup 10]
  python3 gpu/torch_reference.py --net vit --sizes 512 [--precision fp32]
  python3 gpu/torch_reference.py --net vit --device cpu --threads 2 --sizes 128
  python3 gpu/torch_reference.py --net vit-na --device cpu --threads 2 --sizes 128
"""
import argparse
import resource
import json
import statistics
import time
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def add(seq, module):
    """Appends to an nn.Sequential (works on PyTorch versions without Sequential.append)."""
    seq.add_module(str(len(seq)), module)


def conv(cin, cout, kernel, stride=1):
    """DIP's conv(..., pad='reflection'): reflection padding, then an unpadded convolution."""
    pad = (kernel - 1) // 2
    layers = [nn.ReflectionPad2d(pad)] if pad else []
    layers.append(nn.Conv2d(cin, cout, kernel, stride, padding=0, bias=True))
    return nn.Sequential(*layers)


def act():
    return nn.LeakyReLU(0.2, inplace=True)


class Concat(nn.Module):
    """DIP's Concat: runs every branch on the input, centre-crops to the smallest size, concatenates channels."""

    def __init__(self, *branches):
        super().__init__()
        for i, b in enumerate(branches):
            self.add_module(str(i), b)

    def forward(self, x):
        outs = [m(x) for m in self._modules.values()]
        h = min(o.shape[2] for o in outs)
        w = min(o.shape[3] for o in outs)
        cropped = []
        for o in outs:
            dh, dw = (o.shape[2] - h) // 2, (o.shape[3] - w) // 2
            cropped.append(o[:, :, dh:dh + h, dw:dw + w])
        return torch.cat(cropped, dim=1)


def skip_net(n_in=32, n_out=3, channels=(128,) * 5, skip_channels=(4,) * 5, upsample_mode="bilinear"):
    scales = len(channels)
    model = nn.Sequential()
    level = model
    depth = n_in
    for i in range(scales):
        deeper, skip = nn.Sequential(), nn.Sequential()
        add(level, Concat(skip, deeper))
        add(level, nn.BatchNorm2d(skip_channels[i] + (channels[i + 1] if i < scales - 1 else channels[i])))

        add(skip, conv(depth, skip_channels[i], 1))
        add(skip, nn.BatchNorm2d(skip_channels[i]))
        add(skip, act())

        add(deeper, conv(depth, channels[i], 3, 2))
        add(deeper, nn.BatchNorm2d(channels[i]))
        add(deeper, act())
        add(deeper, conv(channels[i], channels[i], 3))
        add(deeper, nn.BatchNorm2d(channels[i]))
        add(deeper, act())

        deeper_main = nn.Sequential()  # filled by the next scale
        if i == scales - 1:
            k = channels[i]
        else:
            add(deeper, deeper_main)
            k = channels[i + 1]
        add(deeper, nn.Upsample(scale_factor=2, mode=upsample_mode))

        add(level, conv(skip_channels[i] + k, channels[i], 3))
        add(level, nn.BatchNorm2d(channels[i]))
        add(level, act())
        add(level, conv(channels[i], channels[i], 1))  # need1x1_up
        add(level, nn.BatchNorm2d(channels[i]))
        add(level, act())

        depth = channels[i]
        level = deeper_main
    add(model, conv(channels[0], n_out, 1))
    add(model, nn.Sigmoid())
    return model


def attention(q, k, v):
    """softmax(q k^T / sqrt(d)) v over the last two dims; the fused kernel where this PyTorch has it."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v)
    a = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * (q.shape[-1] ** -0.5), dim=-1)
    return torch.matmul(a, v)


class Block(nn.Module):
    """Pre-norm Transformer block, as nn/transformer_block.h with nn/attention.h's global attention."""

    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)  # columns [q | k | v], each head-major
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x):  # (N, T, D)
        n, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        o = attention(qkv[0], qkv[1], qkv[2])  # (N, H, T, d)
        x = x + self.proj(o.transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """The naive ViT generator of nn/vit.h: (N, C, H, W) noise -> (N, 3, H, W) in (0, 1)."""

    def __init__(self, size, n_in=32, n_out=3, patch=8, width=256, depth=6, heads=8, mlp_ratio=4):
        super().__init__()
        if size % patch or width % heads:
            raise ValueError(f"vit: size {size} must be a multiple of the patch {patch}, "
                             f"width {width} a multiple of heads {heads}")
        self.p, self.grid, self.n_out = patch, size // patch, n_out
        self.embed = nn.Linear(n_in * patch * patch, width)
        self.pos = nn.Parameter(torch.randn(1, self.grid * self.grid, width) * 0.02)
        self.blocks = nn.Sequential(*[Block(width, heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, n_out * patch * patch)

    def forward(self, z):
        n, c, p, g = z.shape[0], z.shape[1], self.p, self.grid
        # patchify: "n c (h p1) (w p2) -> n (h w) (c p1 p2)"
        t = z.reshape(n, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(n, g * g, c * p * p)
        t = self.head(self.norm(self.blocks(self.embed(t) + self.pos)))  # (N, T, 3*p*p)
        img = t.reshape(n, g, g, self.n_out, p, p).permute(0, 3, 1, 4, 2, 5).reshape(n, self.n_out, g * p, g * p)
        return torch.sigmoid(img)


def neighborhood_indices(gh, gw, k):
    """For NAT's clamped k x k windows on a (gh, gw) grid (tensor/neighborhood_attention.h): the key
    token of each (query, window entry), (T, W), and its relative-position-bias index into the
    flattened (2k-1)^2 table, (T, W)."""
    def start(i, size):
        span = min(k, size)
        return min(max(i - k // 2, 0), size - span)
    kh, kw, side = min(k, gh), min(k, gw), 2 * k - 1
    keys, rel = [], []
    for i in range(gh):
        for j in range(gw):
            si, sj = start(i, gh), start(j, gw)
            keys.append([(si + a) * gw + sj + b for a in range(kh) for b in range(kw)])
            rel.append([(si + a - i + k - 1) * side + (sj + b - j + k - 1) for a in range(kh) for b in range(kw)])
    return torch.tensor(keys), torch.tensor(rel)


class NeighborhoodBlock(nn.Module):
    """Pre-norm Transformer block with neighbourhood attention (nn/neighborhood_attention.h): each
    token attends to the k x k tokens of its clamped window, plus a learned relative position bias
    (H, 2k-1, 2k-1). PyTorch has no neighbourhood-attention op, so the windows are gathered: the
    plain way to write it without NATTEN."""

    def __init__(self, dim, heads, mlp_ratio, gh, gw, k):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.rpb = nn.Parameter(torch.zeros(heads, 2 * k - 1, 2 * k - 1))
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)
        keys, rel = neighborhood_indices(gh, gw, k)
        self.register_buffer("keys", keys, persistent=False)
        self.register_buffer("rel", rel, persistent=False)

    def forward(self, x):  # (N, T, D)
        n, t, d = x.shape
        h = self.heads
        qkv = self.qkv(self.norm1(x)).reshape(n, t, 3, h, d // h).permute(2, 0, 3, 1, 4)  # 3 x (N, H, T, d)
        q, k, v = qkv[0] * (d // h) ** -0.5, qkv[1], qkv[2]
        kw, vw = k[:, :, self.keys], v[:, :, self.keys]  # (N, H, T, W, d)
        bias = self.rpb.reshape(h, -1)[:, self.rel]       # (H, T, W)
        p = torch.softmax((q.unsqueeze(3) * kw).sum(-1) + bias, dim=-1)  # (N, H, T, W)
        o = (p.unsqueeze(-1) * vw).sum(3)                 # (N, H, T, d)
        x = x + self.proj(o.transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class MultiScaleNaViT(nn.Module):
    """The vit-na generator of nn/vit.h with its defaults: 5 stages of token grids size/16 .. size
    (patch 1), widths 128,128,128,64,64 (head size 32), one neighbourhood block (7x7) per stage,
    the standardised noise subsampled and embedded at every stage, learned positions at the first,
    bilinear x2 upsampling of the token image between stages, LayerNorm + Linear head, sigmoid."""

    def __init__(self, size, n_in=32, n_out=3, widths=(128, 128, 128, 64, 64), head_dim=32, k=7, mlp_ratio=4):
        super().__init__()
        stages = len(widths)
        if size % (1 << (stages - 1)):
            raise ValueError(f"vit-na: size {size} must be a multiple of {1 << (stages - 1)}")
        self.factors = [1 << (stages - 1 - s) for s in range(stages)]
        self.grids = [size // f for f in self.factors]
        self.resize = nn.ModuleList(
            [nn.Linear(widths[s - 1], widths[s]) if s > 0 and widths[s - 1] != widths[s] else nn.Identity()
             for s in range(stages)])
        self.noise = nn.ModuleList([nn.Linear(n_in, w) for w in widths])
        self.pos = nn.Parameter(torch.randn(1, self.grids[0] ** 2, widths[0]) * 0.02)
        self.blocks = nn.ModuleList([NeighborhoodBlock(w, w // head_dim, mlp_ratio, g, g, k)
                                     for w, g in zip(widths, self.grids)])
        self.norm = nn.LayerNorm(widths[-1])
        self.head = nn.Linear(widths[-1], n_out)
        self.n_out = n_out

    @staticmethod
    def standardize(z):  # per channel over the pixels, as nn/vit.cpp's standardize_channels
        flat = z.flatten(2)
        c = flat - flat.mean(2, keepdim=True)
        return (c / torch.sqrt((c * c).mean(2, keepdim=True) + 1e-12)).reshape(z.shape)

    def forward(self, z):
        n = z.shape[0]
        t = None
        for s, (f, g) in enumerate(zip(self.factors, self.grids)):
            if s > 0:
                t = self.resize[s](t)
                prev = self.grids[s - 1]
                img = t.transpose(1, 2).reshape(n, -1, prev, prev)
                img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
                t = img.flatten(2).transpose(1, 2)
            e = self.noise[s](self.standardize(z[:, :, ::f, ::f]).flatten(2).transpose(1, 2))  # (N, T, D)
            t = e if t is None else t + e
            if s == 0:
                t = t + self.pos
            t = self.blocks[s](t)
        t = self.head(self.norm(t))  # (N, T, 3)
        g = self.grids[-1]
        return torch.sigmoid(t.transpose(1, 2).reshape(n, self.n_out, g, g))


def make_net(size, args):
    """The network of --net at this image size, and its Adam learning rate."""
    if args.net == "vit":
        return ViT(size, patch=args.patch, width=args.width, depth=args.depth, heads=args.heads,
                   mlp_ratio=args.mlp_ratio), 1e-3
    if args.net == "vit-na":
        return MultiScaleNaViT(size), 3e-3
    return skip_net(), 0.01


def describe(size, args):
    """Fields every row of this size carries: the net, its parameter count (compare with dip-bench's)."""
    net, _ = make_net(size, args)
    if args.net == "vit":
        desc = (f"ViT(p={args.patch}, D={args.width}, depth={args.depth}, heads={args.heads}, "
                f"mlp={args.mlp_ratio}x, sdpa={hasattr(F, 'scaled_dot_product_attention')})")
    elif args.net == "vit-na":
        desc = "MultiScaleViT(stages=5, p=1, widths=128,128,128,64,64, neighborhood=7, gathered windows)"
    else:
        desc = "skip(32 -> 3, 5 scales of 128, skip 4, bilinear, reflection)"
    return {"net": args.net, "desc": desc, "params": sum(p.numel() for p in net.parameters()),
            "torch": torch.__version__}


def setup(size, capturable, device, args):
    torch.manual_seed(0)
    net, lr = make_net(size, args)
    net = net.to(device)
    inp = (torch.rand(1, 32, size, size, device=device) * 0.1).contiguous()  # U(0, 0.1)
    target = torch.rand(1, 3, size, size, device=device)
    adam_args = {"capturable": True} if capturable else {}  # PyTorch < 1.12 has no capturable
    opt = torch.optim.Adam(net.parameters(), lr=lr, **adam_args)
    return net, inp, target, opt


def iteration(net, inp, target, opt):
    opt.zero_grad(set_to_none=True)
    loss = F.mse_loss(net(inp), target)
    loss.backward()
    opt.step()
    return loss


def time_calls(fn, iters):
    """Milliseconds of each call, measured with CUDA events around it."""
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def report(mode, size, times, extra):
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated() / 2**20
        extra = dict(extra, reserved_mib=round(torch.cuda.max_memory_reserved() / 2**20, 1))
    else:  # the process's peak resident memory, as dip-bench reports on the CPU
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"impl": "pytorch", "net": extra["net"], "mode": mode, "size": size,
           "median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3), "peak_mib": round(peak, 1)}
    row.update(extra)
    print(json.dumps(row), flush=True)


def run_eager(size, args, extra):
    device = torch.device("cuda")
    net, inp, target, opt = setup(size, capturable=False, device=device, args=args)
    for _ in range(args.warmup):
        iteration(net, inp, target, opt)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = time_calls(lambda: iteration(net, inp, target, opt), args.iters)
    report("eager", size, times, extra)
    del net, inp, target, opt


def run_cpu(size, args, extra):
    """The same iteration on the CPU (eager), timed with the wall clock: dip-bench --device cpu's baseline."""
    net, inp, target, opt = setup(size, capturable=False, device=torch.device("cpu"), args=args)
    for _ in range(args.warmup):
        iteration(net, inp, target, opt)
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        iteration(net, inp, target, opt)
        times.append((time.perf_counter() - start) * 1e3)
    report("cpu-eager", size, times, extra)


def run_graph(size, args, extra):
    device = torch.device("cuda")
    net, inp, target, opt = setup(size, capturable=True, device=device, args=args)
    # Warm up on a side stream (cuDNN autotuning, lazy state), as the CUDA-graph docs require.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(args.warmup, 3)):
            iteration(net, inp, target, opt)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = iteration(net, inp, target, opt)
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = time_calls(graph.replay, args.iters)
    extra = dict(extra, loss=round(float(static_loss.item()), 6))
    report("graph", size, times, extra)
    del graph, net, inp, target, opt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--modes", nargs="+", default=["eager", "graph"], choices=["eager", "graph"])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    parser.add_argument("--net", default="skip", choices=["skip", "vit", "vit-na"])
    parser.add_argument("--precision", choices=["tf32", "fp32"],
                        help="CUDA matmuls and convolutions (default tf32); the CPU computes in fp32 only")
    parser.add_argument("--patch", type=int, default=8, help="vit: patch size")
    parser.add_argument("--width", type=int, default=256, help="vit: token width D")
    parser.add_argument("--depth", type=int, default=6, help="vit: Transformer blocks")
    parser.add_argument("--heads", type=int, default=8, help="vit: attention heads")
    parser.add_argument("--mlp-ratio", type=int, default=4, help="vit: MLP hidden width = R x width")
    args = parser.parse_args()
    if args.device == "cpu":
        if args.precision == "tf32":
            parser.error("--precision tf32 needs --device cuda: the CPU computes in fp32 only")
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        for size in args.sizes:
            extra = dict(describe(size, args), precision="fp32", threads=torch.get_num_threads())
            run_cpu(size, args, extra)
        return 0
    if not torch.cuda.is_available():
        print("torch_reference: no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    args.precision = args.precision or "tf32"
    tf32 = args.precision == "tf32"
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    status = 0
    for size in args.sizes:
        extra = dict(describe(size, args), gpu=torch.cuda.get_device_name(0), precision=args.precision)
        for mode in args.modes:
            try:
                (run_eager if mode == "eager" else run_graph)(size, args, extra)
            except Exception as e:  # one failing mode (e.g. capture unsupported) must not hide the rest
                print(f"torch_reference: {mode} at {size}: {type(e).__name__}: {e}", file=sys.stderr)
                status = 1
            torch.cuda.empty_cache()
    return status


if __name__ == "__main__":
    sys.exit(main())
