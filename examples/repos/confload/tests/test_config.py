import pytest

from confload import Config, parse_lines


def test_later_layers_win():
    config = Config({"port": 80}, {"port": "8080"})
    assert config.get_int("port") == 8080


def test_missing_key_returns_default():
    config = Config({"port": 80})
    assert config.get("host", "localhost") == "localhost"
    assert config.get("host") is None


def test_require_names_the_missing_key():
    with pytest.raises(KeyError, match="host"):
        Config({}).require("host")


def test_get_bool():
    config = Config({"debug": "off", "cache": "yes"})
    assert config.get_bool("debug") is False
    assert config.get_bool("cache") is True


def test_parse_lines():
    assert parse_lines(["# settings", "Port = 8080", 'name = "svc"', ""]) == \
        {"port": "8080", "name": "svc"}
