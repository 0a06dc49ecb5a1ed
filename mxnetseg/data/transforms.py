"""Train / val / test transforms on numpy arrays, faithful to GluonCV's SegmentationDataset.

Images are uint8 HWC RGB; labels are already-mapped class ids in a small signed integer
array (int16 by convention, ``IGNORE_INDEX`` = -1 for void) so that cv2 can resize them
exactly with nearest-neighbour interpolation (cv2 cannot resize int64).

Every random choice comes from the ``rng`` argument (a ``numpy.random.Generator``), drawn in
the same order as GluonCV: flip, long side, crop x, crop y, blur, blur radius.

The train transform crops before it resizes: the crop window is drawn in the frame of the
rescaled (and padded) image, exactly as GluonCV draws it, and only the source pixels under it
are interpolated (``plan_train`` + ``crop_scaled_image`` / ``crop_scaled_label``). At 2048x1024
that resizes 768x768 output pixels instead of up to 4096x2048. Labels are bit-identical to
resize-then-crop (the index arithmetic of cv2's INTER_NEAREST_EXACT is reproduced); images
differ by OpenCV's 1/32-pixel warp quantisation, at most a few grey levels
(tests/test_crop_resize.py measures it on real photos).

Deliberate differences from GluonCV (PIL based):
- Train-time padding fills the label with IGNORE_INDEX, where GluonCV pads the *raw* label
  with 0 (which is a real class for VOC, CamVid, BDD, ...; SEED-MAP §11 item 12).
- Resizing uses cv2: images ``INTER_LINEAR`` (PIL's bilinear antialiases when shrinking,
  cv2's does not), labels ``INTER_NEAREST_EXACT`` (the same pixel-centre rule as PIL NEAREST).
- The blur is ``cv2.GaussianBlur`` with sigma = PIL's radius (PIL's radius *is* the sigma).
"""
from typing import NamedTuple

import numpy as np
import cv2
import torch

from .labels import IGNORE_INDEX

__all__ = [
    'normalize', 'hflip', 'resize_pair', 'random_scale', 'pad_to_size', 'random_crop',
    'random_blur', 'center_crop', 'sync_train', 'sync_val', 'TrainPlan', 'plan_train',
    'crop_scaled_image', 'crop_scaled_label', 'normalize_batch',
]

# Below this sigma the Gaussian kernel is numerically the identity on uint8 data.
_MIN_BLUR_SIGMA = 0.05


def normalize(image, mean, std):
    """uint8 HWC RGB -> float32 CHW, (x / 255 - mean) / std per channel.

    One fused multiply-add per contiguous channel plane, written straight into the CHW
    output: ~3x faster than float-converting HWC and transposing (this was the hottest step
    of the train pipeline)."""
    out = np.empty((image.shape[2],) + image.shape[:2], dtype=np.float32)
    for ch, plane in enumerate(cv2.split(image)):
        np.multiply(plane, np.float32(1.0 / (255.0 * std[ch])), out=out[ch], dtype=np.float32)
        out[ch] += np.float32(-mean[ch] / std[ch])
    return out


def hflip(image, label=None):
    """Mirror left-right (cv2.flip returns a contiguous copy)."""
    image = cv2.flip(image, 1)
    if label is not None:
        label = cv2.flip(label, 1)
    return image, label


def resize_pair(image, label, width, height):
    """Resize the image bilinearly and the label by nearest neighbour to (width, height)."""
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    if label is not None:
        label = cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)
    return image, label


def random_scale(image, label, base_size, rng):
    """Resize so the long side is L ~ U{int(0.5*base) .. int(2.0*base)} (inclusive)."""
    long_side = int(rng.integers(int(0.5 * base_size), int(2.0 * base_size), endpoint=True))
    h, w = image.shape[:2]
    if h > w:
        oh, ow = long_side, int(1.0 * w * long_side / h + 0.5)
    else:
        ow, oh = long_side, int(1.0 * h * long_side / w + 0.5)
    return resize_pair(image, label, max(ow, 1), max(oh, 1))


def pad_to_size(image, label, size):
    """Pad bottom/right so both sides are >= size: image with 0 (black), label with ignore."""
    h, w = image.shape[:2]
    pad_h, pad_w = max(size - h, 0), max(size - w, 0)
    if pad_h == 0 and pad_w == 0:
        return image, label
    image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    if label is not None:
        label = np.pad(label, ((0, pad_h), (0, pad_w)), constant_values=IGNORE_INDEX)
    return image, label


def random_crop(image, label, size, rng):
    """Crop size x size at a uniformly drawn top-left corner (inputs must be >= size)."""
    h, w = image.shape[:2]
    x1 = int(rng.integers(0, w - size, endpoint=True))
    y1 = int(rng.integers(0, h - size, endpoint=True))
    image = image[y1:y1 + size, x1:x1 + size]
    if label is not None:
        label = label[y1:y1 + size, x1:x1 + size]
    return image, label


def random_blur(image, rng):
    """With p=0.5 blur with sigma ~ U[0, 1); the radius is drawn only when blurring, as in GluonCV."""
    if rng.random() < 0.5:
        sigma = float(rng.random())
        if sigma >= _MIN_BLUR_SIGMA:
            image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return image


def center_crop(image, label, size):
    """GluonCV's centre rule: x1 = int(round((w - size) / 2)) with Python's round."""
    h, w = image.shape[:2]
    x1 = int(round((w - size) / 2.0))
    y1 = int(round((h - size) / 2.0))
    image = image[y1:y1 + size, x1:x1 + size]
    if label is not None:
        label = label[y1:y1 + size, x1:x1 + size]
    return image, label


class TrainPlan(NamedTuple):
    """Where a train crop lies: the image is mirrored (``flip``), rescaled to out_w x out_h,
    padded bottom/right to at least crop x crop, and cropped at (x1, y1)."""
    flip: bool
    out_w: int
    out_h: int
    x1: int
    y1: int
    crop: int


def plan_train(height, width, crop_size, base_size, rng):
    """Draw flip, long side and crop corner for a height x width source, in GluonCV's order."""
    flip = bool(rng.random() < 0.5)
    long_side = int(rng.integers(int(0.5 * base_size), int(2.0 * base_size), endpoint=True))
    if height > width:
        oh, ow = long_side, int(1.0 * width * long_side / height + 0.5)
    else:
        ow, oh = long_side, int(1.0 * height * long_side / width + 0.5)
    ow, oh = max(ow, 1), max(oh, 1)
    x1 = int(rng.integers(0, max(ow, crop_size) - crop_size, endpoint=True))
    y1 = int(rng.integers(0, max(oh, crop_size) - crop_size, endpoint=True))
    return TrainPlan(flip, ow, oh, x1, y1, int(crop_size))


def _nearest_index(src, dst, start, count):
    """Source index of dst pixels start..start+count-1 when cv2 resizes src -> dst pixels with
    INTER_NEAREST_EXACT. Asked of cv2 itself (resizing an index ramp costs microseconds):
    its fixed-point rounding differs between builds, and labels must match it bit for bit."""
    ramp = np.arange(src, dtype=np.int32)[None]
    idx = cv2.resize(ramp, (dst, 1), interpolation=cv2.INTER_NEAREST_EXACT)[0]
    return idx[start:start + count]


def rows_read(height, plan):
    """(image rows, label rows): how many top rows of a ``height``-row source the plan's crop
    reads through ``crop_scaled_image`` and ``crop_scaled_label``, so a decoder may stop
    there. Label: the last nearest-neighbour source row, exactly. Image: the lower bilinear
    neighbour of the last sample position plus two rows (warpAffine rounds positions to 1/32
    pixel); the whole height when the crop reaches the padded bottom (replicated edge)."""
    vh = min(plan.crop, plan.out_h - plan.y1)
    label_rows = int(_nearest_index(height, plan.out_h, plan.y1, vh).max()) + 1
    last = (plan.y1 + vh - 0.5) * height / plan.out_h - 0.5
    image_rows = height if vh < plan.crop else min(height, int(np.floor(last)) + 3)
    return image_rows, label_rows


def crop_scaled_label(label, plan, map_values=None):
    """The plan's crop of mirror -> nearest resize -> pad(IGNORE_INDEX) of ``label``, computed
    by gathering only the source pixels under the crop. ``map_values``: a per-pixel raw ->
    class id mapping applied to the gathered pixels (before the padding), when ``label`` holds
    raw values."""
    h, w = label.shape
    c = plan.crop
    vw, vh = min(c, plan.out_w - plan.x1), min(c, plan.out_h - plan.y1)
    xs = _nearest_index(w, plan.out_w, plan.x1, vw)
    ys = _nearest_index(h, plan.out_h, plan.y1, vh)
    if plan.flip:
        xs = w - 1 - xs
    region = label.take(ys, axis=0).take(xs, axis=1)
    if map_values is not None:
        region = map_values(region)
    if vw == c and vh == c:
        return region
    out = np.full((c, c), IGNORE_INDEX, dtype=region.dtype)
    out[:vh, :vw] = region
    return out


def crop_scaled_image(image, plan, source_size=None):
    """The plan's crop of mirror -> bilinear resize -> pad(0) of ``image``: one warpAffine
    sampling the source at the positions cv2.resize would (pixel centres, edge replicated).

    ``source_size`` = (height, width) of the full-size source when ``image`` was decoded
    reduced (e.g. JPEG at 1/2): a reduced pixel p covers source pixels [f*p, f*p + f), so the
    same sample positions are (x + 0.5) / f - 0.5 in its frame."""
    h, w = image.shape[:2] if source_size is None else source_size
    fx, fy = image.shape[1] / w, image.shape[0] / h
    c = plan.crop
    sx, sy = w / plan.out_w, h / plan.out_h
    if plan.flip:   # mirrored source: x -> w - 1 - x, in the reduced frame too
        ax, bx = -sx * fx, (w - (plan.x1 + 0.5) * sx) * fx - 0.5
    else:
        ax, bx = sx * fx, (plan.x1 + 0.5) * sx * fx - 0.5
    ay, by = sy * fy, (plan.y1 + 0.5) * sy * fy - 0.5
    matrix = np.array([[ax, 0.0, bx], [0.0, ay, by]])
    out = cv2.warpAffine(image, matrix, (c, c), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    vw, vh = plan.out_w - plan.x1, plan.out_h - plan.y1
    if vw < c:
        out[:, vw:] = 0
    if vh < c:
        out[vh:] = 0
    return out


def sync_train(image, label, crop_size, base_size, rng, source_size=None, map_label=None):
    """GluonCV ``_sync_transform``: flip, random long-side scale, pad, random crop, blur;
    computed crop-first (see the module notes). ``source_size``: see ``crop_scaled_image``
    (the label is always full size, so the plan is drawn from its shape). ``map_label``:
    see ``crop_scaled_label``.

    Returns (uint8 HWC image, label) both crop_size x crop_size; normalise separately.
    """
    h, w = label.shape if source_size is None else source_size
    plan = plan_train(h, w, crop_size, base_size, rng)
    image = crop_scaled_image(image, plan, source_size)
    label = crop_scaled_label(label, plan, map_label)
    image = random_blur(image, rng)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def normalize_batch(images, mean, std, channels_last=False):
    """uint8 NHWC batch (a loader's output, already on the device) -> float32 NCHW,
    (x / 255 - mean) / std: the normalisation done where the model runs, so the loader moves
    a quarter of the bytes and spends no time on it. Float input is returned as is (already
    normalised by the dataset)."""
    if images.dtype != torch.uint8:
        return images
    if images.dim() != 4 or images.shape[-1] != len(mean):
        raise ValueError(f'normalize_batch: expected a uint8 (N, H, W, {len(mean)}) batch, got '
                         f'{tuple(images.shape)}')
    scale = torch.tensor([1.0 / (255.0 * s) for s in std], device=images.device)
    shift = torch.tensor([-m / s for m, s in zip(mean, std)], device=images.device)
    # multiply, then add (two roundings, not a fused multiply-add): bit-identical to
    # ``normalize``, so a run does not depend on where it normalises
    out = (images.float() * scale).add_(shift).permute(0, 3, 1, 2)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return out.contiguous(memory_format=fmt)


def sync_val(image, label, crop_size):
    """GluonCV ``_val_sync_transform``: short side -> crop (long side floored), centre crop."""
    h, w = image.shape[:2]
    if w > h:
        oh, ow = crop_size, int(1.0 * w * crop_size / h)
    else:
        ow, oh = crop_size, int(1.0 * h * crop_size / w)
    image, label = resize_pair(image, label, ow, oh)
    image, label = center_crop(image, label, crop_size)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)
