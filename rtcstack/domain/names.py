"""The names rtcstack lets through to SQL, as patterns both Python and the registrar's kamailio.cfg use (the
template renders them from here): nothing else about them lives in two places."""

from __future__ import annotations

import re

# An account's or ring group's username: what provisioning accepts, and all the registrar passes to the database
# as a caller's or registrant's name.
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A dialled name: an account, a ring group or a number as the caller wrote it (the registrar refuses anything else
# with 404 before it asks the database for a plan or a price).
DIALLED = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
