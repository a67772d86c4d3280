"""Risk rules as pure functions: sizing, leverage, exits, limits, protections.

The backtest kernel and the live engine call the same rules; the scalar ones are written so
numba can compile them unchanged.
"""
