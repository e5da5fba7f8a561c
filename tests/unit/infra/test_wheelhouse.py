"""The wheelhouse: what the hosts get, in one canonical form."""

import zipfile

from rtcstack.infra.wheelhouse import _normalize, _write_wheel, service_requirements


def test_hosts_get_the_service_extra_and_no_operator_tooling():
    names = {r.split("[")[0].split(">")[0].split("<")[0].split("=")[0] for r in service_requirements()}
    assert {"fastapi", "uvicorn", "sqlalchemy"} <= names
    assert not names & {"pyinfra", "locust", "matplotlib", "docker"}


def test_the_same_files_give_the_same_wheel_bytes_however_the_wheel_was_made(tmp_path):
    members = {"pkg/__init__.py": b"x = 1\n", "pkg-1.dist-info/METADATA": b"Name: pkg\n"}
    first, second = tmp_path / "a.whl", tmp_path / "b.whl"
    _write_wheel(first, members, "pkg-1.dist-info")
    with zipfile.ZipFile(second, "w") as archive:  # another order, other times, a stale RECORD
        for name in reversed(list(members)):
            archive.writestr(name, members[name])
        archive.writestr("pkg-1.dist-info/RECORD", "stale\n")
    _normalize(second)
    assert first.read_bytes() == second.read_bytes()
    record = zipfile.ZipFile(first).read("pkg-1.dist-info/RECORD").decode()
    assert "pkg/__init__.py,sha256=" in record and record.endswith("pkg-1.dist-info/RECORD,,\n")
