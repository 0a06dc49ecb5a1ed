"""``Predictor``: class-index masks for user images from any checkpoint we can load.

    from mxnetseg import Predictor
    p = Predictor("psp_resnet101_citys")            # GluonCV's weights from the cache
    p = Predictor("run/best.pth")                   # ours: the checkpoint carries its config
    p = Predictor("x.params", model="fcn", backbone="resnet50", nclass=19, dataset="citys")
    mask = p.predict("photo.jpg")                   # HxW int64 class indices
    Image.fromarray(p.overlay("photo.jpg", mask)).save("overlay.png")

Inference is the evaluator's (:class:`mxnetseg.tools.evaluator.SegInferencer`): the image is
resized so its long side is ``base_size``, scored in ``crop_size`` windows and the scores
resized back, so any size and aspect works; ``ms=True`` adds the original's scales and flip.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data import get_dataset_class, transforms
from ..data.base import SegmentationDataset
from ..models import create_model
from .checkpoint import CheckpointError, is_mxnet_params, load_checkpoint, load_model_weights
from .evaluator import SegInferencer, autocast_dtype, eval_scales
from .media import read_rgb
from .visualize import colorize, overlay, voc_palette

__all__ = ["Predictor"]

# GluonCV's evaluation sizes: its Cityscapes runs use 2048/768, everything else 520/480
_ZOO_SIZES = {"cityscapes": (768, 2048)}
_DEFAULT_SIZES = (480, 520)


def _zoo():
    from ..models import gluoncv_zoo     # the GluonCV zoo table (names -> our models)
    return gluoncv_zoo


def _device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int):
        return torch.device("cuda", device)
    return torch.device(device)


class Predictor:
    """Segment images with a checkpoint.

    ``checkpoint``: our ``.pth`` (carries its model and dataset), an MXNet ``.params`` file
    (needs ``model=``: a GluonCV zoo name, or one of our model names with ``backbone``,
    ``nclass``, ``aux``, ``dilate`` as it was trained), or a GluonCV zoo name alone (its
    published weights, downloaded into the cache once). ``dataset`` names the class names and
    palette when the checkpoint does not carry them; ``crop_size``/``base_size`` override the
    inference sizes (defaults: the checkpoint's, or GluonCV's for zoo names). ``optimize``:
    run :func:`~mxnetseg.tools.inference.optimize_for_inference`'s model (BN folded,
    channels_last, a graph per window batch; the same masks in fp32).
    """

    def __init__(self, checkpoint, model=None, device=None, ms=False, amp=None, *,
                 backbone=None, nclass=None, aux=None, dilate=None, dataset=None,
                 crop_size=None, base_size=None, optimize=True):
        self.device = _device(device)
        net, info = _build(checkpoint, model, backbone=backbone, nclass=nclass, aux=aux,
                           dilate=dilate)
        data_name = dataset or info.get("dataset")
        data_cls = get_dataset_class(data_name) if data_name else SegmentationDataset
        self.dataset = data_cls.__name__ if data_name else None
        self.nclass = int(info["nclass"])
        palette = np.asarray(data_cls.PALETTE, dtype=np.uint8).reshape(-1, 3)
        self.palette = palette if len(palette) >= self.nclass else voc_palette(self.nclass)
        classes = tuple(data_cls.CLASSES)
        self.classes = classes if len(classes) == self.nclass else tuple(
            f"class{i}" for i in range(self.nclass))
        self.mean, self.std = data_cls.MEAN, data_cls.STD
        default = _ZOO_SIZES.get((self.dataset or "").lower(), _DEFAULT_SIZES)
        self.crop_size = int(crop_size or info.get("crop_size") or default[0])
        self.base_size = int(base_size or info.get("base_size") or default[1])
        self.model = net.to(self.device).eval()
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        if optimize:
            from .inference import optimize_for_inference
            self.model = optimize_for_inference(self.model, (1, 3, self.crop_size, self.crop_size),
                                                device=self.device, amp=amp)
        scales, flip = eval_scales(self.dataset or "", ms)
        self.inferencer = SegInferencer(self.model, self.nclass, self.crop_size, self.base_size,
                                        scales, flip, mean=self.mean, std=self.std,
                                        amp_dtype=autocast_dtype(amp, self.device))

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def load_image(image) -> np.ndarray:
        """A path, PIL image or HxWx3 uint8 RGB array -> HxWx3 uint8 RGB array. Files are
        decoded with their EXIF orientation applied (as viewers show them); a PIL image is
        taken as its pixels are."""
        if isinstance(image, (str, Path)):
            return read_rgb(image)
        if isinstance(image, Image.Image):
            return np.asarray(image.convert("RGB"))
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"expected an HxWx3 uint8 RGB array, got shape {image.shape} "
                                 f"dtype {image.dtype}")
            return image
        raise TypeError(f"expected a path, a PIL image or an HxWx3 uint8 array, got "
                        f"{type(image).__name__}")

    # ------------------------------------------------------------------ inference
    def predict(self, image) -> np.ndarray:
        """HxW int64 class indices for one image (path, PIL image or RGB uint8 array)."""
        return self.predict_batch([image])[0]

    def predict_batch(self, images, batch_size: int = 4) -> list[np.ndarray]:
        """Masks for several images, in order; images of equal size share forward passes
        (``batch_size`` at a time). The masks equal those of ``predict`` one by one."""
        arrays = [self.load_image(im) for im in images]
        masks: list[np.ndarray | None] = [None] * len(arrays)
        by_size: dict[tuple, list[int]] = {}
        for i, arr in enumerate(arrays):
            by_size.setdefault(arr.shape, []).append(i)
        for indices in by_size.values():
            for start in range(0, len(indices), max(1, int(batch_size))):
                chunk = indices[start:start + max(1, int(batch_size))]
                for i, mask in zip(chunk, self._infer([arrays[i] for i in chunk])):
                    masks[i] = mask
        return masks

    def _infer(self, arrays: list[np.ndarray]) -> np.ndarray:
        batch = np.stack([transforms.normalize(np.ascontiguousarray(a), self.mean, self.std)
                          for a in arrays])
        x = torch.from_numpy(batch).to(self.device, non_blocking=True)
        return self.inferencer(x).argmax(dim=1).cpu().numpy()

    # ------------------------------------------------------------------ outputs
    def colorize(self, mask) -> Image.Image:
        """The mask as a palette ('P') PIL image in the model's colours; its pixel values stay
        the class indices (``.convert('RGB')`` for colours)."""
        return colorize(mask, self.palette)

    def overlay(self, image, mask, alpha: float = 0.5) -> np.ndarray:
        """HxWx3 uint8: the image blended with the colour mask (``alpha`` = mask weight)."""
        return overlay(self.load_image(image), self.colorize(mask), alpha)

    def raw(self, mask) -> np.ndarray:
        """The array for a class-index PNG: labelIds for Cityscapes models (the format of its
        ground truth and test server), else the class indices."""
        if self.dataset and issubclass(get_dataset_class(self.dataset), _cityscapes()):
            from ..data.cityscapes import train_id_to_label_id
            return train_id_to_label_id(mask)
        return np.asarray(mask).astype(np.uint8 if self.nclass <= 256 else np.uint16)

    def __repr__(self):
        return (f"Predictor({type(self.model).__name__}, nclass={self.nclass}, "
                f"dataset={self.dataset}, crop={self.crop_size}, base={self.base_size}, "
                f"scales={self.inferencer.scales}, flip={self.inferencer.flip}, "
                f"device={self.device})")


def _cityscapes():
    from ..data.cityscapes import Cityscapes
    return Cityscapes


def _zoo_model(name, checkpoint=None):
    spec = _zoo().zoo_spec(name)
    if checkpoint is None:
        net = create_model(spec.name, pretrained=True)
    else:
        net = create_model(spec.name, checkpoint=checkpoint)
    sizes = {k: spec.kwargs[k] for k in ("crop_size", "base_size") if k in spec.kwargs}
    return net, {"nclass": spec.nclass, "dataset": spec.dataset, **sizes}


def _build(checkpoint, model, *, backbone, nclass, aux, dilate):
    """(model with weights loaded, {nclass, dataset, crop_size, base_size} as known)."""
    path = Path(str(checkpoint)).expanduser()
    if not path.exists():
        if model is None and _zoo().is_zoo_name(str(checkpoint)):
            return _zoo_model(str(checkpoint))
        hint = ""
        if model is None and "/" not in str(checkpoint) and not path.suffix:
            try:
                _zoo().zoo_spec(str(checkpoint))
            except KeyError as err:
                hint = f" nor a GluonCV zoo name ({err})"
        raise FileNotFoundError(f"checkpoint {str(checkpoint)!r}: no such file{hint}")
    if model is not None and _zoo().is_zoo_name(str(model)):
        return _zoo_model(model, path)
    if is_mxnet_params(path):
        if model is None or nclass is None:
            raise CheckpointError(f"{path} is an MXNet .params file and carries no model: pass "
                             f"model= a GluonCV zoo name (e.g. psp_resnet101_citys), or one of "
                             f"our model names with backbone=, nclass= (and aux=/dilate= as "
                             f"trained)")
        net = create_model(model, int(nclass), backbone=backbone or "resnet50",
                           aux=bool(aux), dilate=bool(dilate), pretrained_base=False)
        load_model_weights(net, path)
        return net, {"nclass": int(nclass)}
    ckpt = load_checkpoint(path)
    saved = dict(ckpt.get("config") or {}) if isinstance(ckpt, dict) else {}
    over = {"model_name": model, "backbone": backbone, "aux": aux, "dilate": dilate}
    saved.update({k: v for k, v in over.items() if v is not None})
    if "model_name" not in saved:
        raise CheckpointError(f"{path} carries no config: pass model=, backbone=, nclass= (and "
                         f"aux=/dilate= as trained)")
    n = nclass or (ckpt.get("nclass") if isinstance(ckpt, dict) else None)
    if n is None and saved.get("data_name"):
        n = get_dataset_class(saved["data_name"]).NUM_CLASS
    if n is None:
        raise CheckpointError(f"{path}: the class count is unknown; pass nclass=")
    from ..config import load_config
    from ..models.build import build_model
    saved["backbone_init"] = {"manner": None}    # the weights come from the checkpoint
    cfg = load_config(None, saved)
    net = build_model(cfg, int(n))
    load_model_weights(net, path)
    return net, {"nclass": int(n), "dataset": saved.get("data_name"),
                 "crop_size": saved.get("crop_size"), "base_size": saved.get("base_size")}
