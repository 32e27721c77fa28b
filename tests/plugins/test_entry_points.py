"""The first-party plugins are found the way third-party ones are: through the installed
distribution's `tocsin.notifiers` entry points (run after `make install`)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

from app.notifications.sdk import API_VERSION, Notifier


def test_the_three_plugins_are_declared_and_load():
    found = {ep.name: ep for ep in importlib.metadata.entry_points(group="tocsin.notifiers")}
    assert {"email", "sms", "webhook"} <= set(found)
    for name in ("email", "sms", "webhook"):
        entry = found[name]
        assert entry.value.startswith("tocsin_plugins.")
        assert entry.dist is not None and entry.dist.name == "tocsin"
        plugin = entry.load()
        assert issubclass(plugin, Notifier)
        assert plugin.name == name and plugin.api_version == API_VERSION
        schema = plugin.Config.model_json_schema()
        assert schema["additionalProperties"] is False
    assert found["webhook"].load().needs_recipients is False
    assert found["email"].load().needs_recipients is True


def test_secrets_are_declared_as_secrets_in_the_schemas():
    found = {ep.name: ep.load() for ep in importlib.metadata.entry_points(
        group="tocsin.notifiers") if ep.name in ("email", "sms", "webhook")}
    secret_fields = {"email": "password", "sms": "auth_token", "webhook": "secret"}
    for name, field in secret_fields.items():
        prop = found[name].Config.model_json_schema()["properties"][field]
        formats = [prop.get("format")] + [part.get("format") for part in prop.get("anyOf", [])]
        assert "password" in formats, (name, prop)


def test_the_plugins_are_not_a_top_level_plugins_package():
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('plugins') is not None)"
    assert subprocess.run([sys.executable, "-c", code], cwd="/").returncode == 0
