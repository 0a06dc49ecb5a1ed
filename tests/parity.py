"""Shared by the MXNet parity tests: the seeded weights (``seeded_array`` of
scripts/parity/original.py, the script that made the fixtures) and running a fixture of the
original through our model."""
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch

from mxnetseg.models import create_model
from mxnetseg.tools.checkpoint import load_model_weights
from mxnetseg.tools.mxnet_params import write_params

FIX = Path(__file__).parent / "fixtures" / "mxnet"
_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "parity" / "original.py"
_spec = importlib.util.spec_from_file_location("parity_original", _SCRIPT)
_original = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_original)     # numpy only at import time; mxnet only when run
seeded_array = _original.seeded_array


def fixture_tags():
    """Fixtures written by ``scripts/parity/original.py fixture`` (a json with a spec)."""
    return sorted(f.stem for f in FIX.glob("*.json") if "spec" in _dict(json.loads(f.read_text())))


def _dict(data):
    return data if isinstance(data, dict) else {}


def model_from_spec(spec):
    """Our model for a fixture spec or a row of original_counts.json, in eval mode."""
    kwargs = dict(aux=spec["aux"], dilate=spec["dilate"], crop_size=spec["crop"],
                  **spec["kwargs"])
    if spec["backbone"] is not None:
        kwargs["backbone"] = spec["backbone"]
    return create_model(spec["model"], spec["nclass"], **kwargs).eval()


def _seeded_arrays(params):
    """The seeded weights of a fixture's [[name, shape, sum], ...], each checked against the
    sum the generator recorded."""
    arrays = {}
    for name, shape, total in params:
        arrays[name] = seeded_array(name, tuple(shape))
        assert abs(arrays[name].astype(np.float64).sum() - total) <= 1e-6 * max(1, abs(total)), \
            f"{name}: seeded values differ from the fixture's (seeded_array out of sync?)"
    return arrays


def run_fixture(tag, tmp_dir):
    """(our outputs, the original's outputs) for fixture ``tag``, our model loaded from a
    ``.params`` file holding the seeded weights under the original's names."""
    data = json.loads((FIX / f"{tag}.json").read_text())
    arrays = _seeded_arrays(data["params"])
    path = write_params(Path(tmp_dir) / f"{tag}.params", arrays)
    model = model_from_spec(data["spec"])
    load_model_weights(model, path)
    x = torch.from_numpy(np.load(FIX / f"{tag}_input.npy"))
    with torch.no_grad():
        ours = [o.numpy() for o in model(x)]
    return ours, list(np.load(FIX / f"{tag}_out.npy"))


# --- GluonCV's model zoo (fixtures of scripts/parity/gluoncv.py) ---------------------------
GLUONCV_FIX = Path(__file__).parent / "fixtures" / "gcv"


def gluoncv_fixture_tags():
    return sorted(f.stem for f in GLUONCV_FIX.glob("*.json"))


def seeded_gluoncv_file(tag, tmp_dir):
    """(fixture spec, path): the fixture's seeded weights written as GluonCV's
    ``save_parameters`` file (its names, no arg:/aux: prefixes)."""
    data = json.loads((GLUONCV_FIX / f"{tag}.json").read_text())
    arrays = _seeded_arrays(data["params"])
    return data["spec"], write_params(Path(tmp_dir) / f"{tag}.params", arrays)


def run_gluoncv_fixture(tag, tmp_dir):
    """(spec, our outputs at the input's size, GluonCV's outputs sampled every spec['step']
    pixels) for fixture ``tag``: the zoo name built by ``create_model(name, checkpoint=...)``."""
    spec, path = seeded_gluoncv_file(tag, tmp_dir)
    model = create_model(spec["name"], checkpoint=path).eval()
    x = torch.from_numpy(np.load(GLUONCV_FIX / f"{tag}_input.npy"))
    with torch.no_grad():
        ours = [o.numpy() for o in model(x)]
    return spec, ours, list(np.load(GLUONCV_FIX / f"{tag}_out.npy"))


def relative_diff(ours, theirs, step):
    """max |ours sampled - theirs| / max |theirs| over every output."""
    return max(float(np.abs(a[:, :, ::step, ::step] - b).max() / np.abs(b).max())
               for a, b in zip(ours, theirs))
