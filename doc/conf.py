# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Sphinx configuration of the E-Invoice Reporting documentation.

Build: ``make doc`` (``python -m sphinx -W -b html doc var/doc-html``).
Nothing is fetched from the network (no intersphinx).

Screenshots: ``.. figure:: /_static/screenshots/<name>.png``; the PNGs are
kept in the repository and refreshed by ``make screenshots`` (the browser
test takes them from the demo).
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

project = "E-Invoice Reporting for Tryton"
copyright = "the account_einvoice authors"
version = release = '8.0'
master_doc = 'index'
exclude_patterns = ['_build']
extensions = []
html_theme = 'alabaster'
html_static_path = (['_static']
    if os.path.isdir(os.path.join(HERE, '_static')) else [])
html_show_sourcelink = False
# a cross reference to a missing document or label is a warning
nitpicky = True
smartquotes = False
