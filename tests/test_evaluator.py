import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from mxnetseg.tools.evaluator import Evaluator, SegInferencer, _output_name, eval_scales

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class PixelModel(nn.Module):
    """1x1 conv: translation- and flip-equivariant, so windows and flips are exact."""

    def __init__(self, nclass=4, gain=1.0, seed=0, identity=False):
        super().__init__()
        self.conv = nn.Conv2d(3, nclass, 1)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            if identity:
                self.conv.weight.copy_(torch.eye(nclass, 3).view(nclass, 3, 1, 1))
                self.conv.bias.zero_()
            else:
                self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * gain)
                self.conv.bias.copy_(torch.randn(nclass, generator=g) * gain)

    def forward(self, x):
        return (self.conv(x),)


class ContextModel(nn.Module):
    """3x3 conv plus a global-mean term: window content and padding change the output."""

    def __init__(self, nclass=4, seed=1):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, nclass, 3, padding=1)
        self.glob = nn.Conv2d(3, nclass, 1)

    def forward(self, x):
        return (self.conv(x) + self.glob(x.mean((2, 3), keepdim=True)), self.conv(x))


class Counting(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.batches = inner, []

    def forward(self, x):
        self.batches.append(tuple(x.shape))
        return self.inner(x)


def _image(h, w, seed=0):
    return torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _reference(model, image, nclass, crop, base, scales, flip):
    """GluonCV MultiEvalModel re-derived: one window at a time, plain exp in float64."""
    _, _, h, w = image.shape
    stride = int(crop * 2.0 / 3.0)
    pad_values = [-m / s for m, s in zip(MEAN, STD)]

    def pad(img):
        ph, pw = max(crop - img.shape[2], 0), max(crop - img.shape[3], 0)
        return torch.cat([F.pad(img[:, c:c + 1], (0, pw, 0, ph), value=v)
                          for c, v in enumerate(pad_values)], 1)

    def infer(x):
        out = model(x)[0].double()
        if flip:
            out = out + model(x.flip(3))[0].double().flip(3)
        return out.exp()

    scores = torch.zeros(1, nclass, h, w, dtype=torch.float64)
    for scale in scales:
        long = int(math.ceil(base * scale))
        if h > w:
            height = long
            width = short = int(1.0 * w * long / h + 0.5)
        else:
            width = long
            height = short = int(1.0 * h * long / w + 0.5)
        cur = F.interpolate(image, (height, width), mode='bilinear', align_corners=True)
        if long <= crop:
            outputs = infer(pad(cur))[:, :, :height, :width]
        else:
            pimg = pad(cur) if short < crop else cur
            ph, pw = pimg.shape[2:]
            outputs = torch.zeros(1, nclass, ph, pw, dtype=torch.float64)
            count = torch.zeros(1, 1, ph, pw, dtype=torch.float64)
            for ih in range(int(math.ceil(1.0 * (ph - crop) / stride)) + 1):
                for iw in range(int(math.ceil(1.0 * (pw - crop) / stride)) + 1):
                    h0, w0 = ih * stride, iw * stride
                    h1, w1 = min(h0 + crop, ph), min(w0 + crop, pw)
                    out = infer(pad(pimg[:, :, h0:h1, w0:w1]))
                    outputs[:, :, h0:h1, w0:w1] += out[:, :, :h1 - h0, :w1 - w0]
                    count[:, :, h0:h1, w0:w1] += 1
            outputs = (outputs / count)[:, :, :height, :width]
        scores += F.interpolate(outputs, (h, w), mode='bilinear', align_corners=True)
    return scores


def _log_scores(inf, image):
    return torch.log(inf(image)) + inf.log_offset


def test_eval_scales():
    assert eval_scales('Cityscapes', False) == ((1.0,), False)
    assert eval_scales('cityscapes', True) == ((0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25), True)
    assert eval_scales('CamVid', True)[0] == (0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.25)
    assert eval_scales('gatech', True) == ((0.5, 0.8, 1.0, 1.2, 1.4), True)
    assert eval_scales('pascalvoc', True) == ((0.5, 0.75, 1.0, 1.25, 1.5, 1.75), True)


def test_sizes_and_window_grid():
    inf = SegInferencer(PixelModel(19), 19, crop_size=768, base_size=2048)
    assert inf.stride == 512
    assert inf.scaled_size(1024, 2048, 1.0) == (1024, 2048)
    assert inf.scaled_size(1024, 2048, 2.25) == (2304, 4608)
    wins = inf.windows(1024, 2048)
    assert len(wins) == 8 and wins[-1] == (512, 1024, 1536, 2048)
    assert inf.windows(768, 768) == [(0, 768, 0, 768)]
    assert [b[:2] for b in inf.windows(1000, 768)] == [(0, 768), (512, 1000)]   # short, padded
    voc = SegInferencer(PixelModel(21), 21, crop_size=480, base_size=520)
    assert voc.scaled_size(375, 500, 0.5) == (195, 260)       # int(195.5) = 195
    assert voc.scaled_size(500, 375, 1.75) == (910, 683)


@pytest.mark.parametrize('shape', [(24, 32), (32, 20)])
def test_whole_image_equals_direct_call(shape):
    model = PixelModel()
    image = _image(*shape)
    inf = SegInferencer(model, 4, crop_size=32, base_size=max(shape))   # pads to 32x32
    torch.testing.assert_close(_log_scores(inf, image), model(image)[0].double(), atol=1e-5, rtol=0)
    square = _image(32, 32)                                  # exactly crop-sized: no padding
    ctx = ContextModel()
    inf = SegInferencer(ctx, 4, crop_size=32, base_size=32)
    torch.testing.assert_close(_log_scores(inf, square), ctx(square)[0].double(), atol=1e-5, rtol=0)


@pytest.mark.parametrize('shape', [(50, 70), (20, 70), (70, 45)])
def test_sliding_window_stitches_exactly(shape):
    model = PixelModel()
    image = _image(*shape, seed=3)
    inf = SegInferencer(model, 4, crop_size=32, base_size=max(shape))
    assert len(inf.windows(*[max(s, 32) for s in shape])) > 1
    torch.testing.assert_close(_log_scores(inf, image), model(image)[0].double(), atol=1e-5, rtol=0)


@pytest.mark.parametrize('scales,flip',
                         [((1.0,), False), ((0.5, 1.0, 1.5), True), ((0.75, 1.25), False)])
def test_matches_gluoncv_reference(scales, flip):
    model = ContextModel().eval()
    image = _image(45, 64, seed=5)
    inf = SegInferencer(model, 4, crop_size=32, base_size=60, scales=scales, flip=flip,
                        window_batch=3)
    scores = inf(image) * torch.exp(inf.log_offset)
    ref = _reference(model, image, 4, 32, 60, scales, flip)
    torch.testing.assert_close(scores, ref, rtol=1e-5, atol=0)


@pytest.mark.parametrize('fusion', ['exp', 'softmax'])
@pytest.mark.parametrize('window_batch', [3, 8, 64])
def test_batched_windows_equal_one_at_a_time(fusion, window_batch):
    """Windows of several scales in one forward (3: batches straddle scales; 64: the whole
    image in one forward) give the scores of one window per forward."""
    model = ContextModel().eval()
    image = _image(70, 90, seed=2)
    kw = dict(crop_size=32, base_size=80, scales=(0.5, 0.75, 1.0, 1.5), flip=True, fusion=fusion)
    one = SegInferencer(Counting(model), 4, window_batch=1, **kw)
    many = SegInferencer(Counting(model), 4, window_batch=window_batch, **kw)
    a, b = one(image), many(image)
    windows = len(one.model.batches)
    assert windows == 2 + 6 + 12 + 24      # 40x31, 60x47, 80x62, 120x93; stride 21
    assert len(many.model.batches) == math.ceil(windows / window_batch)
    if fusion == 'exp':
        torch.testing.assert_close(one.log_offset, many.log_offset)
    torch.testing.assert_close(a, b, rtol=1e-6, atol=0)


@pytest.mark.parametrize('fusion', ['exp', 'softmax'])
def test_image_batch_equals_each_image_alone(fusion):
    """Several images of one size at once: each gets the scores (and log offset) it gets alone,
    even when their logits differ in scale (the offset is per image)."""
    model = ContextModel().eval()
    images = torch.cat([_image(45, 70, seed=s) * g for s, g in ((1, 1.0), (2, 9.0), (3, 0.2))])
    kw = dict(crop_size=32, base_size=64, scales=(0.75, 1.25), flip=True, fusion=fusion)
    batched = SegInferencer(model, 4, window_batch=4, **kw)
    scores = batched(images)
    assert scores.shape == (3, 4, 45, 70)
    for i in range(3):
        alone = SegInferencer(model, 4, window_batch=4, **kw)
        torch.testing.assert_close(scores[i:i + 1], alone(images[i:i + 1]), rtol=1e-6, atol=0)
        if fusion == 'exp':
            torch.testing.assert_close(batched.log_offset[i:i + 1], alone.log_offset)


def test_flip_of_equivariant_model_doubles_logits():
    model = PixelModel()
    image = _image(40, 56, seed=4)
    inf = SegInferencer(model, 4, crop_size=32, base_size=56, flip=True)
    expected = 2 * model(image)[0].double()
    torch.testing.assert_close(_log_scores(inf, image), expected, atol=1e-5, rtol=0)


def test_multiscale_forward_batches():
    model = Counting(PixelModel())
    inf = SegInferencer(model, 4, crop_size=32, base_size=64, scales=(0.5, 1.0, 1.5), flip=True,
                        window_batch=4)
    out = inf(_image(48, 64))
    assert out.shape == (1, 4, 48, 64)
    # 0.5: 32x24 -> one padded 32x32 input; 1.0: 48x64 -> 2x3 = 6 windows;
    # 1.5: 72x96 -> 3x5 = 15 windows: 22 windows of all scales, 4 per forward, each with its
    # flipped copy in the same batch.
    assert [b[0] for b in model.batches] == [8, 8, 8, 8, 8, 4]
    assert all(b[1:] == (3, 32, 32) for b in model.batches)


class OutOfMemoryAbove(nn.Module):
    """Raises CUDA's out-of-memory error for batches larger than ``limit`` (CPU stand-in)."""

    def __init__(self, inner, limit):
        super().__init__()
        self.inner, self.limit, self.batches = inner, limit, []

    def forward(self, x):
        if x.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError('CUDA out of memory (test)')
        self.batches.append(x.shape[0])
        return self.inner(x)


def test_out_of_memory_halves_the_window_batch():
    model = ContextModel().eval()
    image = _image(48, 64, seed=3)
    kw = dict(crop_size=32, base_size=64, scales=(0.5, 1.0, 1.5), flip=True)
    tight = SegInferencer(OutOfMemoryAbove(model, 6), 4, window_batch=8, **kw)
    scores = tight(image)
    assert tight.window_batch == 2 and max(tight.model.batches) <= 6
    assert sum(tight.model.batches) == 2 * 22
    torch.testing.assert_close(scores, SegInferencer(model, 4, window_batch=1, **kw)(image),
                               rtol=1e-6, atol=0)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        SegInferencer(OutOfMemoryAbove(model, 1), 4, window_batch=4, **kw)(image)


def test_stable_exp_fusion():
    image = _image(40, 60, seed=6)
    moderate = PixelModel(gain=2.0)
    kw = dict(crop_size=32, base_size=60, scales=(0.75, 1.0, 1.25), flip=True)
    inf = SegInferencer(moderate, 4, **kw)
    ref = _reference(moderate, image, 4, 32, 60, kw['scales'], True)
    assert torch.isfinite(ref).all()
    assert torch.equal(inf(image).argmax(1), ref.argmax(1))
    # |logits| <= 150 with flip: float32 exp overflows (the original would give inf/NaN), the
    # float64 reference does not, and the shifted computation must agree with it exactly.
    large = _scaled_model(image, 150)
    assert torch.isinf(torch.exp(2 * large(image)[0])).any()
    ref = _reference(large, image, 4, 32, 60, kw['scales'], True)
    assert torch.isfinite(ref).all()
    scores = SegInferencer(large, 4, **kw)(image)
    assert torch.isfinite(scores).all() and torch.equal(scores.argmax(1), ref.argmax(1))
    huge = _scaled_model(image, 200)
    assert torch.isfinite(SegInferencer(huge, 4, **kw)(image)).all()
    single = SegInferencer(huge, 4, crop_size=32, base_size=60)(image)
    assert torch.isfinite(single).all() and torch.equal(single.argmax(1), huge(image)[0].argmax(1))


def _scaled_model(image, peak):
    model = PixelModel(gain=1.0)
    with torch.no_grad():
        factor = peak / model(image)[0].abs().max()
        model.conv.weight.mul_(factor)
        model.conv.bias.mul_(factor)
    return model


def test_softmax_fusion_is_a_probability():
    inf = SegInferencer(ContextModel(), 4, crop_size=32, base_size=50, scales=(0.5, 1.0, 1.5),
                        flip=True, fusion='softmax')
    probs = inf(_image(40, 50))
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 40, 50, dtype=torch.float64))
    with pytest.raises(ValueError):
        SegInferencer(ContextModel(), 4, crop_size=32, base_size=50, fusion='mean')


class FakeDataset(torch.utils.data.Dataset):
    """One-hot images: an identity 1x1 conv predicts the label exactly."""
    num_class, classes = 3, ['a', 'b', 'c']
    palette = np.array([[128, 64, 128], [244, 35, 232], [70, 70, 70]], dtype=np.uint8)

    def __init__(self, mode):
        self.mode, self.sizes = mode, [(40, 30), (25, 40), (40, 40)]

    def __len__(self):
        return len(self.sizes)

    def label(self, i):
        g = torch.Generator().manual_seed(i)
        return torch.randint(0, 3, self.sizes[i], generator=g)

    def __getitem__(self, i):
        label = self.label(i)
        image = F.one_hot(label, 3).permute(2, 0, 1).float() + 0.1 * torch.rand(3, *label.shape)
        if self.mode == 'test':
            return image, f'city{i}/sub/frame_{i}_leftImg8bit.jpg'
        label = label.clone()
        label[:3, :3] = -1
        return image, label


def _evaluator(mode, amp=None):
    return Evaluator(PixelModel(3, identity=True), FakeDataset(mode), nclass=3, crop_size=32,
                     base_size=40, scales=(1.0,), flip=False, num_workers=0, amp=amp)


@pytest.mark.parametrize('amp', [None, 'bf16'])
def test_run_val_perfect_model(amp):
    result = _evaluator('testval', amp).run_val()
    assert result['pixAcc'] == pytest.approx(1.0) and result['mIoU'] == pytest.approx(1.0)
    assert result['mIoU_present'] == pytest.approx(1.0)


def test_run_predict_writes_palette_pngs(tmp_path):
    ev = _evaluator('test')
    paths = ev.run_predict(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        f'city{i}/sub/frame_{i}_leftImg8bit.png' for i in range(3)]
    for i, p in enumerate(paths):
        img = Image.open(p)
        assert img.mode == 'P'
        np.testing.assert_array_equal(np.array(img), ev.dataset.label(i).numpy())
        assert img.getpalette()[:9] == FakeDataset.palette.reshape(-1).tolist()
    lut = np.array([7, 8, 11], dtype=np.uint8)          # trainId -> labelId, as for Cityscapes
    sub = ev.run_predict(tmp_path / 'sub', label_transform=lambda m: lut[m], submission=True)
    img = Image.open(sub[1])
    assert img.mode == 'L'
    np.testing.assert_array_equal(np.array(img), lut[ev.dataset.label(1).numpy()])


def test_output_names():
    assert _output_name(['a/b/c.x.jpg'], 0).as_posix() == 'a/b/c.x.png'
    assert _output_name(torch.zeros(1, 4, 4), 7).as_posix() == '000007.png'
    assert _output_name(['/abs/x.jpg'], 0).as_posix() == 'abs/x.png'
    with pytest.raises(ValueError):
        _output_name(['../escape.jpg'], 0)
