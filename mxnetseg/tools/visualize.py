"""Palettes, colour masks and overlays for predictions and labels; the original's feature-map
and heat-map helpers (``plot_features``, ``overlap_heat_map``) for PyTorch tensors."""
import numpy as np
from PIL import Image

from ..data.labels import IGNORE_PALETTE_INDEX, voc_palette

__all__ = ['IGNORE_PALETTE_INDEX', 'voc_palette', 'colorize', 'overlay', 'plot_features',
           'overlap_heat_map']


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


def _to_numpy(x):
    if hasattr(x, 'detach'):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def plot_features(features, scope=9, path=None):
    """Channels ``[0, scope)`` of a (1,C,H,W) or (C,H,W) feature map, one panel each, and their
    sum as the last panel (the original showed the sum in a second window). Saved to ``path``
    when given; the matplotlib figure is returned either way."""
    from .plots import require_matplotlib
    plt = require_matplotlib()
    maps = _to_numpy(features)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f'plot_features: expected a (1,C,H,W) or (C,H,W) feature map, got '
                         f'shape {maps.shape}')
    scope = max(1, min(int(scope), maps.shape[0]))
    panels = scope + 1
    # the original's grid: rows = round(sqrt(n)), one more column when that falls short
    rows = round(panels ** 0.5)
    cols = -(-panels // rows)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis('off')
        if i < scope:
            ax.imshow(maps[i])
            ax.set_title(f'channel {i}', fontsize=8)
        elif i == scope:
            ax.imshow(maps[:scope].sum(axis=0))
            ax.set_title(f'sum of {scope}', fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches='tight')
    return fig


def overlap_heat_map(image, heat_map, alpha=0.4):
    """An RGB uint8 image (HxWx3 array, or a file path) with a (H',W') heat map in [0, 1]
    (tensor or array) resized onto it, JET-coloured and added with weight ``alpha``, as the
    original (which added without normalising and let the PNG writer saturate: we clip)."""
    import cv2
    if isinstance(image, (str, bytes)) or hasattr(image, '__fspath__'):
        image = np.asarray(Image.open(image).convert('RGB'))
    image = np.asarray(image)
    heat = _to_numpy(heat_map).astype(np.float32)
    if heat.ndim == 3 and heat.shape[0] == 1:
        heat = heat[0]
    if heat.ndim != 2 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'overlap_heat_map: expected an HxWx3 image and a 2-D heat map, got '
                         f'{image.shape} and {heat.shape}')
    heat = cv2.resize(heat, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = np.uint8(np.clip(heat, 0, 1) * 255)
    colored = cv2.applyColorMap(heat, cv2.COLORMAP_JET)[..., ::-1]   # BGR -> RGB
    out = colored.astype(np.float32) * alpha + image.astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)
