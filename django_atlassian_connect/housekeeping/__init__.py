"""The machinery every per-item housekeeping job shares.

- :mod:`.claims`: claims on one item in Django's cache, so concurrent runs never
  work on it twice; the chunks a job is cut into;
- :mod:`.jobs`: :class:`~.jobs.ChunkedJob`, the due items, one chunk under
  claims, and the plain loop, written once.

The jobs themselves live with what they work on (:mod:`~django_atlassian_connect.maintenance`,
:mod:`~django_atlassian_connect.oauth`, :mod:`~django_atlassian_connect.threelo.housekeeping`);
nothing here imports them.
"""
