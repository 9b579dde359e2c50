"""Signals, all sent after the transaction that caused them commits.

Every signal has ``sender`` (the tenant model) and ``tenant``.

- ``tenant_installed(tenant, created)``: an ``installed`` callback was accepted.
- ``tenant_uninstalled(tenant)``: an ``uninstalled`` callback was accepted.
- ``tenant_enabled(tenant)`` / ``tenant_disabled(tenant)``.
- ``shared_secret_rotated(tenant, previous_fingerprint, fingerprint)``: a
  reinstall brought a new shared secret (fingerprints, never secrets).
- ``webhook_received(tenant, event, payload, request)``: a verified webhook.
- ``installation_verification_failed(tenant, status, detail)``: the product
  refused our signed check call with 401: our shared secret is out of sync.
"""

from django.dispatch import Signal

tenant_installed = Signal()
tenant_uninstalled = Signal()
tenant_enabled = Signal()
tenant_disabled = Signal()
shared_secret_rotated = Signal()
webhook_received = Signal()
installation_verification_failed = Signal()
