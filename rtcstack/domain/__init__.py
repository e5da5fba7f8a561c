"""Pure domain operations the CLI and rtcstack's services share: provisioning rules and their SQL, support's
rules (lamps, kamcmd output). They run SQL through a SqlRunner; rtcstack.runtime supplies one that runs on hosts."""
