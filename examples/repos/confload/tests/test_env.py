from confload import from_environ


def test_environment_overrides_defaults():
    config = from_environ({"APP_PORT": "9000", "HOME": "/root"}, {"port": 80})
    assert config.get_int("port") == 9000


def test_debug_turns_on_debug_logging():
    config = from_environ({"APP_DEBUG": "1"}, {"port": 80})
    assert config.get("log_level") == "debug"
