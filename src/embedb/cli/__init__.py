"""The ``embedb`` command line: thin over the library, with one error handler.

Every command opens the data directory read-only unless it must write, so it
works next to a running server. Errors from EmbeDB are printed once, here, with
their wire name, and exit with status 1 (2 for a usage error).
"""

from __future__ import annotations

import sys

import typer

from embedb.cli import data as data_commands
from embedb.cli import embeddings as embedding_commands
from embedb.cli import lifecycle as lifecycle_commands
from embedb.cli import models as model_commands
from embedb.cli import monitoring as monitoring_commands
from embedb.cli import retraining as retraining_commands
from embedb.cli import serve as serve_commands
from embedb.cli.console import err_console
from embedb.errors import EmbedbError

app = typer.Typer(
    name="embedb",
    help="EmbeDB: a vector database that runs the lifecycle of its embedding models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_commands.register(app)
serve_commands.register(app)
lifecycle_commands.register(app)
monitoring_commands.register(app)
retraining_commands.register(app)
app.add_typer(model_commands.app, name="models", help="The model registry: versions, aliases, history.")
app.add_typer(embedding_commands.app, name="embeddings", help="Model versions of vector fields: backfill, promote, rollback.")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``embedb`` script."""
    try:
        # Outside standalone mode click *returns* the code of a ``typer.Exit``
        # raised by a command (``embedb check`` finding damage) instead of raising.
        code = app(args=argv, standalone_mode=False)
    except EmbedbError as error:
        err_console.print(f"[bold red]error[/] ({error.wire_name}): {error.message}")
        sys.exit(2)  # 1 is a gate's "failed" (eval, drift, decay, check...): an error must never read as one
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except Exception as error:  # click usage errors arrive here in non-standalone mode
        from click.exceptions import ClickException

        if isinstance(error, ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
