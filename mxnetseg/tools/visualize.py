"""Palettes, colour masks and overlays for predictions and labels."""
import numpy as np
from PIL import Image

from ..data.labels import IGNORE_PALETTE_INDEX, voc_palette

__all__ = ['IGNORE_PALETTE_INDEX', 'voc_palette', 'colorize', 'overlay']


def colorize(label, palette, ignore_color=None):
    """Class-id map (ints, -1 = ignore) -> 'P'-mode PIL image carrying ``palette``.

    Pixel values stay the class ids (so the PNG can be read back as indices); ignore becomes
    index 255, coloured ``ignore_color`` if given, else ``palette[255]`` when the palette has
    256 entries (VOC: (224, 224, 192)), else black.
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'colorize: expected a 2-D class-id map, got shape {label.shape}')
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    if len(palette) > 256:
        raise ValueError(f'colorize: a P-mode PNG holds at most 256 colours, palette has {len(palette)}')
    valid_max = min(len(palette), IGNORE_PALETTE_INDEX) - 1
    bad = (label < -1) | (label > valid_max)
    if bad.any():
        raise ValueError(f'colorize: values {np.unique(label[bad])[:10].tolist()} are outside '
                         f'0..{valid_max} (and -1 for ignore) for a {len(palette)}-colour palette')
    index = np.where(label == -1, IGNORE_PALETTE_INDEX, label).astype(np.uint8)
    full = np.zeros((256, 3), dtype=np.uint8)
    full[:len(palette)] = palette
    if ignore_color is not None:
        full[IGNORE_PALETTE_INDEX] = ignore_color
    image = Image.frombytes('P', (index.shape[1], index.shape[0]), np.ascontiguousarray(index).tobytes())
    image.putpalette(full.reshape(-1).tolist())
    return image


def overlay(image, color_mask, alpha=0.5):
    """Blend an RGB uint8 image with a colour mask (PIL image or HxWx3 array)."""
    image = np.asarray(image, dtype=np.uint8)
    if isinstance(color_mask, Image.Image):
        color_mask = color_mask.convert('RGB')
    mask = np.asarray(color_mask, dtype=np.uint8)
    if mask.shape != image.shape:
        raise ValueError(f'overlay: image {image.shape} and mask {mask.shape} differ in shape')
    out = (1.0 - alpha) * image.astype(np.float32) + alpha * mask.astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
