"""Verify the Connect JWT of an incoming Django request.

The adapter between HTTP requests and :mod:`tokens`: it finds the token in
the request, computes the request's qsh, loads the tenant and its secrets,
and returns a :class:`ConnectAuth`. DRF authentication classes, the view
decorator and the lifecycle views are thin layers over these functions.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest
from django.utils.encoding import escape_uri_path

from . import qsh as qsh_module
from . import tenant_cache
from .conf import connect_settings
from .exceptions import ConnectAuthError, SecretDecryptionError
from .identity import ConnectAuth, ConnectUser
from .models import AbstractTenant, get_tenant_model
from .tokens import (
    ParsedToken,
    SecretCandidate,
    VerifiedSecret,
    check_qsh,
    check_times,
    has_unstorable_text,
    parse_token,
    require_algorithm,
    require_claims,
    verify_hs256_with_secrets,
)

__all__ = [
    "ConnectAuth",  # re-exported from identity: a public import path
    "ConnectUser",
    "RequestQsh",
    "check_tenant_state",
    "form_params",
    "get_raw_token",
    "load_tenant",
    "log_refusal",
    "query_params",
    "secret_candidates",
    "unverified_issuer",
    "verify_request",
    "verify_tenant_token",
]

logger = logging.getLogger("django_atlassian_connect")

FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


# -- finding the token --------------------------------------------------------


def _header_token(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "jwt":
        return None
    return value.strip()


def form_params(request: HttpRequest) -> list[tuple[str, str]] | None:
    """Decoded fields of a form body (urlencoded or multipart), else ``None``."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    if request.content_type not in FORM_CONTENT_TYPES:
        return None
    # DRF reuses Django's parsed form, so reading it here keeps it available.
    return [(name, value) for name, values in request.POST.lists() for value in values]


def _raw_query(request: HttpRequest) -> str:
    query = request.META.get("QUERY_STRING", "")
    if isinstance(query, bytes):  # pragma: no cover - WSGI and ASGI give str
        query = query.decode("latin-1")
    return query


def query_params(request: HttpRequest) -> list[tuple[str, str]]:
    """The decoded ``(name, value)`` pairs of the request's raw query string.

    Parsed once per request and kept on it: the token lookup and the qsh both
    read them. Same rules as :func:`qsh.parse_query` (the qsh's view of the
    query, which may differ from Django's ``request.GET`` for raw non-ASCII).
    """
    raw = request.META.get("QUERY_STRING", "")
    cached = request.__dict__.get("_connect_query")
    if cached is not None and cached[0] is raw:
        return cached[1]  # type: ignore[no-any-return]
    pairs = qsh_module.parse_query(_raw_query(request))
    request._connect_query = (raw, pairs)  # type: ignore[attr-defined]
    return pairs


def _query_jwts(request: HttpRequest, query: str) -> list[str]:
    """The ``jwt`` query parameters, as ``request.GET.getlist("jwt")`` reads them.

    An ASCII query decoded as UTF-8 gives Django's pairs exactly, so the pairs
    the qsh needs anyway serve. Anything else goes through ``request.GET``:
    raw non-ASCII bytes (Django decodes them as UTF-8, the qsh as Latin-1), a
    request whose ``GET`` was already built or replaced, another charset, or
    more fields than ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` (Django refuses those).
    """
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if (
        "GET" in request.__dict__
        or not query.isascii()
        or request.encoding is not None
        or settings.DEFAULT_CHARSET.lower() not in ("utf-8", "utf8")
        or (limit is not None and query.count("&") >= limit)
    ):
        return request.GET.getlist("jwt")
    return [value for name, value in query_params(request) if name == "jwt"]


def get_raw_token(request: HttpRequest) -> tuple[str, str] | None:
    """``(token, source)`` from the header, ``jwt`` query parameter or form field.

    ``None`` when the request carries no Connect token at all (another
    authentication scheme may handle it). Different tokens in different places
    are refused (``token_ambiguous``).
    """
    found: list[tuple[str, str]] = []
    header = _header_token(request)
    if header is not None:
        found.append((header, "header"))
    query = _raw_query(request)
    if "jwt" in query or "%" in query:  # the name may be percent-encoded; else no parsing
        found.extend((value, "query") for value in _query_jwts(request, query))
    body = form_params(request)
    if body:
        found.extend((value, "form") for name, value in body if name == "jwt")
    if not found:
        return None
    if len(found) > 1 and len({token for token, _ in found}) > 1:
        raise ConnectAuthError(
            "token_ambiguous",
            "The request carries different JWTs in "
            + ", ".join(sorted({source for _, source in found}))
            + "; send one token in one place.",
        )
    token, source = found[0]
    if not token:
        raise ConnectAuthError("token_missing", f"The JWT in the {source} is empty.")
    return token, source


# -- the request's qsh ----------------------------------------------------------


def _candidate_paths(request: HttpRequest) -> Iterator[str]:
    """The request path as Django decoded it, re-encoded, and as received raw.

    Each computed only when the ones before it did not match.
    """
    decoded = request.path
    yield decoded
    escaped = escape_uri_path(decoded)
    if escaped != decoded:
        yield escaped
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI")
    if isinstance(raw, str):
        raw_path = raw.split("?", 1)[0]
        if raw_path != decoded and raw_path != escaped:
            yield raw_path


class RequestQsh:
    """Computes this request's canonical request(s) lazily and compares qsh.

    Accepted: the URL's query alone; and, for a form POST/PUT/PATCH, the URL's
    query plus the form fields (what the product's servlet canonicalizer
    hashes). Each over the decoded and the raw path. Only what is needed is
    computed: a token that matches the first form costs one hash, and the
    query is parsed and canonicalised once for all the paths.
    """

    def __init__(
        self, request: HttpRequest, *, body_params: list[tuple[str, str]] | None = None
    ) -> None:
        self.request = request
        self.body_params = body_params
        self.base_url = connect_settings.BASE_URL
        self.query = _raw_query(request)
        self._canonical_query: str | None = None

    def _url_form(self, method: str, path: str) -> str:
        """``canonical_request(method, path?query)``, the query canonicalised once."""
        if not path.startswith("/") or "?" in path or "#" in path:
            # A decoded "%3F" or "%23", or an absolute-form raw URI: the generic
            # splitting decides where the path ends, exactly as before.
            url = f"{path}?{self.query}" if self.query else path
            return qsh_module.canonical_request(method, url, self.base_url)
        if self._canonical_query is None:
            query = self.query
            if "#" in query:  # split_url() ends the URL at a fragment
                pairs = qsh_module.parse_query(query.split("#", 1)[0])
            else:
                pairs = query_params(self.request)
            self._canonical_query = qsh_module.memo_canonical_query(pairs)
        return "&".join(
            (method.upper(), qsh_module.canonical_path(path, self.base_url), self._canonical_query)
        )

    def canonical_requests(self) -> Iterator[str]:
        method = self.request.method or "GET"
        for path in _candidate_paths(self.request):  # lazily: the first usually matches
            yield self._url_form(method, path)
        body = self.body_params if self.body_params is not None else form_params(self.request)
        if body:
            # The form fields join the URL's query parameters (given with the bare
            # path, body_params stand in for the whole query).
            merged = [*query_params(self.request), *body]
            for path in _candidate_paths(self.request):
                yield qsh_module.canonical_request(method, path, self.base_url, body_params=merged)

    @property
    def canonical(self) -> str:
        """The canonical request of the decoded path (for messages)."""
        return next(self.canonical_requests())

    def __call__(self, token_qsh: str) -> bool:
        wanted = token_qsh.encode("utf-8", "replace")
        for canonical in self.canonical_requests():
            computed = qsh_module.hash_canonical_request(canonical).encode("ascii")
            if hmac.compare_digest(computed, wanted):
                return True
        return False


# -- tenant and secrets ---------------------------------------------------------


def unverified_issuer(parsed: ParsedToken) -> str:
    require_claims(parsed, ("iss",))
    iss = parsed.issuer
    if not isinstance(iss, str) or not iss or len(iss) > 255:
        raise ConnectAuthError(
            "token_malformed", "The token's iss claim must be a clientKey string."
        )
    # The issuer is looked up before the signature is checked: "\u0000" or a lone
    # surrogate would reach the database as text no column takes.
    if has_unstorable_text(iss):
        raise ConnectAuthError(
            "token_malformed",
            "The token's iss contains a NUL character or an unpaired surrogate.",
        )
    return iss


def check_tenant_state(
    tenant: AbstractTenant | None,
    client_key: str,
    *,
    allow_uninstalled: bool = False,
    allow_disabled: bool = False,
) -> AbstractTenant:
    """Refuse unknown, uninstalled and (by default) disabled tenants."""
    if tenant is None:
        raise ConnectAuthError(
            "tenant_unknown",
            f"No installation has the clientKey {client_key!r} (the token's iss).",
            client_key=client_key,
        )
    if not tenant.is_installed and not allow_uninstalled:
        raise ConnectAuthError(
            "tenant_uninstalled",
            f"The installation {client_key!r} was uninstalled"
            + (f" at {tenant.uninstalled_at:%Y-%m-%dT%H:%M:%SZ}" if tenant.uninstalled_at else "")
            + ".",
            client_key=client_key,
        )
    if not tenant.is_enabled and not allow_disabled and connect_settings.REJECT_DISABLED_TENANTS:
        raise ConnectAuthError(
            "tenant_disabled",
            f"The app is disabled on the site of installation {client_key!r}.",
            client_key=client_key,
        )
    return tenant


def load_tenant(
    client_key: str, *, allow_uninstalled: bool = False, allow_disabled: bool = False
) -> AbstractTenant:
    """The tenant from the database, refused when not usable."""
    tenant = get_tenant_model()._default_manager.filter(client_key=client_key).first()
    return check_tenant_state(
        tenant, client_key, allow_uninstalled=allow_uninstalled, allow_disabled=allow_disabled
    )


def _candidates(snapshot: tenant_cache.TenantSnapshot) -> list[SecretCandidate]:
    try:
        return snapshot.candidates()
    except SecretDecryptionError:
        logger.error(
            "cannot decrypt the shared secrets of tenant %s: check ENCRYPTION_KEYS",
            snapshot.tenant.client_key,
        )
        raise


def secret_candidates(tenant: AbstractTenant) -> list[SecretCandidate]:
    """The tenant's secrets still held: the current one first, then newest retired."""
    return _candidates(tenant_cache.TenantSnapshot(tenant, tenant_cache.load_secrets(tenant)))


def verify_tenant_token(
    parsed: ParsedToken,
    tenant: AbstractTenant,
    *,
    now: float | None = None,
    candidates: list[SecretCandidate] | None = None,
) -> VerifiedSecret:
    """Signature (current or in-grace secret) and times of an HS256 token."""
    require_algorithm(parsed, "HS256")
    verified = verify_hs256_with_secrets(
        parsed,
        secret_candidates(tenant) if candidates is None else candidates,
        now=now,
        grace_period=connect_settings.SECRET_GRACE_PERIOD,
    )
    check_times(parsed, now=now, leeway=connect_settings.LEEWAY)
    if verified.within_grace:
        logger.info(
            "accepted a token of %s signed with the retired secret %s (within the "
            "grace period of %s s)",
            tenant.client_key,
            verified.candidate.label,
            connect_settings.SECRET_GRACE_PERIOD,
        )
    return verified


def verify_request(
    request: HttpRequest,
    *,
    context: bool,
    token: tuple[str, str] | None = None,
    now: float | None = None,
    allow_disabled: bool = False,
) -> ConnectAuth:
    """Verify the Connect JWT of ``request``; ``token_missing`` when there is none.

    ``context=True`` accepts context tokens (``qsh: context-qsh``) and nothing
    else; ``context=False`` requires the qsh of this very request.
    """
    if token is None:
        token = get_raw_token(request)
    if token is None:
        raise ConnectAuthError("token_missing", "The request carries no Connect JWT.")
    raw, _source = token
    parsed = parse_token(raw, max_length=connect_settings.MAX_TOKEN_LENGTH)
    require_algorithm(parsed, "HS256")
    client_key = unverified_issuer(parsed)
    snapshot, cached = tenant_cache.get(client_key)
    try:
        tenant, verified = _verify_against(snapshot, parsed, client_key, now, allow_disabled)
    except ConnectAuthError as error:
        if not cached or snapshot is None or error.code not in _STALE_CACHE_CODES:
            raise
        # The cached state may predate a change another process made: ask the
        # database, at most once per tenant per TENANT_CACHE_REVALIDATE seconds.
        fresher = tenant_cache.revalidate(client_key, snapshot)
        if fresher is None:
            raise
        tenant, verified = _verify_against(fresher, parsed, client_key, now, allow_disabled)
    check_qsh(parsed, context=context, matches=None if context else RequestQsh(request))
    return ConnectAuth(
        tenant=tenant,
        claims=parsed.claims,
        context_token=context,
        secret_fingerprint=verified.candidate.label,
        signed_with_retired_secret=verified.retired,
    )


# Refusals that a stale cache entry could cause; acceptance never depends on them.
_STALE_CACHE_CODES = frozenset(
    {"signature_invalid", "secret_retired", "tenant_uninstalled", "tenant_disabled"}
)


def _verify_against(
    snapshot: tenant_cache.TenantSnapshot | None,
    parsed: ParsedToken,
    client_key: str,
    now: float | None,
    allow_disabled: bool,
) -> tuple[AbstractTenant, VerifiedSecret]:
    if snapshot is None:
        check_tenant_state(None, client_key)  # raises tenant_unknown
    assert snapshot is not None
    tenant = snapshot.tenant
    # The signature first, then the state: only a caller holding the tenant's
    # secret learns that it was uninstalled (and when) or disabled.
    verified = verify_tenant_token(parsed, tenant, now=now, candidates=_candidates(snapshot))
    check_tenant_state(tenant, client_key, allow_disabled=allow_disabled)
    return tenant, verified


def log_refusal(request: HttpRequest, error: ConnectAuthError) -> None:
    """One WARNING line per refusal; never a secret or a token."""
    extra = ""
    if error.code == "qsh_mismatch":
        try:
            extra = f" canonical_request={RequestQsh(request).canonical!r}"
        except Exception:  # pragma: no cover - diagnostics must never fail
            extra = ""
    logger.warning(
        "connect request refused: code=%s client_key=%s method=%s path=%s detail=%s hint=%s%s",
        error.code,
        error.client_key or "-",
        request.method,
        request.path,
        error.detail,
        error.hint,
        extra,
        extra={"connect_code": error.code, "client_key": error.client_key},
    )
