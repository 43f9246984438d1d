"""Every route through the app: bodies, pagination, filters, live state, errors as JSON."""

import re
from collections.abc import Callable

import pytest
from factories import AUTH, Rows, searched_at_both_ends
from fastapi.testclient import TestClient

from prs_search.api.deps import get_store
from prs_search.api.schemas import SearchCreate
from prs_search.recommend import recommend
from prs_search.store import ResultsStore

# -- health -----------------------------------------------------------------------------------------


def test_health_ok(client: TestClient, rows: Rows) -> None:
    rows.search()
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["backend"] == "sqlite"
    assert (body["searches"], body["writes"], body["runner"], body["detail"]) == (1, "token", "none", None)


def test_health_with_the_database_unreachable_is_503_json(make_client: Callable[..., TestClient]) -> None:
    client = make_client("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["backend"]) == ("unavailable", "unreachable", "postgresql")
    assert "database cannot be reached" in body["detail"]
    down = client.get("/v1/datasets")  # reads answer 503 JSON, with Retry-After
    assert down.status_code == 503 and "detail" in down.json() and down.headers["retry-after"] == "5"


# -- datasets ---------------------------------------------------------------------------------------


def test_datasets(client: TestClient, rows: Rows) -> None:
    assert client.get("/v1/datasets").json() == {"data": [], "count": 0}
    rows.finished("cifar100", 5000, [8, 6, 4, 2], 0.4, pruned=2)
    running = rows.search("cifar100", 20000)
    rows.trial(running, [1, 1, 1, 1], [0.1], state="RUNNING")
    rows.search("digits", 1000)

    body = client.get("/v1/datasets").json()

    assert body["count"] == 2
    assert body["data"] == [
        {"dataset": "cifar100", "sizes": [5000, 20000], "searches": 2, "trials": 4, "complete_trials": 1,
         "best_sizes": [5000]},
        {"dataset": "digits", "sizes": [1000], "searches": 1, "trials": 0, "complete_trials": 0, "best_sizes": []},
    ]  # fmt: skip


# -- recommendation ---------------------------------------------------------------------------------


def test_recommendation_is_the_shared_function_answer(client: TestClient, store: ResultsStore, rows: Rows) -> None:
    rows.finished("cifar100", 1000, [10, 8, 6, 4], 0.30, fraction=0.02)
    rows.finished("cifar100", 4000, [6, 4, 1, 0], 0.50, test_acc=0.48)

    for params, method in [
        ({"num_samples": 4000}, "exact"),
        ({"num_samples": 2000}, "interpolated"),
        ({"num_samples": 100}, "nearest"),
        ({"fraction": 0.04}, "interpolated"),  # 0.04 of the 50,000 training images: 2,000
    ]:
        response = client.get("/v1/recommendation", params={"dataset": "cifar100", **params})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["method"] == method
        assert body == recommend(store, "cifar100", **params).model_dump(mode="json")  # type: ignore[arg-type]

    exact = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 4000}).json()
    assert exact["test_acc"] == pytest.approx(0.48) and exact["schedule"] == [6, 4, 1, 0]
    assert exact["provenance"][0]["search_name"].startswith("cifar100-4000-")
    assert exact["trials_backing"] == 2
    nearest = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 100}).json()
    assert "outside the searched range [1000, 4000]" in nearest["warning"]


def test_recommendation_errors(client: TestClient, rows: Rows) -> None:
    unknown = client.get("/v1/recommendation", params={"dataset": "imagenet", "num_samples": 10})
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no searches for dataset 'imagenet'; datasets with searches: none yet"}

    rows.search("digits", 1200)
    pending = client.get("/v1/recommendation", params={"dataset": "digits", "num_samples": 1000})
    assert pending.status_code == 404
    assert "prs-search run --dataset digits --num-samples 1200 --budget 50" in pending.json()["detail"]

    rows.finished("cifar100", 5000, [8, 6, 4, 2], 0.4)
    both = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 5, "fraction": 0.1})
    assert both.status_code == 422 and both.json() == {
        "detail": "give exactly one of num_samples and fraction for the dataset size"
    }
    no_fraction_search = client.get("/v1/recommendation", params={"dataset": "cifar100", "fraction": 0.1})
    assert no_fraction_search.status_code == 422 and "num_samples" in no_fraction_search.json()["detail"]
    for params in ({"num_samples": 5}, {"dataset": "cifar100", "num_samples": 0}, {"dataset": "x", "fraction": 2}):
        invalid = client.get("/v1/recommendation", params=params)
        assert invalid.status_code == 422 and isinstance(invalid.json()["detail"], list)


def test_recommendation_within_a_compute_budget(client: TestClient, store: ResultsStore, rows: Rows) -> None:
    search = rows.search("cifar100", 5000)
    rows.trial(search, [4, 4, 4, 4], [0.5], flops=1e12)
    rows.trial(search, [2, 1, 0, 0], [0.7], flops=3e12)
    store.update_best_schedule(search_id=search.id)

    def ask(**params: object) -> dict[str, object]:
        response = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 5000, **params})
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    tight, roomy = ask(max_flops=2e12), ask(max_flops=1e13)  # one dataset version: both from one cache
    assert (tight["schedule"], roomy["schedule"]) == ([4, 4, 4, 4], [2, 1, 0, 0])
    assert tight == recommend(store, "cifar100", num_samples=5000, max_flops=2e12).model_dump(mode="json")
    assert tight["budget"] == {
        "cost": "flops", "limit": 2e12, "chosen_cost": 1e12, "best_cost": 3e12, "best_val_acc": 0.7,
        "candidates": 2, "uncounted": 0, "estimated": False,
    }  # fmt: skip
    assert ask()["budget"] is None and ask(max_seconds=100)["budget"]["cost"] == "seconds"  # type: ignore[index]

    none_fits = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 5000, "max_flops": 1e6})
    assert none_fits.status_code == 404 and none_fits.json() == {
        "detail": "no trial of cifar100 at 5000 images trained within max_flops=1 MFLOP; the cheapest counted trial "
        "cost 1 TFLOP"
    }
    unsearched = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 7, "max_flops": 1e15})
    assert unsearched.status_code == 422 and "needs the cross-size model" in unsearched.json()["detail"]
    both = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 5000, "max_flops": 1e15,
                                                    "max_seconds": 9})  # fmt: skip
    assert both.status_code == 422 and both.json() == {
        "detail": "give at most one of max_flops and max_seconds for the compute budget"
    }
    for bad in ({"max_flops": 0}, {"max_flops": -1e12}, {"max_seconds": "inf"}, {"max_flops": "nan"}):
        invalid = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 5000, **bad})
        assert invalid.status_code == 422 and isinstance(invalid.json()["detail"], list), bad


# -- searches ---------------------------------------------------------------------------------------


def test_list_searches_paginated_and_filtered(client: TestClient, rows: Rows) -> None:
    made = [rows.search("cifar100" if i % 2 else "digits", 1000 + i) for i in range(5)]
    rows.store.set_search_status(search_id=made[0].id, status="running")

    page = client.get("/v1/searches", params={"offset": 1, "limit": 2}).json()
    assert page["count"] == 5
    assert [s["id"] for s in page["data"]] == [made[3].id, made[2].id]  # newest first
    first = page["data"][0]
    assert first["name"] == made[3].name and first["status"] == "pending" and first["dataset"] == "cifar100"
    assert "model_config" not in first  # the list holds summaries

    digits = client.get("/v1/searches", params={"dataset": "digits"}).json()
    assert digits["count"] == 3 and {s["dataset"] for s in digits["data"]} == {"digits"}
    running = client.get("/v1/searches", params={"status": "running"}).json()
    assert [s["id"] for s in running["data"]] == [made[0].id]
    assert client.get("/v1/searches", params={"status": "bogus"}).status_code == 422
    assert client.get("/v1/searches", params={"limit": 0}).status_code == 422
    assert client.get("/v1/searches", params={"limit": 1001}).status_code == 422


def test_search_detail_has_live_state(client: TestClient, rows: Rows) -> None:
    search = rows.search("cifar100", 5000, budget=4)
    rows.store.set_search_status(search_id=search.id, status="running")
    best = rows.trial(search, [8, 6, 4, 2], [0.2, 0.4])
    rows.trial(search, [10, 10, 10, 10], [0.1], state="PRUNED")
    rows.trial(search, [0, 0, 0, 0], [0.3], state="RUNNING")

    for key in (str(search.id), search.name):
        response = client.get(f"/v1/searches/{key}")
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == search.id and body["status"] == "running"
        assert body["trial_counts"] == {"RUNNING": 1, "COMPLETE": 1, "PRUNED": 1, "FAIL": 0}
        assert (body["trials_finished"], body["progress"]) == (2, 0.5)
        assert body["best_trial"]["id"] == best.id and body["best_trial"]["schedule"] == [8, 6, 4, 2]
        assert body["model_config"] == {"preset": "tiny", "depth": 4}  # alias of a pydantic-reserved name
        assert body["space_config"] == {"name": "monotone", "schedule": "monotone"}

    missing = client.get("/v1/searches/nope")
    assert missing.status_code == 404 and missing.json() == {"detail": "no search with id or name 'nope'"}
    for key in ("99999999999999999999", "²", str(2**31)):
        assert client.get(f"/v1/searches/{key}").status_code == 404
    assert client.get("/v1/searches/a%00b").status_code == 422


def test_trials_paginated_with_state_filter_and_counts(client: TestClient, rows: Rows) -> None:
    search = rows.search()
    made = [rows.trial(search, [i, 0, 0, 0], [0.1 * i], state="COMPLETE" if i % 2 else "PRUNED") for i in range(5)]
    rows.trial(search, [9, 9, 9, 9], [0.05], state="RUNNING")

    page = client.get(f"/v1/searches/{search.id}/trials", params={"offset": 1, "limit": 2}).json()
    assert page["count"] == 6 and [t["id"] for t in page["data"]] == [made[1].id, made[2].id]
    assert page["counts"] == {"RUNNING": 1, "COMPLETE": 2, "PRUNED": 3, "FAIL": 0}
    trial = page["data"][0]
    assert trial["state"] == "COMPLETE" and trial["schedule"] == [1, 0, 0, 0] and trial["epochs_run"] == 1
    assert trial["val_acc"] == pytest.approx(0.1) and trial["started_at"].endswith(("Z", "+00:00"))

    pruned = client.get(f"/v1/searches/{search.name}/trials", params={"state": "PRUNED"}).json()
    assert pruned["count"] == 3 and {t["state"] for t in pruned["data"]} == {"PRUNED"}
    assert client.get(f"/v1/searches/{search.id}/trials", params={"state": "DONE"}).status_code == 422
    assert client.get("/v1/searches/404/trials").status_code == 404


def test_epochs_of_a_trial(client: TestClient, rows: Rows) -> None:
    search = rows.search()
    trial = rows.trial(search, [2, 1, 0, 0], [0.1, 0.2, 0.3])
    other = rows.trial(rows.search(), [2, 1, 0, 0], [0.1])

    body = client.get(f"/v1/searches/{search.id}/trials/{trial.id}/epochs").json()
    assert body["count"] == 3
    assert [e["epoch"] for e in body["data"]] == [0, 1, 2]
    assert [e["attention_layers"] for e in body["data"]] == [2, 3, 4]
    assert body["data"][2]["val_acc"] == pytest.approx(0.3)
    assert client.get(f"/v1/searches/{search.id}/trials/{other.id}/epochs").status_code == 404
    assert client.get(f"/v1/searches/{search.id}/trials/0/epochs").status_code == 422


def test_the_accuracy_compute_front_of_a_search(client: TestClient, rows: Rows) -> None:
    search = rows.search()
    cheap = rows.trial(search, [4, 4, 4, 4], [0.5], flops=1e12, seconds=9.0)
    best = rows.trial(search, [2, 1, 0, 0], [0.7], flops=3e12, seconds=4.0)
    rows.trial(search, [3, 3, 3, 3], [0.45], flops=2e12, seconds=8.0)  # dominated
    uncounted = rows.trial(search, [0, 0, 0, 0], [0.9], seconds=0.5)
    rows.trial(search, [1, 1, 1, 1], [0.95], state="PRUNED", flops=1e11)

    flops = client.get(f"/v1/searches/{search.name}/pareto").json()
    assert [t["id"] for t in flops["data"]] == [cheap.id, best.id]
    assert (flops["cost"], flops["count"], flops["considered"], flops["uncounted"]) == ("flops", 2, 4, 1)
    assert flops["data"][1]["flops"] == 3e12 and "checkpoint_path" not in flops["data"][1]  # public fields only
    seconds = client.get(f"/v1/searches/{search.id}/pareto", params={"cost": "seconds"}).json()
    assert [t["id"] for t in seconds["data"]] == [uncounted.id] and seconds["uncounted"] == 0
    epochs = client.get(f"/v1/searches/{search.id}/trials/{best.id}/epochs").json()
    assert [e["flops"] for e in epochs["data"]] == [3e12]

    unknown = client.get("/v1/searches/no-such-search/pareto")
    assert unknown.status_code == 404 and unknown.json() == {"detail": "no search with id or name 'no-such-search'"}
    watts = client.get(f"/v1/searches/{search.id}/pareto", params={"cost": "watts"})
    assert watts.status_code == 422 and watts.json()["detail"][0]["loc"] == ["query", "cost"]


# -- starting a search ------------------------------------------------------------------------------


def test_post_search_accepted_with_location(client: TestClient, rows: Rows) -> None:
    # No GPUs: this machine has none, and the API's searches run on a local Ray here (a 422 otherwise).
    body = {"dataset": "cifar100", "budget": 50, "fraction": 0.1, "space": "free", "cpus_per_trial": 0.5}
    response = client.post("/v1/searches", json=body, headers=AUTH)

    assert response.status_code == 202, response.text
    launch = response.json()
    assert launch["name"].startswith("cifar100-f0.1-free-")
    assert (launch["state"], launch["runner"], launch["pid"]) == ("accepted", "none", None)
    assert response.headers["location"] == launch["location"] == f"/v1/searches/{launch['name']}"
    pending = client.get(launch["location"])  # runner none: recorded, never started
    assert pending.status_code == 404 and "not started (PRS_API_RUNNER=none)" in pending.json()["detail"]

    again = client.post("/v1/searches", json={**body, "name": launch["name"]}, headers=AUTH)
    assert again.status_code == 409
    rows.search(name="taken")
    taken = client.post("/v1/searches", json={**body, "name": "taken"}, headers=AUTH)
    assert taken.status_code == 409 and "exists" in taken.json()["detail"]


def test_post_search_still_accepts_the_old_field_name_searcher(client: TestClient) -> None:
    """`searcher` was `sampler`'s name in 0.1: accepted for one more release, as the same request."""
    body = {"dataset": "digits", "budget": 2, "cpus_per_trial": 0.5, "searcher": "random"}
    response = client.post("/v1/searches", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    assert SearchCreate.model_validate(body).as_request().sampler == "random"
    both = client.post("/v1/searches", json={**body, "sampler": "tpe"}, headers=AUTH)
    assert both.status_code == 422  # the new name given: the old one is an unknown field, as any other


@pytest.mark.parametrize(
    "change",
    [
        {"budget": 0},
        {"budget": -3},
        {"fraction": 0.1, "num_samples": 100},
        {"fraction": 0},
        {"fraction": 1.5},
        {"epochs": 0},
        {"gpus_per_trial": -1},
        {"cpus_per_trial": 0},
        {"max_concurrent": 0},
        {"reduction_factor": 1},
        {"stem": "vit"},
        {"conv": "depthwise"},
        {"space": "nope"},
        {"space": "/etc/passwd"},
        {"dataset": "--help"},
        {"name": "-rf"},
        {"model": "tiny small"},
        {"unknown": 1},
        {"budget": True},
        {"budget": "5"},
        {"budget": 2.5},
        {"gpus_per_trial": True},
        {"fraction": "0.1"},
    ],
)
def test_post_search_validation_is_422(client: TestClient, change: dict[str, object]) -> None:
    response = client.post("/v1/searches", json={"dataset": "digits", "budget": 5, **change}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "huge"}, "unknown model preset 'huge'; known presets: "),
        ({"dataset": "no-such-data"}, "unknown dataset 'no-such-data'; known: "),
        ({"gpus_per_trial": 64}, "gpus_per_trial 64 is more than this machine has"),
        ({"cpus_per_trial": 1024}, "cpus_per_trial 1024 is more than this machine has"),
        ({"num_samples": 5000}, "num_samples 5000; need between 10 (one per class) and 1438 images"),
    ],
    ids=["model", "dataset", "gpus", "cpus", "size"],
)
def test_post_search_naming_what_does_not_exist_is_422_before_it_starts(
    client: TestClient, change: dict[str, object], message: str
) -> None:
    """The one line `prs-search run` says, where a 202 would only start a process that says it."""
    response = client.post(
        "/v1/searches", json={"dataset": "digits", "budget": 5, "name": "never", **change}, headers=AUTH
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(message), response.text
    assert client.get("/v1/searches/never").json()["detail"] == "no search with id or name 'never'"  # not launched


def test_store_override_and_last_resort_500_is_json(client: TestClient) -> None:
    """Tests (and embedders) swap the store through `get_store`; a bug answers JSON 500, logged."""

    class Broken:
        def list_searches(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug")

    app = client.app
    app.dependency_overrides[get_store] = lambda: Broken()  # type: ignore[attr-defined]
    try:
        response = TestClient(app, raise_server_exceptions=False).get("/v1/searches")
    finally:
        app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error (logged on the server)"}


def test_post_search_numbers_follow_json_schema(client: TestClient) -> None:
    """3.0 is an integer in JSON Schema, and 1 a number."""
    body = {"dataset": "digits", "budget": 5.0, "num_samples": 300.0, "cpus_per_trial": 2}
    assert client.post("/v1/searches", json=body, headers=AUTH).status_code == 202


def test_recommendation_by_the_cross_size_model(client: TestClient, store: ResultsStore, rows: Rows) -> None:
    searched_at_both_ends(rows)
    response = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 1000})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == "model" and body == recommend(store, "cifar100", num_samples=1000).model_dump(mode="json")
    p = body["prediction"]
    assert p["val_acc_low"] < body["val_acc"] < p["val_acc_high"] and p["runs"] == 16 and p["sizes"] == [500, 2000]


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    assert client.get("/v2/nothing").json() == {"detail": "Not Found"}
    assert client.delete("/v1/searches").status_code == 401  # a write: the token is checked first
    assert client.delete("/v1/searches", headers=AUTH).status_code == 405


def test_openapi_documents_examples_and_errors(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) == {
        "/health", "/v1/datasets", "/v1/recommendation", "/v1/searches", "/v1/searches/{search}",
        "/v1/searches/{search}/trials", "/v1/searches/{search}/trials/{trial_id}/epochs",
        "/v1/searches/{search}/pareto",
    }  # fmt: skip
    recommendation = paths["/v1/recommendation"]["get"]
    assert {"200", "404", "422", "503"} <= set(recommendation["responses"])
    post = paths["/v1/searches"]["post"]
    assert {"202", "401", "403", "409", "422"} <= set(post["responses"]) and post["security"]
    components = schema["components"]["schemas"]
    assert components["RecommendationOut"]["examples"] and components["SearchCreate"]["examples"]
    assert "model_config" in components["SearchDetailOut"]["properties"]
    # The recommendation says how sure it is; a search request can ask for the re-evaluation.
    assert {"confidence", "confidence_note", "prediction", "prediction_note"} <= set(
        components["RecommendationOut"]["properties"]
    )
    assert {"seeds", "val_acc_low", "advantage", "advantage_low", "significant"} <= set(
        components["Confidence"]["properties"]
    )
    assert {"confirm_top", "confirm_seeds", "sampler", "early_stopping"} <= set(
        components["SearchCreate"]["properties"]
    )


@pytest.mark.parametrize("blank", [" ", "\u00a0", "\t x"])
def test_blank_or_control_text_is_refused_by_the_schema_and_the_route(client: TestClient, blank: str) -> None:
    # The fuzzer found "\xa0": the schema admitted it, the store refused it. Both must agree.
    params = client.get("/openapi.json").json()["paths"]["/v1/searches"]["get"]["parameters"]
    pattern = next(p for p in params if p["name"] == "dataset")["schema"]["anyOf"][0]["pattern"]
    assert re.fullmatch(pattern, blank) is None and re.fullmatch(pattern, "imagefolder:/data/my set") is not None
    response = client.get("/v1/searches", params={"dataset": blank})
    assert response.status_code == 422 and "dataset" in response.text
