"""``original.py`` for SETR fixtures on a small ViT the original lacks (run under MXNet).

The original SETR asserts ``backbone == 'vit_large_16'``, far too big for a test fixture. This
wrapper builds the original SETR with its ``vit_large_16`` builder swapped for the same
``get_vit`` at a small size (``SMALL``: the configs of mxnetseg/models/vit.py's VIT_CONFIGS that
the original lacks) -- the decoders take their input channels from the data, so their structure
is unchanged. The spec keeps the small name, so our side builds ``SETR(backbone='vit_mini_16')``.
Same commands as original.py (``fixture`` / ``refresh``); other specs pass through unchanged:

    /tmp/mxvenv/bin/python scripts/parity/original_setr_small.py fixture /tmp/mxorig \
        tests/fixtures/mxnet setr_pup_mini SETR vit_mini_16 5 48 aux=1 decoder=pup
"""
import importlib.util
import sys
from pathlib import Path

# name -> (patch, depth, embed_dim, mlp hidden, heads), as in mxnetseg/models/vit.py
SMALL = {"vit_mini_16": (16, 24, 64, 128, 4)}

_spec = importlib.util.spec_from_file_location("original", Path(__file__).with_name("original.py"))
original = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(original)
_build = original.build


def build(mx, REG, spec, forward=True):
    if spec["backbone"] not in SMALL:
        return _build(mx, REG, spec, forward)
    setr = sys.modules["mxnetseg.models.setr"]
    from mxnetseg.models.backbone.vit import get_vit
    cfg = SMALL[spec["backbone"]]
    large = setr.vit_large_16
    setr.vit_large_16 = lambda pretrained=False, **kw: get_vit(*cfg, pretrained, **kw)
    try:
        return _build(mx, REG, dict(spec, backbone="vit_large_16"), forward)
    finally:
        setr.vit_large_16 = large


original.build = build

if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "fixture" and len(sys.argv) >= 9:
        original.fixture(sys.argv[2], sys.argv[3], {sys.argv[4]: original.parse_spec(sys.argv[5:])})
    elif cmd == "refresh" and len(sys.argv) == 4:
        original.fixture(sys.argv[2], sys.argv[3], original.refresh_specs(sys.argv[3]))
    else:
        sys.exit(__doc__)
