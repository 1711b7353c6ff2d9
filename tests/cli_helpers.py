"""Running `digan` in-process for the tests of bad input: one `digan: error:` line and a non-zero exit."""

from pathlib import Path

from digan.cli.main import main


def cli_error(capsys, *argv) -> str:
    """Run `digan ARGV`; assert it failed with exactly one stderr line `digan: error: ...`; return that line.

    Usage errors exit through argparse (SystemExit); every other error returns its exit code.
    """
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code not in (0, None), f"exit code {code}"
    assert len(err) == 1 and err[0].startswith("digan: error: "), err
    return err[0]


def files_under(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` and its bytes (None for folders): to check that nothing changed."""
    root = Path(root)
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}
