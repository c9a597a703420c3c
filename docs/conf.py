"""Sphinx configuration: API reference from numpydoc docstrings, gallery from ``examples/``.

Build with ``make html`` in ``docs/`` (``python -m sphinx -n -W --keep-going -b
html . _build/html``): the build is nitpicky and warnings are errors, so a broken
cross-reference, a public name missing from ``api.rst`` or an example that
raises fails it. See the "Building the documentation" section of
the README.
"""

import importlib
import pkgutil
import re
import sys
from pathlib import Path

from sphinx.util import logging

import sktensorflow

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_inventories import write_inventories  # noqa: E402

logger = logging.getLogger(__name__)

project = "sktensorflow"
author = "The sktensorflow developers"
copyright = "the sktensorflow developers"
release = version = sktensorflow.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb"]

# -- API reference -------------------------------------------------------------
# Every class page lists and documents all public methods, inherited ones
# included (docs/_templates/autosummary/class.rst); module pages list every
# name of the module's ``__all__`` (module.rst), so a new public function,
# class or method appears without editing the .rst files.
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_default_options = {"member-order": "groupwise"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
default_role = "literal"
nitpicky = True

# -- links to other projects, offline ------------------------------------------
# The inventories are written from the installed packages by make_inventories.py
# (no web access needed); the links point at the projects' online docs.
intersphinx_mapping = write_inventories(HERE / "_build" / "inventories")

# -- gallery -------------------------------------------------------------------
# Every example runs at every build, at the reduced size its code chooses; set
# SKTF_PAPER_SIZE=1 to build (and run) them at the papers' sizes instead.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("sktensorflow",),
    "reference_url": {"sktensorflow": None},
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "show_memory": False,
    "only_warn_on_example_error": False,
}

# -- executed code in the pages (``.. plot::`` and doctest) ---------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]

html_theme = "alabaster"
html_theme_options = {"description": "Over-parametrized gradient methods for tensor factorization"}


def _public_api():
    """Public top-level names and public modules of the package."""
    names = [n for n in sktensorflow.__all__ if not n.startswith("_")]
    modules = [
        f"sktensorflow.{info.name}"
        for info in pkgutil.iter_modules(sktensorflow.__path__)
        if not info.name.startswith("_")
    ]
    for modname in modules:
        importlib.import_module(modname)
    return names, modules


def _check_api_page(app):
    """Warn (an error under -W) about a public name that api.rst does not list."""
    text = (HERE / "api.rst").read_text()
    listed = set(re.findall(r"^\s+([\w.]+)\s*$", text, flags=re.M))
    names, modules = _public_api()
    missing = [n for n in names if n not in listed and f"sktensorflow.{n}" not in listed]
    missing += [m for m in modules if m not in listed and m.split(".", 1)[1] not in listed]
    for name in missing:
        logger.warning("docs/api.rst does not list the public name %r: add it to a section", name)


def setup(app):
    app.connect("builder-inited", _check_api_page)
