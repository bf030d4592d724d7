"""The invoices of one account or of several, as one walk of ``(account_id, invoice)`` rows.

``fetch``, ``summary`` and ``demo`` read one account with :meth:`InvoiceClient.invoices` (its
:class:`FetchStats` know the page size; ``--resume`` continues it) and several, or
``--all-accounts``, with :meth:`InvoiceClient.invoices_many` on the same client, so that all
of them share the token's quota (docs/cloudflare-api.md, "Rate limits"). :class:`Walk` gives
both the one shape, so each command has one flow whatever the number of accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import asyncinvoices as ai

__all__ = ["Walk", "selected_accounts", "walks_many"]


def selected_accounts(args: Any) -> list[str] | None:
    """The ACCOUNT_IDs to walk, or ``None`` for ``--all-accounts``.

    Raises:
        ConfigurationError: If neither an ACCOUNT_ID nor ``--all-accounts`` was given, or
            both were, or ``--resume`` with more than one account.
    """
    ids: list[str] = list(args.account_ids)
    if args.all_accounts and ids:
        raise ai.ConfigurationError("give ACCOUNT_IDs or --all-accounts, not both")
    if not args.all_accounts and not ids:
        raise ai.ConfigurationError("give one or more ACCOUNT_IDs, or --all-accounts")
    if getattr(args, "resume", None) and walks_many(None if args.all_accounts else ids):
        # A state file records one account's position; the walk over many accounts has its
        # own checkpoint, which the state file format does not hold.
        raise ai.ConfigurationError(
            "--resume works with one ACCOUNT_ID; with several accounts or --all-accounts, "
            "run again without --resume"
        )
    return None if args.all_accounts else ids


def walks_many(account_ids: Sequence[str] | None) -> bool:
    """Whether these accounts (``None``: all of them) are more than one: the walk then
    carries ``account_id`` on every row. The same id given twice is one account."""
    return account_ids is None or len(set(account_ids)) > 1


class Walk:
    """One walk of invoices, over one account or several.

    Args:
        client: The open client.
        account_ids: The accounts, in output order; ``None``: every account the credentials
            can read. The same id given more than once is one account.
        on_progress: Told the walk's latest :class:`FetchStats` (one account) or
            :class:`ManyStats` (several).
        walk_options: ``type``, ``since``, ``until``: passed to the client's walk.
        skip_failed: Over several accounts, go on past one that fails.
        resume: Over one account, the checkpoint to continue after.
        stderr: Where an account whose error ends a walk over several is named.
    """

    def __init__(
        self,
        client: ai.InvoiceClient,
        account_ids: Sequence[str] | None,
        *,
        on_progress: Callable[[Any], object],
        skip_failed: bool = False,
        resume: dict[str, Any] | None = None,
        stderr: IO[str] | None = None,
        **walk_options: Any,
    ) -> None:
        self.stream: ai.InvoiceStream | ai.ManyStream
        self.account_id: str | None = None
        self._one = ""
        self._stderr = stderr
        if not walks_many(account_ids):
            assert account_ids is not None
            self.account_id = self._one = account_ids[0]
            self.stream = client.invoices(
                self.account_id, on_progress=on_progress, resume=resume, **walk_options
            )
        else:
            self.stream = client.invoices_many(
                account_ids,
                on_progress=on_progress,
                on_error="skip" if skip_failed else "raise",
                **walk_options,
            )

    @property
    def many(self) -> bool:
        """Whether several accounts are walked: rows then carry ``account_id``."""
        return self.account_id is None

    @property
    def stats(self) -> ai.FetchStats | ai.ManyStats:
        """The walk's statistics so far."""
        return self.stream.stats

    @property
    def failures(self) -> Mapping[str, ai.AsyncInvoicesError]:
        """The accounts skipped by ``skip_failed``, with their errors."""
        return self.stream.failures if isinstance(self.stream, ai.ManyStream) else {}

    def done(self) -> list[str]:
        """Every account walked to its end, in output order, those without invoices too."""
        if isinstance(self.stream, ai.ManyStream):
            done: list[str] = self.stream.checkpoint()["done"]
            return done
        return [self._one]

    def checkpoint(self) -> dict[str, Any]:
        """Where the walk stands, to continue after it (``resume=``)."""
        return self.stream.checkpoint()

    async def __aenter__(self) -> Walk:
        await self.stream.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stream.__aexit__(*exc_info)
        failed = self.stream.failed_account if isinstance(self.stream, ai.ManyStream) else None
        if isinstance(exc_info[1], ai.AsyncInvoicesError) and failed and self._stderr:
            self._stderr.write(f"asyncinvoices: account {failed} failed\n")

    def __aiter__(self) -> Walk:
        return self

    async def __anext__(self) -> tuple[str, ai.Invoice]:
        if isinstance(self.stream, ai.ManyStream):
            return await self.stream.__anext__()
        invoice = await self.stream.__anext__()
        return self._one, invoice
