"""SyncInvoiceClient is InvoiceClient's twin: the same methods, parameters and defaults."""

from __future__ import annotations

import inspect

import pytest

from asyncinvoices import InvoiceClient, SyncInvoiceClient

#: The async client's lifecycle has blocking counterparts of other names.
LIFECYCLE = {"aclose": "close"}


def public_methods(cls: type) -> list[str]:
    return sorted(
        name
        for name, value in vars(cls).items()
        if not name.startswith("_") and callable(value) and not isinstance(value, property)
    )


def test_every_public_method_has_a_twin() -> None:
    """Each public method of InvoiceClient exists on SyncInvoiceClient, and nothing else."""
    expected = sorted(LIFECYCLE.get(name, name) for name in public_methods(InvoiceClient))
    assert expected == [
        "accounts",
        "close",
        "count",
        "get_page",
        "invoices",
        "invoices_many",
        "list_invoices",
        "pages",
    ]
    twins = [name for name in dir(SyncInvoiceClient) if not name.startswith("_")]
    assert sorted(set(twins) - {"base_url", "governor"}) == expected


@pytest.mark.parametrize(
    "name",
    ["accounts", "count", "get_page", "invoices", "invoices_many", "list_invoices", "pages"],
)
def test_twin_has_the_same_parameters_and_defaults(name: str) -> None:
    """The twin's parameters are the async method's: names, kinds, defaults, annotations."""
    original = inspect.signature(getattr(InvoiceClient, name))
    twin = inspect.signature(getattr(SyncInvoiceClient, name))
    assert list(twin.parameters.values()) == list(original.parameters.values())
    assert getattr(SyncInvoiceClient, name).__doc__.startswith(
        f"The blocking twin of :meth:`InvoiceClient.{name}`"
    )


@pytest.mark.parametrize(
    ("name", "returns"),
    [
        ("invoices", "SyncInvoiceStream"),
        ("pages", "SyncPageStream"),
        ("accounts", "SyncAccountStream"),
        ("invoices_many", "SyncManyStream"),
        ("list_invoices", "list[Invoice]"),
        ("get_page", "InvoicePage"),
        ("count", "int"),
    ],
)
def test_twin_returns_its_blocking_type(name: str, returns: str) -> None:
    """The reference shows what the blocking method returns, not the async stream."""
    assert inspect.signature(getattr(SyncInvoiceClient, name)).return_annotation == returns


def test_constructor_takes_the_async_clients_settings() -> None:
    """The constructor's parameters are InvoiceClient's, with the same defaults."""
    original = inspect.signature(InvoiceClient.__init__).parameters
    twin = inspect.signature(SyncInvoiceClient.__init__).parameters
    assert list(twin) == list(original)
    for name, parameter in original.items():
        assert twin[name].default == parameter.default, name
        assert twin[name].kind == parameter.kind, name
        assert twin[name].annotation == parameter.annotation, name
