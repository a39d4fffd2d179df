"""The read side's view models: one typed answer for the CLI, the JSON API and the templates, serialised once."""

from __future__ import annotations

import dataclasses
import inspect

from samlet_overblik.access import views
from samlet_overblik.consent import lineage
from samlet_overblik.core.viewmodel import to_json


def _view_models():
    for module in (views, lineage):
        for _, cls in inspect.getmembers(module, dataclasses.is_dataclass):
            if cls.__module__ == module.__name__ and cls.__name__ != "Citizen":
                yield cls


def test_every_field_has_a_json_key_except_the_ones_that_stay_on_the_server():
    unkeyed = {(cls.__name__, f.name) for cls in _view_models() for f in dataclasses.fields(cls)
               if "json" not in f.metadata and not f.metadata.get("flatten")}
    assert unkeyed == {("Record", "source_key")}


def test_json_keys_are_unique_within_an_answer_including_flattened_parts():
    for cls in _view_models():
        keys = []
        for f in dataclasses.fields(cls):
            if f.metadata.get("flatten"):
                keys += [g.metadata["json"] for g in dataclasses.fields(f.type if isinstance(f.type, type)
                                                                        else getattr(views, f.type))]
            elif "json" in f.metadata:
                keys.append(f.metadata["json"])
        assert len(keys) == len(set(keys)), cls.__name__


def test_a_citizen_view_as_json_flattens_its_records_and_keeps_the_source_key_on_the_server():
    record = views.Record("beskaeftigelse", "Jobcenter", "ydelse", "Ydelse", "ydelse", "Kontanthjælp", "§ 11",
                          "2026-01-01", None, "aktiv", "Bo", 1000.0, "lov:egen_afdeling", "egen afdeling",
                          source_key=("jobcenter", "ydelser", "42"))
    part = views.VisibleRecords([record], [views.DepartmentRecords("beskaeftigelse", "Jobcenter", True, [record])],
                                2, "2 registreringer i andre afdelinger er ikke delt med dig", False)
    view = views.CitizenView("beskaeftigelse", "Jobcenter", views.Person("p-1", "010190-xxxx", "A B", "1990-01-01"),
                             None, [], [], 0, "", "2026-11-30", views.ExportInfo("r1", "2026-11-30 02:00:00"), part)
    data = to_json(view)
    assert data["fundet"] is True and data["synlig"] is True and data["ikke_delt"] == 2
    assert data["indsatser"][0]["titel"] == "Kontanthjælp" and data["indsatser"][0]["slut"] is None
    assert data["afdelinger"][0]["indsatser"] == data["indsatser"] and data["person"]["navn"] == "A B"
    assert "42" not in repr(data) and "source_key" not in repr(data)
    assert to_json(views.NotVisible("beskaeftigelse", "Jobcenter")) == {
        "afdeling": "beskaeftigelse", "afdeling_navn": "Jobcenter", "fundet": True, "synlig": False}
