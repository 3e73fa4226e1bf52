"""Suite-wide invariants.

The prefix invariant: within a session, every call extends the previous call's cached
(stable) region byte for byte. A test that moves the prefix on purpose says so with
``@pytest.mark.moves_prefix("why")``; rewrites a layer declares (compaction) are allowed.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

from ctxkit.testing import assert_prefix_extends, capture_calls

REPO = Path(__file__).resolve().parents[1]
# beside the checkout; CTXKIT_EVALDATA points elsewhere (a worktree one level deeper)
EVALDATA = Path(os.environ.get("CTXKIT_EVALDATA") or REPO.parent / "shared" / "evaldata")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "moves_prefix(reason): the test changes the cached prefix on purpose")


@pytest.fixture(autouse=True)
def _prefix_invariant(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    with capture_calls() as cap:
        yield
    if request.node.get_closest_marker("moves_prefix") is not None:
        return
    sessions: dict[str, list[tuple[object, object]]] = defaultdict(list)
    for draft, record in cap.calls:
        if record.ok:
            sessions[record.session_id].append((draft, record))
    for sid, calls in sessions.items():
        drafts = [d for d, _ in calls]
        allow = [i for i, (_, r) in enumerate(calls) if any(e.declared for e in r.drift)]
        try:
            assert_prefix_extends(drafts, allow=allow)
        except AssertionError as exc:
            pytest.fail(f"prefix invariant broken in session {sid}: {exc}. If the test moves "
                        "the prefix on purpose, mark it @pytest.mark.moves_prefix('why')")


@pytest.fixture
def evaldata() -> Path:
    if not EVALDATA.exists():
        pytest.skip(f"evaluation data not found at {EVALDATA} (it lives beside the checkout "
                    "in ../shared/evaldata, not in a user's clone)")
    return EVALDATA
