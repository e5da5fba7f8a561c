"""The verify suite: what each role promises, checked on its hosts with testinfra (`rtcstack verify`).

One test module per role (test_<role>.py) plus test_base.py for every host; plugin.py turns an inventory
into targets.
"""
