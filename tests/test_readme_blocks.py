"""Every command block of README.md is claimed by a CI runner (tests/readme_blocks.py), and the
claims hold where no root is needed: rc annotations fit, no README command is unsafe to run,
the quick start is what CI runs, the playbook commands name playbooks and variables that exist."""

import glob
import json
import os
import re
import shlex

import pytest
import readme_blocks as rb

ROOT = rb.ROOT
ANSIBLE = os.path.join(ROOT, "contrib", "ansible")


def test_every_command_block_of_the_readme_is_claimed_by_a_runner():
    problems = rb.problems()
    assert not problems, "README.md code blocks not claimed by a CI runner:\n- " + "\n- ".join(problems)


def test_the_runners_claim_blocks():
    for kind in rb.KINDS:
        assert rb.blocks(kind), f"no README block is claimed by `ci: {kind}`"
    assert len(rb.blocks("build")) >= 3       # .deb, .rpm, .pyz (builds.py checks each was made)


SAMPLE = """# Tool

## Install

Some text.

```sh
sudo azbdiag check
```
"""


def test_an_unclaimed_block_is_named_with_its_line_section_and_how_to_claim_it():
    (msg,) = rb.problems(SAMPLE)
    assert msg.startswith('README.md line 7 (section "Install"): ```sh block starting `sudo azbdiag check` '
                          "is claimed by no runner")
    assert "<!-- ci: vm -->" in msg and "```text" in msg and "docs/DEVELOPING.md" in msg
    assert rb.problems(SAMPLE.replace("```sh", "<!-- ci: vm -->\n```sh")) == []
    untagged = SAMPLE.replace("```sh", "```")
    assert "an untagged ``` block starting `sudo azbdiag check`" in rb.problems(untagged)[0]
    assert rb.problems(untagged.replace("```\nsudo", "```text\nsudo"))[0].endswith(
        "the ```text block shows the command `sudo azbdiag check`: tag it ```sh (```console for a "
        "`$ ` transcript) and " + rb.HOW_TO)


@pytest.mark.parametrize("annotation, message", [
    ("<!-- ci: vmm -->", "unknown runner `vmm`"),
    ("<!-- ci: vm rc=0,4 -->", "rc=0,4 gives 2 exit statuses for 1 commands"),
    ("<!-- ci: vm rc=zero -->", "rc=zero: give one exit status per command"),
    ("<!-- ci: build rc=0 -->", "`rc` is not an option of `ci: build`"),
    ("<!-- ci: vm -->\n", "is not on the line right above a code block's opening fence"),
])
def test_bad_annotations_are_named(annotation, message):
    text = SAMPLE.replace("```sh", annotation + "\n```sh")
    assert any(message in p for p in rb.problems(text)), rb.problems(text)


def test_systemd_commands_need_the_booted_root_and_text_blocks_take_no_annotation():
    text = SAMPLE.replace("```sh\nsudo azbdiag check",
                          "<!-- ci: vm -->\n```sh\nsudo systemctl enable --now x.timer")
    assert "annotate the block `<!-- ci: vm systemd -->`" in rb.problems(text)[0]
    assert rb.problems(text.replace("ci: vm -->", "ci: vm systemd -->")) == []
    text = SAMPLE.replace("```sh\nsudo azbdiag check", "<!-- ci: vm -->\n```json\n{}")
    assert "a ```json block is not run; drop its annotation" in rb.problems(text)[0]


def test_commands_are_grouped_as_the_shell_groups_them():
    lines = [
        "az vm run-command invoke -g RG \\",
        "    --scripts \"azbdiag check --brief\"",
        "# a comment line",
        "",
        "az x --scripts '",
        "f=$(mktemp) && echo \"$f\"; exit 0'",
        "for vm in $(az vm list -o tsv); do",
        "  echo \"$vm\" > \"brief/$vm.txt\"",
        "done",
        "grep -l '^FAIL' brief/*.txt          # the VMs with a fail",
        "azbdiag check |",
        "  head",
    ]
    cmds = rb.split_commands(lines, 10)
    assert [c.line for c in cmds] == [10, 14, 16, 19, 20]
    assert cmds[0].text == "\n".join(lines[0:2]) and cmds[1].text == "\n".join(lines[4:6])
    assert cmds[2].text == "\n".join(lines[6:9]) and cmds[4].text == "azbdiag check |\n  head"


def test_console_blocks_run_the_prompted_lines_and_keep_the_output_shown():
    lines = ["$ azbdiag explain 380008", "AzureVmOffline (380008): ...", "", "$ azbdiag explain 121  # x",
             "$ azbdiag rules \\", "    --format json", "[]"]
    cmds = rb.split_commands(lines, 1, console=True)
    assert [(c.text, c.line, c.output) for c in cmds] == [
        ("azbdiag explain 380008", 1, ["AzureVmOffline (380008): ...", ""]),
        ("azbdiag explain 121  # x", 4, []),
        ("azbdiag rules \\\n    --format json", 5, ["[]"]),
    ]


@pytest.mark.parametrize("command, expected", [
    ("sudo azbdiag check --only freeze", {0, 1}),
    ("apt-get install ./azbdiag_0.1.0_all.deb && azbdiag check   # note", {0, 1}),
    ("python3 azbdiag.pyz check", {0, 1}),
    ("azbdiag summarize reports/", {0, 1}),
    ("sudo azbdiag fix --dhcp", {4}),
    ("sudo azbdiag undo", {4}),
    ("sudo azbdiag fix --dhcp --dry-run", {0}),
    ("sudo azbdiag fix --dhcp --root /mnt/osdisk --yes", {0}),
    ("sudo azbdiag undo --list", {0}),
    ("azbdiag explain --list | grep ' yes '", {0}),
    ("sudo cat /var/log/azbdiag/report.json", {0}),
])
def test_default_exit_status(command, expected):
    assert rb.default_rc(command) == expected


def test_rc_annotations_give_one_status_per_command():
    text = SAMPLE.replace("```sh\nsudo azbdiag check",
                          "<!-- ci: vm rc=0,4|3 -->\n```sh\nazbdiag rules\nazbdiag fix --all")
    (block,) = rb.blocks(text=text)
    assert block.expected() == [{0}, {3, 4}]
    (block,) = rb.blocks(text=text.replace("rc=0,4|3", "rc=2"))
    assert block.expected() == [{2}, {2}]


@pytest.mark.parametrize("command", [
    "sudo azbdiag fix --freeze --mount /data --yes",
    "sudo azbdiag fix --all --yes",
    "sudo azbdiag fix --vmbackup-conf --agent --yes",
    'az vm run-command invoke -g RG -n VM --scripts "azbdiag fix --dhcp --yes 2>&1 | tail -c 4000"',
    "sudo azbdiag check --freeze-test",
    "sudo umount /data",
    "mkfs.ext4 /dev/sdb1",
])
def test_commands_that_could_harm_this_machine_are_refused(command):
    assert rb.unsafe(command)


@pytest.mark.parametrize("command", [
    "sudo azbdiag fix --freeze --mount /data",
    "sudo azbdiag fix --freeze --mount /data --dry-run --yes",
    "sudo azbdiag fix --all --yes --root /mnt/osdisk",
    "sudo azbdiag fix --scripts --yes",
    "sudo azbdiag check --only freeze.freeze_test --freeze-test --mount /data",
    "sudo azbdiag undo 20261125T201500Z --yes",
])
def test_safe_commands_pass_the_guard(command):
    assert rb.unsafe(command) is None


def test_no_readme_command_run_in_ci_could_harm_this_machine():
    for block in rb.blocks("vm"):
        for cmd in block.commands():
            assert rb.unsafe(cmd.text) is None, f"README.md line {cmd.line}: {rb.unsafe(cmd.text)}"


def test_the_quick_start_is_what_ci_runs():
    (block,) = rb.blocks("quickstart")
    cmds = [re.sub(r"\s+#.*$", "", c.text) for c in block.commands()]
    assert cmds == ["./tools/install && azbdiag check", "./tools/test-all"]
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as fh:
        ci = [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]
    assert "exec ./tools/test-all" in ci
    assert os.access(os.path.join(ROOT, "tools", "install"), os.X_OK)


def _role_variables():
    names = set()
    for path in glob.glob(os.path.join(ANSIBLE, "**", "*.yml"), recursive=True):
        with open(path, encoding="utf-8") as fh:
            names |= set(re.findall(r"\bazbdiag_[a-z_]+\b", fh.read()))
    return names


def test_playbook_commands_name_playbooks_and_variables_that_exist():
    """ansible-playbook cannot reach the README's inventory in CI: what it can check is that each
    playbook and -e variable exists (tests/test_ansible.py runs the playbooks themselves)."""
    variables = _role_variables()
    assert "azbdiag_install" in variables and "azbdiag_fix_rule" in variables
    seen = set()
    for block in rb.blocks("ansible"):
        for cmd in block.commands():
            for words in rb.simple_commands(cmd.text):
                where = f"README.md line {cmd.line}: `{' '.join(words)}`"
                if words[0] == "cd":
                    assert os.path.isdir(os.path.join(ROOT, words[1])), where
                    continue
                if rb.azbdiag_argv(words) is not None:
                    continue                      # run as written by tests/test_ansible.py
                assert words[0] == "ansible-playbook", f"{where}: not a playbook or azbdiag command"
                args = iter(words[1:])
                for arg in args:
                    if arg in ("-i", "--limit"):
                        next(args)
                    elif arg == "--check":
                        seen.add("--check")
                    elif arg == "-e":
                        value = next(args)
                        keys = json.loads(value).keys() if value.startswith("{") else [value.split("=", 1)[0]]
                        for key in keys:
                            assert key in variables, f"{where}: -e {key} is not a variable of contrib/ansible"
                    elif arg.endswith(".yml"):
                        assert os.path.isfile(os.path.join(ANSIBLE, arg)), f"{where}: no such playbook"
                        seen.add(arg)
                    else:
                        raise AssertionError(f"{where}: option {arg} is not one the check knows")
    assert seen == {"check.yml", "fix.yml", "--check"}, seen


def test_shlex_reads_every_claimed_command():
    """A command the grouping cannot read (an unclosed quote) would run as a shell error."""
    for kind in rb.KINDS:
        for block in rb.blocks(kind):
            for cmd in block.commands():
                shlex.split(cmd.text.replace("\\\n", " "), comments=True)
