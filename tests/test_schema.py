"""azbdiag.schema, the dependency-free validator, against the real `jsonschema` package."""

import copy
import json
import os

import jsonschema
import pytest
from conftest import SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azbdiag import report, schema
from azbdiag.schema_codegen import generate

REPORT_SCHEMA = report.load_schema()
REFERENCE = jsonschema.Draft202012Validator(REPORT_SCHEMA)
CHECK = schema.compile_schema(REPORT_SCHEMA)
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REPORT_SETTINGS = settings(SETTINGS, max_examples=200)

KEYS = ["a", "b", "id", "x y", "status"]
scalars = (st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, -2.5])
           | st.sampled_from(["", "a", "ok", "fail", "a.b"]))
json_values = st.recursive(
    scalars | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3),
                                                               kids, max_size=3),
    max_leaves=8)
PATTERNS = ["^[a-z]+$", "^[a-z0-9_]+(\\.[a-z0-9_]+)+$", "x", "^$", "[0-9]"]
TYPE_NAMES = ["object", "array", "string", "boolean", "null", "number", "integer"]
types = st.sampled_from(TYPE_NAMES) | st.lists(st.sampled_from(TYPE_NAMES), min_size=1, max_size=3,
                                               unique=True)
leaf_keywords = {
    "type": types,
    "enum": st.lists(scalars, min_size=1, max_size=4),
    "const": json_values,
    "pattern": st.sampled_from(PATTERNS),
    "minimum": st.integers(-3, 3) | st.sampled_from([0.5, -1.5]),
}
subset_schemas = st.recursive(
    st.fixed_dictionaries({}, optional=leaf_keywords),
    lambda kids: st.fixed_dictionaries({}, optional={
        **leaf_keywords,
        "properties": st.dictionaries(st.sampled_from(KEYS), kids | st.booleans(), max_size=3),
        "required": st.lists(st.sampled_from(KEYS), max_size=3, unique=True),
        "items": kids | st.booleans(),
        "additionalProperties": kids | st.booleans(),
    }),
    max_leaves=6)


def instance_for(draw, node, mutate=0):
    """A document shaped by `node`: valid when `mutate` is 0 (for a consistent schema), else
    each node goes wrong with a chance of about one in `mutate`."""
    def wrong():
        return bool(mutate) and draw(st.integers(0, mutate - 1)) == 0

    if wrong():
        return draw(json_values)
    if node is True or node is False or not node:
        return draw(json_values)
    if "const" in node:
        return copy.deepcopy(node["const"])
    if "enum" in node:
        return copy.deepcopy(draw(st.sampled_from(node["enum"])))
    declared = node.get("type")
    if declared is None:
        declared = ("object" if "properties" in node or "required" in node else
                    "array" if "items" in node else "string" if "pattern" in node else
                    "number" if "minimum" in node else None)
        if declared is None:
            return draw(json_values)
    kind = draw(st.sampled_from(declared if isinstance(declared, list) else [declared]))
    if kind == "object":
        props = node.get("properties", {})
        out = {}
        for key in node.get("required", []):
            if not wrong():
                out[key] = instance_for(draw, props.get(key, True), mutate)
        for key, sub in props.items():
            if key not in out and sub is not False and draw(st.booleans()):
                out[key] = instance_for(draw, sub, mutate)
        extra = node.get("additionalProperties", True)
        if (extra is not False and draw(st.integers(0, 3)) == 0) or wrong():
            key = draw(st.sampled_from(["zz", "extra", "a"]))
            if key not in props:
                out[key] = instance_for(draw, extra if extra is not False else True, mutate)
        return out
    if kind == "array":
        size = draw(st.integers(0, 3))
        return [instance_for(draw, node.get("items", True), mutate) for _ in range(size)]
    if kind == "string":
        if "pattern" in node:
            return draw(st.from_regex(node["pattern"], fullmatch=True))
        return draw(st.text(max_size=6))
    if kind in ("integer", "number"):
        low = node.get("minimum")
        low = int(low) + (1 if isinstance(low, float) else 0) if low is not None else None
        value = draw(st.integers(min_value=low, max_value=(low or 0) + 10_000))
        if kind == "number" and draw(st.booleans()):
            return value + 0.5
        return float(value) if draw(st.integers(0, 5)) == 0 else value
    if kind == "boolean":
        return draw(st.booleans())
    return None


def agree(instance, schema_doc, reference=None):
    reference = reference or jsonschema.Draft202012Validator(schema_doc)
    mine = schema.validate(instance, schema_doc)
    theirs = reference.is_valid(instance)
    assert (mine is None) == theirs, (mine, list(reference.iter_errors(instance))[:1])
    # The generated validator (schema_codegen) and the closures give the same answer.
    assert generate(schema_doc)(instance) == (schema._compile(schema_doc)(instance) is None)
    return theirs


def test_real_schema_compiles_and_sample_reports_are_valid(tmp_path):
    from typer.testing import CliRunner

    from azbdiag.cli import app

    for sample in ("healthy", "broken"):
        out = tmp_path / f"{sample}.json"
        res = CliRunner().invoke(app, ["check", "--root", os.path.join(SAMPLES, sample),
                                       "--format", "json", "--output", str(out)])
        assert res.exit_code in (0, 1), res.output
        doc = json.loads(out.read_text())
        assert schema.first_error(doc, CHECK) is None
        assert agree(doc, REPORT_SCHEMA, REFERENCE)


@REPORT_SETTINGS
@given(st.data())
def test_unmutated_report_documents_are_valid_for_both(data):
    doc = instance_for(data.draw, REPORT_SCHEMA)
    assert agree(doc, REPORT_SCHEMA, REFERENCE)


@REPORT_SETTINGS
@given(st.data())
def test_mutated_report_documents_agree_with_jsonschema(data):
    doc = instance_for(data.draw, REPORT_SCHEMA, mutate=60)
    agree(doc, REPORT_SCHEMA, REFERENCE)


@SETTINGS
@given(subset_schemas, st.data())
def test_random_subset_schemas_agree_with_jsonschema(schema_doc, data):
    jsonschema.Draft202012Validator.check_schema(schema_doc)
    agree(instance_for(data.draw, schema_doc, mutate=8), schema_doc)
    agree(data.draw(json_values), schema_doc)


@SETTINGS
@given(json_values)
def test_any_json_value_never_raises(value):
    error = schema.first_error(value, CHECK)
    assert error is None or isinstance(error, str)


@pytest.mark.parametrize("instance, expected", [
    ({"schema_version": 1}, "'tool' is missing"),
    ("text", "is not of type object"),
])
def test_error_messages_name_the_problem(instance, expected):
    assert expected in schema.first_error(instance, CHECK)


def test_error_path_points_into_the_document():
    doc = {"schema_version": 1, "tool": {"name": "azbdiag", "version": "0"}, "generated_at": "",
           "host": {"root": "/", "live": True, "distro": {"id": "d", "version": "1", "name": "n"},
                    "kernel": "k", "azure": None, "is_root": True},
           "summary": {"ok": 0, "warn": 0, "fail": 0, "skipped": 0, "error": 0}}
    assert agree(doc, REPORT_SCHEMA, REFERENCE) is False  # no results yet
    doc["results"] = [{"id": "a.b", "title": "t", "status": "bad", "error_codes": [], "summary": "",
                       "evidence": [], "remedy": None, "fix": None, "duration_ms": 0}]
    assert schema.first_error(doc, CHECK).startswith("results[0].status: 'bad' is not one of")
    doc["results"][0]["status"] = "ok"
    doc["summary"]["surprise"] = 1
    assert schema.first_error(doc, CHECK) == "summary: unexpected property 'surprise'"


@pytest.mark.parametrize("bad", [{"anyOf": []}, {"$ref": "#"}, {"type": "float"}, {"items": [{}]},
                                 {"pattern": "("}, {"required": "a"}, {"minimum": "0"}, [], 3])
def test_unsupported_schemas_are_refused(bad):
    with pytest.raises(schema.SchemaError):
        schema.compile_schema(bad)


@pytest.mark.parametrize("schema_doc, good, bad", [
    ({"type": "integer"}, [1, 1.0, -3], [True, 1.5, "1", None]),
    ({"const": 1}, [1, 1.0], [True, "1", [1]]),
    ({"enum": ["ok", None]}, ["ok", None], ["OK", 0, False]),
    ({"const": [1, {"a": False}]}, [[1.0, {"a": False}]], [[True, {"a": False}], [1, {"a": 0}]]),
    ({"minimum": 0}, [0, 0.0, 5, "x", True], [-1, -0.5]),
    ({"pattern": "b"}, ["abc", 3], ["a"]),
    ({"additionalProperties": {"type": "string"}, "properties": {"n": {}}}, [{"n": 1, "m": "x"}],
     [{"m": 2}]),
    (True, [None, {}], []),
    (False, [], [None, {}]),
])
def test_keyword_semantics_match_jsonschema(schema_doc, good, bad):
    for value in good:
        assert schema.is_valid(value, schema_doc) and agree(value, schema_doc)
    for value in bad:
        assert not schema.is_valid(value, schema_doc) and not agree(value, schema_doc)


# ---- the column check of an array of objects (schema_codegen._objects) ---------------------
RESULT_SCHEMA = REPORT_SCHEMA["properties"]["results"]["items"]
RESULTS_SCHEMA = {"type": "array", "items": RESULT_SCHEMA}
object_schemas = st.fixed_dictionaries(
    {"type": st.just("object"),
     "properties": st.dictionaries(st.sampled_from(KEYS), st.fixed_dictionaries({}, optional={
         **leaf_keywords, "items": st.fixed_dictionaries({}, optional=leaf_keywords)}),
         max_size=4)},
    optional={"additionalProperties": st.booleans()}).flatmap(
    lambda s: st.lists(st.sampled_from(sorted(s["properties"]) or ["a"]), unique=True).map(
        lambda req: dict(s, required=[k for k in req if k in s["properties"]])))


def column_check_is_sound(array_schema, items):
    """The column check says True only for a valid array, and the generated validator (which
    falls back to the item by item loop when it says False) stays exact."""
    from azbdiag.schema_codegen import _objects

    valid = schema._compile(array_schema)(items) is None
    columns = _objects(array_schema["items"])
    if columns is not None and isinstance(items, list) and columns(items):
        assert valid, items
    assert generate(array_schema)(items) == valid


@REPORT_SETTINGS
@given(st.data())
def test_results_column_check_is_sound(data):
    items = instance_for(data.draw, RESULTS_SCHEMA, mutate=data.draw(st.sampled_from([0, 30, 200])))
    column_check_is_sound(RESULTS_SCHEMA, items)


@SETTINGS
@given(object_schemas, st.data())
def test_object_column_check_is_sound_for_random_schemas(item_schema, data):
    array_schema = {"type": "array", "items": item_schema}
    jsonschema.Draft202012Validator.check_schema(array_schema)
    column_check_is_sound(array_schema, instance_for(data.draw, array_schema, mutate=10))
    column_check_is_sound(array_schema, data.draw(st.lists(json_values, max_size=4)))


def test_results_column_check_takes_real_reports_and_leaves_doubt_to_the_loop():
    from azbdiag.schema_codegen import _objects

    columns = _objects(RESULT_SCHEMA)
    assert columns is not None
    ok = {"id": "a.b", "title": "t", "status": "ok", "error_codes": ["X"], "summary": "",
          "evidence": ["e"], "remedy": None, "fix": None, "duration_ms": 0}
    assert columns([ok, dict(ok, skip_reason=None)]) and columns([])
    # valid, but not the exact types the column check takes: unsure, and the loop says valid
    for doubt in (dict(ok, duration_ms=3.0),):
        assert not columns([ok, doubt]) and generate(RESULTS_SCHEMA)([ok, doubt])
    for bad in (dict(ok, duration_ms=-1), dict(ok, duration_ms=True), dict(ok, id="A"),
                dict(ok, id="a.b\n\n"), dict(ok, status="bad"), dict(ok, evidence=["a", 1]),
                dict(ok, skip_reason=1), {k: v for k, v in ok.items() if k != "summary"},
                dict(ok, error_codes="X"), dict(ok, duration_ms=float("-inf"))):
        assert not columns([ok, bad]), bad
        assert agree([ok, bad], RESULTS_SCHEMA) is False and not generate(RESULTS_SCHEMA)([ok, bad])
