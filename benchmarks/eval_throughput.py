"""Evaluation throughput (images/s) of single-scale and multi-scale + flip inference on one
Cityscapes-sized image, for three ways of feeding the sliding windows to the model, timed in
the same run (interleaved, so a busy machine hurts them alike):

* ``one``: one window (and its flipped copy) per forward, as GluonCV's MultiEvalModel;
* ``per-scale``: up to --window-batch windows of one scale per forward (main before the
  windows of all scales were batched together);
* ``all-scales``: up to --window-batch windows of any scale per forward (the evaluator now);
* ``optimized``: ``all-scales`` through ``optimize_for_inference`` (BN folded, channels_last,
  an Inductor graph per window-batch shape, built during the warm-up): what ``eval.py`` runs
  by default. Needs ``--warmup 1`` or more to keep the graph builds out of the timing.

    python benchmarks/eval_throughput.py --threads 2 --repeat 1

Random weights (the speed does not depend on them); FCN-ResNet18 at output stride 32, 19
classes, crop 768, base 2048, the Cityscapes scales (0.75 ... 2.25) for multi-scale.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mxnetseg import create_model                                   # noqa: E402
from mxnetseg.tools.evaluator import SegInferencer, eval_scales     # noqa: E402
from mxnetseg.tools.inference import optimize_for_inference        # noqa: E402


class PerScale:
    """Each scale through its own SegInferencer: windows are batched within a scale only."""

    def __init__(self, model, nclass, crop, base, scales, flip, window_batch):
        self.parts = [SegInferencer(model, nclass, crop, base, (s,), flip,
                                    window_batch=window_batch) for s in scales]

    def __call__(self, image):
        scores, offsets = zip(*[(part(image), part.log_offset) for part in self.parts])
        top = torch.stack(offsets).amax(0)
        return sum(s * torch.exp(o - top) for s, o in zip(scores, offsets))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=1, help="timed images per mode and setting")
    p.add_argument("--window-batch", type=int, default=8)
    p.add_argument("--size", type=int, nargs=2, default=(1024, 2048), metavar=("H", "W"))
    p.add_argument("--dilate", action="store_true", help="output stride 8 (default 32)")
    p.add_argument("--warmup", type=int, default=0, help="untimed images per mode first")
    p.add_argument("--modes", nargs="+", default=["one", "per-scale", "all-scales"],
                   choices=["one", "per-scale", "all-scales", "optimized"])
    p.add_argument("--settings", nargs="+", default=["single-scale", "multi-scale+flip"])
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model("fcn", 19, backbone="resnet18", pretrained_base=False,
                         dilate=args.dilate).eval()
    image = torch.randn(1, 3, *args.size)
    settings = {"single-scale": eval_scales("cityscapes", False),
                "multi-scale+flip": eval_scales("cityscapes", True)}
    optimized = None
    if "optimized" in args.modes:
        optimized = optimize_for_inference(model, (1, 3, 64, 64), backend="compile")
    rows = []
    for setting in args.settings:
        scales, flip = settings[setting]
        runners = {
            "one": SegInferencer(model, 19, 768, 2048, scales, flip, window_batch=1),
            "per-scale": PerScale(model, 19, 768, 2048, scales, flip, args.window_batch),
            "all-scales": SegInferencer(model, 19, 768, 2048, scales, flip,
                                        window_batch=args.window_batch),
            "optimized": SegInferencer(optimized, 19, 768, 2048, scales, flip,
                                       window_batch=args.window_batch)}
        times = {m: [] for m in args.modes}
        preds = {}
        with torch.inference_mode():
            for i in range(args.warmup + args.repeat):
                for mode in args.modes:           # interleaved
                    start = time.perf_counter()
                    preds[mode] = runners[mode](image).argmax(1)
                    if i >= args.warmup:
                        times[mode].append(time.perf_counter() - start)
        ref = preds[args.modes[0]]
        for mode in args.modes:
            sec = statistics.median(times[mode])
            agree = (preds[mode] == ref).float().mean().item()
            rows.append((setting, mode, sec, 1.0 / sec, agree))
    print(f"FCN-ResNet18 OS{8 if args.dilate else 32}, 19 classes, {args.size[0]}x"
          f"{args.size[1]}, crop 768, base 2048, window batch {args.window_batch}, "
          f"{args.threads} threads, median of {args.repeat} after {args.warmup} warm-up")
    print(f"{'setting':<18} {'windows fed':<11} {'s/image':>8} {'images/s':>9} "
          f"{'vs ' + args.modes[0]:>9} {'argmax =':>9}")
    base = {s: sec for s, m, sec, _, _ in rows if m == args.modes[0]}
    for setting, mode, sec, ips, agree in rows:
        print(f"{setting:<18} {mode:<11} {sec:8.2f} {ips:9.4f} {base[setting] / sec:8.2f}x "
              f"{agree:9.4%}")


if __name__ == "__main__":
    main()
