"""`rtcstack load`: Locust scenarios against a deployed platform, gated on service levels (see scenarios.py)."""
