# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Messages of our own stored by reference (ir.message id and parameters)
so each reader sees them in their own language, whatever the language of
the process (the cron) that wrote them."""
from trytond.i18n import gettext

KEY = '__message__'
# the id of a list of messages shown one per line
LINES = '__lines__'


class LocalMessage:
    """An ir.message reference; parameters may be LocalMessages too

    str() renders it in the language of the transaction."""
    __slots__ = ('id', 'params')

    def __init__(self, id, **params):
        self.id = id
        self.params = tuple(sorted(params.items()))

    @classmethod
    def lines(cls, messages):
        "Messages (or texts) shown one per line"
        return cls(LINES, lines=tuple(messages))

    def __str__(self):
        if self.id == LINES:
            return '\n'.join(str(m) for m in dict(self.params)['lines'])
        return gettext(self.id, **{
                k: str(v) if isinstance(v, LocalMessage) else v
                for k, v in self.params})

    def __repr__(self):
        return f'LocalMessage({self.id!r}, {dict(self.params)!r})'

    def __eq__(self, other):
        return (isinstance(other, LocalMessage)
            and (self.id, self.params) == (other.id, other.params))

    def __hash__(self):
        return hash((self.id, self.params))

    def dump(self):
        "A JSON-able value"
        return {k: _dump(v) for k, v in self.params} | {KEY: self.id}

    @classmethod
    def load(cls, data):
        data = dict(data)
        id_ = data.pop(KEY)
        return cls(id_, **{k: _load(v) for k, v in data.items()})


def _dump(value):
    if isinstance(value, LocalMessage):
        return value.dump()
    if isinstance(value, tuple):
        return [_dump(v) for v in value]
    return value


def _load(value):
    if isinstance(value, dict) and KEY in value:
        return LocalMessage.load(value)
    if isinstance(value, (list, tuple)):
        return tuple(_load(v) for v in value)
    return value


def stored_values(message):
    """The stored columns of a message: its text in the writer's language
    (kept for searching), and the reference to render it again"""
    if isinstance(message, LocalMessage):
        return {
            'message_text': str(message),
            'message_id': message.id,
            'message_params': message.dump(),
            }
    return {
        'message_text': message,
        'message_id': None,
        'message_params': None,
        }


def render(text, message_id, params):
    "The message in the reader's language when it is one of ours"
    if message_id and params:
        try:
            return str(LocalMessage.load(params))
        except Exception:
            # e.g. a message removed by an upgrade: keep what was stored
            return text
    return text


def field_label(source):
    """The label of where a value comes from, for a message: "Model /
    Field" in the reader's language for a (model, field name), else the
    text given (a path such as ``issuer.ruc``)"""
    if isinstance(source, (tuple, list)) and len(source) == 2:
        model, name = source
        try:
            from trytond.pool import Pool
            names = Pool().get(model).__names__(name)
            return f"{names['model']} / {names['field']}"
        except Exception:
            # no pool or no such model (tests, synthetic data)
            return f'{model}.{name}'
    return str(source)
