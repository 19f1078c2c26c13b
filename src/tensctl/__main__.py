"""``python -m tensctl`` is the ``tensctl`` command."""

from tensctl.cli.app import main

main()
