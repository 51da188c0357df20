"""Build hook only (the metadata is in pyproject.toml): the wheel carries the suites.

``benchmarks/*.yaml`` stay where a clone's users and docs find them; at build time they are
copied into the wheel as ``lpg_meta/suites/``, where ``lpg_meta.suites.find_suite`` looks when
no clone is around.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithSuites(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib, "lpg_meta", "suites")
        target.mkdir(parents=True, exist_ok=True)
        for suite in sorted(Path(__file__).parent.joinpath("benchmarks").glob("*.yaml")):
            shutil.copyfile(suite, target / suite.name)


setup(cmdclass={"build_py": BuildPyWithSuites})
