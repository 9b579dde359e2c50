"""OAuth 2.0 (3LO): Django users link their Atlassian account and the app calls
Jira and Confluence as them, through the API gateway.

- :mod:`.tokens`: the authorization server (authorize URL, code exchange, refresh);
- :mod:`.resources`: ``accessible-resources`` and ``/me``, sites linked by cloudId;
- :mod:`.linking`: storing a new grant (code exchange, sites, account), disconnecting;
- :mod:`.grants`: a fresh access token, one refresh at a time across processes, revocation;
- :mod:`.housekeeping`: the job that refreshes grants before they expire or lapse;
- :mod:`.sessions` and :mod:`.client`: ``OAuthClient(grant, cloud_id).session()``;
- :mod:`.views` and :mod:`.urls`: connect, callback, disconnect
  (``include("django_atlassian_connect.oauth_urls")``).

Imports point one way: views → grants/client → gateway/http → models. This
package's ``__init__`` imports nothing, so importing one module loads no view.
See ``docs/guides/threelo.rst``.
"""
