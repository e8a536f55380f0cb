"""Server commands: ``serve``, ``token create|list|revoke``, ``openapi``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from embedb.cli.console import console, err_console

DataPath = Annotated[Path, typer.Argument(help="The data directory (created if missing).", file_okay=False)]

token_app = typer.Typer(help="API tokens of a data directory: create (shown once), list, revoke.", no_args_is_help=True)


def serve(
    path: DataPath,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --auth.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 19530,
    auth: Annotated[
        bool, typer.Option("--auth/--no-auth", help="Require API tokens (--no-auth only on loopback).")
    ] = True,
    tls_cert: Annotated[
        str | None, typer.Option("--tls-cert", help="PEM certificate; serve HTTPS with --tls-key.")
    ] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="PEM private key of --tls-cert.")] = None,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", help="Largest request body accepted, in MiB.")] = 64.0,
    graceful_timeout: Annotated[float, typer.Option(help="Seconds a shutdown waits for requests in flight.")] = 30.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    allow_code_models: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-code-models",
            metavar="PREFIX",
            help="Let callable models from modules under this prefix run (repeatable); "
            "any code in those modules then runs as the server's user. None by default.",
        ),
    ] = None,
    milvus_port: Annotated[
        int | None,
        typer.Option("--milvus-port", help="Also serve Milvus's gRPC protocol on this port (pymilvus, Node and Java SDKs)."),
    ] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting",
            metavar="NAME=VALUE",
            help="An engine setting (repeatable), e.g. index_min_rows=16 or durability=relaxed.",
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="ray://HOST:PORT",
            help="Serve a sharded cluster on Ray (or 'ray': Ray on this machine) instead of the data directory, "
            "which then keeps only the API tokens. Needs --storage.",
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="With --cluster: s3://bucket/prefix (or a directory every node sees)."),
    ] = None,
    shards: Annotated[
        int | None, typer.Option("--shards", help="With --cluster: the shard count of new storage (default 2).")
    ] = None,
    replicas: Annotated[
        int, typer.Option("--replicas", help="With --cluster: actors per shard; 2 or more keep searches answering.")
    ] = 1,
) -> None:
    """Serve a data directory over HTTP (REST API at /v1, /healthz, /readyz, /metrics) until Ctrl-C or SIGTERM."""
    from embedb.config import Settings
    from embedb.errors import InvalidArgumentError
    from embedb.server import ServerLimits
    from embedb.server import serve as run_server

    if max_body_mb <= 0:
        raise InvalidArgumentError(f"--max-body-mb must be positive, got {max_body_mb}")
    limits = ServerLimits(max_body_bytes=int(max_body_mb * 1024 * 1024), graceful_shutdown_s=graceful_timeout)
    settings = Settings.parse_assignments(setting or [])
    run_server(
        path,
        host=host,
        port=port,
        auth=auth,
        tls_cert=tls_cert,
        tls_key=tls_key,
        limits=limits,
        log_level=log_level,
        allow_code_models=allow_code_models or (),
        settings=settings,
        milvus_port=milvus_port,
        cluster=cluster,
        storage=storage,
        shards=shards,
        replicas=replicas,
    )


@token_app.command("create")
def token_create(
    path: DataPath,
    role: Annotated[str, typer.Option(help="reader, writer or admin.")] = "reader",
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="Limit to this collection (repeatable).")
    ] = None,
    name: Annotated[str, typer.Option(help="A label for the token (who or what uses it).")] = "",
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    from embedb.server.auth import TokenStore

    store = TokenStore.open(path)
    try:
        token, info = store.create(role=role, collections=collection or None, name=name)
    finally:
        store.close()
    scope = ", ".join(info.collections) if info.collections else "every collection"
    err_console.print(f"created token {info.token_id} ({info.role.name.lower()}, {scope}); it is shown only now:")
    typer.echo(token)


@token_app.command("list")
def token_list(
    path: Annotated[Path, typer.Argument(help="The data directory.", exists=True, file_okay=False)],
    all_tokens: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List tokens (ids, roles, collections; never the secrets)."""
    from embedb.server.auth import TokenStore

    store = TokenStore.open(path)
    try:
        infos = store.list_tokens(include_revoked=all_tokens)
    finally:
        store.close()
    if as_json:
        for info in infos:
            typer.echo(json.dumps(info.to_dict()))
        return
    table = Table("token id", "name", "role", "collections", "revoked")
    for info in infos:
        table.add_row(
            info.token_id,
            info.name,
            info.role.name.lower(),
            ", ".join(info.collections or ("*",)),
            "yes" if info.revoked_at else "",
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    path: Annotated[Path, typer.Argument(help="The data directory.", exists=True, file_okay=False)],
    token_id: Annotated[str, typer.Argument(help="The token id (the part after edb_, as 'token list' shows).")],
) -> None:
    """Revoke a token; a running server refuses it within seconds."""
    from embedb.server.auth import TokenStore

    store = TokenStore.open(path)
    try:
        store.revoke(token_id)
    finally:
        store.close()
    console.print(f"revoked token {token_id}")


def openapi() -> None:
    """Print the server's OpenAPI document (to generate Java, Go, ... clients without a running server)."""
    from embedb.server import create_app

    app = create_app(":memory:", auth=None)
    try:
        typer.echo(json.dumps(app.openapi(), indent=2))
    finally:
        app.state.backend.close()


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(openapi)
    app.add_typer(token_app, name="token")
