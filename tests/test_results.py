"""Result files are written atomically and carry their provenance."""

import json

import pytest

from lpg_meta.results import provenance, write_json_atomic


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "run" / "result.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "result.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(ValueError):
        write_json_atomic(path, {"a": float("nan")})  # NaN is not valid JSON
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_provenance_names_versions_and_commit():
    prov = provenance()
    assert prov["versions"]["torch"].startswith("2.")
    assert "git_commit" in prov
