"""A small SIP user agent over UDP: enough to register, call and answer with real RTP, for tests and load."""
