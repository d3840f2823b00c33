"""Entry point for `azbdiag` and `python3 -m azbdiag`.

`azbdiag --version` answers without importing typer: fleets and Run Command call it often,
and the import costs most of the start-up time.
"""

import sys


def main():
    if sys.argv[1:] == ["--version"]:
        from azbdiag import __version__

        print(f"azbdiag {__version__}")
        return 0
    from azbdiag.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
