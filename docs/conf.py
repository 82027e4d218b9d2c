"""Sphinx configuration of the neurolearn API reference.

Build (warnings are errors; the output is never committed)::

    python -m sphinx -W --keep-going -b html docs /tmp/neurolearn-docs
"""

import shutil
from pathlib import Path

import neurolearn

ROOT = Path(__file__).resolve().parents[1]

project = "neurolearn"
author = "the neurolearn developers"
release = version = neurolearn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
]

# The executed notebooks are rendered with the outputs they were saved with
# (CI executes them separately, with nbmake); copied in at each build, so the
# notebooks folder stays their only home.
nb_execution_mode = "off"
_NOTEBOOKS = Path(__file__).parent / "notebooks"
shutil.rmtree(_NOTEBOOKS, ignore_errors=True)
shutil.copytree(ROOT / "notebooks", _NOTEBOOKS,
                ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))

exclude_patterns = ["README.md", "_build"]
source_suffix = {".rst": "restructuredtext", ".ipynb": "myst-nb", ".md": "myst-nb"}

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # the numpydoc sections state types, shapes and units
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_static_path: list[str] = []


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """scikit-learn adds ``set_*_request`` methods (metadata routing) to every
    estimator; they are scikit-learn's, documented there."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
