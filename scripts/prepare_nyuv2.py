#!/usr/bin/env python
"""Build the NYUv2-40 tree from the official MATLAB files.

    python scripts/prepare_nyuv2.py --src downloads/nyu --out dataset/NYUv2

--src holds nyu_depth_v2_labeled.mat (the RGB frames; MATLAB v7.3 = HDF5, needs h5py),
labels40.mat (Gupta et al.'s 40-class labels, key labels40; needs scipy) and splits.mat
(trainNdxs / testNdxs, 1-based). Output, the layout mxnetseg.data.NYUv2 reads::

    images/<i>.jpg     i = 0..1448
    labels40/<i>.png   0 = unlabelled, 1..40 (the loader shifts to 0..39, 0 -> ignore)
    train.txt, val.txt 0-based ids (795 / 654)

Orientation: frames are written the way MATLAB shows them (480x640, upright). The original
script's PIL ROTATE_270 of the HDF5 (W, H) arrays gives the same size but mirrored left to
right, for images and labels alike; --mirror-as-original reproduces that exactly.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

import _prep


def load_mat_array(path, key):
    """A numeric array from a .mat file in MATLAB's axis order (v7 via scipy, v7.3 via h5py)."""
    path = Path(path)
    if not path.is_file():
        raise _prep.PrepError(f'{path} not found; --src must hold {path.name}')
    try:
        from scipy.io import loadmat
    except ImportError:
        raise _prep.PrepError(f'reading {path} needs scipy: pip install scipy') from None
    try:
        try:
            return np.asarray(loadmat(str(path))[key])
        except (NotImplementedError, ValueError) as err:
            if not _is_hdf5(path):
                raise _prep.PrepError(f'{path}: not a readable .mat file ({err}); '
                                      f're-download it') from None
        with _h5py().File(str(path), 'r') as f:  # v7.3 files are HDF5, which scipy cannot read
            # HDF5 stores MATLAB's column-major arrays with the axes reversed.
            return np.asarray(f[key]).transpose()
    except KeyError:
        raise _prep.PrepError(f'{path} has no {key!r} entry; is it the right file?') from None


def _is_hdf5(path):
    # MATLAB v7.3 puts the HDF5 signature after its 512-byte header; plain HDF5 at 0.
    with open(path, 'rb') as f:
        head = f.read(520)
    return b'\x89HDF\r\n\x1a\n' in (head[:8], head[512:520])


def _h5py():
    try:
        import h5py
    except ImportError:
        raise _prep.PrepError('nyu_depth_v2_labeled.mat is a MATLAB v7.3 (HDF5) file; reading '
                              'it needs h5py: pip install h5py') from None
    return h5py


def iter_frames(path):
    """Yield (index, HxWx3 uint8 RGB) from nyu_depth_v2_labeled.mat, one frame at a time
    (the whole array is 1.3 GB)."""
    with _h5py().File(str(path), 'r') as f:
        images = f['images']  # (N, 3, W, H): MATLAB's (H, W, 3, N) reversed
        for i in range(images.shape[0]):
            yield i, np.asarray(images[i]).transpose(2, 1, 0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split('\n\n', 1)[1])
    p.add_argument('--src', required=True, help='folder with the three .mat files')
    p.add_argument('--out', required=True, help='output folder, e.g. dataset/NYUv2')
    p.add_argument('--mirror-as-original', action='store_true',
                   help="flip left-right, as the original's ROTATE_270 did")
    args = _prep.add_common_args(p).parse_args(argv)
    src, out = Path(args.src), Path(args.out)
    frames_mat = src / 'nyu_depth_v2_labeled.mat'
    if not frames_mat.is_file():
        raise _prep.PrepError(f'{frames_mat} not found; --src must hold the official '
                              f'nyu_depth_v2_labeled.mat')
    splits = {name: load_mat_array(src / 'splits.mat', key).astype(np.int64).ravel() - 1
              for name, key in (('train.txt', 'trainNdxs'), ('val.txt', 'testNdxs'))}
    labels = load_mat_array(src / 'labels40.mat', 'labels40')  # (H, W, N)
    if labels.ndim != 3 or labels.max() > 40:
        raise _prep.PrepError(f'{src / "labels40.mat"}: expected an HxWxN array of 0..40, got '
                              f'shape {labels.shape} max {labels.max()}')
    n = labels.shape[2]
    for name, ids in splits.items():
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise _prep.PrepError(f'{src / "splits.mat"}: {name[:-4]} ids outside 1..{n}')
    _prep.refuse_existing([out / 'images', out / 'labels40', *(out / s for s in splits)],
                          args.force, 'or choose another --out')
    flip = (lambda a: a[:, ::-1]) if args.mirror_as_original else (lambda a: a)

    def write_label(i):
        _prep.write_png(out / 'labels40' / f'{i}.png', flip(labels[:, :, i]).astype(np.uint8),
                         overwrite=args.force)

    _prep.parallel_map(write_label, range(n), 'NYUv2 labels', args.workers)

    def write_frame(item):
        i, rgb = item
        if rgb.shape[:2] != labels.shape[:2]:
            raise _prep.PrepError(f'frame {i} is {rgb.shape[:2]} but labels are '
                                  f'{labels.shape[:2]}')
        _prep.write_jpg(out / 'images' / f'{i}.jpg', flip(rgb), overwrite=args.force)

    _prep.parallel_map(write_frame, iter_frames(frames_mat), 'NYUv2 images', args.workers,
                       total=n)
    for name, ids in splits.items():  # lists last: their presence marks a finished tree
        _prep.write_list(out / name, [str(i) for i in ids.tolist()], overwrite=args.force)
    print(f'wrote {n} images and labels to {out}; train {len(splits["train.txt"])}, '
          f'val {len(splits["val.txt"])}')


if __name__ == '__main__':
    sys.exit(_prep.run(main, sys.argv[1:]))
