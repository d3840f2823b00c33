"""Issue 11 item 3, Ansible part: the role never writes the report into a folder someone else
controls (an existing /var/tmp/azbdiag made by another user), and by default uses a fresh
private folder per run.

Runs the real ansible-playbook with the local connection, azbdiag from this checkout
(azbdiag_install=none), against a sample root; the other user is
made up by the test (fixtures_fix.second_user)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLES

from tests import fixtures_fix
from tests.fixtures_fix import as_user, need_root_and_setpriv, second_user

pytestmark = pytest.mark.integration
sandbox = fixtures_fix.sandbox
PLAYBOOKS = os.path.join(ROOT, "contrib", "ansible")


def play(base, report_path):
    inventory = base / "inventory.ini"
    inventory.write_text(f"[fleet]\nhost1 azbdiag_root={SAMPLES}/healthy\n[fleet:vars]\n"
                         f"ansible_connection=local\nansible_python_interpreter={sys.executable}\n")
    (base / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(base / "ansible.cfg"), ANSIBLE_HOME=str(base / "ah"),
               ANSIBLE_LOCAL_TEMP=str(base / "ah" / "tmp"),
               ANSIBLE_REMOTE_TEMP=str(base / "ah" / "rt"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0", LC_ALL="C.UTF-8", LANG="C.UTF-8")
    extra = {"azbdiag_install": "none", "azbdiag_become": False,
             "azbdiag_reports_dir": str(base / "reports"),
             "azbdiag_command": ["env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "azbdiag"],
             "azbdiag_report_path": report_path}
    proc = subprocess.run(["ansible-playbook", os.path.join(PLAYBOOKS, "check.yml"), "-i",
                           str(inventory), "-e", json.dumps(extra)], cwd=base, env=env,
                          capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def test_item3_a_report_folder_made_by_another_user_is_refused(sandbox):
    need_root_and_setpriv()
    if not shutil.which("ansible-playbook"):
        pytest.skip("ansible-playbook is not installed (apt-get install ansible-core)")
    uid, gid = second_user()
    base = pathlib.Path(sandbox)
    public = base / "var-tmp"                       # like /var/tmp: anyone can make a folder
    public.mkdir()
    os.chmod(public, 0o1777)
    planted = public / "azbdiag"
    as_user(uid, gid, "mkdir", "-m", "0777", planted)
    rc, out = play(base, str(planted / "report.json"))
    assert rc != 0, out
    assert "nobody else can write to" in out, out
    assert os.listdir(planted) == []
    assert not (base / "reports" / "host1" / "report.json").exists()

    # The default: a fresh folder of its own, removed after the fetch.
    rc, out = play(base, "")
    assert rc == 0, out
    report = json.loads((base / "reports" / "host1" / "report.json").read_text())
    assert report["host"]["root"].endswith("healthy")
    assert "Remove the fresh report folder" in out
