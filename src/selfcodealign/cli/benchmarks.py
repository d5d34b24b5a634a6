"""`selfcodealign benchmarks list | download | import`: the HumanEval+/MBPP+ files on this
machine, for decontamination and evaluation without the network."""

from __future__ import annotations

import click

from selfcodealign import benchmarks as bench
from selfcodealign.cli.app import cli
from selfcodealign.errors import InputError


@cli.group("benchmarks")
def benchmarks_group() -> None:
    """The HumanEval+/MBPP+ release files: what is found here, fetch them, import a folder.

    \b
    Lookup order: --benchmarks DIR, $SELFCODEALIGN_BENCHMARKS, the cache
    ($SELFCODEALIGN_CACHE or ~/.cache/selfcodealign/evalplus), then a download.
    """


@benchmarks_group.command("list")
@click.option("--benchmarks", "folder", type=click.Path(), help="Also look in this folder.")
def benchmarks_list(folder: str | None) -> None:
    """Each benchmark's file as a run would find it: path, version, tasks, sha256."""
    missing = 0
    for name in bench.RELEASES:
        try:
            path = bench.locate(name, folder, download=False)
        except InputError:
            missing += 1
            click.echo(f"{name:<10} missing (selfcodealign benchmarks download, or --benchmarks "
                       "DIR)")
            continue
        info = bench.describe(path, name)
        click.echo(f"{name:<10} {info['version']:<8} {info['tasks']:>4} tasks  "
                   f"sha256 {info['sha256'][:16]}  {info['path']}")
    if missing:
        raise SystemExit(4)


@benchmarks_group.command("download")
@click.argument("names", nargs=-1, type=click.Choice(sorted(bench.RELEASES)))
def benchmarks_download(names: tuple[str, ...]) -> None:
    """Fetch the pinned EvalPlus releases into the cache (all by default)."""
    for name in names or tuple(bench.RELEASES):
        info = bench.describe(bench.fetch_release(name), name)
        click.echo(f"{name}: {info['version']}, {info['tasks']} tasks -> {info['path']}")


@benchmarks_group.command("import")
@click.argument("source", type=click.Path(exists=True))
def benchmarks_import(source: str) -> None:
    """Copy the release files of a folder (or one file) into the cache, checked by content."""
    for path in bench.import_folder(source):
        name = next(n for n in bench.RELEASES if bench.NAMES[n].match(path.name))
        info = bench.describe(path, name)
        click.echo(f"{name}: {info['version']}, {info['tasks']} tasks -> {info['path']}")
