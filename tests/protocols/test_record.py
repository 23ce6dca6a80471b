"""The normalised Record: built cheaply, yet frozen, and a dataclass like any other."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest

from protocols.record import RECORD_FIELDS, Record


def full() -> Record:
    return Record("356307042441013", "teltonika", 1_700_000_000.0, True, 52.2, 21.0, 100.0, 40.0, 90.0, 9,
                  1.0, True, False, 13.8, 4.1, 80, 26001, False, 1000.0, "ignition", {"io66": 13800})


def test_signature_is_the_fields_in_contract_order() -> None:
    assert tuple(inspect.signature(Record).parameters) == RECORD_FIELDS
    assert tuple(f.name for f in dataclasses.fields(Record)) == RECORD_FIELDS


def test_positional_and_keyword_construction_agree() -> None:
    record = full()
    assert type(record) is Record
    assert record == Record(**{name: getattr(record, name) for name in RECORD_FIELDS})
    assert [getattr(record, name) for name in RECORD_FIELDS][-2:] == ["ignition", {"io66": 13800}]


def test_defaults_and_a_new_attributes_dict_each() -> None:
    a, b = Record(None, "gt06", None), Record(None, "gt06", None)
    assert a.valid is None and a.event is None and a.attributes == {}
    assert a.attributes is not b.attributes
    assert Record(None, "gt06", None, attributes=None).attributes is None  # as the dataclass stored it


def test_frozen() -> None:
    record = full()
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.lat = 0.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del record.lat  # type: ignore[misc]
    assert type(record) is Record


def test_replace_copy_pickle_and_repr() -> None:
    record = full()
    moved = dataclasses.replace(record, lat=1.0)
    assert type(moved) is Record and moved.lat == 1.0 and moved.lon == record.lon
    assert copy.deepcopy(record) == record
    assert pickle.loads(pickle.dumps(record)) == record
    assert repr(record).startswith("Record(imei='356307042441013', protocol='teltonika'")
    assert dataclasses.asdict(record)["attributes"] == {"io66": 13800}


def test_a_subclass_is_built_field_by_field() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, init=False)
    class Tagged(Record):
        tag: str = ""

    tagged = Tagged("1", "x", None, lat=2.0)
    assert type(tagged) is Tagged and tagged.lat == 2.0 and tagged.attributes == {}
