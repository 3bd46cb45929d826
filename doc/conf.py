# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Sphinx configuration of the E-Invoice Reporting documentation.

Build: ``make doc`` (``python -m sphinx -W -b html doc var/doc-html``).
Nothing is fetched from the network (no intersphinx).

Screenshots: ``.. screenshot:: name`` shows ``_static/screenshots/name.png``
(or ``var/screenshots/name.png`` at the top of the repository) when the
browser test has produced it, and nothing otherwise, so the documentation
builds without warnings on a fresh clone.
"""
import os

from docutils import nodes
from docutils.parsers.rst import Directive, directives

HERE = os.path.dirname(os.path.abspath(__file__))
SCREENSHOT_DIRECTORIES = [
    # (directory on disk, URI relative to the documentation root)
    (os.path.join(HERE, '_static', 'screenshots'), '/_static/screenshots'),
    (os.path.join(HERE, '..', 'var', 'screenshots'),
        '/../var/screenshots'),
    ]

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


class Screenshot(Directive):
    "An image of the client when the browser test has produced it"
    required_arguments = 1
    optional_arguments = 0
    final_argument_whitespace = False
    has_content = True
    option_spec = {'alt': directives.unchanged}

    def run(self):
        name = self.arguments[0]
        if not name.endswith('.png'):
            name += '.png'
        for directory, uri in SCREENSHOT_DIRECTORIES:
            if os.path.isfile(os.path.join(directory, name)):
                break
        else:
            return []
        figure = nodes.figure()
        image = nodes.image(uri=f'{uri}/{name}',
            alt=self.options.get('alt', ' '.join(self.content) or name))
        figure += image
        if self.content:
            caption = nodes.caption(text=' '.join(self.content))
            figure += caption
        return [figure]


def setup(app):
    app.add_directive('screenshot', Screenshot)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
