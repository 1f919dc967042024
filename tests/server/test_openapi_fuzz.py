"""schemathesis reads /openapi.json and throws what it can think of at every operation.

No input may get a 500, and every answer must match the documented schema. (Driven through
hypothesis directly: schemathesis' lazy pytest fixture does not run on pytest 9.)

The examples are the same on every run, so CI is repeatable; set MKP_FUZZ_RANDOM=1 (and
MKP_FUZZ_EXAMPLES=500) to explore new ones, as random runs found NUL bytes reaching PostgreSQL.
"""

import pytest
import schemathesis
from hypothesis import given
from mkp_testing import fuzz_settings
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

FUZZ = fuzz_settings(12)
SHARDS = 4  # the operations split four ways, so that xdist's workers share them

pytestmark = pytest.mark.slow  # about a thousand requests per database


@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_input_gets_a_server_error(app, operators, shard):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations[shard::SHARDS]:

        @given(case=operation.as_strategy())
        @FUZZ
        def fuzz(case):
            response = case.call(headers=operators.central)
            assert response.status_code < 500, (
                f"{case.operation.label}: {response.status_code} {response.text}"
            )
            # Excluded: "auth ignored" (our own valid token rides on every case; test_api.py covers
            # wrong tokens) and "schema-valid data accepted" (a check digit, or 5.0 as an amount,
            # cannot be said in JSON Schema: we refuse both on purpose).
            case.validate_response(response, excluded_checks=[ignored_auth, positive_data_acceptance])

        fuzz()
