"""Tables holding every column type each engine exports, at its extremes and as NULL, with the exact values and
Arrow types an export must deliver. Shared by the type-fidelity tests and the mode x type matrix.

Each engine has three value rows: the largest / most exotic values, the smallest / emptiest ones, and NULLs.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

UTC = dt.timezone.utc
U = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
NAN = float("nan")


@dataclass(frozen=True)
class TypeTable:
    engine: str
    columns: str                  # DDL of the typed columns
    rows: tuple[str, str, str]    # SQL values for them: largest, smallest, NULL
    types: dict[str, str]         # the Arrow type each column is exported as
    expected: tuple[dict, dict, dict]
    setup: tuple[str, ...] = ()   # statements before the table is created
    insert_session: tuple[str, ...] = ()  # statements in the inserting session
    nested: tuple[str, ...] = ()  # columns CSV cannot hold (lists)

    def names(self, csv: bool = False) -> list[str]:
        return [name for name in self.types if not (csv and name in self.nested)]


POSTGRES = TypeTable(
    engine="postgres",
    setup=("DO $$ BEGIN CREATE TYPE mood AS ENUM ('sad', 'happy'); "
           "EXCEPTION WHEN duplicate_object THEN NULL; END $$",),
    columns="""i2 int2, i4 int4, f4 float4, f8 float8, b bool, n38 numeric(38,10), n12 numeric(12,2),
    n50 numeric(50,5), nu numeric, d date, t time, ts timestamp, tstz timestamptz, tx text, vc varchar(10),
    ch char(3), by bytea, js json, jb jsonb, u uuid, ai int4[], at text[], mood mood""",
    rows=("""-32768, -2147483648, 1.5, -1e308, true, 9999999999999999999999999999.9999999999, -1234567890.12,
   12345678901234567890123456789012345678901234.56789, 3.14159265358979323846264338327950288419716939937510,
   '0001-01-01', '00:00:00', '1900-01-01 00:00:00.000001', '1969-12-31 23:59:59.999999+00', 'héllo ✓ 日本',
   '', 'ab', '\\x00ff', '{"a": [1, 2]}', '{"b": null}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}',
   '{"x","y"}', 'happy'""",
          """32767, 2147483647, 'NaN', 'Infinity', false, -0.0000000001, 0, 0, -0, '9999-12-31', '23:59:59.999999',
   '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00', '', NULL, NULL, '\\x', '[]', '{}', NULL,
   '{}', NULL, NULL""",
          ", ".join(["NULL"] * 23)),
    types={"i2": "int16", "i4": "int32", "f4": "float", "f8": "double", "b": "bool",
           "n38": "decimal128(38, 10)", "n12": "decimal128(12, 2)", "n50": "decimal256(50, 5)", "nu": "string",
           "d": "date32[day]", "t": "time64[us]", "ts": "timestamp[us]", "tstz": "timestamp[us, tz=UTC]",
           "tx": "string", "vc": "string", "ch": "string", "by": "binary", "js": "string", "jb": "string",
           "u": "string", "ai": "list<element: int32>", "at": "list<element: string>", "mood": "string"},
    expected=(
        {"i2": -32768, "i4": -2147483648, "f4": 1.5, "f8": -1e308, "b": True,
         "n38": Decimal("9999999999999999999999999999.9999999999"), "n12": Decimal("-1234567890.12"),
         "n50": Decimal("12345678901234567890123456789012345678901234.56789"),
         "nu": "3.14159265358979323846264338327950288419716939937510",
         "d": dt.date(1, 1, 1), "t": dt.time(0, 0), "ts": dt.datetime(1900, 1, 1, 0, 0, 0, 1),
         "tstz": dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "tx": "héllo ✓ 日本", "vc": "",
         "ch": "ab ", "by": b"\x00\xff", "js": '{"a": [1, 2]}', "jb": '{"b": null}', "u": str(U),
         "ai": [1, None, 3], "at": ["x", "y"], "mood": "happy"},
        {"i2": 32767, "i4": 2147483647, "f4": NAN, "f8": float("inf"), "b": False, "n38": Decimal("-1E-10"),
         "n12": Decimal("0"), "n50": Decimal("0"), "nu": "0", "d": dt.date(9999, 12, 31),
         "t": dt.time(23, 59, 59, 999999), "ts": dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
         "tstz": dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "tx": "", "vc": None, "ch": None,
         "by": b"", "js": "[]", "jb": "{}", "u": None, "ai": [], "at": None, "mood": None},
        dict.fromkeys(["i2", "i4", "f4", "f8", "b", "n38", "n12", "n50", "nu", "d", "t", "ts", "tstz", "tx", "vc",
                       "ch", "by", "js", "jb", "u", "ai", "at", "mood"]),
    ),
    nested=("ai", "at"),
)

MARIADB = TypeTable(
    engine="mysql",
    columns="""ti tinyint, tu tinyint unsigned, si smallint, mi mediumint, i int, ub bigint unsigned,
    y year, f float, d double, n38 decimal(38,10), n65 decimal(65,30), n52 decimal(5,2) unsigned,
    da date, tm time(6), dt datetime(6), ts timestamp(6) NULL, tx text, vc varchar(10), ch char(3),
    bl blob, vb varbinary(8), js json, e enum('a','b'), st set('x','y'), b1 bit(1), b8 bit(8)""",
    insert_session=("SET time_zone = '+00:00'",),
    rows=("""-128, 255, -32768, -8388608, -2147483648, 18446744073709551615, 1901, 1.5, -1.7976931348623157e308,
   9999999999999999999999999999.9999999999, 12345678901234567890123456789012345.123456789012345678901234567890,
   999.99, '1000-01-01', '00:00:00', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01.000001',
   'héllo ✓ 日本', '', 'ab', x'00ff', x'', '{"a": [1, 2]}', 'b', 'x,y', b'1', b'10101010'""",
          """127, 0, 32767, 8388607, 2147483647, 0, 2155, 0, 0, -0.0000000001, -0.000000000000000000000000000001, 0,
   '9999-12-31', '23:59:59.999999', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '', NULL, NULL,
   x'', NULL, '[]', 'a', '', b'0', b'0'""",
          ", ".join(["NULL"] * 26)),
    types={"ti": "int8", "tu": "uint8", "si": "int16", "mi": "int32", "i": "int32", "ub": "uint64",
           "y": "int16", "f": "float", "d": "double", "n38": "decimal128(38, 10)", "n65": "decimal256(65, 30)",
           "n52": "decimal128(5, 2)", "da": "date32[day]", "tm": "time64[us]", "dt": "timestamp[us]",
           "ts": "timestamp[us, tz=UTC]", "tx": "string", "vc": "string", "ch": "string", "bl": "binary",
           "vb": "binary", "js": "string", "e": "string", "st": "string", "b1": "bool", "b8": "uint64"},
    expected=(
        {"ti": -128, "tu": 255, "si": -32768, "mi": -8388608, "i": -2147483648, "ub": 2**64 - 1,
         "y": 1901, "f": 1.5, "d": -1.7976931348623157e308, "n38": Decimal("9999999999999999999999999999.9999999999"),
         "n65": Decimal("12345678901234567890123456789012345.123456789012345678901234567890"),
         "n52": Decimal("999.99"), "da": dt.date(1000, 1, 1), "tm": dt.time(0, 0),
         "dt": dt.datetime(1000, 1, 1, 0, 0, 0, 1), "ts": dt.datetime(1970, 1, 1, 0, 0, 1, 1, tzinfo=UTC),
         "tx": "héllo ✓ 日本", "vc": "", "ch": "ab", "bl": b"\x00\xff", "vb": b"", "js": '{"a": [1, 2]}',
         "e": "b", "st": "x,y", "b1": True, "b8": 170},
        {"ti": 127, "tu": 0, "si": 32767, "mi": 8388607, "i": 2147483647, "ub": 0, "y": 2155, "f": 0.0, "d": 0.0,
         "n38": Decimal("-1E-10"), "n65": Decimal("-1E-30"), "n52": Decimal("0"), "da": dt.date(9999, 12, 31),
         "tm": dt.time(23, 59, 59, 999999), "dt": dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
         "ts": dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC), "tx": "", "vc": None, "ch": None,
         "bl": b"", "vb": None, "js": "[]", "e": "a", "st": "", "b1": False, "b8": 0},
        dict.fromkeys(["ti", "tu", "si", "mi", "i", "ub", "y", "f", "d", "n38", "n65", "n52", "da", "tm", "dt", "ts",
                       "tx", "vc", "ch", "bl", "vb", "js", "e", "st", "b1", "b8"]),
    ),
)

SQLITE = TypeTable(
    engine="sqlite",
    columns="i INTEGER, r REAL, s TEXT, bl BLOB",
    rows=("9223372036854775807, 1.5, 'héllo ✓ 日本', x'00ff'", "-9223372036854775808, -1e308, '', x''",
          "NULL, NULL, NULL, NULL"),
    types={"i": "int64", "r": "double", "s": "string", "bl": "binary"},
    expected=({"i": 2**63 - 1, "r": 1.5, "s": "héllo ✓ 日本", "bl": b"\x00\xff"},
              {"i": -2**63, "r": -1e308, "s": "", "bl": b""},
              {"i": None, "r": None, "s": None, "bl": None}),
)

TABLES = {"postgres": POSTGRES, "mysql": MARIADB, "sqlite": SQLITE}
