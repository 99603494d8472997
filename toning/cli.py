"""`toning`: the command line. Each command parses its options and calls one service."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from toning import config

app = typer.Typer(
    help="Outcome-analytics warehouse for laser skin toning clinics.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True, highlight=False, soft_wrap=True)

# sysexits.h EX_TEMPFAIL: a scheduler can tell "try again later" from a failed refresh.
EXIT_ANOTHER_REFRESH_RUNNING = 75

LandingOption = Annotated[
    Path | None,
    typer.Option("--landing", help="Landing folder (default $TONING_LANDING or ./data/landing)."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder (default $TONING_DATA_DIR or ./data)."),
]


def _say(message: str) -> None:
    """Progress from the services: plain text (a path or a reason may contain brackets)."""
    console.print(f"[dim]{datetime.now():%H:%M:%S}[/dim] {escape(message)}")


@contextmanager
def _refresh_exit_codes(command: str, untouched: str) -> Iterator[None]:
    """A refresh's (or a rotation's) ends as the scheduler reads them, each with one line:
    75 another refresh is running, 1 failed, 130 interrupted; nothing published in any."""
    from toning.refresh import RefreshError, RefreshLocked

    try:
        yield
    except RefreshLocked as error:
        # Not a failure: a scheduler retries later, and nothing of this attempt is recorded.
        console.print(f"[bold yellow]{command} not started:[/bold yellow] {escape(str(error))}")
        raise typer.Exit(EXIT_ANOTHER_REFRESH_RUNNING) from None
    except RefreshError as error:
        console.print(f"[bold red]{command} failed:[/bold red] {escape(str(error))}")
        console.print(untouched)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print(f"[bold red]{command} interrupted[/bold red] (Ctrl+C): nothing published.")
        console.print(untouched)
        raise typer.Exit(130) from None


@app.command()
def generate(
    tier: Annotated[
        str, typer.Option(help="demo, 1m or 10m (also tiny and evidence, for tests).")
    ] = "demo",
    out: Annotated[Path | None, typer.Option(help="Landing folder to write into.")] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 42,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Last day of the base data, YYYY-MM-DD.")
    ] = None,
    days: Annotated[int, typer.Option(help="Daily extract files to add after --as-of.")] = 0,
) -> None:
    """Write synthetic landing files for every feed, with planted dirt and a truth file."""
    from synthetic import generate_landing

    target = config.landing_dir(out)
    try:
        as_of_date = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise typer.BadParameter(f"--as-of must be YYYY-MM-DD, got {as_of!r}") from None
    summary = generate_landing(tier, target, seed=seed, as_of=as_of_date, days=days, progress=_say)
    _say(f"wrote {len(summary.files)} file(s) to {target} in {summary.elapsed_seconds:.1f} s")


@app.command()
def refresh(
    landing: LandingOption = None,
    data_dir: DataDirOption = None,
    full: Annotated[
        bool, typer.Option("--full", help="Rebuild the lake from the raw archive first.")
    ] = False,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            help="Previously published warehouses to keep for rollback"
            f" (default ${config.KEEP_VERSIONS_ENV} or {config.DEFAULT_KEEP_VERSIONS}).",
        ),
    ] = None,
    accept_drop: Annotated[
        bool,
        typer.Option(
            "--accept-drop",
            help="Publish although the marts lost more rows than published_rows_drop allows"
            " (an expected mass void or clean-up), this run only.",
        ),
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help=f"What builds the marts: duckdb or spark (default ${config.ENGINE_ENV} or"
            " duckdb). Spark needs `make setup-spark`.",
        ),
    ] = None,
) -> None:
    """Ingest new landing files, build the marts, publish the warehouse.

    Exit codes: 0 published, 1 failed (the last published warehouse untouched),
    75 another refresh is running on this data folder (EX_TEMPFAIL: nothing done, retry later),
    130 interrupted (Ctrl+C).
    """
    from toning.refresh import run_refresh

    try:
        kept = config.keep_versions(keep)
        chosen_engine = config.engine(engine)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    untouched = "The published warehouse and the lake were left as they were."
    with _refresh_exit_codes("refresh", untouched):
        result = run_refresh(
            config.landing_dir(landing),
            config.data_dir(data_dir),
            full=full,
            progress=_say,
            keep=kept,
            accept_drop=accept_drop,
            engine=chosen_engine,
        )
    console.print(f"[green]refresh {result.run_id} published[/green] in {result.seconds:.1f} s")


@app.command()
def parity(
    landing: LandingOption = None,
    work_dir: Annotated[
        Path,
        typer.Option("--work-dir", help="Scratch folder for the two data folders (emptied)."),
    ] = Path("parity"),
) -> None:
    """Refresh a landing folder with DuckDB and with Spark and compare the published tables.

    Exit codes: 0 the same (floats within 1e-9), 1 they differ or a refresh failed.
    """
    from toning.parity import compare_engines
    from toning.refresh import RefreshError

    try:
        found = compare_engines(config.landing_dir(landing), config.absolute(work_dir), _say)
    except RefreshError as error:
        console.print(f"[bold red]parity: a refresh failed[/bold red]: {error}")
        raise typer.Exit(1) from None
    for difference in found.differences:
        console.print(f"[red]{difference.table}[/red]: {difference.problem}")
    if not found.equal:
        console.print(f"[bold red]{len(found.differences)} table(s) differ[/bold red]")
        raise typer.Exit(1)
    console.print(f"[green]the same[/green]: {len(found.tables)} tables compared")


@app.command()
def rollback(
    to: Annotated[
        str | None,
        typer.Option("--to", help="Run id of the kept version (default: the one before)."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Publish a kept version again (exit 0 = published; `toning status` lists them)."""
    from toning.refresh import RefreshError, RefreshLocked
    from toning.rollback import rollback as roll_back

    try:
        result = roll_back(config.data_dir(data_dir), to=to, progress=_say)
    except RefreshLocked as error:
        console.print(f"[bold red]rollback refused:[/bold red] {escape(str(error))}")
        raise typer.Exit(EXIT_ANOTHER_REFRESH_RUNNING) from None
    except RefreshError as error:
        console.print(f"[bold red]rollback failed:[/bold red] {escape(str(error))}")
        console.print("The published warehouse was left untouched.")
        raise typer.Exit(1) from None
    console.print(f"[green]rollback {result.run_id}: {result.restored} published[/green]")


@app.command()
def rotate_key(landing: LandingOption = None, data_dir: DataDirOption = None) -> None:
    """Re-key every patient under a new pseudonymisation key: the lake and identity store are
    rebuilt from the raw archive, the warehouse from scratch, and published (like a --full).

    The new key replaces the key file (back it up); kept versions are removed. Exit codes as
    for refresh: 0 published, 1 failed (nothing changed), 75 a refresh is running, 130 Ctrl+C.
    """
    from toning.rotate import rotate_key as rotate

    untouched = "The key, the lake and the published warehouse were left as they were."
    with _refresh_exit_codes("rotate-key", untouched):
        result = rotate(config.landing_dir(landing), config.data_dir(data_dir), progress=_say)
    console.print(f"[green]rotate-key: refresh {result.run_id} published[/green] under the new key")


@app.command()
def status(data_dir: DataDirOption = None) -> None:
    """What is published, the kept versions, the last runs, whether a refresh is running."""
    from toning.status import status_report

    # Plain print: no colours or wrapping, whether to a terminal, a pipe or a cron mail.
    print(status_report(config.data_dir(data_dir)), end="")


@app.command()
def serve(
    data_dir: DataDirOption = None,
    port: Annotated[int, typer.Option(help="Port to serve the dashboards on.")] = 8501,
    address: Annotated[
        str | None,
        typer.Option(help="Address to listen on, e.g. 127.0.0.1 behind a reverse proxy."),
    ] = None,
) -> None:
    """Serve the dashboards over the published warehouse (sign-in required)."""
    from toning.users import UsersError, load

    data = config.data_dir(data_dir)
    if not data.warehouse.exists():
        console.print(f"[yellow]No published warehouse at {data.warehouse} yet.[/yellow]")
        console.print("Run `toning refresh` first; the dashboards will say so until then.")
    try:
        if not load(data.users_file):
            console.print(
                "[yellow]No one can sign in yet:[/yellow] add users with "
                "`toning users add NAME --role manager|analyst|admin`."
            )
    except UsersError as error:
        console.print(f"[yellow]{escape(str(error))}[/yellow]")
    env = {**os.environ, config.DATA_DIR_ENV: str(data.root)}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(config.REPO_ROOT / "dashboards" / "app.py"),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        *(["--server.address", address] if address else []),
    ]
    console.print(f"Dashboards: [bold]http://localhost:{port}[/bold]  (Ctrl+C to stop)")
    console.file.flush()
    # Become the server, so a scheduler's or a terminal's signals reach it directly.
    os.execve(sys.executable, command, env)


@app.command()
def bench(
    tier: Annotated[str, typer.Option(help="demo, 1m or 10m.")] = "demo",
    out: Annotated[
        Path | None, typer.Option(help="Also write the report to this JSON file.")
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="Where the generated landing zones are kept between benches"
            " [default: $XDG_CACHE_HOME/toning/bench or ~/.cache/toning/bench]."
        ),
    ] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="What builds the marts: duckdb or spark.")
    ] = "duckdb",
) -> None:
    """Refresh a tier's landing zone (generated once, then cached) fully in a scratch folder,
    then one day more incrementally, and report the timings."""
    from toning.bench import run_bench, write_report

    try:
        chosen = config.engine(engine)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    print(write_report(run_bench(tier, progress=_say, cache=cache, engine=chosen), out))


dq_app = typer.Typer(
    help="Fatal data-quality findings: each blocks every publish until acknowledged.",
    no_args_is_help=True,
)
app.add_typer(dq_app, name="dq")


@dq_app.command("list")
def dq_list(data_dir: DataDirOption = None) -> None:
    """List the open fatal findings, each with the command that acknowledges it."""
    from toning.dq import list_open

    data = config.data_dir(data_dir)
    findings = list_open(data)
    if not findings:
        console.print("No open fatal data-quality finding: none blocks the publish.")
        return
    for finding in findings:
        print(finding.describe())
        print(f"  acknowledge once dealt with: {finding.ack_command(data.root)}")


@dq_app.command("ack")
def dq_ack(
    check: Annotated[str, typer.Argument(help="The check, e.g. batch_fully_rejected.")],
    subject: Annotated[
        str | None,
        typer.Argument(help="Only its findings about this subject (a feed, a clinic, a test)."),
    ] = None,
    note: Annotated[
        str | None, typer.Option("--note", help="What was done about it (kept with the ack).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Acknowledge open fatal findings, recorded with who and when: the next refresh may publish."""
    from toning.dq import DqError, acknowledge
    from toning.refresh import RefreshError

    try:
        done = acknowledge(config.data_dir(data_dir), check, subject, note)
    except (DqError, RefreshError) as error:
        console.print(f"[bold red]not acknowledged:[/bold red] {escape(str(error))}")
        raise typer.Exit(1) from None
    for finding in done.findings:
        console.print(
            f"acknowledged by {escape(done.by)} at {done.at:%Y-%m-%d %H:%M:%S} UTC:"
            f" {escape(finding.describe())}"
        )
    console.print("The next refresh may publish, unless another finding blocks it.")


users_app = typer.Typer(
    help="Who may sign in to the dashboards: managers (their clinics), analysts, admins.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name (lower case).")],
    role: Annotated[str, typer.Option(help="manager, analyst or admin.")],
    clinics: Annotated[
        str | None, typer.Option(help="A manager's clinics, comma-separated: C01,C02.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Change an existing user's role and password.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Add a dashboard user (the password is stored only as a bcrypt hash)."""
    from toning.users import UsersError, add

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    chosen = tuple(clinic.strip() for clinic in (clinics or "").split(",") if clinic.strip())
    try:
        user = add(config.data_dir(data_dir).users_file, name, role, chosen, password, replace)
    except UsersError as error:
        console.print(f"[bold red]not added:[/bold red] {escape(str(error))}")
        raise typer.Exit(1) from None
    scope = f" for {', '.join(user.clinics)}" if user.clinics else ""
    console.print(f"{escape(user.name)} may sign in as {user.role}{escape(scope)}.")


@users_app.command("remove")
def users_remove(
    name: Annotated[str, typer.Argument(help="Sign-in name.")], data_dir: DataDirOption = None
) -> None:
    """Remove a dashboard user: their open sessions end at their next click."""
    from toning.users import UsersError, remove

    try:
        remove(config.data_dir(data_dir).users_file, name)
    except UsersError as error:
        console.print(f"[bold red]not removed:[/bold red] {escape(str(error))}")
        raise typer.Exit(1) from None
    console.print(f"{escape(name)} may no longer sign in.")


@users_app.command("demo")
def users_demo(data_dir: DataDirOption = None) -> None:
    """For demo data only: a manager of the first clinic, an analyst and an admin, with fresh
    random passwords, printed once (refused when the users file has users of its own)."""
    import duckdb

    from toning.users import UsersError, add_demo_users

    data = config.data_dir(data_dir)
    if not data.warehouse.exists():
        console.print(f"[bold red]no demo users:[/bold red] no warehouse at {data.warehouse} yet")
        raise typer.Exit(1)
    with duckdb.connect(str(data.warehouse), read_only=True) as con:
        [(clinic,)] = con.execute("select min(clinic_id) from marts.dim_clinics").fetchall()
    try:
        passwords = add_demo_users(data.users_file, clinic)
    except UsersError as error:
        console.print(f"[bold red]no demo users:[/bold red] {escape(str(error))}")
        raise typer.Exit(1) from None
    console.print("Demo sign-ins (for this demo data only; new passwords at each `make demo`):")
    for name, password in passwords.items():
        scope = f"  (sees {clinic} only)" if name.endswith("manager") else ""
        print(f"  {name:<14} password {password}{scope}")


@users_app.command("list")
def users_list(data_dir: DataDirOption = None) -> None:
    """List the dashboard users: name, role and a manager's clinics (never a password)."""
    from toning.users import UsersError, load

    try:
        users = load(config.data_dir(data_dir).users_file)
    except UsersError as error:
        console.print(f"[bold red]unreadable:[/bold red] {escape(str(error))}")
        raise typer.Exit(1) from None
    if not users:
        console.print("No dashboard users yet: add one with `toning users add NAME --role ...`.")
    for user in users.values():
        print(f"{user.name}\t{user.role}\t{','.join(user.clinics) or 'all clinics'}")


if __name__ == "__main__":
    app()
