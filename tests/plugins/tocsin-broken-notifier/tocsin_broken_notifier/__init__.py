"""A plugin whose import fails: the host must list it as not loaded and carry on."""

import tocsin_dependency_that_was_never_installed  # noqa: F401


class BrokenNotifier:
    name = "broken"
