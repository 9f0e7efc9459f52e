"""SidecarSet (``apps.kruise.io/v1alpha1``): admission and hashes (``admission``,
``hashes``), injection at pod CREATE (``injection``), the upgrade decision as pure
functions (``upgrade``, ``podstate``) and the controller (``controller``)."""

from kitlib.cluster.kruise.sidecarset.controller import SidecarSetController

__all__ = ["SidecarSetController"]
