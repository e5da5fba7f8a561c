"""rtcstack's own web services (links now; the portal and the conference pages next), on one foundation:
a FastAPI application per service (`app.create_app`), its configuration from a file only the service's
account reads (`config.ServiceConfig`), JSON logs to the journal, security headers on every answer, and a
`/healthz` that checks the database. Hosts run them under systemd from the deploy's wheelhouse."""
