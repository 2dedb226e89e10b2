"""CI: check the wheel and the sdist that `python -m build` made in DIST (default dist/).

1. The wheel holds the package, every sample data file (byte for byte the checkout's), the
   LICENSE, and the metadata (version, license, requires-python, the POSIX classifier).
2. Installed into a fresh virtual environment outside the checkout, the wheel runs the
   issue's first commands from a temporary directory: `crmctl init --sample`,
   `crmctl sample flows ./flows`, `crmctl flow run ./flows/*.yaml --yes`, and the counts
   equal those of the README's main job run from the checkout.
3. The sdist holds the tests with their helpers, the sample data and the benchmarks;
   unpacked into a temporary directory with its own virtual environment,
   `pip install -e '.[test]'` works, pytest collects exactly as many tests as in the
   checkout (every test module and helper is there and imports), and the tests that read
   files outside tests/ (sample data, fixtures, benchmarks, packaging) pass. The whole suite
   runs once, from the checkout, right after this.

Run by .ci/run with the checkout's environment active. Exits 1 at the first failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-01T12:00:00Z"


def main() -> int:
    dist = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"
    wheels, sdists = sorted(dist.glob("crmctl-*.whl")), sorted(dist.glob("crmctl-*.tar.gz"))
    check(len(wheels) == 1 and len(sdists) == 1, f"expected one wheel and one sdist in {dist}")
    with tempfile.TemporaryDirectory(prefix="crmctl-dist-") as scratch:
        check_wheel_contents(wheels[0])
        check_wheel_runs_the_main_job(wheels[0], Path(scratch) / "wheel")
        check_sdist(sdists[0], Path(scratch) / "sdist")
    return 0


def check(condition: bool, message: str) -> None:
    if not condition:
        print(f"check_dist: FAILED: {message}", file=sys.stderr)
        sys.exit(1)


def run(args: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    check(result.returncode == 0, f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result


def version() -> str:
    text = (ROOT / "crmctl" / "__init__.py").read_text()
    found = re.search(r'^__version__ = "([^"]+)"$', text, flags=re.M)
    check(found is not None, "no __version__ in crmctl/__init__.py")
    assert found is not None
    return found.group(1)


# 1. The wheel's contents --------------------------------------------------------------------


def check_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        sample = sorted(p for p in (ROOT / "sample_data").rglob("*") if p.is_file() and p.suffix != ".pyc")
        for path in sample:
            inside = f"crmctl/sample_data/{path.relative_to(ROOT / 'sample_data')}"
            check(inside in names, f"{wheel.name} lacks {inside}")
            check(archive.read(inside) == path.read_bytes(), f"{wheel.name}: {inside} differs from the checkout's")
        package = [p for p in (ROOT / "crmctl").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        for path in package:  # every module and data file, e.g. crmctl/help/*.md
            inside = str(path.relative_to(ROOT))
            check(inside in names, f"{wheel.name} lacks {inside}")
        info = f"crmctl-{version()}.dist-info"
        check(f"{info}/licenses/LICENSE" in names, f"{wheel.name} lacks {info}/licenses/LICENSE")
        metadata = archive.read(f"{info}/METADATA").decode()
    for line in (
        f"Version: {version()}",
        "License-Expression: MIT",
        "Requires-Python: >=3.11",
        "Classifier: Operating System :: POSIX",
    ):
        check(line in metadata.splitlines(), f"{wheel.name} metadata lacks {line!r}")
    print(f"wheel {wheel.name}: {len(package)} package files, {len(sample)} sample data files, LICENSE, metadata")


# 2. The wheel, installed outside the checkout, runs the main job ---------------------------


def check_wheel_runs_the_main_job(wheel: Path, scratch: Path) -> None:
    scratch.mkdir(parents=True)
    run([sys.executable, "-m", "venv", scratch / "venv"])
    run([scratch / "venv" / "bin" / "pip", "install", "--quiet", wheel.resolve()])
    crmctl = scratch / "venv" / "bin" / "crmctl"
    work = scratch / "work"
    work.mkdir()
    env = {**without_crmctl_settings(), "XDG_DATA_HOME": str(work / "xdg"), "CRMCTL_NOW": NOW}
    check(run([crmctl, "--version"], cwd=work, env=env).stdout == f"crmctl {version()}\n", "crmctl --version")
    run([crmctl, "init", "--sample"], cwd=work, env=env)
    run([crmctl, "sample", "flows", "./flows"], cwd=work, env=env)
    flows = sorted(str(p.relative_to(work)) for p in (work / "flows").glob("*.yaml"))  # as the shell globs
    installed = flow_counts(run([crmctl, "flow", "run", *flows, "--yes", "--format", "json"], cwd=work, env=env))

    # The README's main job, from the checkout, on a database of its own.
    main_job = re.findall(r"sample_data/flows/[\w-]+\.yaml", readme_main_job())
    checkout_env = {**env, "CRMCTL_DB": str(scratch / "checkout.db")}
    here = Path(sys.executable).parent / "crmctl"  # the checkout's own install
    run([here, "init", "--sample", "-q"], cwd=ROOT, env=checkout_env)
    readme = flow_counts(run([here, "flow", "run", *main_job, "--format", "json"], cwd=ROOT, env=checkout_env))
    check(installed == readme, f"the installed wheel's counts {installed} differ from the main job's {readme}")
    shown = ", ".join(f"{r['flow']}: matched {r['matched']}, parked {r['parked']}" for r in installed)
    print(f"wheel installed in {scratch / 'venv'}, run from {work}: the main job's counts ({shown})")


def without_crmctl_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CRMCTL_", "VIRTUAL_ENV", "PYTHON"))}


def readme_main_job() -> str:
    found = re.search(r"```sh\n(python3 -m venv .*crmctl init --sample.*)\n```", (ROOT / "README.md").read_text())
    check(found is not None, "the README's main job command was not found")
    assert found is not None
    return found.group(1)


def flow_counts(result: subprocess.CompletedProcess) -> list[dict]:
    runs = [json.loads(line) for line in result.stdout.splitlines()]
    for each in runs:
        each.pop("run_id")
    return runs


# 3. The sdist is complete: its tests pass where it is unpacked ------------------------------


def check_sdist(sdist: Path, scratch: Path) -> None:
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        for needed in ("LICENSE", "tests/conftest.py", "tests/crashkit.py", "tests/flowkit.py", "tests/bulk.py"):
            check(f"{top}/{needed}" in names, f"{sdist.name} lacks {needed}")
        for path in (ROOT / "sample_data").rglob("*"):
            if path.is_file() and path.suffix != ".pyc":
                check(f"{top}/{path.relative_to(ROOT)}" in names, f"{sdist.name} lacks {path.relative_to(ROOT)}")
        archive.extractall(scratch, filter="data")
    project = scratch / top
    run([sys.executable, "-m", "venv", project / ".venv"])
    run([project / ".venv" / "bin" / "pip", "install", "--quiet", "-e", ".[test]"], cwd=project)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", *SETTINGS)}
    pytest = project / ".venv" / "bin" / "pytest"
    shipped = collected(run([pytest, "--collect-only", "-p", "no:cacheprovider"], cwd=project, env=env))
    here = collected(run([sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider"], cwd=ROOT))
    check(shipped == here, f"the sdist's tests collect {shipped} tests, the checkout's {here}")
    result = run([pytest, "-n", "2", "-p", "no:cacheprovider", *SMOKE], cwd=project, env=env)
    summary = result.stdout.strip().splitlines()[-1]
    print(
        f"sdist {sdist.name} unpacked in {project}: pip install -e '.[test]'; {shipped} tests collected, as in "
        f"the checkout; the tests that read files outside tests/: {summary}"
    )


# The tests that read what the sdist must carry besides tests/: sample data, the release
# fixture, the benchmarks, the packaging metadata.
SMOKE = [
    "tests/test_packaging.py",
    "tests/test_sample_data.py",
    "tests/test_property_migration.py",
    "tests/test_benchmark_smoke.py",
    "tests/test_import_mapping.py",
    "tests/test_flow_loader.py",
]
SETTINGS = ("CRMCTL_TEST_PG",)  # the sdist's smoke tests run on SQLite


def collected(result: subprocess.CompletedProcess) -> int:
    found = re.search(r"(\d+) tests? collected", result.stdout)
    check(found is not None, f"no collection count in:\n{result.stdout[-2000:]}")
    assert found is not None
    return int(found.group(1))


if __name__ == "__main__":
    sys.exit(main())
