"""Write intersphinx inventories for numpy, scipy, scikit-learn, tensorly and torch offline.

The machines that build these docs reach package registries but not the
projects' web sites, so intersphinx cannot download the projects'
``objects.inv``. This script writes one inventory per project instead, listing
the public names of the *installed* package (functions, classes, their public
methods, modules) with the address of the page where that project's own
documentation documents the name. Links in the built HTML therefore point at
the real online documentation; only the inventory is made here.

``docs/conf.py`` calls :func:`write_inventories` at every build (a few
seconds; the files are cached under ``docs/_build/inventories``, one per
installed version and version of this script). Run ``python
docs/make_inventories.py [OUTDIR]`` to write them by hand, and inspect one with
``python -m sphobjinv convert plain FILE.inv -``.

A name that this script does not list cannot be linked: the nitpicky build
(``-n -W``) then fails and names it. Add the module that defines it to
``MODULES`` below, or, when the project documents it on a page of its own that
does not follow the project's usual address pattern, to ``PAGES``.
"""

import hashlib
import importlib
import inspect
import sys
import types
import warnings
from pathlib import Path

import sphobjinv as soi

# Online documentation root of each project (what intersphinx links to).
ROOTS = {
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "tensorly": "https://tensorly.org/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
}

# The page of one API object, relative to the root ("{name}" is the full dotted
# name); the anchor on that page is the full name.
PATTERNS = {
    "numpy": "reference/generated/{name}.html",
    "scipy": "reference/generated/{name}.html",
    "sklearn": "modules/generated/{name}.html",
    "tensorly": "modules/generated/{name}.html",
    "torch": "generated/{name}.html",
}
# Projects that give each method of a class a page of its own (the others
# document the methods on the class's page).
METHOD_PAGES = {"numpy", "scipy", "torch"}

# Modules whose public names are listed (one level: their functions and classes,
# and the public methods of those classes).
MODULES = {
    "numpy": ["numpy", "numpy.linalg", "numpy.fft", "numpy.random"],
    "scipy": ["scipy.linalg", "scipy.fft", "scipy.optimize", "scipy.sparse", "scipy.stats"],
    "sklearn": [
        "sklearn",
        "sklearn.base",
        "sklearn.decomposition",
        "sklearn.datasets",
        "sklearn.exceptions",
        "sklearn.linear_model",
        "sklearn.metrics",
        "sklearn.model_selection",
        "sklearn.multioutput",
        "sklearn.pipeline",
        "sklearn.preprocessing",
        "sklearn.utils",
        "sklearn.utils.estimator_checks",
        "sklearn.utils.metadata_routing",
        "sklearn.utils.validation",
    ],
    "tensorly": [
        "tensorly",
        "tensorly.cp_tensor",
        "tensorly.tucker_tensor",
        "tensorly.decomposition",
        "tensorly.tenalg",
        "tensorly.random",
        "tensorly.metrics",
    ],
    "torch": ["torch", "torch.cuda", "torch.linalg", "torch.fft"],
}

# Objects documented on a shared page rather than on a page of their own:
# name -> (role, page relative to the root). The anchor is the name.
PAGES = {
    "numpy": {
        "numpy.random.Generator": ("class", "reference/random/generator.html"),
        "numpy.random.default_rng": ("function", "reference/random/generator.html"),
        "numpy.random.RandomState": ("class", "reference/random/legacy.html"),
        "numpy.float64": ("class", "reference/arrays.scalars.html"),
        "numpy.float32": ("class", "reference/arrays.scalars.html"),
        "numpy.int64": ("class", "reference/arrays.scalars.html"),
        "numpy.nan": ("data", "reference/constants.html"),
        "numpy.inf": ("data", "reference/constants.html"),
    },
    "torch": {
        "torch.Tensor": ("class", "tensors.html"),
        "torch.device": ("class", "tensor_attributes.html"),
        "torch.dtype": ("class", "tensor_attributes.html"),
        "torch.float64": ("data", "tensor_attributes.html"),
        "torch.float32": ("data", "tensor_attributes.html"),
    },
}

# Classes on a shared page whose methods have pages of their own: name -> pattern.
MEMBER_PAGES = {
    "numpy.random.Generator": "reference/random/generated/{name}.html",
    "torch.Tensor": "generated/{name}.html",
}

# Sections of the projects' user guides that scikit-learn's own docstrings
# (inherited by every estimator here) refer to: label -> (page, title).
LABELS = {
    "sklearn": {
        "metadata_routing": ("metadata_routing.html", "Metadata Routing"),
        "df_output_transform": (
            "modules/df_output_transform.html",
            "Pandas/Polars Output for Transformers with set_output API",
        ),
        "sphx_glr_auto_examples_miscellaneous_plot_set_output.py": (
            "auto_examples/miscellaneous/plot_set_output.html",
            "Introducing the set_output API",
        ),
        "r2_score": (
            "modules/model_evaluation.html#r2-score",
            "R² score, the coefficient of determination",
        ),
        "glossary": ("glossary.html", "Glossary of Common Terms and API Elements"),
    },
}

# Glossary terms used by the same docstrings: term -> page (the anchor is
# Sphinx's, "term-" and the term).
TERMS = {
    "sklearn": {"meta-estimator": "glossary.html"},
}


def _role(obj):
    if isinstance(obj, types.ModuleType):
        return "module"
    if inspect.isclass(obj):
        return "class"
    if callable(obj):
        return "function"
    return None


def _public(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    return [n for n in names if not n.startswith("_")]


def _members(project, cls, full):
    """(name, role, uri) of the public methods and attributes of class ``cls``."""
    pattern = MEMBER_PAGES.get(full, PATTERNS[project])
    own_pages = project in METHOD_PAGES
    for attr in dir(cls):
        if attr.startswith("_"):
            continue
        name = f"{full}.{attr}"
        role = "method" if callable(getattr(cls, attr, None)) else "attribute"
        page = pattern.format(name=name if own_pages else full)
        yield name, role, f"{page}#{name}"


def _entries(project):
    """{name: (role, uri)} for the public names of ``project``'s listed modules."""
    pattern, shared = PATTERNS[project], PAGES.get(project, {})
    found = {}
    for modname in MODULES[project]:
        module = importlib.import_module(modname)
        found.setdefault(modname, ("module", f"{pattern.format(name=modname)}#module-{modname}"))
        for name in _public(module):
            try:
                obj = getattr(module, name, None)
            except ImportError:  # e.g. scikit-learn's experimental names
                continue
            role, full = _role(obj), f"{modname}.{name}"
            if role is None or role == "module" or full in found:
                continue
            found[full] = (role, f"{pattern.format(name=full)}#{full}")
            if role == "class" and (full not in shared or full in MEMBER_PAGES):
                for member, kind, uri in _members(project, obj, full):
                    found.setdefault(member, (kind, uri))
    for name, (role, page) in shared.items():
        found[name] = (role, f"{page}#{name}")
    return found


def _inventory(project, version):
    inv = soi.Inventory()
    inv.project, inv.version = project, version
    for name, (role, uri) in sorted(_entries(project).items()):
        inv.objects.append(
            soi.DataObjStr(name=name, domain="py", role=role, priority="1", uri=uri, dispname="-")
        )
    std = [("label", name, page, title) for name, (page, title) in LABELS.get(project, {}).items()]
    std += [
        ("term", term, f"{page}#term-{term}", "-") for term, page in TERMS.get(project, {}).items()
    ]
    for role, name, uri, title in std:
        inv.objects.append(
            soi.DataObjStr(
                name=name, domain="std", role=role, priority="-1", uri=uri, dispname=title
            )
        )
    return inv


_SCRIPT_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]


def write_inventories(outdir):
    """Write ``<project>-<version>.inv`` for every installed project.

    Returns the ``intersphinx_mapping`` for ``conf.py``: the online root of each
    project with the local inventory file. A project that is not installed is
    left out (its references then fail the nitpicky build).
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for project, root in ROOTS.items():
        try:
            version = importlib.import_module(project).__version__
        except ImportError:
            print(f"make_inventories: {project} is not installed, no links to it", file=sys.stderr)
            continue
        path = outdir / f"{project}-{version}-{_SCRIPT_HASH}.inv"
        if not path.exists():
            with warnings.catch_warnings():  # importing and walking may warn
                warnings.simplefilter("ignore")
                inv = _inventory(project, version)
            soi.writebytes(path, soi.compress(inv.data_file(contract=True)))
        mapping[project] = (root, str(path))
    return mapping


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "_build/inventories"
    for project, (root, path) in write_inventories(target).items():
        print(f"{project:>9}: {path} -> {root}")
