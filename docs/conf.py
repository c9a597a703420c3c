"""Sphinx configuration: API reference from numpydoc docstrings, gallery from ``examples/``."""

import os

import sktensorflow

project = "sktensorflow"
author = "The sktensorflow developers"
release = version = sktensorflow.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build", "auto_examples/*.ipynb"]

# The examples reproduce the papers at their sizes and take minutes each; the
# gallery executes them only when asked: ``SKTF_RUN_EXAMPLES=1 make html``.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_" if os.environ.get("SKTF_RUN_EXAMPLES") else r"^$",
    "plot_gallery": bool(os.environ.get("SKTF_RUN_EXAMPLES")),
}

html_theme = "alabaster"
