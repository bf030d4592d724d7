"""A faithful, in-process fake of Cloudflare's AI Gateway invoice-history endpoint."""
