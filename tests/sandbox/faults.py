"""Faults the authority sandbox injects on demand.

``Sandbox.add_fault(service, operation, kind, count=1, **params)``;
``operation='*'`` matches any operation; ``count=None`` = until cleared.
"processed" means the service handled the request and its state changed as
usual; every kind accepts ``process=True/False`` to override:

============== ========== ====================================================
kind           processed  behaviour
============== ========== ====================================================
latency        yes        sleep ``seconds`` (default 1) before answering
hang           no         never answer; sleep ``seconds`` (default 120) then
                          close the connection
hold           yes        keep the request ``seconds`` (default 10) before
                          processing it, then answer (lost if the client has
                          gone meanwhile; ``drop=True``: close without
                          answering): a slow authority still holding a
                          request its sender gave up on
drop_after     yes        close the connection without any response (the
                          "lost response" case)
http_500       no         HTTP 500, plain text body
http_503       no         HTTP 503, plain text body (+ Retry-After)
http_429       no         HTTP 429 with ``Retry-After: seconds`` (default 1)
redirect_303   yes        HTTP 303 See Other, ``Location`` elsewhere
                          (``location``, default ``/moved<path>``)
slow_ack       yes        processed at once, answered after ``seconds``
                          (default 2): the slow acknowledgement
html           no         HTTP 200 ``text/html`` maintenance page (the
                          service's ``html_page`` when it has one)
soap_fault     no         HTTP 500 SOAP Fault (``faultcode``, default
                          ``Server``; ``faultstring``)
truncated      yes        full Content-Length but only the first half of the
                          real response body, then close
malformed      yes        HTTP 200 ``text/xml`` with syntactically broken XML
entities       no         HTTP 200 response with a DOCTYPE declaring
                          "billion laughs" entities and an external
                          ``SYSTEM "file:///etc/passwd"`` entity
                          (``variant``: ``all``, ``laughs`` or ``xxe``)
<other>        service    delegated to ``service.custom_fault`` (e.g. the
                          test authority's ``busy``)
============== ========== ====================================================

On JSON routes (:mod:`tests.sandbox.rest`) the kinds behave the same;
``soap_fault`` (and unprocessed ``latency``) answer a JSON 500,
``malformed`` a cut JSON body, ``http_429`` a JSON body.
"""

__all__ = ['FAULT_KINDS', 'HTML_PAGE', 'HOSTILE_XML', 'hostile_xml']

# kind -> processed by default
FAULT_KINDS = {
    'latency': True,
    'hang': False,
    'hold': True,
    'drop_after': True,
    'http_500': False,
    'http_503': False,
    'http_429': False,
    'redirect_303': True,
    'slow_ack': True,
    'html': False,
    'soap_fault': False,
    'truncated': True,
    'malformed': True,
    'entities': False,
    }

HTML_PAGE = b"""<!DOCTYPE html>
<html><head><title>503 Service Temporarily Unavailable</title></head>
<body><h1>Servicio no disponible</h1>
<p>The service is under maintenance. Please try again later.</p>
<hr><address>sandbox-proxy</address></body></html>
"""

HOSTILE_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE env:Envelope [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">
<env:Body><Response xmlns="urn:einvoice-sandbox:hostile">
<Data>&lol9;</Data><File>&xxe;</File>
</Response></env:Body></env:Envelope>
"""


def hostile_xml(variant='all'):
    """The ``entities`` fault body: variant ``all`` (billion laughs +
    external entity), ``laughs`` or ``xxe`` (external entity only)."""
    lines = HOSTILE_XML.split(b'\n')
    if variant == 'xxe':
        lines = [l for l in lines if b'ENTITY lol' not in l]
        lines = [l.replace(b'&lol9;', b'x') for l in lines]
    elif variant == 'laughs':
        lines = [l.replace(b'&xxe;', b'x') for l in lines
            if b'ENTITY xxe' not in l]
    return b'\n'.join(lines)
