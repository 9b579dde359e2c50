"""Atlassian Connect: JWT in, the lifecycle, REST calls as the app or as a user.

A map of the door (this package imports nothing):

- :mod:`.inbound_request`: what a Django request carries (its token, its
  canonical request for the qsh);
- :mod:`.inbound`: verifying it (tenant and secrets, signature before state)
  and the refusal log line; public path ``django_atlassian_connect.inbound``;
- :mod:`.verified_tokens`: context tokens this process already verified;
- :mod:`.identity`: ``ConnectUser`` and ``ConnectAuth``;
- :mod:`.tenant_cache`: tenant snapshots in Django's cache; public path
  ``django_atlassian_connect.tenant_cache``;
- :mod:`.tenant_snapshot`: what it keeps: the tenant row and its secrets as
  ciphertext, loaded from the database, decrypted once in process memory;
- :mod:`.install_keys`: Atlassian's install public keys by ``kid``;
- :mod:`.lifecycle`: the ``installed``/``uninstalled``/``enabled``/``disabled``
  callbacks (payload, verify, store, deliveries);
- :mod:`.descriptor`: the app descriptor and scopes;
- :mod:`.signing`: the tenant's current signing secret;
- :mod:`.impersonation`: the JWT-bearer grant (acting as a user) and its
  token cache; public path ``django_atlassian_connect.oauth``;
- :mod:`.client`: ``ConnectClient`` with ``as_app()``/``as_user()`` sessions;
  public path ``django_atlassian_connect.client``.
"""
