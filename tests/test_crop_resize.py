"""The fast train path gives the samples the plain one would: crop-then-resize against
resize-then-crop (real photos), reduced JPEG decode, the decoded-sample cache, uint8 output
normalised on the device, and the libspng decoder."""
import pickle

import cv2
import numpy as np
import pytest
import torch

from conftest import SHARED, need_module, need_shared
from mxnetseg.data import IGNORE_INDEX, DataError, get_dataset
from mxnetseg.data import base as B
from mxnetseg.data import decode as D
from mxnetseg.data import transforms as T

CITY_FRAME = SHARED / 'realdata/mmsegmentation_tests/demo/demo.png'
CITY_LABEL = (SHARED / 'realdata/mmsegmentation_tests/tests/data/pseudo_cityscapes_dataset/'
              'gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelIds.png')
CAMVID = SHARED / 'camvid'
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# cv2.warpAffine places each sample at 1/32 pixel (INTER_BITS) with 15-bit weights, where
# cv2.resize uses the exact position with 11-bit weights: the same bilinear value rounded two
# ways, so a few pixels differ by one grey level (measured on the real frames below: mean
# |diff| <= 0.13, max 1). The bounds leave room for other OpenCV builds, and stay far below
# what a misplaced crop gives (one output pixel off, on the Cityscapes frame: mean 2.15).
MEAN_TOL, MAX_TOL = 0.25, 2


def _reference_train(image, label, crop, base, rng):
    """The resize-then-crop transform (GluonCV's order of work) from the same primitives."""
    if rng.random() < 0.5:
        image, label = T.hflip(image, label)
    image, label = T.random_scale(image, label, base, rng)
    image, label = T.pad_to_size(image, label, crop)
    image, label = T.random_crop(image, label, crop, rng)
    image = T.random_blur(np.ascontiguousarray(image), rng)
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def _real_pairs():
    frame = cv2.cvtColor(cv2.imread(str(need_shared(CITY_FRAME))), cv2.COLOR_BGR2RGB)
    city = cv2.imread(str(need_shared(CITY_LABEL)), cv2.IMREAD_UNCHANGED)
    city = cv2.resize(city, frame.shape[1::-1], interpolation=cv2.INTER_NEAREST).astype(np.int16)
    first = (CAMVID / 'train.txt').read_text().split('\n')[0].split()
    cam = cv2.cvtColor(cv2.imread(str(need_shared(CAMVID / first[0]))), cv2.COLOR_BGR2RGB)
    cam_label = cv2.imread(str(CAMVID / first[1]), cv2.IMREAD_UNCHANGED).astype(np.int16)
    # (image, label, crop, base): Cityscapes-like upscale and downscale, CamVid with padding
    return [(frame, city, 768, 2048), (frame, city, 256, 700), (cam, cam_label, 360, 480),
            (cam, cam_label, 200, 150)]


def test_crop_then_resize_matches_resize_then_crop_on_real_photos():
    worst_mean, worst_max, flips = 0.0, 0, 0
    for k, (image, label, crop, base) in enumerate(_real_pairs()):
        for i in range(12):
            seed = [k, i]
            want_img, want_lbl = _reference_train(image, label, crop, base,
                                                  np.random.default_rng(seed))
            img, lbl = T.sync_train(image, label, crop, base, np.random.default_rng(seed))
            flips += T.plan_train(*label.shape, crop, base, np.random.default_rng(seed)).flip
            assert img.shape == want_img.shape and lbl.shape == want_lbl.shape
            assert np.array_equal(lbl, want_lbl), f'case {k} sample {i}: labels differ'
            diff = np.abs(img.astype(np.int16) - want_img)
            worst_mean, worst_max = max(worst_mean, diff.mean()), max(worst_max, int(diff.max()))
    assert 0 < flips < 48
    assert worst_mean <= MEAN_TOL and worst_max <= MAX_TOL, (worst_mean, worst_max)


def test_a_misplaced_crop_would_be_caught():
    # the tolerance is meaningful: sampling half a pixel off is far outside it
    image, label, crop, base = _real_pairs()[0]
    plan = T.plan_train(*label.shape, crop, base, np.random.default_rng(3))
    good = T.crop_scaled_image(image, plan)
    shifted = T.crop_scaled_image(image, plan._replace(x1=plan.x1 + 1))
    assert np.abs(good.astype(np.int16) - shifted).mean() > 4 * MEAN_TOL


@pytest.mark.parametrize('hw', [(37, 41), (41, 37), (128, 256), (361, 479)])
def test_label_crop_is_bit_identical_including_flip_and_padding(hw):
    h, w = hw
    label = ((np.arange(h)[:, None] * 31 + np.arange(w)[None] * 7) % 251).astype(np.int16)
    image = np.zeros((h, w, 3), np.uint8)
    padded = 0
    for i in range(40):
        crop, base = (64, 30) if i % 4 == 0 else (48, 2 * max(h, w))
        _, want = _reference_train(image, label, crop, base, np.random.default_rng(i))
        got = T.crop_scaled_label(label, T.plan_train(h, w, crop, base, np.random.default_rng(i)))
        assert np.array_equal(got, want), f'sample {i}'
        padded += bool((want == IGNORE_INDEX).any())
    assert padded >= 5


def _list_root(tmp_path, images, ext):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'labels').mkdir()
    lines = []
    for i, image in enumerate(images):
        cv2.imwrite(str(tmp_path / 'images' / f'{i}{ext}'), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        label = (np.arange(image.shape[1])[None] // 9 % 5).repeat(image.shape[0], 0)
        cv2.imwrite(str(tmp_path / 'labels' / f'{i}.png'), label.astype(np.uint8))
        lines.append(f'images/{i}{ext} labels/{i}.png')
    (tmp_path / 'train.txt').write_text('\n'.join(lines) + '\n')
    return tmp_path


def _photos():
    frame = cv2.cvtColor(cv2.imread(str(need_shared(CITY_FRAME))), cv2.COLOR_BGR2RGB)
    return [frame[:400, :600], frame[100:, 300:]]


def _list(root, mode='train', **kw):
    return get_dataset('list', root=root, num_class=5, ignore_label=255, split='train',
                       mode=mode, **kw)


def test_reduced_jpeg_decode_is_used_and_close(tmp_path, monkeypatch):
    root = _list_root(tmp_path, _photos(), '.jpg')
    used = []
    decode = B.decode_image
    def spy(data, path, reduce=1):
        used.append(reduce)
        return decode(data, path, reduce)
    monkeypatch.setattr(B, 'decode_image', spy)   # the dataset's reduced path
    monkeypatch.setattr(D, 'decode_image', spy)   # read_image's full-size path
    # base 150 on ~600 px photos: the scale shrinks 2x to 8x, so every sample decodes reduced
    fast, plain = _list(root, crop_size=64, base_size=150), _list(root, crop_size=64, base_size=150,
                                                                     reduced_decode=False)
    diffs = []
    for epoch in range(6):
        for ds in (fast, plain):
            ds.set_epoch(epoch)
        for i in range(len(fast)):
            (a, la), (b, lb) = fast[i], plain[i]
            assert torch.equal(la, lb)
            diffs.append((a - b).abs().mean().item() * 0.226 * 255)   # in grey levels
    assert set(used) >= {2, 4} and used.count(1) == 12   # 12 = the plain set's decodes
    # the DCT-domain reduction averages where bilinear picks (PIL's resize averages too):
    # a few grey levels on detailed photos, not a different picture
    assert np.mean(diffs) < 6, np.mean(diffs)


def test_cache_fills_at_construction_within_its_limit(tmp_path, monkeypatch):
    root = _list_root(tmp_path, _photos(), '.png')
    plain = _list(root, crop_size=64, base_size=300)
    cached = _list(root, crop_size=64, base_size=300, cache_mb=100)
    assert len(cached._cache) == 2
    monkeypatch.setattr(B, '_read_bytes', lambda path: pytest.fail(f'{path} read again'))
    from_cache = [cached[i] for i in range(2)]   # no file is read for these
    monkeypatch.undo()
    for i, (image, label) in enumerate(from_cache):
        assert torch.equal(plain[i][0], image) and torch.equal(plain[i][1], label)
    small = _list(root, crop_size=64, base_size=300, cache_mb=1.2)   # room for one pair
    assert list(small._cache) == [0] and small._cache_bytes <= 1.2 * 2 ** 20
    clone = pickle.loads(pickle.dumps(cached))   # a spawned worker: no cache copied over
    assert clone._cache == {} and clone.cache_mb == 100 and torch.equal(clone[1][0], cached[1][0])
    assert len(_list(root, crop_size=64, mode='val', cache_mb=100)._cache) == 0
    with pytest.raises(DataError, match='cache_mb must be'):
        _list(root, cache_mb=-1)
    with pytest.raises(DataError, match="Did you mean 'cache_mb'"):
        _list(root, cache_mbb=10)


def test_uint8_output_normalised_on_the_device_is_bit_identical(tmp_path):
    root = _list_root(tmp_path, _photos(), '.png')
    floats = _list(root, crop_size=64, base_size=300)
    raw = _list(root, crop_size=64, base_size=300)
    raw.set_output('uint8')
    batch = torch.stack([raw[i][0] for i in range(2)])
    assert batch.dtype == torch.uint8 and batch.shape == (2, 64, 64, 3)
    want = torch.stack([floats[i][0] for i in range(2)])
    got = T.normalize_batch(batch, MEAN, STD)
    assert got.is_contiguous() and torch.equal(got, want)
    last = T.normalize_batch(batch, MEAN, STD, channels_last=True)
    assert last.is_contiguous(memory_format=torch.channels_last) and torch.equal(last, want)
    assert T.normalize_batch(want, MEAN, STD) is want   # float: already normalised
    with pytest.raises(ValueError, match=r'uint8 \(N, H, W, 3\)'):
        T.normalize_batch(batch.permute(0, 3, 1, 2), MEAN, STD)
    with pytest.raises(DataError, match="unknown output 'half'"):
        raw.set_output('half')


def test_libspng_decodes_the_same_pixels_and_reports_truncation(tmp_path):
    need_module('pyspng')
    assert D._spng is not None
    frame = cv2.imread(str(need_shared(CITY_FRAME)))
    path = tmp_path / 'f.png'
    cv2.imwrite(str(path), frame)
    data = np.fromfile(str(path), np.uint8)
    assert D._is_rgb8_png(data)
    assert np.array_equal(B.read_image(path), cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    path.write_bytes(data[: data.size // 2].tobytes())
    with pytest.raises(DataError, match=f'{path}: cannot decode image'):
        B.read_image(path)


def _label_files(tmp_path, labels):
    paths = []
    for i, label in enumerate(labels):
        paths.append(tmp_path / f'{i}.png')
        cv2.imwrite(str(paths[-1]), label.astype(np.uint8))
    return paths


def test_uint8_label_table_matches_the_mapping_and_keeps_its_errors(tmp_path):
    class Refusing(B.SegmentationDataset):   # per pixel, refuses raw values above 40
        NUM_CLASS = 20

        def _get_pairs(self, split):
            return [(tmp_path / 'x.jpg', tmp_path / 'x.png')]

        def _map_label(self, raw):
            if raw.max() > 40:
                raise DataError(f'raw value {int(raw.max())} has no class')
            return np.where(raw == 40, IGNORE_INDEX, raw.astype(np.int16) // 2)

    class Neighbourly(Refusing):   # not per pixel: the table must not be used
        def _map_label(self, raw):
            return np.full(raw.shape, int(raw.mean()) % 20, np.int16)

    rng = np.random.default_rng(0)
    good = [rng.integers(0, 41, (30, 50)) for _ in range(3)]
    bad = good[0].copy()
    bad[3, 4] = 77
    paths = _label_files(tmp_path, good + [bad])
    ds = Refusing(root=tmp_path, mode='val')
    for path, raw in zip(paths[:3], good):
        want = np.where(raw == 40, IGNORE_INDEX, raw // 2)
        assert np.array_equal(ds.load_label(path), want)
    assert ds._lut is not None and ds._lut is not False   # the table is in use
    with pytest.raises(DataError, match=f'{paths[3]}: raw value 77 has no class'):
        ds.load_label(paths[3])
    odd = Neighbourly(root=tmp_path, mode='val')
    for path, raw in zip(paths[:3], good):
        assert (odd.load_label(path) == int(raw.mean()) % 20).all()
    assert odd._lut is False


def _noise_pairs(tmp_path, shapes):
    """RGB noise PNGs with labels that change every row and column (a sample read from a
    wrong or undecoded row shows), 255 (ignore) included."""
    rng = np.random.default_rng(3)
    (tmp_path / 'images').mkdir()
    (tmp_path / 'labels').mkdir()
    lines = []
    for i, (h, w) in enumerate(shapes):
        cv2.imwrite(str(tmp_path / 'images' / f'{i}.png'), rng.integers(0, 256, (h, w, 3), np.uint8))
        label = (np.arange(h)[:, None] * 3 + np.arange(w)[None]) % 6
        label[label == 5] = 255
        cv2.imwrite(str(tmp_path / 'labels' / f'{i}.png'), label.astype(np.uint8))
        lines.append(f'images/{i}.png labels/{i}.png')
    (tmp_path / 'train.txt').write_text('\n'.join(lines) + '\n')
    return tmp_path


def _spy_png_rows(monkeypatch):
    """Record (what, rows, height) of every row-by-row PNG decode the dataset makes."""
    calls = []
    rows_of = D.decode_png_rows
    def spy(data, path, rows, what='image'):
        calls.append((what, rows, D.png_header(data)[0]))
        return rows_of(data, path, rows, what)
    monkeypatch.setattr(B, 'decode_png_rows', spy)
    return calls


def _assert_same_samples(root, epochs, crop, base, output='float'):
    """The default (partial-decode) set gives the samples ``reduced_decode: false`` gives."""
    fast = _list(root, crop_size=crop, base_size=base)
    plain = _list(root, crop_size=crop, base_size=base, reduced_decode=False)
    for ds in (fast, plain):
        ds.set_output(output)
    for epoch in range(epochs):
        for ds in (fast, plain):
            ds.set_epoch(epoch)
        for i in range(len(fast)):
            (a, la), (b, lb) = fast[i], plain[i]
            assert torch.equal(a, b) and torch.equal(la, lb), (epoch, i)


def test_png_pairs_decoded_down_to_the_crop_give_the_whole_file_samples(tmp_path, monkeypatch):
    need_module('pyspng')
    root = _noise_pairs(tmp_path, [(97, 131), (150, 64), (61, 203)])
    calls = _spy_png_rows(monkeypatch)
    # crop 40 of a long side drawn from 60..240: crops inside, across and beyond the bottom
    _assert_same_samples(root, 12, crop=40, base=120, output='uint8')
    images = [c for c in calls if c[0] == 'image']
    labels = [c for c in calls if c[0] == 'label']
    assert images and labels   # both were cut short on some samples ...
    assert all(rows < h for _, rows, h in calls)
    assert min(rows / h for _, rows, h in images) < 0.6   # ... some well above the bottom


def test_png_rows_decoder_stops_where_asked_and_reports_bad_files(tmp_path):
    need_module('pyspng')
    rng = np.random.default_rng(0)
    rgb, grey = rng.integers(0, 256, (37, 29, 3), np.uint8), rng.integers(0, 256, (37, 29), np.uint8)
    for name, array in (('rgb.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), ('grey.png', grey)):
        cv2.imwrite(str(tmp_path / name), array)
    data = np.fromfile(str(tmp_path / 'rgb.png'), np.uint8)
    top = D.decode_png_rows(data, 'rgb.png', 11)
    assert top.shape == rgb.shape and np.array_equal(top[:11], rgb[:11]) and not top[11:].any()
    assert np.array_equal(D.decode_png_rows(data, 'rgb.png', 99), rgb)
    grey_data = np.fromfile(str(tmp_path / 'grey.png'), np.uint8)
    assert np.array_equal(D.decode_png_rows(grey_data, 'grey.png', 5, 'label')[:5], grey[:5])
    # kinds it does not handle: the caller decodes the whole file
    cv2.imwrite(str(tmp_path / 'deep.png'), grey.astype(np.uint16) * 257)
    jpeg = tmp_path / 'x.jpg'
    cv2.imwrite(str(jpeg), rgb)
    for path in (tmp_path / 'deep.png', jpeg):
        assert D.decode_png_rows(np.fromfile(str(path), np.uint8), path, 3) is None
    with pytest.raises(DataError, match='rgb.png: image file is truncated'):
        D.decode_png_rows(data[:-12], 'rgb.png', 2)   # rows fine, end marker gone
    broken = data.copy()
    broken[60:90] ^= 0x5A                              # inside the compressed rows
    with pytest.raises(DataError, match='bad.png: label file is corrupt .a PNG chunk fails its CRC'):
        D.decode_png_rows(broken, 'bad.png', 37, 'label')


def test_labels_mapped_after_the_crop_still_report_bad_values(tmp_path):
    need_module('pyspng')
    root = _noise_pairs(tmp_path, [(97, 131), (90, 120)])
    cv2.imwrite(str(root / 'labels' / '1.png'), np.full((90, 120), 9, np.uint8))  # 5 classes
    ds = _list(root, crop_size=40, base_size=120)
    ds[0]                               # the first file settles the mapping table ...
    assert isinstance(ds._lut, np.ndarray)
    with pytest.raises(DataError, match=r'labels/1.png: label values \[9\] are outside'):
        ds[1]                           # ... the second is mapped on its crop only


def test_real_photo_pngs_decoded_down_to_the_crop_give_the_whole_file_samples(tmp_path,
                                                                              monkeypatch):
    need_module('pyspng')
    root = _list_root(tmp_path, _photos(), '.png')   # real content: PNG filters all in use
    calls = _spy_png_rows(monkeypatch)
    _assert_same_samples(root, 6, crop=64, base=300)
    assert {what for what, _, _ in calls} == {'image', 'label'}
