"""The wire layer, without I/O: the query, the response envelope and its errors, the
Ratelimit headers, and the decoders that turn bytes into the models."""
