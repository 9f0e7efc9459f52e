"""Label/field selectors, int-or-percent scaling, validation and the registry."""

from __future__ import annotations

import pytest

from kitlib.model import errors
from kitlib.model.intstr import scaled_value
from kitlib.model.objects import format_age, format_time, parse_time
from kitlib.model.registry import builtin_registry
from kitlib.model.selectors import FieldSelector, LabelSelector
from kitlib.model.validation import label_value_errors, metadata_errors

LABELS = {"app": "web", "tier": "fe", "env": "prod"}


@pytest.mark.parametrize(("text", "matches"), [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app!=web", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("app in (db,web)", True),
    ("app notin (db,web)", False),
    ("missing notin (a)", True),
    ("tier", True),
    ("!tier", False),
    ("!missing", True),
    ("app=web,tier=fe,env in (prod, staging)", True),
    ("app=web,tier=be", False),
])
def test_label_selector_strings_match_as_kubernetes_does(text: str, matches: bool) -> None:
    assert LabelSelector.parse(text).matches(LABELS) is matches


def test_label_selector_objects_compile_match_labels_and_expressions() -> None:
    selector = LabelSelector.from_object({
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "qa"]},
                             {"key": "canary", "operator": "DoesNotExist"}]})
    assert selector.matches(LABELS)
    assert not selector.matches({**LABELS, "canary": "true"})
    assert str(selector) == "app=web,env in (prod,qa),!canary"
    assert LabelSelector.parse(str(selector)).matches(LABELS)


def test_a_nil_selector_matches_nothing_and_an_empty_one_everything() -> None:
    assert not LabelSelector.from_object(None).matches(LABELS)
    assert LabelSelector.from_object({}).matches(LABELS)


def test_equalities_expose_what_an_index_can_answer() -> None:
    selector = LabelSelector.parse("app=web,env in (prod),tier!=be")
    assert selector.equalities() == [("app", "web"), ("env", "prod")]


@pytest.mark.parametrize("bad", ["app=", "app in ()", "=web", "app in (a", "a b"])
def test_malformed_label_selectors_are_bad_requests(bad: str) -> None:
    if bad == "app=":  # an empty value is valid: "app has the empty value"
        assert LabelSelector.parse(bad).matches({"app": ""})
        return
    with pytest.raises(errors.BadRequest, match="unable to parse requirement"):
        LabelSelector.parse(bad)


def test_bad_match_expressions_name_the_problem() -> None:
    with pytest.raises(errors.BadRequest, match="Unsupported value"):
        LabelSelector.from_object({"matchExpressions": [{"key": "a", "operator": "Like"}]})
    with pytest.raises(errors.BadRequest, match="values: Required value"):
        LabelSelector.from_object({"matchExpressions": [{"key": "a", "operator": "In"}]})


def test_field_selectors_compare_fields_as_strings() -> None:
    pod = {"metadata": {"name": "p", "namespace": "default"},
           "spec": {"nodeName": "n1", "hostNetwork": False}, "status": {"phase": "Running"}}
    assert FieldSelector.parse("spec.nodeName=n1,status.phase!=Pending").matches(pod)
    assert FieldSelector.parse("spec.hostNetwork=false").matches(pod)
    assert FieldSelector.parse("spec.nodeName==n2").matches(pod) is False
    assert FieldSelector.parse("status.podIP=").matches(pod)
    assert FieldSelector.parse("metadata.name=p").equal_value("metadata.name") == "p"
    with pytest.raises(errors.BadRequest):
        FieldSelector.parse("nonsense")


@pytest.mark.parametrize(("value", "total", "up", "expected"), [
    (3, 100, True, 3),
    (30, 10, False, 30),  # integers are not clamped
    ("10%", 5, True, 1),  # maxUnavailable 10% of 5 pods rounds up to one
    ("10%", 5, False, 0),
    ("25%", 10, True, 3),
    ("25%", 10, False, 2),
    ("0%", 10, True, 0),
    ("100%", 7, False, 7),
    ("5", 10, True, 5),
    (None, 10, True, 0),
])
def test_int_or_percent_scales_with_explicit_rounding(value: object, total: int, up: bool,
                                                      expected: int) -> None:
    assert scaled_value(value, total, round_up=up) == expected  # type: ignore[arg-type]


def test_a_malformed_percentage_is_invalid() -> None:
    with pytest.raises(errors.Invalid, match="maxSurge"):
        scaled_value("ten%", 10, round_up=True, field="maxSurge")
    with pytest.raises(errors.Invalid):
        scaled_value(True, 10, round_up=True)


def test_times_render_as_rfc3339_seconds_and_parse_back() -> None:
    assert format_time(0) == "2026-01-01T00:00:00Z"
    assert format_time(3661.9) == "2026-01-01T01:01:01Z"
    assert parse_time("2026-01-01T01:01:01Z") == 3661


@pytest.mark.parametrize(("seconds", "age"), [
    (5, "5s"), (119, "119s"), (150, "2m30s"), (600, "10m"), (3 * 3600, "3h"),
    (3 * 3600 + 300, "3h5m"), (30 * 3600, "30h"), (4 * 86400, "4d"), (-3, "0s"),
])
def test_ages_read_like_kubectl(seconds: float, age: str) -> None:
    assert format_age(seconds) == age


def test_metadata_validation_reports_every_problem() -> None:
    problems = metadata_errors({"name": "Bad_Name", "labels": {"-x": "ok", "k": "bad value"}})
    assert len(problems) == 3
    assert label_value_errors("") == []


def test_the_registry_resolves_every_way_users_name_a_kind() -> None:
    registry = builtin_registry()
    for name in ("pods", "pod", "po", "Pod"):
        found = registry.find(name)
        assert found is not None and found.key == "pods"
    deploy = registry.find("deploy")
    assert deploy is not None and deploy.key == "deployments.apps"
    assert registry.by_kind("apps/v1", "Deployment") is deploy
    assert deploy.qualified("web") == 'deployments.apps "web"'
    assert registry.by_path("policy", "v1", "poddisruptionbudgets") is not None
    with pytest.raises(errors.NotFound):
        registry.get("widgets")


def test_unregistering_a_group_stops_serving_it() -> None:
    registry = builtin_registry()
    registry.unregister_group("policy")
    assert registry.find("pdb") is None and "policy" not in registry.group_versions()
