"""``embedb serve`` with engine settings, for tests that need a server with small segments or index thresholds.

``embedb serve`` opens its data directory with default settings and has no option
to change them. Inside one process a second open of a directory shares the
running database of the first and takes its settings (``embedb.connect``'s
sharing rule), so this opens the directory embedded with the settings given as
JSON, then runs the unchanged ``embedb serve`` command in the same process::

    python -m tests.support.configured_serve '{"segment_max_rows": 12}' serve DATA --port 8123 ...
"""

from __future__ import annotations

import json
import sys

import embedb
from embedb.cli import main


def serve_with_settings(settings_json: str, cli_args: list[str]) -> None:
    """Hold the data directory (``cli_args[1]``) open with the settings, and serve it until the server stops."""
    settings = json.loads(settings_json)
    held = embedb.connect(cli_args[1], **settings)
    try:
        main(cli_args)
    finally:
        held.close()  # the last holder: stops the database after the server let go of it


if __name__ == "__main__":
    serve_with_settings(sys.argv[1], sys.argv[2:])
