"""Market X-ray: the universe screener, regimes, correlations, clusters, anomalies, reports."""
