"""``lvstop export``: the Prometheus endpoint (snapshot → metrics, the poller, the HTTP server)."""
