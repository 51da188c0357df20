"""Result files are written atomically and carry their provenance."""

import json
import os
import stat

import pytest
import torch

from lpg_meta.results import provenance, write_json_atomic, write_text_atomic


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
    assert prov["cpu"]["model"] and prov["cpu"]["machine"]
    assert set(prov["cpu"]["flags"]) <= {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}
    build = prov["torch_build"]
    assert build["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert build["blas"] and build["threads"] == torch.get_num_threads()
    assert build["libraries"] and all(isinstance(line, str) for line in build["libraries"])


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_get_the_mode_of_a_plain_open(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with open(tmp_path / "plain", "w"):
            pass
        write_text_atomic(tmp_path / "atomic.md", "x")
        write_json_atomic(tmp_path / "result.json", {"a": 1})
    finally:
        os.umask(previous)
    want = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert want == 0o666 & ~umask
    for name in ("atomic.md", "result.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == want
