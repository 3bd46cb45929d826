# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Identifier types a country module adds to parties."""


def add_identifier_types(configuration, types):
    """Append types [(code, label)] to the identifier types of the party
    configuration class (so administrators can also restrict them)"""
    selection = list(configuration.identifier_types.selection)
    selection.extend(item for item in types if item not in selection)
    configuration.identifier_types.selection = selection
