"""The bundled sample data: 1,200 contacts and the property catalog they (and the sample
flows) use, for `crmctl init --sample`, and the sample flows that `crmctl sample flows DIR`
writes out.

Both are package data (`crmctl.sample_data`, installed from the top-level sample_data/
directory), read with importlib.resources: found the same way in a checkout, an editable
install and an installed wheel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

from crmctl.errors import CrmError, NotFound, Refused

if TYPE_CHECKING:
    from sqlite_utils import Database

    from crmctl.importer import ImportReport

PACKAGE = "crmctl.sample_data"
# The flows of the README's main job, in its order: winback-trials takes `trial-active` off
# quiet trials before trial-nurture looks for it. They are written with numbered names, so
# that `DIR/*.yaml` runs them in this order and gives the main job's counts.
MAIN_JOB = ("winback-trials", "vip-tagging", "trial-nurture")
# The other sample flows (some delete contacts, one is deliberately invalid) are written
# beside them, in DIR/examples/, out of the way of `DIR/*.yaml`.
EXAMPLES = "examples"


@dataclass(frozen=True)
class SampleFile:
    target: str  # where it goes, relative to the directory written into
    source: Traversable


def data_root() -> Traversable:
    try:
        return resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise NotFound(f"the sample data is not installed (package {PACKAGE} is missing): reinstall crmctl") from None


def contacts_file() -> Traversable:
    found = data_root() / "contacts.ndjson"
    if not found.is_file():
        raise NotFound(f"the sample contacts are not installed ({PACKAGE}/contacts.ndjson): reinstall crmctl")
    return found


def flow_files() -> list[SampleFile]:
    """Every sample flow: the main job's, numbered in their order, then the examples."""
    folder = data_root() / "flows"
    sources = {item.name.removesuffix(".yaml"): item for item in folder.iterdir() if item.name.endswith(".yaml")}
    missing = [name for name in MAIN_JOB if name not in sources]
    if missing:
        raise NotFound(f"the sample flows are not installed ({PACKAGE}/flows/{missing[0]}.yaml): reinstall crmctl")
    main = [SampleFile(f"{10 * (i + 1)}-{name}.yaml", sources.pop(name)) for i, name in enumerate(MAIN_JOB)]
    return main + [SampleFile(f"{EXAMPLES}/{name}.yaml", sources[name]) for name in sorted(sources)]


def load_sample(db: Database) -> ImportReport:
    """Declare the sample's properties and import the sample contacts, in one transaction."""
    from crmctl.actions import current_user
    from crmctl.importer import import_contacts
    from crmctl.store import transaction

    # as_file: a real file for a package installed as files, a temporary copy from a zip.
    with resources.as_file(contacts_file()) as path, open(path, "rb") as stream, transaction(db):
        declare_sample_properties(db, current_user())
        return import_contacts(db, stream, fmt="ndjson", filename=path.name, skip_invalid=False, actor=current_user())


def write_flows(directory: Path, *, force: bool = False) -> list[Path]:
    """Write the sample flows into `directory` (made if missing) and return their paths.

    Refuses, writing nothing, when any of the files exists, unless `force`. Each file is
    written whole and renamed into place; if writing fails, the files and directories this
    call created are removed again."""
    plan = [(directory / item.target, item.source.read_bytes()) for item in flow_files()]
    present = [path for path, _ in plan if path.exists() or path.is_symlink()]
    if present and not force:
        shown = ", ".join(str(path) for path in present)
        raise Refused(
            f"not overwriting {len(present)} existing file{'s' if len(present) != 1 else ''}: {shown} (pass --force)"
        )
    made: list[Path] = []
    try:
        for path, data in plan:
            made += _make_directories(path.parent)
            existed = path.exists()
            _replace_file(path, data)
            if not existed:
                made.append(path)
    except OSError as exc:
        for path in reversed(made):
            _remove_quietly(path)
        raise CrmError(f"cannot write the sample flows into {directory}: {exc.strerror or exc}") from None
    return [path for path, _ in plan]


def _make_directories(directory: Path) -> list[Path]:
    """Make `directory` and its missing parents; the ones made, outermost first."""
    missing = [d for d in reversed([directory, *directory.parents]) if not d.is_dir()]
    for each in missing:
        each.mkdir()
    return missing


def _replace_file(path: Path, data: bytes) -> None:
    """Write to a new file beside `path`, then rename it over `path` (never through a link)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _remove_quietly(path: Path) -> None:
    try:
        path.rmdir() if path.is_dir() else path.unlink()
    except OSError:
        pass


def declare_sample_properties(db: Database, actor: str) -> list[str]:
    """Declare the sample's properties that are missing (an existing one keeps its type)."""
    import json

    from crmctl import clock, properties
    from crmctl.actions import Context

    found = data_root() / "properties.json"
    if not found.is_file():
        raise NotFound(f"the sample properties are not installed ({PACKAGE}/properties.json): reinstall crmctl")
    wanted = json.loads(found.read_text(encoding="utf-8"))
    catalog = properties.Catalog.load(db)
    ctx = Context(actor=actor, now=clock.now_text())
    created = []
    for entry in wanted:
        if catalog.get(entry["name"]) is None:
            properties.create(db, entry["name"], entry["type"], ctx, entry.get("description"))
            created.append(entry["name"])
    return created
