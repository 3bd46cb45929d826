# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The official addresses of the authorities keeping SII books.

The AEAT's come from the ports of its WSDLs (see :mod:`.service`).  The
foral treasuries publish the same operations at their own addresses: the
Basque ones one address per book (the AEAT's path under their host),
Navarra one address for both books."""

# the AEAT's paths, kept by the Basque treasuries
BOOK_PATHS = {
    'emitidas': 'fe/SiiFactFEV1SOAP',
    'recibidas': 'fr/SiiFactFRV1SOAP',
    }
NAVARRA = ('https://siihacienda.navarra.es/SII_{}.proxy/'
    'SiiMensajesXsdHandlet.ashx')

#: name: (label, {environment: base address or address})
AUTHORITIES = {
    'araba': ("Araba", {
            'production': 'https://sii.araba.eus/SSII-FACT/ws/',
            'staging': 'https://pruebas-sii.araba.eus/SSII-FACT/ws/',
            }),
    'bizkaia': ("Bizkaia", {
            'production': 'https://sii.bizkaia.eus/SSII-FACT/ws/',
            'staging': 'https://pruapps.bizkaia.eus/SSII-FACT/ws/',
            }),
    'gipuzkoa': ("Gipuzkoa", {
            'production': (
                'https://sii.egoitza.gipuzkoa.eus/JBS/HACI/SSII-FACT/ws/'),
            'staging': ('https://sii-prep.egoitza.gipuzkoa.eus/'
                'JBS/HACI/SSII-FACT/ws/'),
            }),
    'navarra': ("Navarra", {
            'production': NAVARRA.format('PRODUCCION'),
            'staging': NAVARRA.format('PRUEBAS'),
            }),
    }


def labels():
    "[(name, label)] of the built-in foral authorities"
    return [(name, label) for name, (label, _) in sorted(AUTHORITIES.items())]


def address(authority, book, environment):
    "The official address of book at authority, or None if not built in"
    if authority not in AUTHORITIES:
        return None
    base = AUTHORITIES[authority][1].get(environment)
    if not base:
        return None
    if not base.endswith('/'):
        return base
    if book not in BOOK_PATHS:
        return None
    return base + BOOK_PATHS[book]
