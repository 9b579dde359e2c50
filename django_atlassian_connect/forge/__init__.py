"""Forge Remote: the backend side of Connect-on-Forge.

- :mod:`.ids`: app, installation and site ARIs;
- :mod:`.jwks`: Forge's signing keys, cached across processes;
- :mod:`.invocation`: verify a Forge Invocation Token into a :class:`ForgeContext`;
- :mod:`.context`: :class:`ForgeContext`;
- :mod:`.product_events`, :mod:`.dedupe`: product events, once per event;
- :mod:`.uninstall`: preUninstall; :mod:`.realm`, :mod:`.realm_steps`: data
  residency (realm migration) hooks.
"""

from .context import ForgeContext
from .invocation import verify_fit, verify_invocation

__all__ = ["ForgeContext", "verify_fit", "verify_invocation"]
