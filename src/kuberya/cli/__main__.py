"""``python -m kuberya.cli``: the same as the ``kuberya`` command."""

from kuberya.cli.main import main

main()
