"""Run the authority sandbox as a process::

    python -m tests.sandbox [--port N] [--pki-dir DIR] [--latency MS]
        [--fault SERVICE:OPERATION:KIND[:COUNT[:key=value,...]]] ...
        [--service NAME_OR_MODULE:CLASS] ... [--ready-file F]

Prints the base URL, each service's WSDL URL and the certificate paths, then
serves until Ctrl-C / SIGTERM.  ``--ready-file`` gets a JSON document
(url, port, pid, pki_dir) once the server accepts connections.
"""
import argparse
import json
import os
import signal
import sys
import threading

from .pki import PKI
from .server import _LocalServer


def parse_fault(text):
    parts = text.split(':', 4)
    if len(parts) < 3:
        raise argparse.ArgumentTypeError(
            'expected SERVICE:OPERATION:KIND[:COUNT[:k=v,...]]')
    fault = {'service': parts[0], 'operation': parts[1] or '*',
        'kind': parts[2]}
    if len(parts) > 3 and parts[3]:
        fault['count'] = (None if parts[3] in ('*', 'inf', 'always')
            else int(parts[3]))
    if len(parts) > 4 and parts[4]:
        for item in parts[4].split(','):
            key, _, value = item.partition('=')
            fault[key] = value
    return fault


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m tests.sandbox',
        description='Local authority sandbox (HTTPS + mTLS + SOAP)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--pki-dir', help='create or reuse the PKI here')
    parser.add_argument('--latency', type=float, default=0,
        help='milliseconds added to every SOAP answer')
    parser.add_argument('--fault', action='append', type=parse_fault,
        default=[], metavar='SERVICE:OPERATION:KIND[:COUNT[:k=v,...]]')
    parser.add_argument('--service', action='append', dest='services',
        help='service name or module:Class (default: all registered)')
    parser.add_argument('--ready-file')
    parser.add_argument('--quiet', action='store_true')
    parser.add_argument('--verbose', action='store_true',
        help='log every HTTP request')
    args = parser.parse_args(argv)

    pki = PKI.load_or_create(args.pki_dir)
    server = _LocalServer(pki, args.services, args.host, args.port,
        args.latency / 1000.0, args.fault, args.verbose)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    info = server.core.info()
    if not args.quiet:
        print('Sandbox listening on %s (pid %d)' % (server.url, os.getpid()))
        if server.open_url:
            print('  client certificate optional (JSON routes): %s'
                % server.open_url)
        for name, svc in info['services'].items():
            for url in svc['wsdl']:
                print('  %-16s WSDL %s' % (name, url))
        print(pki.describe())
        sys.stdout.flush()
    if args.ready_file:
        tmp = args.ready_file + '.tmp'
        with open(tmp, 'w') as fh:
            json.dump({'url': server.url, 'port': server.port,
                    'open_url': server.open_url,
                    'pid': os.getpid(), 'pki_dir': pki.directory}, fh)
        os.replace(tmp, args.ready_file)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        pki.cleanup()   # only removes a temp dir created here
    return 0


if __name__ == '__main__':
    sys.exit(main())
