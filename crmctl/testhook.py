"""A test-only hook: stop the process at a named point, so that a crash test can kill it
exactly there instead of racing a timer.

With `CRMCTL_TEST_PAUSE_AT=NAME` in the environment, a process that reaches
`pause_point(NAME)` writes `crmctl: paused at NAME` to stderr and sleeps (for ten minutes at
most, then carries on). Unset, a point costs one environment lookup. Never set it outside
tests. The points, in the order a command reaches them:

- `transaction:begin`: the write lock is held, nothing is written yet;
- `import:contacts`: an import has written its contacts, not yet their tags, data points,
  conversations or audit entries;
- `action:NAME` (e.g. `action:tag_add`, `action:note`, `action:delete`): an action has made
  its changes (a delete: its suppressions), not yet its audit entry (a delete: not yet the
  deletion itself);
- `transaction:commit`: every change is written, not yet committed;
- `transaction:committed`: committed; the WAL not yet checkpointed (a delete's erasure is
  still pending).
"""

from __future__ import annotations

import os
import sys
import time

VARIABLE = "CRMCTL_TEST_PAUSE_AT"


def pause_point(name: str) -> None:
    if os.environ.get(VARIABLE) == name:
        sys.stderr.write(f"crmctl: paused at {name}\n")
        sys.stderr.flush()
        time.sleep(600)
