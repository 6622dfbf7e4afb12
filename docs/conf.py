"""Sphinx configuration. Build with ``bash tools/build_docs.sh OUTDIR`` (warnings are errors).

Two kinds of pages are written here, at build time, and never committed:

- ``docs/_generated/results/*.md``: one page per ``benchmarks/results/*.md``, and
  ``docs/_generated/tables/*.md``: single tables of them that the guides include. No figure in the
  docs is typed by hand; each generated page and table names the results file it comes from.
- ``docs/api/generated/*.rst``: the API reference, one page per public module, listing every name
  of its ``__all__`` (so a name another branch adds appears without editing the docs).
"""
import inspect
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tools"))

import results_tables as R  # noqa: E402

import inverse_mel  # noqa: E402

project = "inverse_mel"
author = "the inverse_mel developers"
copyright = "the inverse_mel developers, BSD-3-Clause"
release = version = inverse_mel.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated/tables", "examples/*.rst", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5", "sg_execution_times.rst"]
html_theme = "furo"
html_title = f"inverse_mel {release}"
html_static_path = []
templates_path = []

# numpydoc-style docstrings (Parameters / Returns / Examples), rendered by napoleon, which also
# reads the Google-style sections some older docstrings keep.
napoleon_numpy_docstring = True
napoleon_google_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_use_param = False  # "a, b, c" entries stay one entry instead of repeating the text per name
napoleon_custom_sections = ["Shapes"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": False}
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # the results files' headings start where their author chose

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "show_memory": False,
    "image_scrapers": ("matplotlib",),
    "write_computation_times": True,
}


# -- results pages ----------------------------------------------------------------------------------

#: Where each results file goes. A results file not named here (one another branch adds) lands on
#: the "Other measurements" page, so nothing in benchmarks/results/ is left out.
PERFORMANCE = ["cpu_lstsq.md", "small_calls.md", "memory.md", "batch.md", "cuda.md", "restructure_speed.md",
               "small_calls_before.md", "long.md", "long_heap_threshold_dynamic.md"]
QUALITY = ["nnls.md", "mel_to_audio.md", "phase.md", "stream.md", "rcond_sweep.md", "detect.md"]
CUDA_LOG = ["gpu_check.md"]

#: The script that writes each results file (for the line naming it).
SCRIPTS = {
    "cpu_lstsq.md": "benchmarks/bench_lstsq_cpu.py", "small_calls.md": "benchmarks/bench_small_calls.py",
    "small_calls_before.md": "benchmarks/bench_small_calls.py", "memory.md": "benchmarks/bench_memory.py",
    "batch.md": "benchmarks/bench_batch.py", "cuda.md": "benchmarks/bench_cuda.py",
    "restructure_speed.md": "benchmarks/compare_builds.py", "nnls.md": "benchmarks/bench_nnls.py",
    "mel_to_audio.md": "benchmarks/bench_mel_to_audio.py", "phase.md": "benchmarks/bench_phase.py",
    "rcond_sweep.md": "benchmarks/rcond_sweep.py", "detect.md": "benchmarks/bench_detect.py",
    "gpu_check.md": "tools/gpu_check.sh", "long.md": "benchmarks/bench_long.py",
    "long_heap_threshold_dynamic.md": "benchmarks/bench_long.py", "stream.md": "benchmarks/bench_stream.py",
}

#: Single tables the guides include: ``docs/_generated/tables/NAME.md``.
TABLES = {
    "mel_to_audio": lambda: R.table("mel_to_audio.md"),
    "phase_clean": lambda: R.table("phase.md"),
    "phase_retrieval": lambda: R.table("phase.md", "Phase retrieval"),
    "phase_model_like": lambda: R.table("phase.md", "Model-like"),
    "nnls_quality": lambda: R.table("nnls.md", "Quality").select(
        ["config", "signal", "power", "ours-nnls SC / LSD / mel", "ours-lstsq SC / LSD / mel",
         "torchaudio SC / LSD / mel", "librosa SC / LSD / mel"]),
    "nnls_speed": lambda: R.table("nnls.md", "Speed"),
    "nnls_model_like": lambda: R.table("nnls.md", "Model-like"),
    "cpu_lstsq": lambda: R.table("cpu_lstsq.md"),
    "rcond_sweep": lambda: R.table("rcond_sweep.md"),
    "batch": lambda: R.table("batch.md"),
    "memory": lambda: R.table("memory.md"),
    "cuda": lambda: R.table("cuda.md"),
    "cuda_goals": lambda: R.table("cuda.md", "Goals"),
    "cuda_mel_to_audio": lambda: R.table("cuda.md", "mel_to_audio"),
    "detect": lambda: R.table("detect.md"),
}


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
    if old != text:  # unchanged files keep their mtime: incremental builds stay incremental
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def _results_page(name):
    with open(os.path.join(R.RESULTS, name), encoding="utf-8") as f:
        body = f.read()
    script = SCRIPTS.get(name)
    made_by = f", written by `{script}`" if script else ""
    first, _, rest = body.partition("\n")
    if not first.startswith("#"):
        first, rest = f"# {name}", body
    return (f"{first}\n\n```{{note}}\nGenerated at build time from `benchmarks/results/{name}`{made_by}. "
            "Figures are as measured on the machine the file describes: compare ratios, not absolute times.\n```\n"
            f"{rest}")


def _toctree(names):
    return "\n".join(f"   _generated/results/{n[:-3]}" for n in names)


def generate_results():
    files = R.result_files()
    for name in files:
        _write(os.path.join(DOCS, "_generated", "results", name), _results_page(name))
    for key, make in TABLES.items():
        _write(os.path.join(DOCS, "_generated", "tables", key + ".md"), R.render(make(), link=False) + "\n")
    known = set(PERFORMANCE) | set(QUALITY) | set(CUDA_LOG)
    other = [n for n in files if n not in known]
    for page, names in [("performance", PERFORMANCE), ("quality", QUALITY), ("other_results", other + CUDA_LOG)]:
        present = [n for n in names if n in files]
        _write(os.path.join(DOCS, "_generated", f"{page}_toc.inc"),
               f".. toctree::\n   :maxdepth: 1\n\n{_toctree(present)}\n")


# -- API pages --------------------------------------------------------------------------------------

#: The public modules, in the order their pages appear. An object re-exported by several (e.g.
#: ``inverse_mel.mel_to_audio`` is ``inverse_mel.pipeline.mel_to_audio``) is documented on the first
#: page that lists it and cross-referenced from the others.
API_MODULES = [
    ("inverse_mel", "The package: modules and one-call functions"),
    ("inverse_mel.functional", "Functional API: filterbanks, inverses, phase"),
    ("inverse_mel.presets", "Presets: model conventions"),
    ("inverse_mel.pipeline", "Mel to audio"),
    ("inverse_mel.metrics", "Quality measures"),
    ("inverse_mel.constants", "Accepted values of the string settings"),
    ("inverse_mel.demo", "The built-in demo and test signal"),
]


def _kind(obj):
    if inspect.isclass(obj):
        return "autoclass", ":members:\n   :exclude-members: __init__, extra_repr, __getstate__, __setstate__, T_destination, dump_patches, call_super_init, training"
    if callable(obj):
        return "autofunction", ""
    if inspect.ismodule(obj):
        return None, ""
    return "autodata", ":no-value:" if isinstance(obj, (dict, list, tuple)) and len(repr(obj)) > 200 else ""


def generate_api():
    import importlib
    modules = {modname: importlib.import_module(modname) for modname, _ in API_MODULES}

    def names_of(modname):
        if modname == "inverse_mel.demo":
            return ["synthesize", "power_spectrogram", "run_demo"]
        mod = modules[modname]
        if hasattr(mod, "__all__"):
            return list(mod.__all__)
        return [n for n, o in vars(mod).items() if not n.startswith("_") and getattr(o, "__module__", None) == modname
                and (inspect.isfunction(o) or inspect.isclass(o))]

    def key(name, obj):
        return (name, id(obj))

    # Where each object is documented: a class or function on the page of the module that defines
    # it when that module has a page (else the first page listing it); data on the most specific
    # page listing it (that module's source holds its doc comment).
    home = {}
    for modname, _ in API_MODULES:
        for name in names_of(modname):
            obj = getattr(modules[modname], name)
            if inspect.ismodule(obj):
                continue
            k = key(name, obj)
            if inspect.isclass(obj) or callable(obj):
                if k not in home or getattr(obj, "__module__", None) == modname:
                    home[k] = modname
            elif k not in home or len(modname) > len(home[k]):
                home[k] = modname

    pages = []
    role = {"autoclass": "class", "autofunction": "func", "autodata": "data"}
    for modname, title in API_MODULES:
        lines = [f".. This page is generated by docs/conf.py from {modname}.__all__.", "",
                 f"``{modname}``", "=" * (len(modname) + 4), "", title + ".", "",
                 f".. automodule:: {modname}", "   :no-members:", "", f".. currentmodule:: {modname}", ""]
        refs, submodules = [], []
        for name in names_of(modname):
            obj = getattr(modules[modname], name)
            directive, options = _kind(obj)
            if directive is None:
                if f"{modname}.{name}" in modules:
                    submodules.append(f"{modname}.{name}")
                continue
            where = home[key(name, obj)]
            if where != modname:
                refs.append(f"- ``{name}``: :{role[directive]}:`{where}.{name}`")
                continue
            lines += [f".. {directive}:: {name}"] + ([f"   {options}"] if options else []) + [""]
        if refs:
            lines += ["Also here, documented on the page of the module that defines it:", ""] + refs + [""]
        if submodules:
            lines += ["Submodules: " + ", ".join(f":doc:`{m}`" for m in submodules) + ".", ""]
        _write(os.path.join(DOCS, "api", "generated", modname + ".rst"), "\n".join(lines))
        pages.append(modname)
    _write(os.path.join(DOCS, "_generated", "api_toc.inc"),
           ".. toctree::\n   :maxdepth: 1\n\n" + "\n".join(f"   generated/{p}" for p in pages) + "\n")


# -- presets table -----------------------------------------------------------------------------------

def _cell(text):
    return str(text).replace("\n", " ").replace("|", "\\|")


def generate_presets():
    from inverse_mel.presets import ALIASES, PRESETS
    rows = []
    for name in sorted(PRESETS):
        p = PRESETS[name]
        win = p.win_length or p.n_fft
        f_max = "Nyquist" if p.f_max is None else f"{p.f_max:g}"
        fb_rate = f" (filterbank for {p.filterbank_sample_rate} Hz)" if p.filterbank_sample_rate else ""
        rows.append([f"``{name}``", f"{p.sample_rate}{fb_rate}", f"{p.n_fft} / {p.hop_length} / {win}",
                     "centred" if p.center else "not centred", str(p.n_mels), f"{p.f_min:g} - {f_max}",
                     f"{p.norm or 'none'}, {p.mel_scale}", "power" if p.power == 2 else "magnitude",
                     p.describe_scale(), p.source])
    header = ["preset", "sample rate (Hz)", "n_fft / hop / win", "framing", "mels", "f range (Hz)",
              "norm, scale", "spectrogram", "features", "source"]
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header] + rows:
        lines.append("   * - " + _cell(row[0]))
        lines += [f"     - {_cell(c)}" if c else "     -" for c in row[1:]]
    _write(os.path.join(DOCS, "_generated", "presets_table.inc"), "\n".join(lines) + "\n")
    lines = [".. list-table::", "   :header-rows: 1", "", "   * - name", "     - is preset"]
    for alias, target in sorted(ALIASES.items()):
        lines += [f"   * - ``{alias}``", f"     - ``{target}``"]
    _write(os.path.join(DOCS, "_generated", "aliases_table.inc"), "\n".join(lines) + "\n")


generate_results()
generate_api()
generate_presets()
