"""`make docs-check`: run every command the docs show, so that the docs stay true.

Every line of a fenced `sh` block in README.md and docs/*.md is a command (a
trailing backslash continues it). Each file's commands run in order, with
bash, in a scratch copy of the project (its own results/; one scratch
.cache/ for all files), so they may build on each other and never touch
this checkout. N is the marked variable: `N=...` and `--n-models ...` are
replaced by a small N (a list of two where the docs give a list), and a bare
`make` of a target that takes N gets one, so that the whole check takes
minutes. A command that cannot run here carries
`# not run by docs-check: REASON`, on its line or on a comment line just
before it; it is listed as skipped with its reason. A failing command is
reported with its file and line, and the check exits 1."""

from dataclasses import dataclass
import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parent.parent
SKIP_MARK = "# not run by docs-check:"
SMALL_N, SMALL_NS = "4", "3,4"
MAKE_TARGETS_WITH_N = ("score", "references", "leaderboard", "baselines", "stability")
TIMEOUT_S = 1200


@dataclass(frozen=True)
class Command:
    path: Path
    line: int  # where the command starts, 1-based
    text: str
    skip_reason: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents(root: Path = ROOT) -> list[Path]:
    """README.md, then docs/*.md by name."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def commands(path: Path) -> list[Command]:
    """The commands of the file's `sh` blocks, with the reason of those marked as not run."""
    found: list[Command] = []
    in_block, reason, pending, start = False, None, "", 0
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if line.startswith("```"):
            in_block = line == "```sh"
            reason, pending = None, ""
            continue
        if not in_block or (not line and not pending):
            continue
        if line.startswith("#") and not pending:
            if line.startswith(SKIP_MARK):
                reason = line[len(SKIP_MARK):].strip()
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        if SKIP_MARK in text:
            text, _, own_reason = text.partition(SKIP_MARK)
            reason = own_reason.strip()
        found.append(Command(path, start, _strip_comment(text), reason))
        reason, pending = None, ""
    return found


def _strip_comment(text: str) -> str:
    """The command without a trailing `# comment` (a `#` after whitespace, outside quotes)."""
    quote = None
    for index, char in enumerate(text):
        if char in "'\"" and quote in (None, char):
            quote = None if quote else char
        elif char == "#" and quote is None and (index == 0 or text[index - 1].isspace()):
            return text[:index].rstrip()
    return text.rstrip()


def small(command: str) -> str:
    """The command with a small N: the docs' N values cost minutes to hours here."""
    def n_value(match: re.Match) -> str:
        return match.group(1) + (SMALL_NS if "," in match.group(2) else SMALL_N)

    command = re.sub(r"(\bN=)(\S+)", n_value, command)
    command = re.sub(r"(--n-models[ =])(\S+)", n_value, command)
    make = re.match(r"^(?:\S+=\S+ )*make ([a-z-]+)", command)
    if make and make.group(1) in MAKE_TARGETS_WITH_N and not re.search(r"\bN=", command):
        command += f" N={SMALL_NS if make.group(1) == 'stability' else SMALL_N}"
    return command


def scratch_copy(destination: Path, cache: Path) -> Path:
    """The project's files (tracked and new, not ignored) in `destination`, sharing this .venv
    and, with the other files' copies, one scratch `.cache` (references are built once)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source, target = ROOT / name, destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():  # harness/baselines -> ../baselines
            target.symlink_to(os.readlink(source))
        elif source.is_file():
            shutil.copy2(source, target)
    (destination / ".venv").symlink_to((ROOT / ".venv").resolve())
    (destination / ".cache").symlink_to(cache, target_is_directory=True)
    os.utime(destination / "pyproject.toml", (0, 0))  # older than the venv's stamp: make installs nothing
    return destination


def run(command: Command, cwd: Path) -> tuple[bool, str]:
    """Run one command in its own process group; whether it succeeded, and the end of what it printed.

    A timeout or Ctrl-C ends the whole group: nothing the command started outlives the check.
    """
    process = subprocess.Popen(
        ["bash", "-c", small(command.text)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except (subprocess.TimeoutExpired, KeyboardInterrupt) as stop:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if isinstance(stop, KeyboardInterrupt):
            raise
        return False, f"timed out after {TIMEOUT_S} s"
    return process.returncode == 0, "\n".join(output.strip().splitlines()[-15:])


def main() -> int:
    failed, skipped, ran = [], [], 0
    with tempfile.TemporaryDirectory(prefix="docs-check-") as scratch_root:
        cache = Path(scratch_root) / "cache"
        cache.mkdir()
        for path in documents():
            file_commands = commands(path)
            if not file_commands:
                continue
            scratch = scratch_copy(Path(scratch_root) / path.stem, cache)
            for command in file_commands:
                if command.skip_reason is not None:
                    skipped.append(command)
                    print(f"skip {command.where}  {command.text}\n       ({command.skip_reason})", flush=True)
                    continue
                start = time.monotonic()
                ok, tail = run(command, scratch)
                ran += 1
                print(f"{'ok  ' if ok else 'FAIL'} {command.where}  {small(command.text)}  ({time.monotonic() - start:.0f} s)", flush=True)
                if not ok:
                    failed.append(command)
                    print("       " + tail.replace("\n", "\n       "), flush=True)
    print(f"docs-check: {ran} run, {len(skipped)} skipped, {len(failed)} failed")
    for command in failed:
        print(f"failed: {command.where}  {command.text}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
