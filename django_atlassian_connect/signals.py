"""Signals, all sent after the transaction that caused them commits.

Every signal has ``sender`` (the tenant model) and ``tenant``. A lifecycle
signal's receiver that raises is logged and does not change the answer: the
delivery has committed, so the product is told it was applied.

- ``tenant_installed(tenant, created)``: an ``installed`` callback was accepted.
- ``tenant_uninstalled(tenant)``: an ``uninstalled`` callback was accepted.
- ``tenant_enabled(tenant)`` / ``tenant_disabled(tenant)``.
- ``shared_secret_rotated(tenant, previous_fingerprint, fingerprint)``: a
  reinstall brought a new shared secret (fingerprints, never secrets).
- ``webhook_received(tenant, event, payload, request)``: a verified webhook.
- ``installation_verification_failed(tenant, status, detail)``: the product
  refused our signed check call with 401: our shared secret is out of sync.

Forge Remote signals have ``sender`` (the ``ForgeInstallation`` model),
``installation`` (the row, already updated and committed) and ``context``
(the verified :class:`~django_atlassian_connect.forge.ForgeContext`; its
tokens are bearer credentials: hand a Celery task the installation's pk, not
the context). They are sent after the transaction commits, so a receiver's
task finds the row. Receivers should only enqueue work: Forge waits 5 s for a
lifecycle answer.

- ``forge_invoked(installation, context, request)``: every verified Forge
  invocation (UI, function, lifecycle event, scheduled trigger), retries included.
- ``forge_installed(installation, context, event)``: ``avi:forge:installed:app``,
  once per event: Forge's retries of the same event (``retryContext``) do not
  send it again. ``event`` is a
  :class:`~django_atlassian_connect.forge.events.ForgeLifecycleEvent`
  (``installation_id``, ``site_ari``, ``account_id`` of the installer,
  ``app_version``, ``payload``, ...).
- ``forge_upgraded(installation, context, event)``: ``avi:forge:upgraded:app``
  (major versions only), once per event; ``event.account_id`` is the
  upgrader, ``event.permissions`` the new scopes if Forge sent them.
- ``forge_event(installation, event_type, payload, context, event)``: a Forge
  product event (``POST /forge/events``), e.g. ``avi:jira:created:issue``;
  ``payload`` is the event object (without ``retryContext``), ``event`` a
  :class:`~django_atlassian_connect.forge.product_events.ForgeProductEvent`.
  Unlike the others it is sent inside a transaction, once per event (Forge's
  retries are recognised): a receiver that raises rolls its writes back and
  the delivery is answered 500, so Forge's retry runs every receiver again.
  Subscribe to one event type with
  ``@forge_event_receiver("avi:jira:created:issue")``
  (:mod:`django_atlassian_connect.forge.product_events`); enqueue slow work
  with ``transaction.on_commit(lambda: task.delay(installation.pk, ...))``.
- ``forge_pre_uninstall(installation, context)``: Forge's ``preUninstall``
  reached ``POST /forge/pre-uninstall`` and stamped
  ``installation.uninstalled_at``; sent once per installation. Delete the
  installation's data (within 30 days) from here, through a Celery task.

OAuth 2.0 (3LO) signals have ``sender`` (the ``OAuthGrant`` model), ``grant``
(the row, committed; its tokens already wiped) and ``user`` (the Django user):

- ``oauth_grant_revoked(grant, user, status, reason)``: a linked Atlassian
  account stopped working: Atlassian refused the refresh token
  (``invalid_grant``: ``status`` ``"revoked"``), or a limit passed
  (``"expired"``: no refresh token, 90 days unused, 365 days after consent).
  ``reason`` says which, in words. Tell the user to link the account again.
"""

from django.dispatch import Signal

tenant_installed = Signal()
tenant_uninstalled = Signal()
tenant_enabled = Signal()
tenant_disabled = Signal()
shared_secret_rotated = Signal()
webhook_received = Signal()
installation_verification_failed = Signal()
forge_invoked = Signal()
forge_installed = Signal()
forge_upgraded = Signal()
forge_event = Signal()
forge_pre_uninstall = Signal()
oauth_grant_revoked = Signal()
