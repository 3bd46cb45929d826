# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Add the authority's QR code and text at the end of an OpenDocument text
(no database): a section holding the image and one paragraph per line.

relatorio renders a flat template (``.fodt``) as a zipped package, which
is what Tryton converts or returns; a flat document is handled too, with
the image inlined."""
import base64
import io
import zipfile

import segno
from lxml import etree

NS = {
    'office': 'urn:oasis:names:tc:opendocument:xmlns:office:1.0',
    'text': 'urn:oasis:names:tc:opendocument:xmlns:text:1.0',
    'draw': 'urn:oasis:names:tc:opendocument:xmlns:drawing:1.0',
    'svg': 'urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0',
    'xlink': 'http://www.w3.org/1999/xlink',
    'manifest': 'urn:oasis:names:tc:opendocument:xmlns:manifest:1.0',
    }
SECTION = 'einvoice_printed'
FRAME = 'einvoice_qr'
IMAGE = 'Pictures/einvoice_qr.png'
#: printed side of the QR code
SIZE = '3cm'


def q(name):
    prefix, local = name.split(':')
    return f'{{{NS[prefix]}}}{local}'


def qr_png(content):
    "The QR code of content as PNG bytes"
    output = io.BytesIO()
    segno.make(content, error='m', micro=False).save(
        output, kind='png', scale=8, border=4)
    return output.getvalue()


def is_text_document(data):
    "Whether data is an OpenDocument text, zipped or flat"
    if not isinstance(data, bytes):
        return False
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            names = package.namelist()
            return ('content.xml' in names and 'mimetype' in names
                and package.read('mimetype').startswith(
                    b'application/vnd.oasis.opendocument.text'))
    return b'opendocument.text' in data[:4096]


def add_printed(data, qr_content, lines):
    "Return the document data with the QR code and lines at its end"
    png = qr_png(qr_content)
    if zipfile.is_zipfile(io.BytesIO(data)):
        return _add_to_package(data, png, lines)
    return _add_to_flat(data, png, lines)


def _section(root, href, lines):
    "Append the section to the body of root; return its image element"
    body = root.find(f'{q("office:body")}/{q("office:text")}')
    if body is None:
        raise ValueError("not an OpenDocument text")
    section = etree.SubElement(body, q('text:section'), {
            q('text:name'): SECTION})
    paragraph = etree.SubElement(section, q('text:p'), {
            q('text:style-name'): 'Standard'})
    frame = etree.SubElement(paragraph, q('draw:frame'), {
            q('draw:name'): FRAME,
            q('text:anchor-type'): 'as-char',
            q('svg:width'): SIZE,
            q('svg:height'): SIZE,
            })
    image = etree.SubElement(frame, q('draw:image'))
    if href:
        image.attrib.update({
                q('xlink:href'): href,
                q('xlink:type'): 'simple',
                q('xlink:show'): 'embed',
                q('xlink:actuate'): 'onLoad',
                })
    for line in lines:
        etree.SubElement(section, q('text:p'), {
                q('text:style-name'): 'Standard'}).text = line
    return image


def _add_to_package(data, png, lines):
    source = zipfile.ZipFile(io.BytesIO(data))
    output = io.BytesIO()
    with source, zipfile.ZipFile(output, 'w') as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == 'content.xml':
                root = etree.fromstring(content)
                _section(root, IMAGE, lines)
                content = etree.tostring(
                    root, xml_declaration=True, encoding='UTF-8')
            elif info.filename == 'META-INF/manifest.xml':
                root = etree.fromstring(content)
                etree.SubElement(root, q('manifest:file-entry'), {
                        q('manifest:full-path'): IMAGE,
                        q('manifest:media-type'): 'image/png',
                        })
                content = etree.tostring(
                    root, xml_declaration=True, encoding='UTF-8')
            target.writestr(info, content)
        target.writestr(IMAGE, png, zipfile.ZIP_STORED)
    return output.getvalue()


def _add_to_flat(data, png, lines):
    root = etree.fromstring(data)
    image = _section(root, None, lines)
    etree.SubElement(image, q('office:binary-data')).text = (
        base64.b64encode(png).decode())
    return etree.tostring(root, xml_declaration=True, encoding='UTF-8')
