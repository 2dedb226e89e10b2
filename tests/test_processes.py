"""The installed `crmctl` as a real process: pipelines, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess

from conftest import crmctl_executable


def test_pipeline_list_into_tag_add(run, people):
    exe = crmctl_executable()
    pipeline = subprocess.run(
        f"'{exe}' contact list --format ndjson | '{exe}' tag add churned -c - --format json",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert pipeline.returncode == 0, pipeline.stderr
    assert json.loads(pipeline.stdout) == {
        "action": "tag_add",
        "selected": 5,
        "identified": 5,
        "changed": 4,
        "tags": ["churned"],
        "dry_run": False,
    }


def test_ids_on_stdin(run, people):
    result = run("block", "-c", "-", "--format", "json", input="1\n2\nnobody@example.com\n")
    assert result.returncode == 1
    message = "1 contact not found: 'nobody@example.com' (use --ignore-missing to skip them)"
    assert json.loads(result.stdout) == {"error": {"message": message, "exit_code": 1, "kind": "not_found"}}
    assert result.stderr == f"Error: {message}\n"


def test_usage_error_exit_code_and_no_traceback(run, people):
    result = run("tag", "add")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_delete_refused_without_terminal(run, people):
    result = run("delete", "--all")
    assert result.returncode == 1
    assert result.stderr == "Error: refusing to delete 5 contacts without confirmation: pass --yes\n"


def test_python_dash_m(people):
    import sys

    result = subprocess.run([sys.executable, "-m", "crmctl", "contact", "count"], capture_output=True, text=True)
    assert result.stdout == "5\n"


def test_stdout_closed_early_is_quiet(people):
    exe = crmctl_executable()
    result = subprocess.run(
        f"'{exe}' contact list --format ndjson | head -1", shell=True, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
