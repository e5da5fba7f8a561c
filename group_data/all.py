"""Settings for every host of every inventory in this repository.

Every setting has its default in the rtcstack models (see the settings reference in README.md);
set here only what differs for all your deployments. Per-inventory settings live in
group_data/<inventory file name>.py, per-role ones may live in group_data/<role>.py.
"""
