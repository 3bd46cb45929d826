# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The issuer's events (Evento_v150.xsd): cancellation of an approved DE
(``rGeVeCan``) and voiding of unused numbers (``rGeVeInu``).

Each ``rEve`` (with a numeric ``Id``) is signed like a DE, the Signature
right after it inside ``rGesEve``; one ``rEnviEventoDe`` carries up to 15
``rGesEve`` (tgGroupGesEve)."""
from lxml import etree

from trytond.modules.account_einvoice import schema, signing

from .de import DATETIME, NS, SCHEMA_LOCATION, VERSION, XSI

XSD = 'py_sifen/WS_SiRecepEvento_v150.xsd'
#: rGesEve in one request
MAX_EVENTS = 15
EVENT_SCHEMA_LOCATION = SCHEMA_LOCATION.replace(
    'siRecepDE_v150.xsd', 'siRecepEvento_v150.xsd')


def _tag(name):
    return f'{{{NS}}}{name}'


def _add(parent, name, value):
    element = etree.SubElement(parent, _tag(name))
    element.text = str(value)
    return element


def _event(signed_at, event_id):
    if not 1 <= int(event_id) <= 9999999999:
        raise ValueError(f'event id {event_id!r} is not 1…9999999999')
    event = etree.Element(_tag('rEve'), nsmap={None: NS}, Id=str(event_id))
    _add(event, 'dFecFirma', signed_at.strftime(DATETIME))
    _add(event, 'dVerFor', VERSION)
    return event, etree.SubElement(event, _tag('gGroupTiEvt'))


def cancellation(cdc, reason, signed_at, event_id):
    "The rEve cancelling the approved DE cdc"
    event, group = _event(signed_at, event_id)
    cancel = etree.SubElement(group, _tag('rGeVeCan'))
    _add(cancel, 'Id', cdc)
    _add(cancel, 'mOtEve', reason)
    return event


def voiding(timbrado, establishment, point, type, first, last, reason,
        signed_at, event_id):
    "The rEve voiding the unused numbers first…last (ints or 7 digits)"
    event, group = _event(signed_at, event_id)
    void = etree.SubElement(group, _tag('rGeVeInu'))
    _add(void, 'dNumTim', timbrado)
    _add(void, 'dEst', establishment)
    _add(void, 'dPunExp', point)
    _add(void, 'dNumIn', f'{int(first):07d}')
    _add(void, 'dNumFin', f'{int(last):07d}')
    _add(void, 'iTiDE', type)
    _add(void, 'mOtEve', reason)
    return event


def sign(event, key, certificate):
    "rGesEve: a copy of event followed by its Signature"
    holder = etree.Element(_tag('rGesEve'), nsmap={None: NS})
    holder.append(signing.xml_root(etree.tostring(event)))
    return signing.sign_enveloped(
        holder, key, certificate, event.get('Id'))


def request(d_id, signed_events):
    "rEnviEventoDe carrying the signed events (rGesEve elements)"
    if not 1 <= len(signed_events) <= MAX_EVENTS:
        raise ValueError(
            f'one request carries 1 to {MAX_EVENTS} events, '
            f'not {len(signed_events)}')
    root = etree.Element(_tag('rEnviEventoDe'), nsmap={None: NS})
    _add(root, 'dId', d_id)
    registry = etree.SubElement(root, _tag('dEvReg'))
    group = etree.SubElement(
        registry, _tag('gGroupGesEve'), nsmap={None: NS, 'xsi': XSI})
    group.set(f'{{{XSI}}}schemaLocation', EVENT_SCHEMA_LOCATION)
    for event in signed_events:
        group.append(signing.xml_root(etree.tostring(event)))
    return root


def schema_errors(element):
    "The XSD's messages on an rEnviEventoDe (empty when valid)"
    validator = schema.xml_schema(schema.locate(XSD))
    if validator.validate(element):
        return []
    return [schema.short_message(e.message) for e in validator.error_log]
