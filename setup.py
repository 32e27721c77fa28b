"""Package layout that pyproject.toml alone cannot express: the `plugins/` folder installs as
the import package `tocsin_plugins` (a top-level package named `plugins` would collide with
other projects). Everything else about the distribution lives in pyproject.toml."""

from setuptools import find_packages, setup

PLUGIN_PACKAGES = ["tocsin_plugins"] + [
    f"tocsin_plugins.{name}" for name in find_packages("plugins")
]

setup(
    packages=find_packages(include=["app", "app.*"]) + PLUGIN_PACKAGES,
    package_dir={"tocsin_plugins": "plugins"},
)
