"""AFIP/ARCA (Argentina) for the authority sandbox: shared helpers.

Two services, registered in :mod:`tests.sandbox.services`:

``afip_wsaa`` (:mod:`tests.sandbox.afip_wsaa`)
    WSAA ``loginCms`` at ``/ws/services/LoginCms`` (WSDL
    ``ar_afip/wsaa.wsdl``): verifies the CMS (PKCS#7) signed TRA
    (:mod:`tests.sandbox.afip_cms`) and issues access tickets (token +
    sign).
``afip_wsfe`` (:mod:`tests.sandbox.afip_wsfe`)
    WSFEv1 at ``/wsfev1/service.asmx`` (WSDL ``ar_afip/wsfev1.wsdl``):
    CAE authorization with sequential numbering per (CUIT, PtoVta,
    CbteTipo), queries and parameter tables.  Every call checks the ticket
    issued by ``afip_wsaa`` of the same sandbox.

Both serve the homologation paths; production uses the same paths here.
State is keyed by the ``environment`` option (default ``homologacion``) so
that a production environment could be kept apart.

Key formats for ``Sandbox.count`` (plain decimal numbers, no padding):

* ``afip_wsaa`` / ``loginCms``: ``keys`` = ``[<CUIT of the CMS signer>]``
  (every login attempt), ``issued`` = ``[<CUIT>]`` (tickets issued);
* ``afip_wsfe`` / ``FECAESolicitar``: ``keys`` = one
  ``'<Cuit>:<PtoVta>:<CbteTipo>:<CbteDesde>'`` per detail (requested),
  ``authorized`` = the keys that got a CAE, ``rejected`` = the others;
  :func:`voucher_key` builds them;
* ``afip_wsfe`` / ``FECompConsultar``: ``keys`` = the voucher key asked;
* ``afip_wsfe`` / ``FECompUltimoAutorizado``: ``keys`` =
  ``['<Cuit>:<PtoVta>:<CbteTipo>']`` (:func:`series_key`).

``sb.state('afip_wsfe')['caes'][key]`` is the number of CAEs ever issued for
a voucher key (including ``authorize_external``); it must never exceed 1.

How the two services find each other and the sandbox CA: the server calls
``service.attach(core)`` before routing; WSFE reads WSAA's tickets and WSAA
the CA through it.
"""
import datetime

__all__ = ['AR_TZ', 'AXIS_NS', 'voucher_key', 'series_key']

#: Argentina (no daylight saving time since 2009)
AR_TZ = datetime.timezone(datetime.timedelta(hours=-3), 'ART')
#: namespace of the ``ns1:`` prefix of WSAA fault codes (Apache Axis)
AXIS_NS = 'http://xml.apache.org/axis/'


class CoreAware:
    "Mix-in: call ``attach(core)`` once, at bind time (see module doc)"
    core = None

    def attach(self, core):
        self.core = core

    def _ensure_attached(self):
        return self.core

    def port_path(self, wsdl_path, service, port, location):
        self._ensure_attached()
        return super().port_path(wsdl_path, service, port, location)


def voucher_key(cuit, pto_vta, cbte_tipo, nro):
    "``'<cuit>:<pto_vta>:<cbte_tipo>:<nro>'`` (see the module docstring)"
    return '%d:%d:%d:%d' % (int(cuit), int(pto_vta), int(cbte_tipo),
        int(nro))


def series_key(cuit, pto_vta, cbte_tipo):
    "``'<cuit>:<pto_vta>:<cbte_tipo>'``"
    return '%d:%d:%d' % (int(cuit), int(pto_vta), int(cbte_tipo))


def __getattr__(name):
    # lazy re-exports (the service modules import this one)
    if name == 'WSAAService':
        from .afip_wsaa import WSAAService
        return WSAAService
    if name == 'WSFEService':
        from .afip_wsfe import WSFEService
        return WSFEService
    raise AttributeError(name)
