"""The fixtures of the contract suite: one connector case per parameter, a `responses` mock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from tests.contract.cases import CASES, ContractCase


@pytest.fixture(params=CASES, ids=[case.name for case in CASES])
def case(request: pytest.FixtureRequest) -> ContractCase:
    chosen: ContractCase = request.param
    return chosen


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
