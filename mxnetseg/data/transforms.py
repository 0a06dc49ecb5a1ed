"""Train / val / test transforms on numpy arrays, faithful to GluonCV's SegmentationDataset.

Images are uint8 HWC RGB; labels are already-mapped class ids in a small signed integer
array (int16 by convention, ``IGNORE_INDEX`` = -1 for void) so that cv2 can resize them
exactly with nearest-neighbour interpolation (cv2 cannot resize int64).

Every random choice comes from the ``rng`` argument (a ``numpy.random.Generator``), drawn in
the same order as GluonCV: flip, long side, crop x, crop y, blur, blur radius.

Deliberate differences from GluonCV (PIL based):
- Train-time padding fills the label with IGNORE_INDEX, where GluonCV pads the *raw* label
  with 0 (which is a real class for VOC, CamVid, BDD, ...; SEED-MAP §11 item 12).
- Resizing uses cv2: images ``INTER_LINEAR`` (PIL's bilinear antialiases when shrinking,
  cv2's does not), labels ``INTER_NEAREST_EXACT`` (the same pixel-centre rule as PIL NEAREST).
- The blur is ``cv2.GaussianBlur`` with sigma = PIL's radius (PIL's radius *is* the sigma).
"""
import numpy as np
import cv2

from .labels import IGNORE_INDEX

__all__ = [
    'normalize', 'hflip', 'resize_pair', 'random_scale', 'pad_to_size', 'random_crop',
    'random_blur', 'center_crop', 'sync_train', 'sync_val',
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


def sync_train(image, label, crop_size, base_size, rng):
    """GluonCV ``_sync_transform``: flip, random long-side scale, pad, random crop, blur.

    Returns (uint8 HWC image, label) both crop_size x crop_size; normalise separately.
    """
    if rng.random() < 0.5:
        image, label = hflip(image, label)
    image, label = random_scale(image, label, base_size, rng)
    image, label = pad_to_size(image, label, crop_size)
    image, label = random_crop(image, label, crop_size, rng)
    image = random_blur(np.ascontiguousarray(image), rng)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


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
