"""One walk through the pages, decided without I/O (the planner's machines, the ledger, the
page sizes) and carried out by a thin async driver."""
