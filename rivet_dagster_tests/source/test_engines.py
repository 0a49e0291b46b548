"""The source's URL for people: the password hidden wherever a driver repeats it, as written or percent-encoded,
and the source's own URL left readable even when the password is also the user name."""
from rivet_dagster.config.sections import SourceConfig
from rivet_dagster.source.engines import SourceDatabase


def test_a_password_equal_to_the_user_name_keeps_the_url_readable():
    source = SourceDatabase(SourceConfig(type="postgres", url="postgresql://scott:scott@db.example:5432/sales"))
    error = source.failure("cannot connect to", OSError('password authentication failed for user "scott"'))
    assert str(error) == ("cannot connect to postgresql+psycopg://scott:***@db.example:5432/sales: password "
                          'authentication failed for user "***"')


def test_a_percent_encoded_password_in_a_driver_message_is_hidden_too():
    source = SourceDatabase(SourceConfig(type="mysql", url="mysql://app:p%40ss%2Fw0rd@db.example/shop"))
    assert source.url.password == "p@ss/w0rd"
    for echoed in ("p@ss/w0rd", "p%40ss%2Fw0rd"):
        error = source.failure("the query failed on", OSError(f"bad dsn mysql://app:{echoed}@db.example/shop"))
        assert "w0rd" not in str(error) and "***" in str(error)


def test_secret_values_of_a_plan_are_hidden_beside_the_password():
    source = SourceDatabase(SourceConfig(type="postgres", url="postgresql://u:pw@db.example/x"))
    error = source.failure("the export query failed on", OSError('invalid input syntax: "tok-123"'), ["tok-123"])
    assert "tok-123" not in str(error) and 'invalid input syntax: "***"' in str(error)
