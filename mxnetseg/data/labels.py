"""Label conventions shared by every dataset, the transforms and the tools: the ignore label
and the colour palettes (a leaf module: it imports nothing of the project)."""
import numpy as np

__all__ = ['IGNORE_INDEX', 'IGNORE_PALETTE_INDEX', 'voc_palette']

# The one ignore label of the whole project (the original uses -1 too).
IGNORE_INDEX = -1

# Ignore (-1) is written as this palette index, the convention of VOC-style index PNGs.
IGNORE_PALETTE_INDEX = 255


def voc_palette(n=256):
    """The standard Pascal VOC colormap: class i's bits interleaved into R, G, B (MSB first)."""
    palette = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c, rgb = i, [0, 0, 0]
        for bit in range(7, -1, -1):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << bit
            c >>= 3
        palette[i] = rgb
    return palette
