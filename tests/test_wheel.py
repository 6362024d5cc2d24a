"""The built wheel, installed into a fresh venv, imports and registers its plugin.

Editable installs can hide packaging mistakes (the ``hookspecs/`` and ``adapters/`` folders
map to ``foundups_training.*``), so this builds a real wheel and installs it elsewhere.
"""

from __future__ import annotations

import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("foundups_training-*.whl")
    return whl


def test_wheel_layout(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "foundups_training/hookspecs/__init__.py" in names
    assert "foundups_training/adapters/__init__.py" in names
    # data the package reads at run time
    assert "foundups_training/models/default_calibration.json" in names
    assert "foundups_training/evalsets/sample_qa_dev.jsonl" in names
    # never as top-level import names that could collide in the host's environment
    assert not any(n.startswith(("hookspecs/", "adapters/", "tests/")) for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[foundups_training]" in text and "training = foundups_training.plugin:plugin" in text


def test_wheel_in_fresh_venv_lists_the_training_plugin(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    # The wheel itself installs for real; its (large, compiled) dependencies are borrowed
    # from this environment through a .pth file instead of being downloaded again.
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "borrowed-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    code = (
        "import foundups_training, foundups_training.hookspecs, foundups_training.adapters;"
        "from foundups_training.plugins import plugin_names; print(plugin_names());"
        "print(foundups_training.__file__)"
    )
    out = subprocess.run(
        [str(py), "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    names, location = out.stdout.strip().splitlines()
    assert "'training'" in names
    assert str(env_dir) in location  # the wheel's copy, not the repository's
    cli = subprocess.run(
        [str(env_dir / "bin" / "foundups-training"), "plugins", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert '"training"' in cli.stdout
