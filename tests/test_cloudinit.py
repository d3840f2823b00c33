"""The shipped cloud-configs pass the real `cloud-init schema` and run what they promise."""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "contrib", "cloud-init", "*.yaml")))
HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = pytest.mark.integration
if not CONFIGS:
    pytest.skip("no contrib/cloud-init here (not a source checkout)", allow_module_level=True)


def schema(path):
    tool = shutil.which("cloud-init", path=HOST_PATH)
    if tool is None:
        pytest.skip("cloud-init is not installed (apt-get install cloud-init)")
    return subprocess.run([tool, "schema", "--config-file", path], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PATH=HOST_PATH))


def test_both_configs_exist():
    names = sorted(os.path.basename(p) for p in CONFIGS)
    assert names == ["azbdiag-check.yaml", "azbdiag-fix.yaml"]


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.basename(p) for p in CONFIGS])
def test_config_is_valid(path):
    cp = schema(path)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "Valid cloud-config" in cp.stdout


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.basename(p) for p in CONFIGS])
def test_config_installs_and_checks(path):
    yaml = pytest.importorskip("yaml")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert "azbdiag" in doc["packages"]
    commands = [" ".join(c) if isinstance(c, list) else c for c in doc["runcmd"]]
    assert any("azbdiag check --format json --output /var/log/azbdiag/report.json" in c
               for c in commands)
    fixes = [c for c in commands if "azbdiag fix" in c]
    if path.endswith("azbdiag-fix.yaml"):
        assert fixes and all("--yes" in c for c in fixes)
        assert commands.index(fixes[0]) < [i for i, c in enumerate(commands) if "azbdiag check" in c][-1]
    else:
        assert not fixes


def test_schema_rejects_a_broken_config(tmp_path):
    """The validator really validates: a damaged copy of a shipped config fails."""
    with open(CONFIGS[0], encoding="utf-8") as fh:
        text = fh.read()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("packages:\n  - azbdiag", "packages: 42"))
    cp = schema(str(bad))
    assert cp.returncode != 0 and "packages" in cp.stdout + cp.stderr
