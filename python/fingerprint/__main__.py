"""`python -m fingerprint ...`: the same command line as the `fingerprint` script."""

from fingerprint.cli import main

if __name__ == "__main__":
    main()
