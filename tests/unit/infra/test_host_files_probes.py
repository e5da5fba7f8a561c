"""Probes ride in the batch that reads a deploy's files: each answers on its own line, whatever it prints."""

import subprocess

from rtcstack.infra import host_files
from rtcstack.infra.host_files import FileStates, HostFiles


class LocalHost:
    """Runs the batch's command in this machine's shell, as a host would run it."""

    name = "local"

    def get_fact(self, fact, **arguments):
        assert fact is FileStates
        command = FileStates().command(**arguments)
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout.splitlines()


def test_each_probe_answers_on_its_own_line_after_the_files(monkeypatch, tmp_path):
    monkeypatch.setattr(host_files, "host", LocalHost())
    (tmp_path / "a.conf").write_text("x\n")
    many_lines, silent, failing = r'printf "one\ntwo\n"', "true", "echo partial; exit 3"
    wanted = HostFiles(str(tmp_path / "a.conf"), str(tmp_path / "missing.conf"),
                       probes=(many_lines, silent, failing, "echo 'a b'"))
    assert wanted.sha1(str(tmp_path / "a.conf")) and wanted.sha1(str(tmp_path / "missing.conf")) is None
    assert wanted.probes == {many_lines: "one two", silent: "", failing: "partial", "echo 'a b'": "a b"}


def test_a_probe_printing_a_backslash_sequence_keeps_its_line(monkeypatch):
    """dash's echo would turn a probe's `\\n` into a line break and shift every later answer by one."""
    monkeypatch.setattr(host_files, "host", LocalHost())
    backslashes = r"printf '%s' 'a\nb\c'"
    wanted = HostFiles(probes=(backslashes, "echo after"))
    assert wanted.probes == {backslashes: r"a\nb\c", "echo after": "after"}
