#!/usr/bin/env python3
"""PyTorch reference timing of one Deep Image Prior iteration, the baseline for dip-bench --device cuda.

The network is DIP's skip architecture as in the original code (models/skip.py) with the settings
of the denoising example: input 32 channels, 5 scales of 128 channels down and up, 4 skip
channels, 3x3 convolutions (stride 2 going down), 1x1 convolutions on the skips and after each
up block, reflection padding, BatchNorm, LeakyReLU(0.2), bilinear upsampling, sigmoid output.
One iteration: zero_grad, forward on the fixed noise input U(0, 0.1), MSE to a fixed target,
backward, Adam(lr=0.01) step. TF32 is allowed for convolutions and matmuls (PyTorch's default for
cuDNN convolutions).

Timed twice per size: eager, and the whole iteration captured once as a CUDA graph and replayed
(Adam with capturable=True). Each mode: warm-up, then the median of --iters iterations timed with
CUDA events. One JSON line per (size, mode) on stdout:
  {"impl": "pytorch", "mode": "eager", "size": 512, "median_ms": ..., "min_ms": ..., "peak_mib": ...}

  python3 gpu/torch_reference.py --sizes 256 512 [--iters 20] [--warmup 10]
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


def setup(size, capturable, device):
    torch.manual_seed(0)
    net = skip_net().to(device)
    inp = (torch.rand(1, 32, size, size, device=device) * 0.1).contiguous()  # U(0, 0.1)
    target = torch.rand(1, 3, size, size, device=device)
    opt = torch.optim.Adam(net.parameters(), lr=0.01, capturable=capturable)
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
    else:  # the process's peak resident memory, as dip-bench reports on the CPU
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = {"impl": "pytorch", "mode": mode, "size": size, "median_ms": round(statistics.median(times), 3),
           "min_ms": round(min(times), 3), "peak_mib": round(peak, 1)}
    row.update(extra)
    print(json.dumps(row), flush=True)


def run_eager(size, args, extra):
    device = torch.device("cuda")
    net, inp, target, opt = setup(size, capturable=False, device=device)
    for _ in range(args.warmup):
        iteration(net, inp, target, opt)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = time_calls(lambda: iteration(net, inp, target, opt), args.iters)
    report("eager", size, times, extra)
    del net, inp, target, opt


def run_cpu(size, args, extra):
    """The same iteration on the CPU (eager), timed with the wall clock: dip-bench --device cpu's baseline."""
    net, inp, target, opt = setup(size, capturable=False, device=torch.device("cpu"))
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
    net, inp, target, opt = setup(size, capturable=True, device=device)
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
    args = parser.parse_args()
    if args.device == "cpu":
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        extra = {"params": sum(p.numel() for p in skip_net().parameters()), "torch": torch.__version__,
                 "threads": torch.get_num_threads()}
        for size in args.sizes:
            run_cpu(size, args, extra)
        return 0
    if not torch.cuda.is_available():
        print("torch_reference: no CUDA device visible to PyTorch", file=sys.stderr)
        return 1
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    params = sum(p.numel() for p in skip_net().parameters())  # compare with dip-bench's "params"
    extra = {"params": params, "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "tf32": True}
    status = 0
    for size in args.sizes:
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
