"""The renewal timer's job (`python -m rtcstack.web.renewal`, run by rtcstack-portal-renewal.timer on portal
hosts): terms that ended are renewed from the balance or lapse (domain.billing.renew), with the portal's
configuration and database login; then the raw accounting rows older than billing.accounting_days go. Safe to run
on several hosts at once, and twice: each term renews once."""

from __future__ import annotations

import logging
import sys

from sqlalchemy import text

from ..domain import billing
from .config import ServiceConfig
from .db import EngineRunner
from .portal import PortalOptions

log = logging.getLogger("rtcstack.renewal")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    from .app import engine_for

    config = ServiceConfig.load()
    options = PortalOptions.model_validate(config.options)
    engine = engine_for(config)
    try:
        done = billing.renew(EngineRunner(engine), options.prices)
        with engine.begin() as connection:  # raw accounting rows older than billing.accounting_days (0017)
            pruned = connection.execute(text("SELECT prune_accounting()")).scalar_one()
    finally:
        engine.dispose()
    for r in done:
        log.info("term %s of customer %s: %s (%s %s)", r.term_id, r.customer_id, r.outcome, r.price, options.currency)
    log.info("renewal: %d due, %d renewed, %d lapsed", len(done), sum(r.outcome == "renewed" for r in done),
             sum(r.outcome == "lapsed" for r in done))
    log.info("accounting: %d rows past billing.accounting_days deleted", pruned)
    return 0


if __name__ == "__main__":
    sys.exit(main())
