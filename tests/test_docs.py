"""The README and the docs site: the README's generated table is current and its snippets run as
written; no figure is typed by hand into the README or the docs' pages; the site builds with
``tools/build_docs.sh`` (warnings as errors, every gallery example executed) and renders in
headless Chromium (title, images, no console errors)."""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import render_readme_table  # noqa: E402
import results_tables  # noqa: E402

README = os.path.join(ROOT, "README.md")


def _readme():
    with open(README, encoding="utf-8") as f:
        return f.read()


# -- README ---------------------------------------------------------------------------------------

def test_readme_is_short_and_its_setup_commands_come_first():
    text = _readme()
    assert len(text.splitlines()) <= 200
    blocks = re.findall(r"```(\w*)\n(.*?)```", text, re.S)
    # .ci/run and CI depend on these two exact commands; they are the first two code blocks.
    assert blocks[0] == ("bash", "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && "
                                 "pip install -r requirements-dev.txt && pip install --no-build-isolation -e . && "
                                 "python -m inverse_mel\n")
    assert blocks[1] == ("bash", ". .venv/bin/activate && python -m pytest -q tests\n")
    assert 'python -m pytest -q -m "not slow" tests' in text


def test_readme_table_equals_what_the_tool_generates_from_the_results():
    text = _readme()
    blocks = render_readme_table.blocks(text)
    assert blocks, "README.md has no generated table"
    assert render_readme_table.blocks(render_readme_table.render(text)) == blocks, \
        "README.md's generated table is stale: run python tools/render_readme_table.py"
    # It names its results file, and every row of that file's table is there.
    table = results_tables.table("mel_to_audio.md")
    assert "benchmarks/results/mel_to_audio.md" in blocks["mel_to_audio"]
    for row in table.rows:
        assert f"| {row[0]} |" in blocks["mel_to_audio"]


def test_the_tool_notices_a_changed_results_file(tmp_path):
    text = _readme()
    stale = text.replace(render_readme_table.blocks(text)["mel_to_audio"].splitlines()[2], "| made up | 1 | 2 | 3 | 4 | 5 |")
    path = tmp_path / "README.md"
    path.write_text(stale, encoding="utf-8")
    assert render_readme_table.main(["--check", "--readme", str(path)]) == 1
    assert render_readme_table.main(["--readme", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == text


def test_results_tables_reject_a_missing_column():
    with pytest.raises(KeyError, match="no column"):
        results_tables.table("mel_to_audio.md").select(["method", "no such column"])


# Figures as results state them: 7x, 1.19x, 44%, 5.5 ms, 0.2 s, 4.17 dB, "400x to 5600x".
_FIGURE = re.compile(r"(?<![\w.=/-])\d+(\.\d+)?\s?(x|%|ms|s|dB|MB|GB|GB/s)(?![\w-])")


def _hand_typed_figures(text):
    # Code is not prose: settings such as n_iter=32 or --shard 3/16 may appear in it.
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"``[^`]*``|`[^`]*`", "", text)
    text = re.sub(r"\n\.\. code-block::.*?(?=\n\S)", "\n", text, flags=re.S)
    return [m.group(0) for m in _FIGURE.finditer(text)]


def test_no_figure_is_typed_by_hand_into_the_readme_or_the_docs_pages():
    text = _readme()
    for name, body in render_readme_table.blocks(text).items():
        text = text.replace(body, "")
    found = {"README.md": _hand_typed_figures(text)}
    docs = os.path.join(ROOT, "docs")
    for folder, _, files in os.walk(docs):
        if any(part in folder for part in ("_build", "auto_examples", "_generated", "generated")):
            continue
        for name in files:
            if name.endswith((".rst", ".md")):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    found[os.path.relpath(os.path.join(folder, name), ROOT)] = _hand_typed_figures(f.read())
    found = {k: v for k, v in found.items() if v}
    assert not found, f"figures typed by hand (include them from benchmarks/results instead): {found}"
    assert _hand_typed_figures("it runs 7.1x faster, in 5.5 ms") == ["7.1x", "5.5 ms"]


_PATH = re.compile(r"(?<![\w/.-])((?:csrc|tools|tests|benchmarks|docs|inverse_mel|\.ci)/[\w./-]*\w)")


_BUILD_OUTPUTS = ("docs/_build", "docs/_generated", "docs/api/generated", "docs/auto_examples")


def test_every_file_the_readme_and_the_docs_name_exists():
    texts = {"README.md": _readme()}
    for folder, _, files in os.walk(os.path.join(ROOT, "docs")):
        if any(part in folder for part in ("_build", "auto_examples", "_generated", "generated")):
            continue
        for name in files:
            if name.endswith((".rst", ".md", ".py")):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    texts[os.path.relpath(os.path.join(folder, name), ROOT)] = f.read()
    missing = {}
    for where, text in texts.items():
        for path in _PATH.findall(text):
            if path.startswith(_BUILD_OUTPUTS):
                continue
            if not os.path.exists(os.path.join(ROOT, path)):
                missing.setdefault(where, []).append(path)
    assert not missing, f"named files that do not exist: {missing}"
    assert _PATH.findall("see csrc/cpu/nnls.cpp and `tools/x.sh`") == ["csrc/cpu/nnls.cpp", "tools/x.sh"]


def test_readme_python_snippets_run_as_written():
    for block in re.findall(r"```python\n(.*?)```", _readme(), re.S):
        exec(compile(block, "README.md", "exec"), {})


@pytest.mark.slow
def test_readme_command_line_snippet_runs_as_written(tmp_path):
    block = re.findall(r"```bash\n(.*?)```", _readme(), re.S)[2]
    assert "inverse-mel" in block
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    if shutil.which("inverse-mel", path=env["PATH"]) is None:  # a checkout that was not pip-installed
        block = block.replace("inverse-mel ", f"{sys.executable} -m inverse_mel ")
    block = block.replace("python -c", f"{sys.executable} -c")
    subprocess.run(["bash", "-euc", block], cwd=tmp_path, env=env, check=True, timeout=300)
    import soundfile
    audio, rate = soundfile.read(tmp_path / "out.wav")
    assert rate == 22050 and audio.size > rate and abs(audio).max() > 0.01


# -- the site -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site as ``bash tools/build_docs.sh OUTDIR`` builds it (requirements installed, -W, the
    gallery executed)."""
    out = tmp_path_factory.mktemp("docs_html")
    env = dict(os.environ, PYTHON=sys.executable,
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(["bash", os.path.join(ROOT, "tools", "build_docs.sh"), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"build_docs.sh failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return out


@pytest.mark.slow
def test_docs_build_with_every_page_and_example(site):
    assert (site / "index.html").is_file()
    examples = sorted(n[:-3] for n in os.listdir(os.path.join(ROOT, "docs", "examples")) if n.startswith("plot_"))
    assert len(examples) >= 6
    for name in examples:
        page = (site / "auto_examples" / f"{name}.html").read_text(encoding="utf-8")
        assert f"sphx_glr_{name}_001.png" in page, f"{name} made no figure"
        assert (site / "_images" / f"sphx_glr_{name}_001.png").stat().st_size > 5000
    # Every results file has its page, naming the file.
    for name in results_tables.result_files():
        page = (site / "_generated" / "results" / (name[:-3] + ".html")).read_text(encoding="utf-8")
        assert f"benchmarks/results/{name}" in page
    # Every public name has an API entry.
    import inverse_mel
    api = (site / "api" / "generated" / "inverse_mel.html").read_text(encoding="utf-8")
    for name in inverse_mel.__all__:
        if not isinstance(getattr(inverse_mel, name), type(os)):
            assert f">{name}<" in api, name
    functional = (site / "api" / "generated" / "inverse_mel.functional.html").read_text(encoding="utf-8")
    for name in inverse_mel.functional.__all__:
        assert name in functional, name
    # The guides include the measured tables.
    choosing = (site / "guides" / "choosing.html").read_text(encoding="utf-8")
    assert "benchmarks/results/phase.md" in choosing and "<table" in choosing


def _chromium():
    """A Chromium binary: $CHROMIUM, one on PATH, or Debian's unpacked by tools/chromium.sh."""
    if os.environ.get("INVERSE_MEL_NO_CHROMIUM_FETCH") == "1":
        for name in ("chromium", "chromium-browser", "google-chrome"):
            if shutil.which(name):
                return shutil.which(name)
        return os.environ.get("CHROMIUM")
    try:
        proc = subprocess.run(["bash", os.path.join(ROOT, "tools", "chromium.sh")], capture_output=True, text=True,
                              timeout=600)
    except subprocess.TimeoutExpired:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


@pytest.mark.slow
def test_docs_render_in_headless_chromium(site, tmp_path):
    chromium = _chromium()
    if not chromium:
        pytest.skip("no Chromium (bash tools/chromium.sh says why)")
    from cdp import Browser
    pages = {"index.html": "inverse_mel", "auto_examples/plot_01_inverse_side_by_side.html": "Inverses side by side",
             "guides/choosing.html": "Choosing a solver"}
    with Browser(chromium) as browser:
        for page, title in pages.items():
            state = browser.open((site / page).as_uri(), screenshot=str(tmp_path / (page.replace("/", "_") + ".png")))
            assert title in state["title"] and title in state["h1"], (page, state["title"])
            assert state["errors"] == [], (page, state["errors"])
            for image in state["images"]:
                assert image["complete"] and image["naturalWidth"] > 0, (page, image)
            if page.startswith("auto_examples"):
                assert len(state["images"]) >= 2
        # The check can fail: a page with a broken image and a console error is caught.
        broken = tmp_path / "broken.html"
        broken.write_text("<title>broken</title><h1>broken</h1><img src='missing.png'>"
                          "<script>console.error('boom')</script>")
        state = browser.open(broken.as_uri())
        assert any("boom" in e for e in state["errors"])
        assert state["images"][0]["naturalWidth"] == 0
