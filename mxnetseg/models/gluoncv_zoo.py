"""GluonCV 0.10.5's segmentation model zoo, by its names (``psp_resnet101_citys``).

Each zoo name is one of our registered models with fixed options: the class count and dataset
of GluonCV's checkpoint, its backbone, whether the checkpoint holds aux heads, and the options
that make our model GluonCV's architecture layer for layer (its heads differ from the original
MXNetSeg's in places: FCN/PSP heads 512 wide, DeepLab ASPP rates 12/24/36). ``pixacc``/``miou``
are GluonCV's published numbers for that checkpoint (its model-zoo page; VOC: test-server mIoU),
None where it published none. The ``_int8`` entries are left out (quantised graphs, not
``.params``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..registry import did_you_mean

__all__ = ["ZooSpec", "ZOO", "zoo_spec", "is_zoo_name", "list_zoo"]


@dataclass(frozen=True)
class ZooSpec:
    name: str                  # GluonCV zoo name
    model: str                 # our registered model that builds it
    backbone: str | None
    nclass: int
    dataset: str               # our dataset registry name -> classes, palette
    aux: bool                  # GluonCV's checkpoint holds aux head weights
    kwargs: dict = field(default_factory=dict)   # further create_model options
    pixacc: float | None = None                  # GluonCV's published numbers (%)
    miou: float | None = None

    def model_kwargs(self) -> dict:
        """create_model keyword arguments (besides nclass) that build this architecture."""
        kw = dict(self.kwargs, aux=self.aux)
        if self.backbone is not None:
            kw["backbone"] = self.backbone
        return kw


# GluonCV dataset acronym -> (our dataset name, classes)
_DATASETS = {"voc": ("voc", 21), "coco": ("coco", 21), "ade": ("ade20k", 150),
             "citys": ("cityscapes", 19), "mhpv1": ("mhp", 19)}
# (GluonCV's MHP v1 has 19 classes, background first; our MHPV1 dataset ignores background: 18)
# family -> (our model, options); GluonCV builds FCN/DeepLab trunks dilated (output stride 8)
_FCN = ("FCNResNet", {"output_stride": 8, "head_channels": 512})
_PSP = ("PSPNet", {"head_channels": 512})
_DEEPLAB = ("DeepLabv3", {"output_stride": 8, "atrous_rates": (12, 24, 36)})

# name -> (family, backbone, aux)
_ENTRIES = {
    "fcn_resnet50_voc": (_FCN, "resnet50", True),
    "fcn_resnet101_voc": (_FCN, "resnet101", True),
    "fcn_resnet101_coco": (_FCN, "resnet101", True),
    "fcn_resnet50_ade": (_FCN, "resnet50", True),
    "fcn_resnet101_ade": (_FCN, "resnet101", True),
    "psp_resnet101_voc": (_PSP, "resnet101", True),
    "psp_resnet101_coco": (_PSP, "resnet101", True),
    "psp_resnet101_citys": (_PSP, "resnet101", True),
    "psp_resnet50_ade": (_PSP, "resnet50", True),
    "psp_resnet101_ade": (_PSP, "resnet101", True),
    "deeplab_resnet101_voc": (_DEEPLAB, "resnet101", True),
    "deeplab_resnet152_voc": (_DEEPLAB, "resnet152", True),
    "deeplab_resnet101_coco": (_DEEPLAB, "resnet101", True),
    "deeplab_resnet152_coco": (_DEEPLAB, "resnet152", True),
    "deeplab_resnet50_ade": (_DEEPLAB, "resnet50", True),
    "deeplab_resnet101_ade": (_DEEPLAB, "resnet101", True),
    "deeplab_resnet50_citys": (_DEEPLAB, "resnet50", True),
    "deeplab_resnet101_citys": (_DEEPLAB, "resnet101", True),
    "deeplab_resnest50_ade": (_DEEPLAB, "resnest50", True),
    "deeplab_resnest101_ade": (_DEEPLAB, "resnest101", True),
    "deeplab_resnest200_ade": (_DEEPLAB, "resnest200", True),
    "deeplab_resnest269_ade": (_DEEPLAB, "resnest269", True),
    "deeplab_v3b_plus_wideresnet_citys": (("DeepLabv3PlusW", {}), "wideresnet38", False),
    "danet_resnet50_citys": (("DANet", {}), "resnet50", True),      # GluonCV always has 3 heads
    "danet_resnet101_citys": (("DANet", {}), "resnet101", True),
    "icnet_resnet50_citys": (("ICNet", {}), "resnet50", True),     # its CFF classifiers
    "icnet_resnet50_mhpv1": (("ICNet", {}), "resnet50", True),
    "fastscnn_citys": (("FastSCNN", {}), None, True),
}

# GluonCV's published pixAcc / mIoU (%) per checkpoint, from its model-zoo page
# (docs/model_zoo/csv_tables/Segmentations/SS_*.csv of dmlc/gluon-cv): validation sets, except
# VOC whose mIoU is the VOC 2012 *test* server's (no pixAcc). None = not published.
_PUBLISHED: dict[str, tuple[float | None, float | None]] = {
    "fcn_resnet101_voc": (None, 83.6), "psp_resnet101_voc": (None, 85.1),
    "deeplab_resnet101_voc": (None, 86.2), "deeplab_resnet152_voc": (None, 86.7),
    "fcn_resnet101_coco": (92.2, 66.2), "psp_resnet101_coco": (92.4, 70.4),
    "deeplab_resnet101_coco": (92.5, 70.4),
    "fcn_resnet50_ade": (79.0, 39.5), "fcn_resnet101_ade": (80.6, 41.6),
    "psp_resnet50_ade": (80.1, 41.5), "psp_resnet101_ade": (80.8, 43.3),
    "deeplab_resnet50_ade": (80.5, 42.5), "deeplab_resnet101_ade": (81.1, 44.1),
    "deeplab_resnest50_ade": (81.2, 45.1), "deeplab_resnest101_ade": (82.1, 46.9),
    "deeplab_resnest200_ade": (82.5, 48.4), "deeplab_resnest269_ade": (82.6, 47.6),
    "psp_resnet101_citys": (96.4, 79.9), "deeplab_resnet50_citys": (96.3, 78.7),
    "deeplab_resnet101_citys": (96.4, 79.4), "danet_resnet50_citys": (96.3, 78.5),
    "danet_resnet101_citys": (96.5, 80.1), "icnet_resnet50_citys": (95.5, 74.5),
    "fastscnn_citys": (95.1, 72.3), "deeplab_v3b_plus_wideresnet_citys": (None, 83.5),
    "icnet_resnet50_mhpv1": (90.5, 44.5),
}


def _build() -> dict[str, ZooSpec]:
    zoo = {}
    for name, ((model, kwargs), backbone, aux) in _ENTRIES.items():
        dataset, nclass = _DATASETS[name.rsplit("_", 1)[1]]
        pixacc, miou = _PUBLISHED.get(name, (None, None))
        zoo[name] = ZooSpec(name, model, backbone, nclass, dataset, aux, dict(kwargs),
                            pixacc, miou)
    return zoo


ZOO: dict[str, ZooSpec] = _build()


def list_zoo() -> list[str]:
    return sorted(ZOO)


def is_zoo_name(name) -> bool:
    return isinstance(name, str) and name.lower() in ZOO


def zoo_spec(name) -> ZooSpec:
    """The spec of a GluonCV zoo name (case-insensitive); a ZooSpec passes through."""
    if isinstance(name, ZooSpec):
        return name
    key = str(name).lower()
    if key not in ZOO:
        from . import UnknownModelError
        raise UnknownModelError(f"unknown GluonCV zoo model {name!r}.{did_you_mean(key, ZOO)} "
                                f"Zoo models: "
                                f"{', '.join(sorted(ZOO))}.")
    return ZOO[key]
