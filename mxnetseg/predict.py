"""Segment your own images, folders or videos with any checkpoint.

    python -m mxnetseg predict --model psp_resnet101_citys --input street.jpg --out pred
    python -m mxnetseg predict --checkpoint run/best.pth --input photos/ --out pred --raw
    python -m mxnetseg predict --checkpoint x.params --model fcn --backbone resnet50 \
        --nclass 19 --data citys --input 'shots/**/*.png' --out pred --ms --ctx 0

--input: one image, a folder (recursive), a glob (quote it), a .txt list (one image per line,
first field, relative to the list's folder) or a video (.mp4/.avi/...). Under --out, mirroring
each input's relative path: mask/<path>.png (colour PNG in the model's palette, its pixel
values are the class indices), overlay/<path> (the image blended with the mask, --alpha) and,
with --raw, raw/<path>.png (class indices; labelIds for Cityscapes models). A video becomes
overlay/<path>, an overlay video with the same frame count and rate. Existing files are never
overwritten without --force. Photos are read with their EXIF orientation applied, so masks
align with the photo as viewers show it.

Exit status: 0 all inputs done, 1 some inputs skipped (each named in a warning), 2 bad usage.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePath

if __package__ in (None, ""):   # run as a plain script, like train.py / eval.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "mxnetseg"

from mxnetseg.cli import add_model_source_args, fail, run_cli   # noqa: E402

_JPEG = {".jpg", ".jpeg"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="mxnetseg-predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_source_args(p, "GluonCV zoo name (alone: its published weights), or our model "
                             "name for a .params file")
    p.add_argument("--data", help="dataset whose class names/palette to use (default: the "
                                  "checkpoint's)")
    p.add_argument("--input", required=True, help="image, folder, glob, .txt list or video")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--alpha", type=float, default=0.5, help="mask weight in the overlay")
    p.add_argument("--raw", action="store_true", help="also write class-index PNGs")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--ms", action="store_true", help="multi-scale + flip, the original's scales")
    p.add_argument("--crop", type=int, help="window size (default: the checkpoint's)")
    p.add_argument("--base", type=int, help="long side images are resized to (default: the "
                                            "checkpoint's)")
    p.add_argument("--ctx", type=int, nargs="*", default=None, help="GPU id (first one used)")
    p.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="autocast dtype")
    p.add_argument("--batch", type=int, default=1, help="images (of equal size) per forward")
    p.add_argument("--optimize", action=argparse.BooleanOptionalAction, default=True,
                   help="BN folded, channels_last, a compiled graph per window size "
                        "(default on; --no-optimize: the eager model)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def _outputs(item, out: Path, raw: bool) -> dict:
    """Output paths of one input, mirroring its relative path."""
    rel = PurePath(item.rel)
    if item.kind == "video":
        ext = rel.suffix.lower() if rel.suffix.lower() in (".mp4", ".avi") else ".mp4"
        return {"overlay": out / "overlay" / rel.with_suffix(ext)}
    paths = {"mask": out / "mask" / rel.with_suffix(".png"),
             "overlay": out / "overlay" / rel.with_suffix(
                 ".jpg" if rel.suffix.lower() in _JPEG else ".png")}
    if raw:
        paths["raw"] = out / "raw" / rel.with_suffix(".png")
    return paths


def _check_out(out: Path):
    """One clear error before any work when --out cannot be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        fail(f"--out {str(out)!r} is not a writable folder ({err.strerror or err}); choose "
             f"another --out")


def _plan(items, out: Path, raw: bool, force: bool) -> list[dict]:
    plans, owner, existing = [], {}, []
    for item in items:
        paths = _outputs(item, out, raw)
        for path in paths.values():
            if path in owner:
                fail(f"{item.path} and {owner[path]} would both write {path}; predict them "
                     f"separately or rename one")
            owner[path] = item.path
            if path.exists():
                existing.append(str(path))
        plans.append(paths)
    if existing and not force:
        more = f" (+{len(existing) - 3} more)" if len(existing) > 3 else ""
        fail(f"{len(existing)} output file(s) already exist: {', '.join(existing[:3])}{more}; "
             f"pass --force to overwrite or choose another --out")
    return plans


class _Run:
    """The predict loop: images (prefetched, batched by size) then videos; counts + skips."""

    def __init__(self, predictor, args, bar):
        self.p, self.args, self.bar = predictor, args, bar
        self.images = self.frames = self.videos = 0
        self.skipped: list[tuple[str, str]] = []

    def skip(self, path, why):
        self.skipped.append((str(path), why))
        self.bar.write(f"warning: skipped {path}: {why}", file=sys.stderr)

    def write_image(self, rgb, mask, paths):
        from PIL import Image
        from mxnetseg.tools.media import write_atomic
        write_atomic(paths["mask"], lambda t: self.p.colorize(mask).save(t, format="PNG"))
        ov = Image.fromarray(self.p.overlay(rgb, mask, self.args.alpha))
        if paths["overlay"].suffix == ".jpg":
            write_atomic(paths["overlay"], lambda t: ov.save(t, format="JPEG", quality=95))
        else:
            write_atomic(paths["overlay"], lambda t: ov.save(t, format="PNG"))
        if "raw" in paths:
            raw = Image.fromarray(self.p.raw(mask))
            write_atomic(paths["raw"], lambda t: raw.save(t, format="PNG"))

    def flush(self, pending):
        masks = self.p.predict_batch([rgb for _, rgb, _ in pending], len(pending))
        for (_, rgb, paths), mask in zip(pending, masks):
            self.write_image(rgb, mask, paths)
        self.images += len(pending)
        self.bar.update(len(pending))

    def run_images(self, jobs):
        from mxnetseg.tools.media import read_rgb

        def load(job):
            try:
                return read_rgb(job[0].path)
            except ValueError as err:
                return err
        pending = []
        for (item, paths), rgb in zip(jobs, _prefetch(load, jobs, ahead=2 * self.args.batch + 2)):
            if isinstance(rgb, ValueError):
                self.skip(item.path, str(rgb).removeprefix(f"{item.path}: "))
                self.bar.update(1)
                continue
            if pending and (rgb.shape != pending[0][1].shape
                            or len(pending) >= self.args.batch):
                self.flush(pending)
                pending = []
            pending.append((item, rgb, paths))
        if pending:
            self.flush(pending)

    def run_video(self, item, paths):
        import cv2
        from mxnetseg.tools.media import VideoOut
        cap = cv2.VideoCapture(str(item.path))
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            cap.release()
            return self.skip(item.path, "OpenCV cannot read a frame of this video")
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        writer = VideoOut(paths["overlay"], fps, (frame.shape[1], frame.shape[0]))
        done = False
        try:
            batch = []
            while ok:
                batch.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                ok, frame = cap.read()
                if len(batch) >= self.args.batch or not ok:
                    for rgb, mask in zip(batch, self.p.predict_batch(batch, len(batch))):
                        writer.write(self.p.overlay(rgb, mask, self.args.alpha))
                    self.frames += len(batch)
                    self.bar.update(len(batch))
                    batch = []
            done = True
        finally:
            cap.release()
            writer.close(ok=done)
        self.videos += 1


def _prefetch(fn, jobs, ahead: int):
    """fn(job) for each job in order, computed up to ``ahead`` jobs early in two threads
    (decoding overlaps inference; memory stays bounded)."""
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(fn, job) for job in jobs[:ahead]]
        for i in range(len(jobs)):
            if i + ahead < len(jobs):
                futures.append(pool.submit(fn, jobs[i + ahead]))
            yield futures[i].result()
            futures[i] = None


def _frame_count(path) -> int:
    import cv2
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    return max(n, 0)


def predict(args) -> list[tuple[str, str]]:
    """Run ``predict`` for parsed ``args``; returns the skipped inputs."""
    from tqdm import tqdm
    from mxnetseg.tools.media import collect_inputs
    from mxnetseg.tools.predictor import Predictor
    if args.checkpoint is None:
        from mxnetseg.models.gluoncv_zoo import is_zoo_name, zoo_spec
        if args.model is None:
            fail("give --checkpoint, or --model with a GluonCV zoo name for its published "
                 "weights")
        if not is_zoo_name(args.model):
            try:
                zoo_spec(args.model)
            except KeyError as err:
                fail(f"--model without --checkpoint takes a GluonCV zoo name (its published "
                     f"weights): {err}")
    if args.batch < 1 or not 0.0 <= args.alpha <= 1.0:
        fail(f"--batch must be >= 1 and --alpha in [0, 1] (got {args.batch}, {args.alpha})")
    out = Path(args.out).expanduser()
    items, skipped = collect_inputs(args.input)
    # an --out inside the input folder must not feed earlier outputs back in as inputs
    inside = out.resolve()
    items = [it for it in items if inside not in it.path.resolve().parents]
    skipped = [(p, why) for p, why in skipped if inside not in Path(p).resolve().parents]
    for path, why in skipped:
        print(f"warning: skipped {path}: {why}", file=sys.stderr)
    if not items:
        fail(f"--input {args.input!r}: no images or videos found")
    plans = _plan(items, out, args.raw, args.force)
    _check_out(out)
    checkpoint, model = (args.checkpoint, args.model) if args.checkpoint else (args.model, None)
    device = f"cuda:{args.ctx[0]}" if args.ctx else "cpu"
    predictor = Predictor(checkpoint, model, device=device, ms=args.ms, amp=args.amp,
                          backbone=args.backbone, nclass=args.nclass, aux=args.aux,
                          dilate=args.dilate, dataset=args.data, crop_size=args.crop,
                          base_size=args.base, optimize=args.optimize)
    images = [(it, pl) for it, pl in zip(items, plans) if it.kind == "image"]
    videos = [(it, pl) for it, pl in zip(items, plans) if it.kind == "video"]
    total = len(images) + sum(_frame_count(it.path) for it, _ in videos)
    start = time.perf_counter()
    with tqdm(total=total, desc="predict", unit="img", dynamic_ncols=True,
              disable=args.quiet) as bar:
        run = _Run(predictor, args, bar)
        run.skipped = list(skipped)
        run.run_images(images)
        for item, paths in videos:
            run.run_video(item, paths)
    seconds = time.perf_counter() - start
    done = run.images + run.frames
    video = f" + {run.frames} frames of {run.videos} video(s)" if run.videos else ""
    skip = f"; skipped {len(run.skipped)} input(s)" if run.skipped else ""
    print(f"predicted {run.images} image(s){video} in {seconds:.1f} s, "
          f"{done / max(seconds, 1e-9):.2f} images/s -> {out}{skip}")
    return run.skipped


def main(argv=None) -> int:
    args = parse_args(argv)
    result = {}
    rc = run_cli(lambda: result.update(skipped=predict(args)))
    return rc if rc else (1 if result.get("skipped") else 0)


if __name__ == "__main__":
    sys.exit(main())
