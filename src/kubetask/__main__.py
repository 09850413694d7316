"""`python -m kubetask`: the CLI."""

from kubetask.cli.main import main

main()
