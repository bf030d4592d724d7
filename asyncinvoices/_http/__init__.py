"""The HTTP layer: one GET on the wire (transport), admitted by the rate governor and the
shared quota, retried by one policy, counted and reported by the fetcher and telemetry."""
