"""What a consumer reads: the invoice, page, account and many-account streams, the channel
that carries a producer task's items to them, and their blocking twins."""
