"""`rivet_dagster` exports what the README uses, and the README points into no private module."""
import re
from pathlib import Path

import rivet_dagster

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_every_public_name_is_importable():
    assert sorted(rivet_dagster.__all__) == sorted(set(rivet_dagster.__all__))
    for name in rivet_dagster.__all__:
        assert getattr(rivet_dagster, name) is not None


def test_the_readme_uses_only_the_public_api():
    imported = {name.strip() for names in re.findall(r"from rivet_dagster import ([\w, ]+)", README)
                for name in names.split(",")}
    dotted = set(re.findall(r"rivet_dagster\.(\w+)\(", README))
    assert imported and imported | dotted <= set(rivet_dagster.__all__)
    code_locations = {"rivet_dagster.definitions", "rivet_dagster.demo.definitions"}   # what `dagster -m` loads
    private = set(re.findall(r"rivet_dagster\.\w+\.\w+", README)) - code_locations
    assert private == set()
