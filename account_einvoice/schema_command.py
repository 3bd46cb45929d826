# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""``einvoice-schemas``: download the official schemas into the cache.

Exit status 0 when every folder is in place, 1 when a folder was refused
(its files are then not written).
"""
import argparse
import os
import sys

from trytond import config

from . import schema_download
from .https import SECTION


def parse_arguments(arguments):
    parser = argparse.ArgumentParser(prog='einvoice-schemas',
        description="Download the tax authorities' WSDL/XSD files, check "
        "them against the digests pinned in the module and cache them.")
    parser.add_argument('folders', nargs='*', metavar='FOLDER',
        help="only these folders (default: all of "
        f"{', '.join(sorted(schema_download.SOURCES))})")
    parser.add_argument('-c', '--config', dest='configfile',
        default=os.environ.get('TRYTOND_CONFIG'),
        help="the trytond configuration file (for [account_einvoice] "
        "schema_directory and ca_bundle)")
    parser.add_argument('-d', '--directory',
        help="where to write the files (default: schema_directory or "
        f"{schema_download.default_directory()})")
    parser.add_argument('--ca-bundle',
        help="the CA certificates to verify the servers with (default: "
        "[account_einvoice] ca_bundle, else the system's)")
    parser.add_argument('--base-url', action='append', default=[],
        metavar='[FOLDER=]URL',
        help="fetch from a mirror: the scheme and host of the official "
        "addresses (of FOLDER, or of every folder) are replaced by URL, "
        "the path is kept; repeatable")
    options = parser.parse_args(arguments)
    unknown = set(options.folders) - set(schema_download.SOURCES)
    if unknown:
        parser.error(f"unknown folder: {', '.join(sorted(unknown))}")
    return options


def base_urls(values):
    "{folder or None: URL} from the --base-url values"
    result = {}
    for value in values:
        folder, sep, url = value.partition('=')
        if not sep or '://' in folder:
            folder, url = None, value
        elif folder not in schema_download.SOURCES:
            raise SystemExit(f"--base-url: unknown folder {folder}")
        result[folder] = url
    return result


def main(arguments=None):
    options = parse_arguments(arguments)
    mirrors = base_urls(options.base_url)
    if options.configfile:
        config.update_etc(options.configfile)
    if options.ca_bundle:
        if not config.has_section(SECTION):
            config.add_section(SECTION)
        config.set(SECTION, 'ca_bundle', os.path.abspath(options.ca_bundle))
    directory = (options.directory
        or config.get(SECTION, 'schema_directory')
        or schema_download.default_directory())
    status = 0
    for folder in options.folders or sorted(schema_download.SOURCES):
        try:
            contents = schema_download.fetch(folder,
                mirrors.get(folder, mirrors.get(None)), directory)
        except schema_download.DownloadError as error:
            print(f"Refused: {error}", file=sys.stderr)
            status = 1
            continue
        schema_download.write(directory, folder, contents)
        print(f"{folder}: {len(contents)} files in "
            f"{os.path.join(directory, folder)}")
    return status


if __name__ == '__main__':
    sys.exit(main())
