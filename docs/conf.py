"""Sphinx configuration.

Build with ``python -m sphinx -W -b html docs docs/_build/html``.
"""

import sklearn_adamlr

project = "sklearn-adamlr"
author = "the sklearn-adamlr developers"
release = sklearn_adamlr.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Methods inherited from scikit-learn's mixins (score, the set_*_request
# methods of metadata routing) are documented by scikit-learn; their docstrings
# refer to its glossary, which this site does not have.
autodoc_default_options = {
    "members": True,
    "inherited-members": False,
    "exclude-members": (
        "score, set_fit_request, set_partial_fit_request, set_score_request, "
        "get_metadata_routing, set_params, get_params"
    ),
}

# No intersphinx: the build must not depend on the network.
suppress_warnings = ["config.cache"]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"stream_csv\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

html_theme = "pydata_sphinx_theme"
html_title = "sklearn-adamlr"
html_theme_options = {"navigation_with_keys": False}
exclude_patterns = ["_build"]
templates_path = ["_templates"]
