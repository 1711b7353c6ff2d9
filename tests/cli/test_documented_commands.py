"""Every `digan` command written in README.md and docs/ matches today's command: a command in a code block
parses (no renamed or removed flag, no value its type refuses), and every flag named beside a subcommand in the
text is one of its flags. (What the commands do is tested beside each command; `make demo` runs the demo.)"""

import re
import shlex
from pathlib import Path

import pytest

from digan.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
COMMAND = re.compile(r"(?:^|\s|\()(?:\.venv/bin/)?digan\s+(?=[a-z-])")
PLACEHOLDER = re.compile(r"[A-Z][A-Z_0-9]+|\.\.\.|<[^>]+>")  # DIR, ..., <path>: a value of any type


def commands_in(text: str, offset: int, chunk: str) -> list[tuple[int, list[str]]]:
    chunk = re.sub(r"\\\n\s*", " ", chunk)  # continued lines
    found = []
    for k, line in enumerate(chunk.splitlines()):
        match = COMMAND.search(line)
        if not match or line.lstrip().startswith(("#", "pip", "python")) or "import " in line:
            continue
        command = line[match.end() :].split(" # ")[0].split(";")[0].split("&&")[0].split("|")[0]
        command = re.sub(r"\[[^\]]*\]", "", command)  # [--optional PARTS] of a synopsis
        try:
            argv = shlex.split(command)
        except ValueError:
            continue
        found.append((text.count("\n", 0, offset) + k + 1, ["64" if PLACEHOLDER.fullmatch(a) else a for a in argv]))
    return found


def documented(path: Path) -> tuple[list, list]:
    """(commands of code blocks, commands of inline code spans), each as (line, argv)."""
    text = path.read_text()
    blocks = [(m.start(1), m.group(1)) for m in re.finditer(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S)]
    inline = [(m.start(1), m.group(1)) for m in re.finditer(r"(?<!`)`([^`\n]*digan [^`\n]*)`(?!`)", text)]
    return (
        [c for o, chunk in blocks for c in commands_in(text, o, chunk)],
        [c for o, chunk in inline for c in commands_in(text, o, chunk)],
    )


BLOCKS, SPANS = [], []
for doc in DOCS:
    blocks, spans = documented(doc)
    BLOCKS += [(doc.relative_to(ROOT).as_posix(), line, argv) for line, argv in blocks]
    SPANS += [(doc.relative_to(ROOT).as_posix(), line, argv) for line, argv in spans]


def subcommands() -> dict:
    return next(a for a in build_parser()._actions if a.dest == "command").choices


def test_the_docs_show_commands_at_all():
    assert len(BLOCKS) > 40 and {argv[0] for _, _, argv in BLOCKS} >= {"train", "generate", "evaluate", "invert"}


@pytest.mark.parametrize("where, line, argv", BLOCKS, ids=[f"{w}:{n}" for w, n, _ in BLOCKS])
def test_a_documented_command_parses(where, line, argv, capsys):
    if "--help" in argv or argv == ["--version"]:
        return
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}:{line}: `digan {' '.join(argv)}` does not parse: {capsys.readouterr().err.strip()}")


@pytest.mark.parametrize("where, line, argv", SPANS, ids=[f"{w}:{n}" for w, n, _ in SPANS])
def test_a_command_named_in_the_text_has_the_flags_it_names(where, line, argv):
    commands = subcommands()
    if argv[0] == "--version":
        return
    assert argv[0] in commands, f"{where}:{line}: no command `digan {argv[0]}`"
    known = {s for action in commands[argv[0]]._actions for s in action.option_strings}
    unknown = [a for a in argv[1:] if a.startswith("--") and a.split("=")[0] not in known]
    assert not unknown, f"{where}:{line}: `digan {argv[0]}` has no {', '.join(unknown)}"
