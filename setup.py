"""Package discovery for the wheel (everything else is in pyproject.toml): every package under
azbdiag/ is found, never listed (new subpackages ship without a change here), and the rule
modules in rules/ ship as azbdiag.rules."""

from setuptools import find_namespace_packages, setup

NOT_CODE = ["__pycache__", "*.__pycache__"]
setup(packages=find_namespace_packages(include=["azbdiag", "azbdiag.*"], exclude=NOT_CODE)
      + ["azbdiag.rules"]
      + [f"azbdiag.rules.{p}" for p in find_namespace_packages("rules", exclude=NOT_CODE)])
