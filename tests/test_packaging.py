"""The installed package is as complete as the checkout: sample data read as package data,
`crmctl sample flows`, an init that leaves nothing behind when it fails, the SQLite minimum,
and one version. (CI also builds the wheel and the sdist and checks them: .ci/check_dist.py.)"""

from __future__ import annotations

import json
import re
import sqlite3
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest

import crmctl
from crmctl import sample
from crmctl.errors import NotFound

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FLOWS = ROOT / "sample_data" / "flows"
WRITTEN = ["10-winback-trials.yaml", "20-vip-tagging.yaml", "30-trial-nurture.yaml"]
EXAMPLES = sorted(p.name for p in SAMPLE_FLOWS.glob("*.yaml") if p.stem not in sample.MAIN_JOB)


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# Sample data as package data --------------------------------------------------------------


def test_the_sample_data_is_the_top_level_directory_read_as_package_data():
    assert sample.contacts_file().read_bytes() == (ROOT / "sample_data" / "contacts.ndjson").read_bytes()
    for item in sample.flow_files():
        assert item.source.read_bytes() == (SAMPLE_FLOWS / item.source.name).read_bytes()


def test_sample_flows_writes_the_main_job_numbered_and_the_rest_as_examples(cli, tmp_path):
    target = tmp_path / "new" / "flows"
    result = cli("sample", "flows", target)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert listing(target) == sorted(WRITTEN + [f"examples/{name}" for name in EXAMPLES])
    assert (target / "20-vip-tagging.yaml").read_bytes() == (SAMPLE_FLOWS / "vip-tagging.yaml").read_bytes()
    assert (target / "examples" / "spam-cleanup.yaml").read_bytes() == (SAMPLE_FLOWS / "spam-cleanup.yaml").read_bytes()
    assert result.stderr.splitlines()[0] == f"wrote {3 + len(EXAMPLES)} sample flows into {target}:"


def test_sample_flows_never_overwrites_without_force_and_then_writes_nothing(cli, tmp_path):
    (tmp_path / "20-vip-tagging.yaml").write_text("mine\n")
    result = cli("sample", "flows", tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: not overwriting 1 existing file: {tmp_path / '20-vip-tagging.yaml'} (pass --force)\n"
    )
    assert listing(tmp_path) == ["20-vip-tagging.yaml"]
    assert (tmp_path / "20-vip-tagging.yaml").read_text() == "mine\n"

    result = cli("sample", "flows", tmp_path, "--force", "-q")
    assert (result.exit_code, result.stderr) == (0, "")
    assert (tmp_path / "20-vip-tagging.yaml").read_bytes() == (SAMPLE_FLOWS / "vip-tagging.yaml").read_bytes()
    assert len(listing(tmp_path)) == 3 + len(EXAMPLES)


def test_sample_flows_replaces_a_link_instead_of_writing_through_it(cli, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep\n")
    target = tmp_path / "flows"
    target.mkdir()
    (target / "10-winback-trials.yaml").symlink_to(outside)
    assert cli("sample", "flows", target).exit_code == 1
    assert cli("sample", "flows", target, "--force").exit_code == 0
    assert outside.read_text() == "keep\n"
    assert not (target / "10-winback-trials.yaml").is_symlink()


def test_sample_flows_into_a_file_is_one_error_line(cli, tmp_path):
    (tmp_path / "file").write_text("")
    result = cli("sample", "flows", tmp_path / "file")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot write the sample flows into {tmp_path / 'file'}: ")
    assert len(result.stderr.splitlines()) == 1


def main_job_flows() -> list[str]:
    """The flow files the README's main job runs, in its order."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"```sh\n(python3 -m venv .*crmctl init --sample.*)\n```", readme)
    assert command, "the README's main job command was not found"
    return re.findall(r"sample_data/flows/([\w-]+)\.yaml", command.group(1))


def test_the_written_flows_are_the_readme_main_job_in_its_order():
    assert main_job_flows() == list(sample.MAIN_JOB)
    assert [item.target for item in sample.flow_files()][:3] == WRITTEN


def run_counts(cli, files: list[Path]) -> list[dict]:
    result = cli("flow", "run", *files, "--yes", "--format", "json")
    assert result.exit_code == 0, result.stderr
    runs = [json.loads(line) for line in result.stdout.splitlines()]
    for run in runs:
        run.pop("run_id")
    return runs


def test_running_the_written_flows_gives_the_main_jobs_counts(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CRMCTL_DB", str(tmp_path / "readme.db"))
    assert cli("init", "--sample", "-q").exit_code == 0
    readme = run_counts(cli, [SAMPLE_FLOWS / f"{name}.yaml" for name in main_job_flows()])

    monkeypatch.setenv("CRMCTL_DB", str(tmp_path / "written.db"))
    assert cli("init", "--sample", "-q").exit_code == 0
    assert cli("sample", "flows", tmp_path / "flows", "-q").exit_code == 0
    written = run_counts(cli, sorted((tmp_path / "flows").glob("*.yaml")))  # the shell's order

    assert written == readme
    assert [run["matched"] for run in written] == [88, 207, 87]


# A failing init leaves nothing behind -----------------------------------------------------


def test_an_init_that_fails_removes_the_database_and_directories_it_made(cli, tmp_path, monkeypatch):
    def missing():
        raise NotFound("the sample contacts are not installed")

    monkeypatch.setattr(sample, "contacts_file", missing)
    path = tmp_path / "new" / "deeper" / "crm.db"
    monkeypatch.setenv("CRMCTL_DB", str(path))
    result = cli("init", "--sample")
    assert result.exit_code == 1
    assert result.stderr == "Error: the sample contacts are not installed\n"
    assert list(tmp_path.iterdir()) == []


def test_an_init_whose_import_fails_midway_leaves_no_half_made_database(cli, tmp_path, monkeypatch):
    import crmctl.importer

    def broken(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(crmctl.importer, "import_contacts", broken)
    monkeypatch.setenv("CRMCTL_DB", str(tmp_path / "crm.db"))
    assert cli("init", "--sample").exit_code == 1
    assert list(tmp_path.iterdir()) == []


def test_a_failing_init_leaves_an_existing_database_as_it_was(cli, isolated_db, monkeypatch):
    assert cli("init", "-q").exit_code == 0
    assert cli("tag", "create", "keep", "-q").exit_code == 0

    def missing():
        raise NotFound("the sample contacts are not installed")

    monkeypatch.setattr(sample, "contacts_file", missing)
    assert cli("init", "--sample").exit_code == 1
    assert cli("tag", "list", "--format", "csv").stdout == "name,contacts\nkeep,0\n"


# The SQLite minimum -----------------------------------------------------------------------


def pretend_sqlite(monkeypatch, found: tuple[int, int, int]) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", found)
    monkeypatch.setattr(sqlite3, "sqlite_version", ".".join(map(str, found)))


@pytest.mark.sqlite_only(reason="the SQLite library's version")
@pytest.mark.parametrize("command", [["init"], ["contact", "count"], ["tag", "list"], ["db", "check"]])
def test_an_sqlite_older_than_the_minimum_is_one_error_line(cli, db, isolated_db, monkeypatch, command):
    pretend_sqlite(monkeypatch, (3, 32, 3))
    result = cli(*command)
    assert result.exit_code == 1
    assert result.stderr == "Error: SQLite 3.32.3 is too old: crmctl needs SQLite 3.33.0 or later\n"


def test_init_with_an_old_sqlite_creates_nothing(cli, tmp_path, monkeypatch):
    pretend_sqlite(monkeypatch, (3, 31, 1))
    monkeypatch.setenv("CRMCTL_DB", str(tmp_path / "dir" / "crm.db"))
    assert cli("init").exit_code == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.sqlite_only(reason="the SQLite library's version")
def test_an_sqlite_before_3_38_needs_the_json_functions_built_in(cli, db, monkeypatch):
    from crmctl.store import connection

    pretend_sqlite(monkeypatch, (3, 35, 5))
    assert cli("contact", "count").stdout == "0\n"  # this library has them

    monkeypatch.setattr(connection, "_has_json_functions", lambda: False)
    result = cli("contact", "count")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: SQLite 3.35.5 was built without the JSON functions: crmctl needs SQLite 3.38.0 or later, "
        "or 3.33.0 or later built with JSON1\n"
    )


def test_the_minimum_is_declared_in_the_readme():
    from crmctl.store.connection import SQLITE_MINIMUM

    assert f"SQLite {'.'.join(map(str, SQLITE_MINIMUM))} or later" in (ROOT / "README.md").read_text()


# One version ------------------------------------------------------------------------------


def test_one_version_for_the_command_the_metadata_and_the_flow_check_cache(run):
    from crmctl.flows.checked import CHECKER

    result = run("--version")
    assert result.stdout == f"crmctl {crmctl.__version__}\n"
    assert installed_version("crmctl") == crmctl.__version__
    assert CHECKER.split("/")[0] == crmctl.__version__
