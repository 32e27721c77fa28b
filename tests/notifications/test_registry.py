"""Plugin discovery through the entry points of the installed test distributions, and the
plugin-author test kit run against the third-party recorder plugin."""

from __future__ import annotations

import pytest
from tocsin_test_notifier import RecorderNotifier

from app.notifications.registry import Registry
from app.notifications.sdk import InvalidRecipient
from app.notifications.testing import check_plugin, installed_plugin, sample_message


def test_every_installed_plugin_is_listed_and_bad_ones_do_not_break_the_host():
    registry = Registry.discover()
    found = {p.name: p for p in registry.all()}
    assert found["recorder"].loaded and found["recorder-broadcast"].loaded
    assert found["recorder"].distribution == "tocsin-test-notifier"
    assert found["broken"].loaded is False
    assert found["broken"].distribution == "tocsin-broken-notifier"
    assert found["broken"].error.startswith("import failed: ModuleNotFoundError")
    assert found["legacy"].loaded is False and "API version 0" in found["legacy"].error
    assert found["dict-config"].error == "`Config` is not a pydantic model"
    assert found["nameless"].error == "the plugin class declares no `name`"
    assert registry.find("broken") is None


def test_disabled_plugins_are_not_even_imported():
    registry = Registry.discover({"recorder", "broken"})
    assert registry.plugins["recorder"].loaded is False
    assert registry.plugins["recorder"].error == "disabled by TOCSIN_DISABLED_PLUGINS"
    assert registry.plugins["broken"].error == "disabled by TOCSIN_DISABLED_PLUGINS"
    assert registry.plugins["recorder-broadcast"].loaded


def test_the_kit_accepts_a_good_plugin_and_refuses_bad_ones():
    notifier = check_plugin(RecorderNotifier)
    assert installed_plugin("recorder").loaded
    with pytest.raises(InvalidRecipient):
        notifier.validate_recipient("nobody")
    assert "API version" in (installed_plugin("legacy").error or "")
    from tocsin_legacy_notifier import LegacyNotifier

    with pytest.raises(AssertionError, match="API version 0"):
        check_plugin(LegacyNotifier)


async def test_the_kit_message_drives_a_real_send(tmp_path):
    config = RecorderNotifier.Config(path=str(tmp_path / "out.jsonl"), token="t")
    result = await RecorderNotifier().send(sample_message(recipient="ok@example.org"), config)
    assert result.outcome == "delivered" and result.provider_reference == "rec-4242"
    assert '"incident": "INC-7"' in (tmp_path / "out.jsonl").read_text()


def test_the_readme_example_plugin_honours_the_contract(tmp_path, monkeypatch):
    """The plugin in README.md's "Writing a notifier plugin", as written there."""
    import importlib
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    source = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S)
                  if block.startswith("# tocsin_chat.py"))
    (tmp_path / "tocsin_chat.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("tocsin_chat")
    notifier = check_plugin(module.ChatNotifier)
    assert notifier.validate_recipient("#Ops") == "#ops"
    with pytest.raises(InvalidRecipient):
        notifier.validate_recipient("ops")
    schema = notifier.Config.model_json_schema()
    assert schema["required"] == ["api_token"]
