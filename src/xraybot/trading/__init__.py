"""The live side of the one decision path: step, order manager, reconcile, monitor."""
