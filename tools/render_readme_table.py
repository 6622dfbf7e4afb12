"""Fill the README's generated tables from benchmarks/results/*.md.

A generated block in README.md sits between two markers::

    <!-- table:NAME -->
    ...generated, do not edit...
    <!-- /table:NAME -->

and NAME is a key of ``TABLES`` below, which says which results file, table, columns and rows it
shows. ``python tools/render_readme_table.py`` rewrites every block; ``--check`` exits 1 (and
names the block) when the README differs from what the current results give, which
``tests/test_docs.py`` asserts.
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results_tables as R  # noqa: E402

README = os.path.join(R.ROOT, "README.md")

TABLES = {
    # The headline: the whole chain, mel to audio, every method on one clip.
    "mel_to_audio": lambda: R.render(
        R.table("mel_to_audio.md").select(
            ["method", "mel to audio s", "its time / ours (nnls)", "mel inverse alone ms", "SC audio", "LSD audio dB"],
            rename={"its time / ours (nnls)": "time vs ours (nnls)"}),
        "which also gives the machine and the input; SC: spectral convergence of the output audio's "
        "spectrogram against the original's, lower is better"),
}

_BLOCK = re.compile(r"(<!-- table:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.S)


def render(text: str) -> str:
    """``text`` with every generated block filled from the current results."""
    def fill(m):
        name = m.group("name")
        if name not in TABLES:
            raise KeyError(f"README.md: unknown generated table {name!r}; known: {sorted(TABLES)}")
        return m.group(1) + TABLES[name]() + "\n" + m.group(4)
    return _BLOCK.sub(fill, text)


def blocks(text: str) -> dict:
    """``{name: body}`` of the generated blocks in ``text``."""
    return {m.group("name"): m.group("body") for m in _BLOCK.finditer(text)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is not up to date")
    parser.add_argument("--readme", default=README)
    args = parser.parse_args(argv)
    with open(args.readme, encoding="utf-8") as f:
        text = f.read()
    new = render(text)
    if args.check:
        old_blocks, new_blocks = blocks(text), blocks(new)
        stale = [n for n in new_blocks if old_blocks[n] != new_blocks[n]]
        if stale:
            print(f"{args.readme}: generated tables out of date: {', '.join(stale)}; "
                  "run python tools/render_readme_table.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        with open(args.readme, "w", encoding="utf-8") as f:
            f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
