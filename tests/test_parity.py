"""Output parity with the ORIGINAL MXNetSeg models: every fixture written by
scripts/parity/original.py (the original's seeded weights saved as .params -> our model through
the MXNet name map, same input, eval mode) gives the original's outputs to 1e-4."""
import numpy as np
import pytest

from parity import fixture_tags, run_fixture

TOL = 1e-4


@pytest.mark.parametrize("tag", fixture_tags())
def test_parity_with_original(tag, tmp_path):
    ours, theirs = run_fixture(tag, tmp_path)
    assert len(ours) == len(theirs), "number of outputs (main + aux) differs"
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.shape == b.shape, f"output {i}"
        assert np.abs(b).max() > 1e-2 and b.std() > 1e-3, "degenerate fixture output"
        diff = float(np.abs(a - b).max())
        assert diff <= TOL, f"output {i}: max abs diff {diff:.3g}"
