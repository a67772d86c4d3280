"""The historical side of the decision path: the numba kernel, metrics, walk-forward,
optimization, bias checks, robustness, result cache, selection and reports."""
