"""The ``ctxkit demo`` session: a coding agent fixing a real bug in a shipped sample repository.

``run(args)`` drives the three-turn session (its options are in ``ctxkit.cli.demo``);
``sample_repo()`` is the path of the sample repository shipped as package data;
``StandInAgent`` is the scripted model that plays the agent offline.
"""

from ._agent import SYSTEM, TURNS, StandInAgent
from ._main import LIVE_MODELS, choose_backend, make_backend, run, sample_repo

__all__ = ["LIVE_MODELS", "SYSTEM", "StandInAgent", "TURNS", "choose_backend", "make_backend",
    "run", "sample_repo"]
