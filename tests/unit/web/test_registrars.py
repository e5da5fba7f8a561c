"""The portal's JSON-RPC client of the registrars (rtcstack.web.registrars) against a local HTTP/1.1 server that
answers `ul.lookup` as Kamailio's jsonrpcs does: the lamps' lookups share one connection per registrar, a
connection the registrar closed meanwhile is opened again, and a registrar that is down is skipped."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rtcstack.web.registrars import Registrars


class _Registrar(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, registered: dict[str, str], close_every: int = 0):
        self.registered, self.close_every = registered, close_every
        self.connections, self.requests = 0, 0
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/RPC"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection open, as Kamailio's xhttp does
    disable_nagle_algorithm = True  # the headers and the body go in two writes (Kamailio's reply goes in one)

    def setup(self):
        super().setup()
        self.server.connections += 1

    def do_POST(self):
        server = self.server
        server.requests += 1
        call = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.headers["Authorization"] == "Bearer t0ken"
        username = call["params"][1]
        if username in server.registered:
            answer = {"jsonrpc": "2.0", "id": call["id"], "result": {"AoR": username, "Contacts": [{"Contact": {
                "Address": f"sip:{username}@198.18.20.5:5060", "Expires": 300, "Last-Keepalive": 0,
                "User-Agent": server.registered[username]}}]}}
        else:
            answer = {"jsonrpc": "2.0", "id": call["id"], "error": {"code": 404, "message": "AOR not found"}}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if server.close_every and server.requests % server.close_every == 0:
            self.close_connection = True  # closed without a word, as an idle timeout does

    def log_message(self, *args):
        pass


@pytest.fixture
def registrar():
    made = []

    def start(registered: dict[str, str], close_every: int = 0) -> _Registrar:
        server = _Registrar(registered, close_every)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        made.append(server)
        return server

    yield start
    for server in made:
        server.shutdown()
        server.server_close()


def _registrars(*urls: str) -> Registrars:
    return Registrars(tuple(urls), "t0ken", good_rtt_ms=150, severe_rtt_ms=600, keepalive_interval_seconds=30)


def test_the_lookups_of_a_page_share_one_connection_per_registrar(registrar):
    users = [f"u{i}" for i in range(50)]
    server = registrar({user: "phone" for user in users[::2]})
    contacts = _registrars(server.url).contacts(users)
    assert sorted(contacts) == sorted(users[::2]), contacts  # (the AoR as ul.lookup names it)
    assert (server.requests, server.connections) == (50, 1)


def test_a_connection_the_registrar_closed_is_opened_again(registrar):
    users = [f"u{i}" for i in range(20)]
    server = registrar({user: "phone" for user in users}, close_every=7)
    contacts = _registrars(server.url).contacts(users)
    assert sorted(contacts) == sorted(users)
    assert server.requests == 20 and server.connections == 3  # after requests 7 and 14


def test_a_registrar_that_is_down_is_skipped_and_the_others_answer(registrar):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}/RPC"  # bound, not listening: refused
    server = registrar({"alice": "phone"})
    contacts = _registrars(down, server.url).contacts(["alice", "bob"])
    assert list(contacts) == ["alice"] and server.connections == 1
