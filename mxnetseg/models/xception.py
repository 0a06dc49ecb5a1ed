"""Xception backbones, hand-written (timm has neither variant).

``Xception65``: GluonCV's "modified aligned Xception" (``get_xcetption``), the DeepLabv3PlusX
trunk. ``Xception39``: the original repo's small Xception (``backbone/xception.py``), the
BiSeNetX trunk. Module names follow the originals' attribute names so their weights map
one to one; the ImageNet classifiers are dropped (the segmentation models never used them).
"""
from __future__ import annotations

import torch.nn as nn

from .backbones import load_backbone_weights
from .layers import ConvBNAct, ModelConfigError, get_norm_layer

__all__ = ["Xception65", "Xception39"]


# --- Xception65 (GluonCV) -------------------------------------------------------------------

class SeparableConv2d(nn.Module):
    """GluonCV's: depthwise 3x3 (zero 'fixed padding', symmetric for odd kernels, hence
    ``padding=dilation``) -> BN -> pointwise 1x1; no activation, no biases."""

    def __init__(self, in_ch, out_ch, stride=1, dilation=1, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, in_ch, 3, stride, dilation, dilation, groups=in_ch,
                               bias=False)
        self.bn = norm_layer(in_ch)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.bn(self.conv1(x)))


class XceptionBlock(nn.Module):
    """GluonCV's ``Block``: ``rep`` = a sequence of [ReLU] -> SepConv -> BN, built exactly as
    GluonCV builds it (grow_first / start_with_relu / is_last / stride), plus a 1x1/s conv + BN
    skip when the shape changes, else identity. The leading ReLU must not be in-place: the skip
    reads the block's un-rectified input (MXNet has no in-place ops)."""

    def __init__(self, in_ch, out_ch, reps, stride=1, dilation=1, norm_layer=nn.BatchNorm2d,
                 start_with_relu=True, grow_first=True, is_last=False):
        super().__init__()
        if out_ch != in_ch or stride != 1:
            self.skip = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
            self.skipbn = norm_layer(out_ch)
        else:
            self.skip = self.skipbn = None
        rep = []

        def add(cin, cout, s=1, d=dilation):
            rep.append(nn.ReLU(inplace=bool(rep)))   # in-place except at the block's input
            rep.extend([SeparableConv2d(cin, cout, s, d, norm_layer), norm_layer(cout)])

        width = in_ch
        if grow_first:
            add(in_ch, out_ch)
            width = out_ch
        for _ in range(reps - 1):
            add(width, width)
        if not grow_first:
            add(in_ch, out_ch)
        if stride != 1:
            add(out_ch, out_ch, s=stride, d=1)
        elif is_last:
            add(out_ch, out_ch)
        if not start_with_relu and (grow_first or reps > 1):   # GluonCV omits the first ReLU
            rep.pop(0)
        self.rep = nn.Sequential(*rep)

    def forward(self, x):
        skip = x if self.skip is None else self.skipbn(self.skip(x))
        return self.rep(x) + skip


class Xception65(nn.Module):
    """GluonCV ``Xception65`` trunk. Returns (ReLU(block1) 128 ch @4, middle flow 728 ch,
    exit 2048 ch @``output_stride``). Output stride 8: block3 stride 1, middle dilation 2, exit
    dilations (2, 4); 16: block20 stride 1, exit (1, 2); 32: no dilation.

    ``pretrained``: False, or a path to a PyTorch state dict of this module (the original
    downloaded GluonCV's MXNet 'xception' weights; no PyTorch copy exists to download)."""

    channels = (128, 728, 2048)

    def __init__(self, output_stride=8, norm_layer="BN", pretrained=False):
        super().__init__()
        cfg = {32: (2, 2, 1, (1, 1)), 16: (2, 1, 1, (1, 2)), 8: (1, 1, 2, (2, 4))}
        if output_stride not in cfg:
            raise ModelConfigError(
                f"Xception65 output_stride must be 8, 16 or 32, got {output_stride!r}")
        block3_stride, block20_stride, mid_dilation, (exit_d0, exit_d1) = cfg[output_stride]
        norm = get_norm_layer(norm_layer)
        self.name = "xception65"
        self.output_stride = output_stride
        # entry flow
        self.conv1 = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self.bn1 = norm(32)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, 1, bias=False)
        self.bn2 = norm(64)
        self.block1 = XceptionBlock(64, 128, 2, 2, norm_layer=norm, start_with_relu=False)
        self.block2 = XceptionBlock(128, 256, 2, 2, norm_layer=norm, start_with_relu=False)
        self.block3 = XceptionBlock(256, 728, 2, block3_stride, norm_layer=norm, is_last=True)
        # middle flow: 16 blocks
        self.midflow = nn.Sequential(*[XceptionBlock(728, 728, 3, 1, mid_dilation, norm)
                                       for _ in range(16)])
        # exit flow
        self.block20 = XceptionBlock(728, 1024, 2, block20_stride, exit_d0, norm,
                                     grow_first=False, is_last=True)
        self.conv3 = SeparableConv2d(1024, 1536, 1, exit_d1, norm)
        self.bn3 = norm(1536)
        self.conv4 = SeparableConv2d(1536, 1536, 1, exit_d1, norm)
        self.bn4 = norm(1536)
        self.conv5 = SeparableConv2d(1536, 2048, 1, exit_d1, norm)
        self.bn5 = norm(2048)
        load_backbone_weights(self, pretrained, "xception65", "GluonCV's MXNet 'xception' weights")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        low = self.relu(self.block1(x))      # GluonCV's "add relu here"
        mid = self.midflow(self.block3(self.block2(low)))
        x = self.relu(self.block20(mid))
        x = self.relu(self.bn3(self.conv3(x)))
        x = self.relu(self.bn4(self.conv4(x)))
        return low, mid, self.relu(self.bn5(self.conv5(x)))


# --- Xception39 (the original repo's) --------------------------------------------------------

class SepConvX(nn.Module):
    """The original's ``DepthwiseSeparableConv2d(pattern='xception')``: plain depthwise 3x3 (no
    norm, no act, no bias) -> pointwise CBR (or CB when ``act`` is False)."""

    def __init__(self, in_ch, out_ch, stride=1, dilation=1, norm_layer=nn.BatchNorm2d, act=True):
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, 3, stride, dilation, dilation, groups=in_ch,
                                   bias=False)
        self.pointwise = ConvBNAct(in_ch, out_ch, 1, norm_layer=norm_layer, act=act)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class Xception39Block(nn.Module):
    """Residual = SepConv(in->mid, stride) -> SepConv(mid->mid) -> SepConv(mid->4 mid, no act);
    shortcut = 1x1/s conv + BN only when strided (else identity); sum -> ReLU."""

    expansion = 4

    def __init__(self, in_ch, mid_ch, stride=1, norm_layer=nn.BatchNorm2d):
        super().__init__()
        out_ch = mid_ch * self.expansion
        self.down = (ConvBNAct(in_ch, out_ch, 1, stride, norm_layer=norm_layer, act=False)
                     if stride > 1 else None)
        self.residual = nn.Sequential(SepConvX(in_ch, mid_ch, stride, norm_layer=norm_layer),
                                      SepConvX(mid_ch, mid_ch, norm_layer=norm_layer),
                                      SepConvX(mid_ch, out_ch, norm_layer=norm_layer, act=False))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = x if self.down is None else self.down(x)
        return self.act(shortcut + self.residual(x))


class Xception39(nn.Module):
    """The original's ``xception39``: CBR(3, 8)/2 -> maxpool 3/2 -> layers of (4, 8, 4) blocks
    with mid widths (16, 32, 64) (out = 4 mid), each layer's first block strided.
    Returns (layer1 64 ch @8, layer2 128 ch @16, layer3 256 ch @32).

    ``pretrained``: False, or a path to a PyTorch state dict of this module (the original
    read a local ``weights/xception/xception39_imagenet.params``; nothing to download)."""

    channels = (64, 128, 256)

    def __init__(self, norm_layer="BN", pretrained=False, layers=(4, 8, 4), mids=(16, 32, 64)):
        super().__init__()
        norm = get_norm_layer(norm_layer)
        self.name = "xception39"
        self.output_stride = 32
        self.conv1 = ConvBNAct(3, 8, 3, 2, norm_layer=norm)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = 8
        for i, (n, mid) in enumerate(zip(layers, mids), start=1):
            blocks = [Xception39Block(in_ch, mid, 2, norm)]
            blocks += [Xception39Block(mid * 4, mid, 1, norm) for _ in range(n - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
            in_ch = mid * 4
        load_backbone_weights(self, pretrained, "xception39",
                              "a local file weights/xception/xception39_imagenet.params")

    def forward(self, x):
        c1 = self.layer1(self.maxpool(self.conv1(x)))
        c2 = self.layer2(c1)
        return c1, c2, self.layer3(c2)
