"""A bad sample met mid-run is always a DataError naming the file (the trainer catches that
one type to save a checkpoint first), and EXIF-rotated photos stay aligned with their labels."""
import cv2
import numpy as np
import pytest
from PIL import Image

from mxnetseg.data import DataError, SegmentationDataset, read_image
from mxnetseg.data import base as data_base
from mxnetseg.data import transforms as T
from mxnetseg.data.imagefile import is_complete
from mxnetseg.data.splitlist import shift_down, void_to_ignore

H, W = 24, 40


class _Pairs(SegmentationDataset):
    """Raw label values are class ids, 255 -> ignore (the VOC convention)."""
    NUM_CLASS = 5

    def __init__(self, pairs, **kwargs):
        self._given = pairs
        super().__init__(root=pairs[0][0].parent, **kwargs)

    def _get_pairs(self, split):
        return self._given

    def _map_label(self, raw):
        return void_to_ignore(raw, 255)


def _photo(h=H, w=W, seed=0):
    # Smooth gradients with a bright corner block: JPEG keeps it, and any rotation moves it.
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 250 // w, y * 250 // h, np.full_like(x, 90)], -1).astype(np.uint8)
    img[:h // 3, :w // 4] = (250, 250, 250)
    return img + rng.integers(0, 3, img.shape, dtype=np.uint8)


def _pair(tmp_path, name='a', img=None, label=None, ext='.jpg', **save):
    img = _photo() if img is None else img
    label = np.zeros(img.shape[:2], np.uint8) if label is None else label
    img_path, lbl_path = tmp_path / f'{name}{ext}', tmp_path / f'{name}_label.png'
    Image.fromarray(img).save(img_path, **save)
    assert cv2.imwrite(str(lbl_path), label)
    return img_path, lbl_path


@pytest.mark.parametrize('mode', ['train', 'val', 'testval'])
def test_truncated_jpeg_is_a_data_error_in_every_mode(tmp_path, mode):
    img_path, lbl_path = _pair(tmp_path, img=_photo(64, 96))
    img_path.write_bytes(img_path.read_bytes()[:-40])
    ds = _Pairs([(img_path, lbl_path)], mode=mode, crop_size=16, base_size=32)
    with pytest.raises(DataError, match=str(img_path)):
        ds[0]


def test_a_decoder_that_greys_out_a_cut_file_is_caught(tmp_path, monkeypatch):
    # OpenCV 4 (the requirements allow >= 4.8) returns a cut-off JPEG with grey rows and a
    # warning instead of failing; the end-marker check must catch it either way.
    img_path, lbl_path = _pair(tmp_path, img=_photo(64, 96))
    data = img_path.read_bytes()
    img_path.write_bytes(data[:len(data) // 2])
    monkeypatch.setattr(data_base.cv2, 'imdecode',
                        lambda buf, flags: np.full((64, 96, 3), 128, np.uint8))
    ds = _Pairs([(img_path, lbl_path)], mode='testval')
    with pytest.raises(DataError, match=f'{img_path}.*truncated'):
        ds[0]


def test_truncated_label_png_names_the_label(tmp_path):
    img_path, lbl_path = _pair(tmp_path)
    lbl_path.write_bytes(lbl_path.read_bytes()[:-1])  # just the IEND CRC byte missing
    with pytest.raises(DataError, match=str(lbl_path)):
        _Pairs([(img_path, lbl_path)], mode='testval')[0]


@pytest.mark.parametrize('mode', ['train', 'val', 'testval'])
def test_label_value_out_of_range_and_size_mismatch(tmp_path, mode):
    img_path, lbl_path = _pair(tmp_path, label=np.full((H, W), 9, np.uint8))
    ds = _Pairs([(img_path, lbl_path)], mode=mode, crop_size=16, base_size=32)
    with pytest.raises(DataError, match=rf'{lbl_path}.*\[9\]'):
        ds[0]
    assert cv2.imwrite(str(lbl_path), np.zeros((H, W + 1), np.uint8))
    with pytest.raises(DataError, match=f'{img_path} is {W}x{H} but label {lbl_path} is'):
        ds[0]


def test_sixteen_bit_label_values_do_not_wrap_into_class_ids(tmp_path):
    # 65535 cast to int16 is -1: it used to become 'ignore' silently; 65537 from a .mat
    # (int32) became class 1.
    img_path, lbl_path = _pair(tmp_path, label=np.full((H, W), 65535, np.uint16))
    with pytest.raises(DataError, match=f'{lbl_path}.*65535'):
        _Pairs([(img_path, lbl_path)], mode='testval')[0]
    with pytest.raises(DataError, match='65537'):
        shift_down(np.full((2, 2), 65537, np.int32))
    assert void_to_ignore(np.array([[3, 255]], np.uint16), 255).tolist() == [[3, -1]]


def test_a_file_removed_after_listing_is_a_data_error(tmp_path):
    img_path, lbl_path = _pair(tmp_path)
    ds = _Pairs([(img_path, lbl_path)], mode='testval')
    lbl_path.unlink()
    with pytest.raises(DataError, match=str(lbl_path)) as info:
        ds[0]
    assert isinstance(info.value, FileNotFoundError)  # older callers test for this one


def test_opencv_failures_inside_a_sample_become_data_errors(tmp_path, monkeypatch):
    img_path, lbl_path = _pair(tmp_path)

    def broken(*args, **kwargs):
        raise cv2.error('OpenCV(5.0.0) resize.cpp: error: (-215:Assertion failed) !ssize.empty()')
    monkeypatch.setattr(T, 'sync_train', broken)
    ds = _Pairs([(img_path, lbl_path)], mode='train', crop_size=16, base_size=32)
    with pytest.raises(DataError, match=f'{img_path} / {lbl_path}: OpenCV failed.*ssize'):
        ds[0]


def test_is_complete_walks_files_with_trailing_bytes(tmp_path):
    img_path, _ = _pair(tmp_path, img=_photo(64, 96))
    jpeg = img_path.read_bytes()
    prog_path, _ = _pair(tmp_path, 'p', img=_photo(64, 96), progressive=True)
    progressive = prog_path.read_bytes()
    png_path, _ = _pair(tmp_path, 'q', ext='.png')
    png = png_path.read_bytes()
    for data in (jpeg, progressive, png):
        assert is_complete(data)
        assert is_complete(data + b'camera trailer \xff\xda data')  # bytes after the end
        assert is_complete(data + b'\x00' * 300)
        assert not is_complete(data[:-2])
        assert not is_complete(data[:len(data) * 2 // 3])
    assert is_complete(b'BM not a format checked here')


# ---------------------------------------------------------------------------- EXIF
@pytest.mark.parametrize('orientation', [6, 3])
def test_exif_orientation_is_ignored_like_pil_did(tmp_path, orientation):
    # A phone photo stores its pixels unrotated plus an EXIF tag; the label PNG matches the
    # stored pixels. OpenCV's default turns the photo (90 degrees: a size error, 180: silently
    # upside down); the original's PIL reader did not.
    photo = _photo()
    exif = Image.Exif()
    exif[0x0112] = orientation
    img_path, lbl_path = _pair(tmp_path, img=photo, exif=exif.tobytes(), quality=95)
    assert Image.open(img_path).getexif()[0x0112] == orientation
    image = read_image(img_path)
    assert image.shape == photo.shape
    err = np.abs(image.astype(int) - photo).mean()
    assert err < 3 < np.abs(np.rot90(image, 2).astype(int) - photo).mean()
    ds = _Pairs([(img_path, lbl_path)], mode='testval')
    x, y = ds[0]
    assert tuple(x.shape[1:]) == tuple(y.shape) == (H, W)
