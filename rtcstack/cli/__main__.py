"""`python -m rtcstack.cli`."""

from rtcstack.cli import main

main()
