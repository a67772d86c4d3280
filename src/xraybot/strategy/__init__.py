"""Strategies: typed parameters and vectorized causal signals, shared by backtest and live."""
