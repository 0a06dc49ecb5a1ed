"""conftest's guards for what a test needs from outside the repository: a missing real-data
sample or test-extra package skips a local run and fails a CI run (CI=true)."""
import pytest

import conftest


@pytest.mark.parametrize("on_ci, outcome", [(True, pytest.fail.Exception),
                                            (False, pytest.skip.Exception)])
def test_missing_sample_or_package(monkeypatch, tmp_path, on_ci, outcome):
    monkeypatch.setattr(conftest, "ON_CI", on_ci)
    (tmp_path / "here").mkdir()
    with pytest.raises(outcome, match="nope"):
        conftest.need_shared(tmp_path / "here", tmp_path / "nope")
    with pytest.raises(outcome, match="no_such_package"):
        conftest.need_module("no_such_package")
    assert conftest.need_shared(tmp_path / "here") == tmp_path / "here"
    assert conftest.need_module("json").dumps([]) == "[]"
