"""`scc-central serve`, `user add|password|role|regencies|disable|enable`, `token add|revoke`: run and administer the web app."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TYPE_CHECKING

from central.config import CentralConfig

if TYPE_CHECKING:
    from central.storage.db import Database


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="run the web app and API under gunicorn")
    serve.add_argument("--bind", help="address:port (default: web.bind)")
    serve.add_argument("--workers", type=int, help="worker processes (default: web.workers)")
    serve.add_argument("--threads", type=int, help="threads per worker (default: web.threads)")
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")
    serve.set_defaults(handler=run_serve)

    user = subparsers.add_parser("user", help="web users").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["admin", "operator", "viewer"])
    _regency_option(add)
    _password_options(add)
    add.set_defaults(handler=run_user_add)
    password = user.add_parser("password", help="set a user's password (ends their open sessions)")
    password.add_argument("name")
    _password_options(password)
    password.set_defaults(handler=run_user_password)
    role = user.add_parser("role", help="change a user's role (ends their open sessions)")
    role.add_argument("name")
    role.add_argument("--role", required=True, choices=["admin", "operator", "viewer"])
    role.set_defaults(handler=run_user_change, change="role")
    scope = user.add_parser("regencies", help="set the regencies a user sees (ends their open sessions)")
    scope.add_argument("name")
    _regency_option(scope)
    scope.set_defaults(handler=run_user_change, change="regencies")
    for verb, text in (
        ("disable", "stop a user logging in (ends their open sessions)"),
        ("enable", "let them again"),
    ):
        toggle = user.add_parser(verb, help=text)
        toggle.add_argument("name")
        toggle.set_defaults(handler=run_user_change, change=verb)

    token = subparsers.add_parser("token", help="read-only API tokens").add_subparsers(
        dest="token_command", required=True
    )
    token_add = token.add_parser("add", help="create a token and print it once")
    token_add.add_argument("name")
    token_add.add_argument(
        "--scope",
        action="append",
        default=[],
        choices=["internal"],
        help="also show a camera's host, port, MAC, serial and notes (default: public fields only)",
    )
    _regency_option(token_add)
    token_add.set_defaults(handler=run_token_add)
    token_revoke = token.add_parser("revoke", help="revoke a token")
    token_revoke.add_argument("name")
    token_revoke.set_defaults(handler=run_token_revoke)


def _regency_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--regency",
        action="append",
        default=[],
        metavar="CODE",
        help="limit to this regency (e.g. 16.71); repeat for more; none: the whole province",
    )


def _scope_text(regencies: list[str]) -> str:
    return "regencies " + ", ".join(regencies) if regencies else "the whole province"


class _RefusePasswordArgument(argparse.Action):
    """Fails on ``--password VALUE`` without echoing VALUE (argparse's own error would print it)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        parser.error("--password is gone: a password in argv shows in ps and shell history; "
                     "answer the prompt or pipe it with --password-stdin")  # fmt: skip


def _password_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    # Spelled out so "--password" neither abbreviates --password-stdin nor lands in an error message.
    parser.add_argument("--password", nargs="?", action=_RefusePasswordArgument, help=argparse.SUPPRESS)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError("no terminal to prompt for the password on; pipe it with --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise ValueError("the passwords differ")
    return first


def _database(config: CentralConfig) -> Database:
    from central.storage.db import Database

    return Database.from_config(config)


def run_user_add(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.web.accounts import AccountError, Role, add_user

    try:
        password = _read_password(args.password_stdin)
        with _database(config).session(write=True) as session:
            user = add_user(session, args.name, password, Role(args.role), args.regency)
            regencies = list(user.regencies)
    except (AccountError, ValueError) as error:
        print(f"scc-central user add: {error}", file=sys.stderr)
        return 1
    print(f"user {args.name!r} created with role {args.role}, seeing {_scope_text(regencies)}")
    return 0


def run_user_change(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.web.accounts import AccountError, Role, set_active, set_regencies, set_role

    try:
        with _database(config).session(write=True) as session:
            if args.change == "role":
                set_role(session, args.name, Role(args.role))
                done = f"now has role {args.role}"
            elif args.change == "regencies":
                set_regencies(session, args.name, args.regency)
                done = f"now sees {_scope_text(sorted(set(args.regency)))}"
            else:
                set_active(session, args.name, args.change == "enable")
                done = f"{args.change}d"
    except AccountError as error:
        print(f"scc-central user {args.change}: {error}", file=sys.stderr)
        return 1
    print(f"user {args.name!r} {done}; their open sessions are logged out")
    return 0


def run_user_password(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.web.accounts import AccountError, set_password

    try:
        password = _read_password(args.password_stdin)
        with _database(config).session(write=True) as session:
            set_password(session, args.name, password)
    except (AccountError, ValueError) as error:
        print(f"scc-central user password: {error}", file=sys.stderr)
        return 1
    print(f"password of {args.name!r} changed; their open sessions are logged out")
    return 0


def run_token_add(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.web.accounts import AccountError, Scope, add_token

    try:
        with _database(config).session(write=True) as session:
            token = add_token(session, args.name, [Scope(scope) for scope in args.scope], args.regency)
    except AccountError as error:
        print(f"scc-central token add: {error}", file=sys.stderr)
        return 1
    print(token)
    fields = "internal fields too" if args.scope else "public fields only"
    print(f"token {args.name!r} created ({fields}, {_scope_text(sorted(set(args.regency)))}); "
          "it is shown only now, store it safely", file=sys.stderr)  # fmt: skip
    return 0


def run_token_revoke(config: CentralConfig, args: argparse.Namespace) -> int:
    from central.web.accounts import AccountError, revoke_token

    try:
        with _database(config).session(write=True) as session:
            revoke_token(session, args.name)
    except AccountError as error:
        print(f"scc-central token revoke: {error}", file=sys.stderr)
        return 1
    print(f"token {args.name!r} revoked")
    return 0


def gunicorn_argv(config: CentralConfig, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The gunicorn command line and environment `serve` runs (split out so tests can check it)."""
    env = dict(os.environ)
    env["SCC_WEB_BIND"] = args.bind or config.web.bind
    env["SCC_WEB_WORKERS"] = str(args.workers or config.web.workers)
    env["SCC_WEB_THREADS"] = str(args.threads or config.web.threads)
    env["SCC_WEB_STREAM_SLOTS"] = str(config.web.stream_slots)
    if args.no_access_log:
        env["SCC_WEB_ACCESSLOG"] = ""
    if getattr(args, "config", None):
        env["SCC_CENTRAL_CONFIG"] = str(args.config)
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:central.web.gunicorn_conf"]
    return argv, env


def run_serve(config: CentralConfig, args: argparse.Namespace) -> int:
    argv, env = gunicorn_argv(config, args)
    os.execvpe(argv[0], argv, env)  # gunicorn becomes this process: signals and systemd notify reach it
    return 0  # pragma: no cover
