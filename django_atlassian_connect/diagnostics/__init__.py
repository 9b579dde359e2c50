"""Diagnostics behind ``manage.py connect_doctor``: why a token, a tenant or a call fails.

Pure analysis functions returning a :class:`Report` of :class:`Finding`
objects (a stable ``code``, a ``severity``, a ``message``, a ``hint``, the
specific ``cause`` and a ``details`` dict). They call the checks the app
itself runs (:mod:`tokens`, :mod:`inbound`, :mod:`qsh`) and branch on the
code they raise, so the doctor names the same code a view would answer with,
then goes further: which secret signed a token and when it was retired, what
the clocks say, and which common mistake reproduces a token's ``qsh``.

Nothing here prints or returns a shared secret; tokens appear as a short
prefix only (the command shows a whole token only with ``--show-token``, and
cuts the ``jwt`` parameter of the URLs it was given with
:func:`shorten_jwt_params` before printing a report).

One module per concern; imports point one way, from the entry points down
to :mod:`.report` (the bottom) and :mod:`.facts`::

    token_report -> inbound_tokens, install_tokens, outbound_tokens -> grant_assertions
    inbound/install/outbound tokens -> signing, qsh_mistakes, routing
    tenants, calls -> outbound_errors
    descriptor_lint -> routing
    credentials (Atlassian Cloud outside Connect) -> credential_kinds, grant_answers
    most modules -> facts -> report

Nothing outside this package imports it but the ``connect_doctor`` command.
"""

from .calls import diagnose_request
from .descriptor_lint import CONNECT_SCOPES, lint_descriptor
from .facts import find_tenant
from .outbound_errors import explain_outbound_error
from .qsh_mistakes import QSH_CAUSES, QshVariant, find_qsh_mistake, qsh_variants
from .report import (
    ERROR,
    HINTS,
    INFO,
    OK,
    SEVERITIES,
    WARNING,
    Finding,
    Report,
    default_hint,
    shorten_jwt_params,
    token_prefix,
)
from .routing import endpoint_kind
from .tenants import analyse_tenant
from .token_report import analyse_token, split_scheme

__all__ = [
    "CONNECT_SCOPES",
    "ERROR",
    "HINTS",
    "INFO",
    "OK",
    "QSH_CAUSES",
    "SEVERITIES",
    "WARNING",
    "Finding",
    "QshVariant",
    "Report",
    "analyse_tenant",
    "analyse_token",
    "default_hint",
    "diagnose_request",
    "endpoint_kind",
    "explain_outbound_error",
    "find_qsh_mistake",
    "find_tenant",
    "lint_descriptor",
    "qsh_variants",
    "shorten_jwt_params",
    "split_scheme",
    "token_prefix",
]
