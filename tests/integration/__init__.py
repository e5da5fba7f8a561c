

def until(condition, seconds: float = 20.0, step: float = 0.5):
    """Poll `condition` until it returns something true or `seconds` pass; its last value."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
