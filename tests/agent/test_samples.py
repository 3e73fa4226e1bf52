"""The sample repositories: each a real bug with failing tests, a recorded fix that makes
the whole suite pass, and (where recorded) a plausible wrong fix that does not."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ctxkit import UserError
from examples.coding_agent.samples import SampleTask, copy_repo, sample, samples

from .conftest import repo_tests

REPO = Path(__file__).resolve().parents[2]
NAMES = [p.name for p in samples()]


def _failed(out: str) -> set[str]:
    """Failed test functions (parameter ids dropped) from pytest's short summary."""
    return {m.split("[")[0] for m in re.findall(r"^FAILED (\S+)", out, re.M)}


def test_there_are_at_least_eight_samples() -> None:
    assert len(NAMES) >= 8
    assert len({SampleTask.load(sample(n)).fix.path for n in NAMES}) == len(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_sample_fails_as_recorded_and_the_fix_makes_it_pass(name: str, tmp_path: Path) -> None:
    task = SampleTask.load(sample(name))
    assert task.task and task.symbol and task.failing_tests
    repo = copy_repo(sample(name), tmp_path / "bug")
    assert not (repo / "TASK.json").exists(), "the agent must never see the answer"
    before = repo_tests(repo, "-rf")
    assert before.returncode == 1, before.stdout
    assert _failed(before.stdout) == set(task.failing_tests)

    fixed = copy_repo(sample(name), tmp_path / "fixed")
    task.fix.apply(fixed)
    after = repo_tests(fixed)
    assert after.returncode == 0, after.stdout

    if task.wrong_fix is not None:
        wrong = copy_repo(sample(name), tmp_path / "wrong")
        task.wrong_fix.apply(wrong)
        assert repo_tests(wrong).returncode == 1, "the wrong fix must leave a failure"


def test_a_recorded_edit_that_no_longer_matches_is_refused(tmp_path: Path) -> None:
    task = SampleTask.load(sample("pages"))
    repo = copy_repo(sample("pages"), tmp_path / "r")
    task.fix.apply(repo)
    with pytest.raises(UserError, match="occurs 0 times"):
        task.fix.apply(repo)


def test_copy_refuses_a_non_empty_directory_and_bad_names_are_named(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not an empty directory"):
        copy_repo(sample("pages"), tmp_path)
    with pytest.raises(UserError, match="the samples are: backoff"):
        sample("nope")
    with pytest.raises(UserError, match="has no TASK.json"):
        SampleTask.load(tmp_path)


def test_project_pytest_never_collects_the_sample_repositories(tmp_path: Path) -> None:
    # the project's real pytest config beside the real samples and one stand-in test
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_marker.py").write_text("def test_marker():\n    pass\n")
    shutil.copytree(REPO / "examples" / "repos", tmp_path / "examples" / "repos")
    proc = repo_tests(tmp_path, "--collect-only")
    assert "tests/test_marker.py" in proc.stdout
    assert "examples" not in proc.stdout and "test_paginate" not in proc.stdout
