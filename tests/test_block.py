import pytest

from ctxkit import Block, Provenance, UserError, canonical_json


def test_hash_is_deterministic_and_covers_only_what_the_model_sees() -> None:
    a = Block(layer="prefix", role="system", content="You are terse.", key="system")
    b = Block(layer="history", role="system", content="You are terse.", key="other",
              provenance=Provenance(source="user", at=123.0), cache="1h", score=0.3)
    c = Block(layer="prefix", role="user", content="You are terse.")
    d = Block(layer="prefix", role="system", content="You are terse. ")
    assert a.hash == b.hash
    assert a.serialize() == b.serialize()
    assert a.hash != c.hash and a.hash != d.hash
    x, y = Block(layer="x", content="héllo"), Block(layer="y", content="héllo")
    assert x.serialize() == y.serialize()


def test_canonical_json_ignores_key_order() -> None:
    assert canonical_json({"b": 1, "a": [2, {"d": 1, "c": 2}]}) == \
        canonical_json({"a": [2, {"c": 2, "d": 1}], "b": 1})


@pytest.mark.parametrize("kwargs, needle", [
    (dict(role="robot"), "role"),
    (dict(kind="image"), "kind"),
    (dict(cache="10m"), "cache"),
    (dict(kind="tool_use"), "call_id"),
    (dict(content=b"bytes"), "str"),
])
def test_bad_blocks_are_refused_with_a_clear_error(kwargs: dict, needle: str) -> None:
    args = {"layer": "l", "content": "x", **kwargs}
    with pytest.raises(UserError, match=needle):
        Block(**args)


def test_blocks_are_immutable() -> None:
    b = Block(layer="l", content="x")
    with pytest.raises(AttributeError):
        b.content = "y"  # type: ignore[misc]
    assert b.replace(content="y").content == "y" and b.content == "x"
