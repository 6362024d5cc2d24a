"""Package discovery for the layout of the design card.

``hookspecs/`` and ``adapters/`` are top-level folders of the repository but install under
the package (``foundups_training.hookspecs``, ``foundups_training.adapters``) so they never
collide with other top-level modules of those names in the host's environment. Everything
else is declared in pyproject.toml.
"""

from setuptools import find_packages, setup

MAPPED = {"foundups_training.hookspecs": "hookspecs", "foundups_training.adapters": "adapters"}

packages = find_packages(include=["foundups_training", "foundups_training.*"])
package_dir = {"foundups_training": "foundups_training"}
for name, folder in MAPPED.items():
    package_dir[name] = folder
    packages.append(name)
    for sub in find_packages(folder):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
