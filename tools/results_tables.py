"""Read the tables of ``benchmarks/results/*.md``, for the README and the docs.

Every figure the README and the docs show comes from a results file through this module, never
typed by hand: :func:`table` picks one table of a results file (by the heading it sits under) and,
optionally, some of its columns and rows; :func:`render` writes it back as Markdown with a line
naming the file it came from.

No dependency beyond the standard library: ``tools/render_readme_table.py`` and ``docs/conf.py``
both import it.
"""
import os
import re
from typing import Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


class Table:
    """One Markdown table: ``header`` (column names), ``rows`` (lists of cells), ``source`` (the
    results file, relative to the repository root) and ``section`` (the heading above it)."""

    def __init__(self, header: List[str], rows: List[List[str]], source: str, section: str):
        self.header, self.rows, self.source, self.section = header, rows, source, section

    def select(self, columns: Optional[Sequence[str]] = None, where: Optional[Dict[str, Sequence[str]]] = None,
               rename: Optional[Dict[str, str]] = None) -> "Table":
        """The columns named (in that order), the rows whose cell in each ``where`` column is one of
        the values given, and columns renamed by ``rename``. A name that is not there raises
        ``KeyError`` (a results file whose layout changed must fail the build, not drop a column)."""
        index = {name: i for i, name in enumerate(self.header)}
        for name in list(columns or []) + list(where or {}):
            if name not in index:
                raise KeyError(f"{self.source}: no column {name!r} in {self.header}")
        rows = [r for r in self.rows if all(r[index[c]] in values for c, values in (where or {}).items())]
        if where and not rows:
            raise KeyError(f"{self.source}: no row matches {where}")
        cols = list(columns) if columns else list(self.header)
        rename = rename or {}
        return Table([rename.get(c, c) for c in cols], [[r[index[c]] for c in cols] for r in rows],
                     self.source, self.section)

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def _split_row(line: str) -> List[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def tables(name: str) -> List[Table]:
    """Every table of ``benchmarks/results/NAME`` (``NAME`` such as ``"phase.md"``), in order."""
    path = os.path.join(RESULTS, name)
    source = os.path.relpath(path, ROOT).replace(os.sep, "/")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    found, section, i = [], "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if (line.startswith("|") and i + 1 < len(lines)
                and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip())):
            header, rows, i = _split_row(line), [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_split_row(lines[i]))
                i += 1
            found.append(Table(header, rows, source, section))
            continue
        i += 1
    return found


def table(name: str, section: Optional[str] = None) -> Table:
    """The first table of ``benchmarks/results/NAME`` under a heading that starts with
    ``section`` (``None``: the file's first table)."""
    for t in tables(name):
        if section is None or t.section.startswith(section):
            return t
    raise KeyError(f"benchmarks/results/{name}: no table under a heading starting {section!r}")


def render(t: Table, note: str = "", link: bool = True) -> str:
    """The table as Markdown, followed by a line naming the results file it comes from (a link
    relative to the repository root with ``link``, plain text without)."""
    name = f"[`{t.source}`]({t.source})" if link else f"`{t.source}`"
    where = f"From {name}" + (f", {note}" if note else "") + "."
    return t.markdown() + "\n\n" + where


def result_files() -> List[str]:
    """The names of every ``benchmarks/results/*.md``, sorted."""
    return sorted(n for n in os.listdir(RESULTS) if n.endswith(".md"))
