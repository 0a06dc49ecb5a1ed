"""The command line prints the project's own error types as one line and lets anything else
(a bug) keep its traceback."""
import pytest

from mxnetseg.cli import run_cli
from mxnetseg.models import ModelConfigError, create_model
from mxnetseg.registry import Registry, UnknownNameError


def _raise(err):
    def fn():
        raise err
    return fn


def test_user_errors_are_one_line(capsys, monkeypatch):
    monkeypatch.delenv("MXNETSEG_DEBUG", raising=False)
    with pytest.raises(ModelConfigError) as info:
        create_model("psp", 3, output_stride=16)
    assert run_cli(_raise(info.value)) == 2
    assert capsys.readouterr().err.startswith("error: PSPNet always runs at output stride 8")


@pytest.mark.parametrize("err", [ValueError("internal"), TypeError("internal"), KeyError("x")])
def test_other_errors_keep_their_traceback(err, monkeypatch):
    monkeypatch.delenv("MXNETSEG_DEBUG", raising=False)
    with pytest.raises(type(err)):
        run_cli(_raise(err))


def test_registry_names_aliases_and_suggestions():
    class UnknownThing(UnknownNameError):
        pass

    things = Registry("thing", UnknownThing)
    things.add("Alpha", 1, aliases=("a",))
    things.add("Beta", 2)
    assert things.get("ALPHA") == things.get("a") == 1 and things.canonical("beta") == "Beta"
    assert things.names() == ["Alpha", "Beta"]
    assert things.names(aliases=True) == ["a", "alpha", "beta"]
    with pytest.raises(UnknownThing, match=r"unknown thing 'alpah'\. Did you mean 'Alpha'\?"):
        things.get("alpah")
    with pytest.raises(ValueError, match="already registered"):
        things.add("Gamma", 3, aliases=("A",))
    things.attach("a", "extra", "x")
    assert things.attached("Alpha", "extra") == "x" and things.with_attached("extra") == ["Alpha"]
    assert things.name_of(2) == "Beta" and things.name_of(3) is None
