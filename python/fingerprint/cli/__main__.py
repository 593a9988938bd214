"""`python -m fingerprint.cli`: the same as the installed `fingerprint` command."""

from . import main

if __name__ == "__main__":
    main()
