"""Write docs/model_zoo.md from the registry, the original's measured parameter counts
(tests/fixtures/original_counts.json) and the MXNet parity fixtures (tests/fixtures/mxnet);
its GluonCV table from the zoo (mxnetseg.models.gluoncv_zoo), GluonCV's measured counts
(tests/fixtures/gluoncv_counts.json) and the GluonCV parity fixtures (tests/fixtures/gcv).

    python scripts/model_zoo_doc.py            # rewrites docs/model_zoo.md

Our counts are taken on the ``meta`` device (no memory, no time); the parity column re-runs
every fixture (a few minutes on 2 cores).
"""
from __future__ import annotations

import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from mxnetseg.models import (UnknownModelError, canonical_name, count_parameters,  # noqa: E402
                             create_model, list_models)
from mxnetseg.models.gluoncv_zoo import ZOO  # noqa: E402
from mxnetseg.config import load_config  # noqa: E402
from mxnetseg.data.base import get_dataset_class  # noqa: E402
from parity import (fixture_tags, gluoncv_fixture_tags, model_from_spec,  # noqa: E402
                    relative_diff, run_fixture, run_gluoncv_fixture)

COUNTS = json.loads((REPO / "tests" / "fixtures" / "original_counts.json").read_text())
PAPERS = {
    "FCNResNet": "FCN (CVPR15)", "FCNMobileNet": "FCN (CVPR15)", "PSPNet": "PSPNet (CVPR17)",
    "DeepLabv3": "DeepLabv3 (arXiv17)", "DeepLabv3PlusR": "DeepLabv3+ (ECCV18)",
    "DeepLabv3PlusX": "DeepLabv3+ (ECCV18)", "DenseASPP": "DenseASPP (CVPR18)",
    "DANet": "DANet (CVPR19)", "ACFNet": "ACFNet (ICCV19)",
    "AttentionToScale": "Attention to Scale (CVPR16)", "BiSeNetR": "BiSeNet (ECCV18)",
    "BiSeNetX": "BiSeNet (ECCV18)", "SwiftResNet": "SwiftNet (CVPR19)",
    "SwiftResNetPr": "SwiftNet (CVPR19)", "AlignSeg": "AlignSeg (TPAMI21)",
    "AttaNet": "AttaNet (AAAI21)", "FaPN": "FaPN (ICCV21)", "GFFNet": "GFFNet (AAAI20)",
    "LadderDenseNet": "Ladder DenseNet (ICCVW17)", "SeENet": "SeENet (ICCVW19)",
    "SemanticFPN": "Semantic FPN (CVPR19)", "SETR": "SETR (CVPR21)", "EPRNet": "EPRNet (TITS21)",
    "CANetv1": "CANet (IMAVIS21)", "CANetv2": "CANet v2 (TITS22)",
}
# The original README's benchmark rows (SEED-MAP §10): data, model, backbone, OS, mIoU, ms mIoU,
# config
BENCH = [
    ("Cityscapes val", "BiSeNetR", "resnet18", 32, "71.6", "74.7", "silver-brook-24"),
    ("Cityscapes test", "BiSeNetR", "resnet18", 32, "–", "74.8", "effortless-dust-25"),
    ("Cityscapes val", "FCNResNet", "resnet18", 32, "64.9", "68.1", "fcn-r18-os32-cityscapes"),
    ("Cityscapes val", "FCNResNet", "resnet18", 8, "68.3", "69.9", "pretty-surf-1"),
    ("Cityscapes val", "FCNResNet", "resnet50", 8, "71.7", "–", "fcn-r50-os8-cityscapes"),
    ("Cityscapes val", "FCNResNet", "resnet101", 8, "74.5", "–", "fcn-r101-os8-cityscapes"),
    ("Cityscapes val", "PSPNet", "resnet101", 8, "78.2", "79.5", "pspnet-r101-cityscapes"),
    ("Cityscapes val", "DeepLabv3", "resnet101", 8, "79.3", "80.0",
     "deeplabv3-r101-cityscapes"),
    ("Cityscapes val", "DenseASPP", "resnet101", 8, "78.7", "79.8", "neapolitan-pastry-1"),
    ("Cityscapes val", "DANet", "resnet101", 8, "79.7", "80.9", "danet-r101-cityscapes"),
    ("ADE20K val", "PSPNet", "resnet101", 8, "42.9", "43.7", "pspnet-r101-ade20k"),
    ("VOC 2012 val", "FCNResNet", "resnet101", 8, "74.6", "75.0", "glad-voice-1"),
    ("VOC 2012 val", "AttentionToScale", "resnet101", 8, "77.1", "–", "peachy-snow-4"),
    ("VOC 2012 val", "PSPNet", "resnet101", 8, "78.1", "78.5", "smart-valley-12"),
    ("VOC 2012 val", "DeepLabv3", "resnet101", 8, "80.1", "80.4", "fearless-firefly-5"),
    ("VOC 2012 val", "DeepLabv3PlusR", "resnet101", 8, "79.9", "80.1", "robust-pine-18"),
    ("NYUv2 val", "FCNResNet", "resnet101", 8, "39.7", "41.0", "hopeful-snowflake-1"),
    ("NYUv2 val", "PSPNet", "resnet101", 8, "43.0", "43.6", "grateful-vortex-8"),
    ("NYUv2 val", "DeepLabv3PlusR", "resnet101", 8, "46.0", "47.2", "comfy-dew-31"),
]


def ours(row):
    with torch.device("meta"):
        model = model_from_spec(row)
    return count_parameters(model, "trainable"), count_parameters(model, "all")


def find(model, backbone, nclass=19, aux=False, **kwargs):
    for row in COUNTS:
        if (row["model"], row["backbone"], row["nclass"], row["aux"]) == \
                (model, backbone, nclass, aux) and all(row["kwargs"].get(k) == v
                                                       for k, v in kwargs.items()):
            return row
    return None


def parity():
    diffs = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for tag in fixture_tags():
            spec = json.loads((REPO / "tests" / "fixtures" / "mxnet" / f"{tag}.json")
                              .read_text())["spec"]
            a, b = run_fixture(tag, tmp)
            diff = max(float(np.abs(x - y).max()) for x, y in zip(a, b))
            diffs[spec["model"]].append(f"{diff:.1e} (`{tag}`)")
    return diffs


def fmt(n):
    return f"{n:,}"


def _family(spec):
    """Zoo names sharing one architecture (and so one parity fixture)."""
    return spec.model, (spec.backbone or "").rstrip("0123456789")


def _checkpoint_path(name):
    """GluonCV's file name (sha1 prefix) as the model store keeps it; None when GluonCV
    published no weights for the name."""
    from mxnetseg.models.model_store import ModelStoreError, file_name
    try:
        return f"~/.cache/mxnetseg/{file_name(name)}"
    except ModelStoreError:
        return None


def gluoncv_table():
    rows = {r["name"]: r for r in json.loads(
        (REPO / "tests" / "fixtures" / "gluoncv_counts.json").read_text())["counts"]}
    parity = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tag in gluoncv_fixture_tags():
            spec, a, b = run_gluoncv_fixture(tag, tmp)
            parity[_family(ZOO[spec["name"]])] = (relative_diff(a, b, spec["step"]),
                                                  spec["name"])
    lines = ["", "## GluonCV's model zoo", "",
             "Every segmentation checkpoint of GluonCV 0.10.5's model zoo (its `_int8` entries "
             "aside) builds by its zoo name — `create_model(\"psp_resnet101_citys\", "
             "checkpoint=\"psp_resnet101_citys-….params\")` needs nothing else — and loads "
             "GluonCV's `.params` file as its model store ships it. *GluonCV* counts were "
             "measured by building each name with GluonCV under MXNet 1.9.1 "
             "(`scripts/parity/gluoncv.py counts`, provenance in "
             "`tests/fixtures/gluoncv_counts.json`); same conventions as above, with the aux "
             "heads GluonCV's checkpoints hold. *Parity*: max difference of our outputs (main "
             "and aux) from GluonCV's relative to GluonCV's largest output, same seeded weights "
             "written as a GluonCV `.params` file, eval mode, 64x64 input; one fixture per "
             "architecture family (`tests/fixtures/gcv`), named in the cell. pixAcc / mIoU "
             "(%) are GluonCV's published numbers for the checkpoint (its model-zoo page; VOC: "
             "mIoU of the VOC 2012 test server, no pixAcc; – = not published). Evaluate with "
             "`--ms` for GluonCV's multi-scale protocol.", "",
             "| Zoo name | Dataset | Builds | Ours trainable / all | GluonCV trainable / all | "
             "Parity | GluonCV pixAcc / mIoU | Download, evaluate |",
             "|---|---|---|---|---|---|---|---|"]
    for name in sorted(ZOO, key=lambda n: (ZOO[n].model, n)):
        spec, theirs = ZOO[name], rows[name]
        try:
            with torch.device("meta"):
                model = create_model(name)
            mine = f"{fmt(count_parameters(model, 'trainable'))} / {fmt(count_parameters(model))}"
        except UnknownModelError:
            mine = "– (not in this build)"
        par = parity.get(_family(spec))
        par = f"{par[0]:.1e} (`{par[1]}`)" if par else "–"
        pub = " / ".join("–" if v is None else f"{v:.1f}" for v in (spec.pixacc, spec.miou))
        builds = f"{spec.model} {spec.backbone or ''}".strip()
        path = _checkpoint_path(name)
        cmd = ("GluonCV published no weights for it: train it" if path is None else
               f"`python -m mxnetseg download {name}`<br>`python -m mxnetseg eval --model {name} "
               f"--checkpoint {path} --data {spec.dataset} --mode val --ms`")
        lines.append(f"| {name} | {spec.dataset} | {builds} | {mine} | "
                     f"{fmt(theirs['trainable'])} / {fmt(theirs['all'])} | {par} | {pub} | "
                     f"{cmd} |")
    return lines


def main():
    diffs = parity()
    lines = ["# Model zoo", "",
             "Generated by `python scripts/model_zoo_doc.py`; every number below is also "
             "asserted by the tests.", "",
             "## All models: parameter counts against the original", "",
             "Counts at nclass 19, aux off; *trainable* = parameters with gradients, *all* = "
             "+ BatchNorm running mean/var (the original README's #Params convention). The "
             "original's counts were measured by running the original MXNetSeg code under "
             "MXNet 1.9.1 (`scripts/parity/original.py counts`; every model also at nclass 21 "
             "and 150 and with aux heads in `tests/fixtures/original_counts.json`). *Parity*: "
             "max abs difference of our outputs (main and aux) from the original's, same weights "
             "(an MXNet `.params` file loaded through the name map), eval mode, per fixture of "
             "`tests/fixtures/mxnet` (small backbones and inputs where the head is what "
             "differs; the R101 name maps are checked name by name).", "",
             "| Model | Paper | Backbone | Alias(es) | Ours trainable / all | Original trainable "
             "/ all | Parity max abs diff |", "|---|---|---|---|---|---|---|"]
    for name in list_models():
        aliases = ", ".join(a for a in list_models(aliases=True)
                            if canonical_name(a) == name and a != name.lower())
        seen, par = set(), "<br>".join(diffs.get(name, [])) or "–"
        for row in COUNTS:
            if row["model"] != name or row["nclass"] != 19 or row["aux"]:
                continue
            variant = row["backbone"] or "eprnet_cls"
            if row["kwargs"]:
                variant += " " + ", ".join(f"{k}={v}" for k, v in row["kwargs"].items())
            if row["model"] == "SETR":
                variant += f", crop {row['crop']}"
            if variant in seen:
                continue
            seen.add(variant)
            t, a = ours(row)
            lines.append(f"| {name} | {PAPERS.get(name, '')} | {variant} | {aliases} | "
                         f"{fmt(t)} / {fmt(a)} | {fmt(row['trainable'])} / {fmt(row['all'])} | "
                         f"{par} |")
            aliases = par = ""
    lines += ["", "## The original's benchmark results and their configs", "",
              "mIoU as the original README reports it (`*` = multi-scale + flip); our #Params "
              "(all, aux off, the dataset's class count) next to the original's. Each config "
              "holds the original run's hyper-parameters (SEED-MAP §10); rows without a "
              "published run use the closest published recipe (see the config's header).", "",
              "| Data | Model | Backbone | OS | #Params ours | #Params original (nclass 19) | "
              "mIoU | *mIoU | Config |", "|---|---|---|---|---|---|---|---|---|"]
    for data, model, backbone, os_, miou, ms, cfg in BENCH:
        nclass = get_dataset_class(load_config(REPO / "configs" / f"{cfg}.yaml").data_name) \
            .NUM_CLASS
        row = dict(model=model, backbone=backbone, nclass=nclass, aux=False, dilate=os_ == 8,
                   crop=128, kwargs={})
        _, a = ours(row)
        orig = find(model, backbone)
        lines.append(f"| {data} | {model} | {backbone} | {os_} | {a / 1e6:.1f}M (nclass "
                     f"{nclass}) | {orig['all'] / 1e6:.1f}M | {miou} | {ms} | "
                     f"[configs/{cfg}.yaml](../configs/{cfg}.yaml) |")
    lines += gluoncv_table()
    (REPO / "docs" / "model_zoo.md").write_text("\n".join(lines) + "\n")
    print("wrote docs/model_zoo.md")


if __name__ == "__main__":
    main()
