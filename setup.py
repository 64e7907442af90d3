"""The wheel's packages; everything else about the distribution is in pyproject.toml.

Every package below bridge/ and connectors/ is found, so a new connector package ships without
a line here or in pyproject.toml's packages. The mappings ship as `ticket_bridge_mappings`
(pyproject.toml's package-dir maps it onto mappings/): a name no folder has, which pyproject's
own `packages.find` cannot put next to the packages it finds.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["bridge", "bridge.*", "connectors", "connectors.*"]),
        "ticket_bridge_mappings",
    ]
)
