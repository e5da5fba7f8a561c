"""The transport that runs domain operations on an inventory's hosts through pyinfra's connectors: psql on
the database host, kamcmd on registrars."""
