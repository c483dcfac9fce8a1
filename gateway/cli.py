"""`privacy-gateway`: run, seed and inspect the gateway.

Errors are one line on stderr, `privacy-gateway: error: ...`, never a traceback. Output cut
short by its reader (`privacy-gateway catalog | head`) ends quietly with status 141, as
other Unix tools do when SIGPIPE stops them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from directives.taxonomy import Role
from gateway.errors import GatewayError
from gateway.settings import Settings

EXAMPLE_QUERY = "{ me { fullName email orders { id status seller { fullName } } } }"
PROG = "privacy-gateway"
DEMO_USERS_DEFAULT = 200
SIGPIPE_STATUS = 128 + 13


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        result: int = args.run(settings, args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return result
    except GatewayError as exc:
        return _fail(str(exc))
    except OSError as exc:  # unwritable paths, ports in use: the message names the path
        if isinstance(exc, BrokenPipeError):
            return _stdout_closed()
        return _fail(f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": "))
    except KeyboardInterrupt:
        return 130


def _fail(message: str, status: int = 1) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def _stdout_closed() -> int:
    """The reader of stdout went away: point stdout at devnull so the exit flush is silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return SIGPIPE_STATUS


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line on stderr (exit 2), not the usage block, with the same
    `privacy-gateway: error:` prefix as every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="privacy-gateway",
        description="CISTECH Privacy Gateway: GraphQL over marketplace data, privacy enforced.",
        epilog="Configuration comes from GATEWAY_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="create, migrate and seed a SQLite demo database if missing, then serve",
        description="Create, migrate and seed a SQLite database if it holds no data, then "
        "serve it; prints the URL, ready tokens and an example query. An existing database "
        "is served as it is; --fresh recreates it.",
    )
    _serve_args(demo)
    demo.add_argument(
        "--db",
        type=Path,
        default=Path("privacy-gateway-demo.db"),
        help="SQLite file to use (default: %(default)s)",
    )
    demo.add_argument(
        "--users",
        type=_positive,
        default=None,
        help=f"platform users to generate when seeding (default: {DEMO_USERS_DEFAULT}); a "
        "database that already holds another number of users is refused",
    )
    demo.add_argument(
        "--fresh",
        action="store_true",
        help="delete the database file first and seed it anew",
    )
    demo.set_defaults(run=_demo)

    serve = commands.add_parser(
        "serve",
        help="serve the database in GATEWAY_DATABASE_URL (migrated to head first)",
        description="Upgrade the database in GATEWAY_DATABASE_URL to the latest migration, "
        "then serve GraphQL on /graphql.",
    )
    _serve_args(serve)
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes serving on the one port, each with its own event loop; they share "
        "rate limits through GATEWAY_REDIS_URL (default: %(default)s)",
    )
    serve.set_defaults(run=_serve)

    seed = commands.add_parser(
        "seed",
        help="fill the configured (empty) database with deterministic demo data",
        description="Migrate the database in GATEWAY_DATABASE_URL and fill it with "
        "deterministic demo data: the same seed gives the same data.",
    )
    seed.add_argument(
        "--users",
        type=_positive,
        default=200,
        help="platform users to generate (default: %(default)s)",
    )
    seed.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    seed.add_argument("--quiet", action="store_true", help="no progress bar")
    seed.set_defaults(run=_seed)

    token = commands.add_parser(
        "token",
        help="print a signed bearer token",
        description="Print a signed bearer token alone on stdout.",
    )
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", type=_positive, help="platform user id")
    who.add_argument("--employee", type=_positive, help="employee id (needs --role)")
    roles = ", ".join(r.value.lower() for r in Role)
    token.add_argument("--role", type=_role, help=f"employee role: {roles}")
    token.add_argument(
        "--ttl", type=_positive, help="lifetime in seconds (default: GATEWAY_TOKEN_TTL_SECONDS)"
    )
    token.add_argument(
        "--signed-in-ago",
        type=_positive,
        metavar="SECONDS",
        help="when the subject signed in, in seconds before now (auth_time; default: now). "
        "Changing the email or deleting the account needs a sign-in within "
        "GATEWAY_REAUTH_SECONDS",
    )
    token.set_defaults(run=_token)

    export = commands.add_parser(
        "export-schema",
        help="print the GraphQL SDL, directives included",
        description="Print the GraphQL schema (SDL) with its privacy directives.",
    )
    export.set_defaults(run=_export_schema)

    trusted = commands.add_parser(
        "trusted-documents",
        help="build a manifest of trusted documents (GATEWAY_TRUSTED_DOCUMENTS)",
        description="Work with the manifest of trusted documents.",
    )
    trusted_commands = trusted.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = trusted_commands.add_parser(
        "build",
        help="print a manifest of the given .graphql files",
        description="Print a manifest ({sha256 of the text: text}, the Guild's format) of "
        "each file's exact text, each checked against the schema first. Clients send these "
        "texts byte for byte, or their documentId (sha256:<hex>).",
    )
    build.add_argument("files", nargs="+", type=Path, metavar="FILE", help=".graphql file")
    build.set_defaults(run=_trusted_documents_build)

    catalog = commands.add_parser(
        "catalog",
        help="print the catalog of personal data in the schema",
        description="Print every @personal field: category, subject, masking strategy, who "
        "may see it, lawful basis and retention, derived from the schema's directives.",
    )
    catalog.add_argument(
        "--format",
        choices=("markdown", "json"),
        default="markdown",
        help="output format (default: %(default)s)",
    )
    catalog.set_defaults(run=_catalog)

    migrate = commands.add_parser(
        "migrate",
        help="upgrade the configured database to the latest migration",
        description="Run Alembic migrations on GATEWAY_DATABASE_URL up to head.",
    )
    migrate.set_defaults(run=_migrate)

    audit = commands.add_parser(
        "audit",
        help="check the audit trail",
        description="Work with the audit trail of GATEWAY_DATABASE_URL.",
    )
    audit_commands = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify",
        help="walk the audit hash chain; exit 1 naming the first broken event",
        description="Walk the audit events in id order, checking each one's hash and its "
        "link to the one before, and that the chain ends where its head says. Prints the "
        "event count and head hash and exits 0 when intact; otherwise prints one line "
        "naming the first broken event (altered, unlinked, missing or inserted) and exits 1.",
    )
    verify.set_defaults(run=_audit_verify)

    worker = commands.add_parser(
        "worker",
        help="run the background work: due erasures, ended legal holds, deadline counts",
        description="Migrate GATEWAY_DATABASE_URL to head, then work in passes: erase the "
        "subjects whose deletion grace period (GATEWAY_DELETION_GRACE_DAYS) is over, end "
        "the legal holds that have run out, and log how many requests are overdue or due "
        "soon (counts only). A pass runs every GATEWAY_WORKER_POLL_SECONDS; a failed "
        "erasure is retried after GATEWAY_WORKER_BACKOFF_SECONDS (doubling) and marked "
        "failed after GATEWAY_WORKER_MAX_ATTEMPTS tries. SIGTERM or SIGINT stops it after "
        "the job in hand. On PostgreSQL any number of workers run side by side; on SQLite "
        "one at a time (a second one waits).",
    )
    worker.add_argument(
        "--once",
        action="store_true",
        help="make one pass, print what it did on stderr, and exit 0",
    )
    worker.set_defaults(run=_worker)
    return parser


def _serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8000, help="port (default: %(default)s)")


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {raw!r}")
    return value


def _port(raw: str) -> int:
    value = _positive(raw)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {raw!r}")
    return value


def _role(raw: str) -> Role:
    try:
        return Role(raw.upper())
    except ValueError:
        names = ", ".join(r.value.lower() for r in Role)
        raise argparse.ArgumentTypeError(f"unknown role {raw!r}; use one of {names}") from None


def _audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.db.engine import create_engine, ping
    from resolvers.audit.chain import Verdict, verify

    async def run() -> Verdict:
        engine = create_engine(settings)
        try:
            await ping(engine)
            async with engine.connect() as conn:
                return await verify(conn)
        finally:
            await engine.dispose()

    try:
        verdict = asyncio.run(run())
    except SQLAlchemyError as exc:
        raise GatewayError(
            f"the audit trail could not be read ({type(exc).__name__}); is the database "
            "migrated (privacy-gateway migrate)?"
        ) from None
    if not verdict.intact:
        return _fail(verdict.message)
    print(verdict.message)
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.migrate import upgrade

    upgrade(settings)
    print("database is at the latest migration", file=sys.stderr)
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    import logging

    from gateway.worker import run

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    )
    logs = logging.getLogger("gateway")
    logs.addHandler(handler)
    logs.setLevel(settings.log_level)
    return run(settings, once=args.once)


def _seed(settings: Settings, args: argparse.Namespace) -> int:
    import time

    from gateway.migrate import upgrade
    from gateway.seed import seed_database

    upgrade(settings)
    started = time.perf_counter()
    summary = asyncio.run(
        seed_database(settings, users=args.users, seed=args.seed, progress=not args.quiet)
    )
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{n:,} {table}" for table, n in dataclasses.asdict(summary).items() if n)
    print(f"seeded in {elapsed:.1f}s: {counts}", file=sys.stderr)
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.auth import issue_token

    if args.employee is not None and args.role is None:
        raise GatewayError("--employee needs --role")
    if args.user is not None and args.role is not None:
        raise GatewayError("--role applies to --employee only")
    import time

    now = time.time()
    print(
        issue_token(
            settings,
            user_id=args.user,
            employee_id=args.employee,
            role=args.role,
            ttl_seconds=args.ttl,
            now=now,
            auth_time=now - (args.signed_in_ago or 0),
        )
    )
    return 0


def _export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from schema.build import build_schema

    print(build_schema().as_str())
    return 0


def _trusted_documents_build(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from gateway.trusted import build_manifest

    print(json.dumps(build_manifest(args.files), indent=2, ensure_ascii=False))
    return 0


def _catalog(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from directives.policy import DEFAULT_POLICY
    from schema.build import build_schema
    from schema.catalog import as_json, as_markdown, catalog

    entries = catalog(build_schema(), DEFAULT_POLICY)
    if args.format == "json":
        document = {"policyVersion": DEFAULT_POLICY.version, "fields": as_json(entries)}
        print(json.dumps(document, indent=2))
    else:
        print(f"Personal data catalog (policy {DEFAULT_POLICY.version})\n")
        print(as_markdown(entries))
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.migrate import upgrade

    upgrade(settings)
    _run(settings, args.host, args.port, workers=args.workers)
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.migrate import upgrade
    from gateway.seed import seed_database

    db: Path = args.db.resolve()
    settings = replace(settings, database_url=f"sqlite+aiosqlite:///{db}")
    if args.fresh:
        _delete_sqlite(db)
    upgrade(settings)
    users = _count_users(db)
    if users == 0:
        wanted = args.users or DEMO_USERS_DEFAULT
        print(f"seeding demo data into {db} ...", file=sys.stderr)
        asyncio.run(seed_database(settings, users=wanted, seed=7, progress=True))
    elif args.users is not None and args.users != users:
        raise GatewayError(
            f"{db} already holds {users} users, not {args.users}: add --fresh to recreate it, "
            "or leave out --users to serve it as it is"
        )
    print(_banner(settings, args.host, args.port), file=sys.stderr)
    _run(settings, args.host, args.port)
    return 0


def _delete_sqlite(db: Path) -> None:
    """Remove a SQLite database and its journal files; refuse any other kind of file."""
    if not db.exists():
        return
    with db.open("rb") as file:
        header = file.read(16)
    if header and header != b"SQLite format 3\x00":
        raise GatewayError(f"{db} is not a SQLite database; --fresh deletes only those")
    for path in (db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal"))):
        path.unlink(missing_ok=True)


def _count_users(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM users").fetchone()
    return int(count)


def _banner(settings: Settings, host: str, port: int) -> str:
    from gateway.auth import issue_token
    from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS

    ttl = 24 * 3600
    url = f"{'https' if settings.tls else 'http'}://{host}:{port}"
    lines = [f"CISTECH Privacy Gateway on {url}/graphql (GraphiQL in a browser)", ""]
    for name in ("buyer", "seller", "logistics"):
        token = issue_token(settings, user_id=DEMO_USERS[name], ttl_seconds=ttl)
        lines.append(f"{name:>10} (user {DEMO_USERS[name]}): {token}")
    for name in ("support", "dpo"):
        employee_id, role = DEMO_EMPLOYEES[name]
        token = issue_token(settings, employee_id=employee_id, role=Role(role), ttl_seconds=ttl)
        lines.append(f"{name:>10} (employee {employee_id}): {token}")
    lines += [
        "",
        "Employees also send X-Processing-Purpose (support: SUPPORT, dpo: LEGAL).",
        "Example:",
        f"  curl -s {url}/graphql -H 'Authorization: Bearer <buyer token>' \\",
        f"    -H 'Content-Type: application/json' -d '{{\"query\": \"{EXAMPLE_QUERY}\"}}'",
    ]
    return "\n".join(lines)


def _run(settings: Settings, host: str, port: int, *, workers: int = 1) -> None:
    """One process serves the app built here; several each build their own from the
    environment (`gateway.app:app_from_env`), uvicorn supervising them."""
    import logging

    import uvicorn

    from gateway.logs import configure_logging
    from gateway.serving import uvicorn_options

    configure_logging(settings)
    options = uvicorn_options(settings)
    logging.getLogger("gateway.serve").info(
        "%d process(es), event loop %s, HTTP parser %s, %s",
        workers,
        options["loop"],
        options["http"],
        "TLS" if settings.tls else "plain HTTP",
    )
    if workers > 1:
        app = "gateway.app:app_from_env"
        uvicorn.run(app, factory=True, workers=workers, host=host, port=port, **options)
        return
    from gateway.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, **options)


if __name__ == "__main__":
    raise SystemExit(main())
