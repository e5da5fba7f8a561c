"""One benchmark client process (benchmarks/invite_page.py and portal_pages.py start several): reads a job as JSON
on stdin, prints its latencies (ms), errors and seconds as JSON. Standard library only; each of the job's
`connections` (default 1) is a thread with one kept-alive HTTPS connection."""

import http.client
import json
import ssl
import sys
import threading
import time


def _connection(address: str) -> http.client.HTTPSConnection:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the edge's TLS: test_edge checks it
    return http.client.HTTPSConnection(address, 443, timeout=10, context=context)


def get_loop(address: str, host: str, path: str, seconds: float, headers: dict | None = None) -> tuple[list[float], int]:
    """One client on one kept-alive connection: GET `path` until `seconds` pass; latencies (ms) of 200s, errors."""
    connection, latencies, errors = _connection(address), [], 0
    headers = {"Host": host, **(headers or {})}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            connection, errors = _connection(address), errors + 1
            continue
        if response.status == 200:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors += 1
    return latencies, errors


def redeem_loop(address: str, host: str, tokens: list[str]) -> tuple[list[float], int, float]:
    connection, latencies, errors = _connection(address), [], 0
    started_all = time.perf_counter()
    for token in tokens:
        started = time.perf_counter()
        connection.request("POST", "/api/v1/redeem", body=f'{{"token": "{token}"}}',
                           headers={"Host": host, "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status == 201:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors += 1
    return latencies, errors, time.perf_counter() - started_all



def main() -> None:
    job = json.load(sys.stdin)
    started = time.perf_counter()
    if job["kind"] == "get":
        results: list[tuple[list[float], int]] = []

        def one() -> None:
            results.append(get_loop(job["address"], job["host"], job["path"], job["seconds"], job.get("headers")))

        threads = [threading.Thread(target=one) for _ in range(job.get("connections", 1))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        latencies, errors = [x for r in results for x in r[0]], sum(r[1] for r in results)
    else:
        latencies, errors, _ = redeem_loop(job["address"], job["host"], job["tokens"])
    print(json.dumps({"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
