"""A host's packages are read once per host and run, however many roles ask."""

from pyinfra.context import ctx_state

from rtcstack.infra import facts


class Host:
    def __init__(self, name: str):
        self.name, self.reads = name, 0

    def get_fact(self, fact):
        assert fact.__name__ == "DebPackages"
        self.reads += 1
        return {"kamailio": ["5.6.3"]}


class Run:
    """Stands for a pyinfra State (one deploy run)."""


def test_each_host_reads_its_packages_once_per_run_and_again_in_the_next(monkeypatch):
    sip1, db1 = Host("@docker/sip1"), Host("@docker/db1")
    for run in (Run(), Run()):
        with ctx_state.use(run):
            for _ in range(4):  # base, then three roles on each host
                for host in (sip1, db1):
                    monkeypatch.setattr(facts, "host", host)
                    assert "kamailio" in facts.installed_packages()
    assert (sip1.reads, db1.reads) == (2, 2)


def test_outside_a_run_every_ask_reads(monkeypatch):
    host = Host("@docker/sip1")
    monkeypatch.setattr(facts, "host", host)
    facts.installed_packages()
    facts.installed_packages()
    assert host.reads == 2
