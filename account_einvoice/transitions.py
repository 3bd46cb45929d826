# This file is part of the account_einvoice suite. The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""What an answer of the authority does to a submission: the values its
outcome writes, after a request or after a query (see the states in
``doc/account_einvoice/design.rst``)."""


class Transitions:
    "Part of the Processor"

    @staticmethod
    def after_send(submission, outcome, operation):
        values = {
            'exchange': None,
            'needs_query': False,
            'attempts': 0,
            'next_attempt': None,
            'last_error': None,
            'code': outcome.code,
            'message': outcome.message,
            }
        values.update(outcome.values)
        if outcome.reference:
            values['reference'] = outcome.reference
        if outcome.state in {'accepted', 'accepted_with_errors'}:
            if operation == 'cancel':
                values.update(state='cancelled', registered=False)
            else:
                values.update(state=outcome.state, registered=True)
                if submission.cancel_requested:
                    values.update(
                        state='pending', operation='cancel',
                        cancel_requested=False, generated=False,
                        chain=None, chain_sequence=None)
        elif outcome.state == 'cancelled':
            values.update(state='cancelled', registered=False)
        elif outcome.state == 'not_found':
            # Not taken by the authority, certainly: send it again (the
            # service prepares it anew, e.g. with another number).
            values['state'] = 'pending'
        else:
            values['state'] = 'rejected'
            if submission.cancel_requested and not submission.registered:
                values.update(state='cancelled', cancel_requested=False)
        return values

    @staticmethod
    def _done(operation):
        "The states a query may answer that end an operation"
        return {
            'register': {'accepted', 'accepted_with_errors', 'cancelled'},
            'modify': {'accepted', 'accepted_with_errors', 'cancelled'},
            'cancel': {'cancelled'},
            }[operation]

    @classmethod
    def after_query(cls, submission, outcome):
        done = cls._done(submission.operation)
        if outcome.state == 'rejected' and outcome.final:
            return cls.after_send(submission, outcome, submission.operation)
        if outcome.state not in done:
            # The authority does not hold what we sent: safe to send it.
            values = {
                'exchange': None,
                'needs_query': False,
                'next_attempt': None,
                }
            values.update(outcome.values)
            if outcome.state in {'accepted', 'accepted_with_errors'}:
                values['registered'] = True
            return values
        return cls.after_send(submission, outcome, submission.operation)
