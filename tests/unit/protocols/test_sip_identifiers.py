"""Tags, branches and Call-IDs: random bytes from the OS, read a page at a time, each slot of it handed out once."""

import os

import pytest

from rtcstack.protocols.sip import identifiers


def test_identifiers_are_hex_of_the_asked_length_and_never_repeat_across_pages():
    tokens = [identifiers.token_hex(8) for _ in range(3 * identifiers.PAGE // 8 + 5)]  # several pages' worth
    assert all(len(t) == 16 and int(t, 16) >= 0 for t in tokens)
    assert len(set(tokens)) == len(tokens)
    assert len(identifiers.token_hex(identifiers.PAGE + 1)) == 2 * (identifiers.PAGE + 1)  # more than a page


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_does_not_repeat_its_parents_next_identifiers():
    identifiers.token_hex(4)  # the parent has a page with bytes left in it
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its next identifier, to the parent
        os.write(write, identifiers.token_hex(8).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    childs = os.read(read, 64).decode()
    os.close(read)
    assert len(childs) == 16 and childs != identifiers.token_hex(8)


def test_threads_taking_identifiers_at_once_never_get_the_same_one():
    import threading

    taken: list[list[str]] = [[] for _ in range(8)]

    def take(into: list[str]) -> None:
        for _ in range(2000):
            into.append(identifiers.token_hex(8))

    threads = [threading.Thread(target=take, args=(into,)) for into in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [token for into in taken for token in into]
    assert len(set(every)) == len(every) == 16000
