"""Only what pyproject.toml cannot say: the top-level sample_data/ directory is installed as the
package `crmctl.sample_data`, so the checkout keeps one copy of the sample data at the top
level (where the README's commands name it) and wheels and editable installs both find it
with importlib.resources. A package list in pyproject.toml would have to name every
subpackage by hand; this one is found, plus the one mapped package."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["crmctl", "crmctl.*"]), "crmctl.sample_data"],
    package_dir={"crmctl.sample_data": "sample_data"},
)
