"""Run the code examples of the documentation pages, as a reader would.

``python docs/run_examples.py [PAGE.md ...]`` (default: every ``.md`` page under ``docs/``):
each page's ```` ```python ```` and ```` ```bash ```` blocks run in order, every block in a
fresh process (``python BLOCK.py`` / ``bash -e BLOCK.sh``), all blocks of a page in one
temporary folder, so a later block reads the files an earlier one wrote (a saved model, an
exported policy). A block that fails (exit status not 0) or prints a Python warning (an
example should show clean usage) fails the run; its output is shown.
Other blocks (```` ```console ````, ```` ```{code-block} python ````, MyST directives) are
displayed, not run: install commands, and the Ray example, which needs Ray. The pages keep
training to at most 1000 steps a block so that the whole run stays short.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
RUN = {"python": [sys.executable], "bash": ["bash", "-e"]}  # fence language -> command
SUFFIX = {"python": ".py", "bash": ".sh"}
# how the warnings module prints a warning: "<file>:<line>: <Category>Warning: <message>"
WARNING = re.compile(r"^\S.*:\d+: \w*Warning: ", re.MULTILINE)
# a fence opens with ``` (or more) and an info string: a language, or a MyST directive such as
# {toctree} or {autoclass} (never run); it closes with the same backticks alone on a line
FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>`{3,})(?P<info>[^`]*)$")


def blocks(page: Path) -> list[tuple[int, str, str]]:
    """Return ``(line, language, code)`` of every fenced block of ``page``."""
    out, lines, i = [], page.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, indent, ticks = i + 1, len(match["indent"]), match["ticks"]
        body, i = [], i + 1
        while i < len(lines) and lines[i].strip() != ticks:
            body.append(lines[i][indent:])
            i += 1
        out.append((start, (match["info"].split() or [""])[0], "\n".join(body) + "\n"))
        i += 1
    return out


def run_page(page: Path, env: dict) -> tuple[int, int, float]:
    """Run ``page``'s runnable blocks; return (blocks run, failures, seconds)."""
    ran = failed = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fasttrpo-docs-") as folder:
        for line, lang, code in blocks(page):
            if lang not in RUN:
                continue
            script = Path(folder) / f"block_{line}{SUFFIX[lang]}"
            script.write_text(code, encoding="utf-8")
            t0 = time.perf_counter()
            proc = subprocess.run([*RUN[lang], str(script)], cwd=folder, env=env,
                                  capture_output=True, text=True)
            ran += 1
            where = f"{os.path.relpath(page, ROOT)}:{line} ({lang})"
            warned = WARNING.search(proc.stderr)
            if proc.returncode != 0 or warned:
                failed += 1
                why = f"exit status {proc.returncode}" if proc.returncode else "a warning"
                print(f"FAILED {where}: {why}\n--- code\n{code}"
                      f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}", flush=True)
            else:
                print(f"ok     {where} {time.perf_counter() - t0:.1f} s", flush=True)
    return ran, failed, time.perf_counter() - started


def main(argv: list[str]) -> int:
    """Run the pages named in ``argv`` (default: all); exit status 1 if a block failed."""
    pages = [Path(p).resolve() for p in argv] or sorted(DOCS.rglob("*.md"))
    env = dict(os.environ)
    # the checkout being documented, also when fasttrpo is installed elsewhere
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # the bash blocks' `fasttrpo` command: the one installed next to this interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("MPLBACKEND", "Agg")
    total = failures = 0
    started = time.perf_counter()
    for page in pages:
        ran, failed, _ = run_page(page, env)
        total, failures = total + ran, failures + failed
    print(f"{total} blocks run, {failures} failed, {time.perf_counter() - started:.1f} s")
    if total == 0:
        print("no runnable block found: nothing was checked")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
