#!/usr/bin/env python3
# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import os
from configparser import ConfigParser

from setuptools import setup

MODULES = [
    'account_einvoice', 'account_einvoice_es_sii', 'account_einvoice_ar',
    'account_einvoice_es_verifactu', 'account_einvoice_sa_zatca',
    'account_einvoice_py_sifen']
HERE = os.path.dirname(os.path.abspath(__file__))


def module_package(name):
    config = ConfigParser()
    config.read(os.path.join(HERE, name, 'tryton.cfg'))
    package = 'trytond.modules.' + name
    data = config.get('tryton', 'xml', fallback='').split() + [
        'tryton.cfg', 'view/*.xml', 'locale/*.po', '*.fodt', 'icons/*.svg',
        'schemas/*/SHA256SUMS']
    tests_data = ['*.rst', '*.json', 'tryton.cfg', '*.xml']
    return package, data, tests_data


packages, package_dir, package_data, entry_points = [], {}, {}, []
for name in MODULES:
    package, data, tests_data = module_package(name)
    package_dir[package] = name
    package_dir[package + '.tests'] = os.path.join(name, 'tests')
    packages += [package, package + '.tests']
    package_data[package] = data
    package_data[package + '.tests'] = tests_data
    entry_points.append(f'{name} = {package}')

setup(
    name='trytond-account-einvoice',
    version='8.0.0',
    description=("Report posted invoices to tax authorities (SII, VERI*FACTU, "
        "AFIP/ARCA, ZATCA)"),
    long_description=open(os.path.join(HERE, 'README.rst')).read(),
    license='GPL-3.0-or-later',
    license_files=['LICENSE', 'COPYRIGHT'],
    python_requires='>=3.11',
    package_dir=package_dir,
    packages=packages,
    package_data=package_data,
    install_requires=[
        'trytond>=8.0,<8.1',
        'trytond-account-invoice>=8.0,<8.1',
        'trytond-company>=8.0,<8.1',
        'trytond-party>=8.0,<8.1',
        'zeep>=4.2',
        'lxml>=4.9',
        'cryptography>=42',
        'requests>=2.31',
        'python-stdnum>=1.19',
        'segno>=1.5',
        'signxml>=5.0,<6',
        ],
    extras_require={
        'test': ['proteus>=8.0,<8.1', 'zxing-cpp>=2.2', 'pillow>=10',
            'xmlsec>=1.3',
            # the Spanish chart SII codes are set on (tests/test_sii_setup)
            'trytoncommunity-account-es>=8.0,<8.1'],
        'postgresql': ['psycopg[binary,pool]>=3.2'],
        },
    entry_points={
        'trytond.modules': entry_points,
        'console_scripts': [
            'einvoice-schemas = '
            'trytond.modules.account_einvoice.schema_command:main',
            ],
        },
    zip_safe=False,
    )
